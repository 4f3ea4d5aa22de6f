// What `twinrig reconstruct` (here or with --farm slurm) shares with `twinrig farm`.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "host/farm/jobs.h"

namespace twinrig::app {

// The consent gate for reconstructing SESSION of STUDIO (consent::CheckProcessingAllowed, audited):
// asked by a local run and by every farm job, which may run long after it was submitted.
Status CheckReconstructionAllowed(const std::filesystem::path& studio, const std::string& session);

// A session's jobs, a line per stage: state, node, times; a failed one with its log.
void PrintFarmJobs(const farm::SessionJobs& jobs);

// Polls the session's jobs until none is queued or running, printing each change of state.
Result<farm::SessionJobs> WaitForFarmJobs(const std::filesystem::path& studio,
                                          const farm::Settings& settings,
                                          const std::string& session, reconstruct::Level level,
                                          std::chrono::seconds limit);

}  // namespace twinrig::app
