// The trigger nodes listed in a rig file (<studio>/rigs/<rig>/rig.toml, written by the studio
// layout): its [[nodes]] tables with id, address, udp_port and ports.
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

// The rig file of `rig` in `studio`; with an empty `rig`, the studio's only rig.
Result<std::filesystem::path> FindRigFile(const std::filesystem::path& studio,
                                          const std::string& rig);

}  // namespace twinrig::riglink
