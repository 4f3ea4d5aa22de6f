#include "host/studio/studio_paths.h"

#include <algorithm>
#include <system_error>

namespace twinrig::studio {

std::vector<std::string> StudioPaths::Rigs() const {
  std::vector<std::string> rigs;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(RigsFolder(), error)) {
    if (std::filesystem::exists(entry.path() / kRigFileName, error)) {
      rigs.push_back(entry.path().filename().string());
    }
  }
  std::sort(rigs.begin(), rigs.end());
  return rigs;
}

Result<std::filesystem::path> StudioPaths::FindRigFile(const std::string& rig) const {
  if (!rig.empty()) {
    const auto path = RigFile(rig);
    if (!std::filesystem::exists(path)) {
      return MakeError("no rig file for rig '" + rig + "'", path.string(),
                       "start the virtual studio (twinrig sim up) or give --nodes");
    }
    return path;
  }
  const std::vector<std::string> rigs = Rigs();
  if (rigs.empty()) {
    return MakeError("the studio has no rig", RigsFolder().string(),
                     "start the virtual studio (twinrig sim up) or give --nodes ADDR:PORT,...");
  }
  if (rigs.size() > 1) {
    return MakeError("the studio has " + std::to_string(rigs.size()) + " rigs",
                     RigsFolder().string(), "choose one with --rig NAME");
  }
  return RigFile(rigs.front());
}

}  // namespace twinrig::studio
