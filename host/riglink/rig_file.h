// The trigger nodes listed in a rig file (<studio>/rigs/<rig>/rig.toml, written by the studio
// layout): its [[nodes]] tables with id, address, udp_port and ports, and the clock sync a capture
// through them needs ([trigger] max_sync_error_us).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "host/riglink/riglink.h"
#include "util/result.h"

namespace twinrig::riglink {

struct RigNode {
  int id = 0;
  NodeEndpoint endpoint;
  int ports = 0;
};

Result<std::vector<RigNode>> ReadRigNodes(const std::filesystem::path& rig_toml);

// The estimated sync error (SyncQuality::est_error_us) every node must be within before the
// station fires through the rig. 50 us is far below a camera body's own trigger-to-exposure
// jitter (0.5-2.5 ms), so it costs a real rig nothing; a rig whose nodes cannot reach it (the
// virtual studio's emulated boards, whose clock is host time seen through a scheduled emulator)
// says what it can hold in its rig file, and the station checks against that instead.
inline constexpr double kDefaultMaxSyncErrorUs = 50.0;
inline constexpr double kLargestMaxSyncErrorUs = 1000.0;  // beyond: as loose as the bodies
// [trigger] max_sync_error_us of the rig file, kDefaultMaxSyncErrorUs when it has none.
Result<double> ReadRigMaxSyncError(const std::filesystem::path& rig_toml);

// The rig file of `rig` in `studio`; with an empty `rig`, the studio's only rig.
Result<std::filesystem::path> FindRigFile(const std::filesystem::path& studio,
                                          const std::string& rig);

}  // namespace twinrig::riglink
