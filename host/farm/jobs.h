// A session's reconstruction as Slurm jobs: the sparse stage, the depth stage as a job array over
// chunks of views (each element after the sparse job: afterok), the mesh stage after the whole
// array. Each job runs `twinrig farm run-stage` (the pipeline's own stage code) on the studio
// folder, which every node must mount at the same path.
//
// Records, in <session>/farm/<level>/: options.json (what every job reads), jobs.json (the job ids
// per stage), state/<stage>[-<chunk>].json (written by the job itself: node, times, the error),
// logs/<stage>[-<chunk>]-<job>.log (the job's output).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "host/farm/cluster.h"
#include "reconstruct/pipeline.h"
#include "util/result.h"

namespace twinrig::farm {

struct SubmitOptions {
  std::filesystem::path twinrig;  // the program every job runs (same path on every node)
  int depth_chunks = 4;           // capped at the number of views
  bool resume = false;            // submit only the stages (and chunks) that did not finish
};

// One job of a session: a stage, or one chunk of the depth stage.
struct StageJob {
  reconstruct::Stage stage = reconstruct::Stage::kSparse;
  int chunk = 0;       // depth: the array element
  std::string job_id;  // "12" or "13_2" for an array element
  // "pending", "running", "done", "failed", "cancelled" (never ran: cancelled or its
  // dependency failed), "resubmit" (not submitted by the last run: finished before it)
  std::string state;
  std::string reason;  // Slurm's reason when pending; the error when failed
  std::string node;
  std::string started;  // ISO 8601, UTC
  std::string ended;
  double seconds = 0;
  std::filesystem::path log;
  [[nodiscard]] std::string Name() const;  // "sparse", "depth 2/4", "mesh"
};

struct SessionJobs {
  std::string session;
  std::string level;
  int chunks = 1;
  std::vector<StageJob> jobs;           // sparse, depth 0..chunks-1, mesh
  [[nodiscard]] bool Finished() const;  // mesh done
  [[nodiscard]] bool Active() const;    // something pending or running
};

std::filesystem::path RecordsFolder(const std::filesystem::path& studio, const std::string& session,
                                    reconstruct::Level level);

// Submits the session's stages (or, with `resume`, what did not finish) and records them. Refuses
// while jobs of the session at this level are still queued or running, and when its images are
// gone.
Result<SessionJobs> Submit(const std::filesystem::path& studio, const Settings& settings,
                           const std::string& session,
                           const reconstruct::ReconstructOptions& options,
                           const SubmitOptions& submit);

// Where each job of the session's last submission is (its own records and Slurm's queue).
Result<SessionJobs> Query(const std::filesystem::path& studio, const Settings& settings,
                          const std::string& session, reconstruct::Level level);
// The sessions with farm records, each with its levels ("full", "preview").
std::vector<std::pair<std::string, std::string>> RecordedSessions(
    const std::filesystem::path& studio);

// Cancels the session's queued and running jobs.
Status Cancel(const std::filesystem::path& studio, const Settings& settings,
              const std::string& session, reconstruct::Level level);

// What a job records about itself (`twinrig farm run-stage`).
struct JobRecord {
  std::string state;  // "running", "done", "failed"
  std::string node;
  std::string job_id;
  std::string started;
  std::string ended;
  double seconds = 0;
  std::string error;
};
std::filesystem::path JobRecordFile(const std::filesystem::path& records, reconstruct::Stage stage,
                                    int chunk);
Status WriteJobRecord(const std::filesystem::path& file, const JobRecord& record);

// The options every job of the session reads.
std::filesystem::path OptionsFile(const std::filesystem::path& records);
Result<reconstruct::ReconstructOptions> ReadOptions(const std::filesystem::path& records);

}  // namespace twinrig::farm
