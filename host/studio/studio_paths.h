// Where things are inside a studio folder: the one place that spells the studio's layout.
//
//   rigs/<rig>/rig.toml                 the rig file (host/studio/rig_file.h)
//   rigs/<rig>/calibration/<id>/        the rig's calibrations
//   sessions/<id>/                      a capture session: images/, session.json, manifest.json,
//                                       reconstruction/, twin/, consent/, vault/, farm/
//   studio.db                           the catalog
//   exports/<session>/                  exports handed out
//   locks/                              advisory locks of long operations
//   keys/                               the studio's and technicians' keys, subjects' data keys
//   farm/                               the single-machine farm's daemons
//   sim/                                the virtual studio, when one runs
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "util/result.h"

namespace twinrig::studio {

inline constexpr const char* kRigFileName = "rig.toml";

class StudioPaths {
 public:
  explicit StudioPaths(std::filesystem::path root) : root_(std::move(root)) {}

  [[nodiscard]] const std::filesystem::path& Root() const { return root_; }
  [[nodiscard]] std::filesystem::path RigsFolder() const { return root_ / "rigs"; }
  [[nodiscard]] std::filesystem::path RigFolder(const std::string& rig) const {
    return RigsFolder() / rig;
  }
  [[nodiscard]] std::filesystem::path RigFile(const std::string& rig) const {
    return RigFolder(rig) / kRigFileName;
  }
  [[nodiscard]] std::filesystem::path SessionsFolder() const { return root_ / "sessions"; }
  [[nodiscard]] std::filesystem::path SessionFolder(const std::string& session) const {
    return SessionsFolder() / session;
  }
  [[nodiscard]] std::filesystem::path CatalogFile() const { return root_ / "studio.db"; }
  [[nodiscard]] std::filesystem::path ExportsFolder() const { return root_ / "exports"; }
  [[nodiscard]] std::filesystem::path LocksFolder() const { return root_ / "locks"; }
  [[nodiscard]] std::filesystem::path KeysFolder() const { return root_ / "keys"; }
  [[nodiscard]] std::filesystem::path FarmFolder() const { return root_ / "farm"; }
  [[nodiscard]] std::filesystem::path SimFolder() const { return root_ / "sim"; }

  // The names of the rigs that have a rig file, sorted.
  [[nodiscard]] std::vector<std::string> Rigs() const;
  // The rig file of `rig`; with an empty `rig`, the studio's only rig (an error names what to
  // choose when it has none or several).
  [[nodiscard]] Result<std::filesystem::path> FindRigFile(const std::string& rig) const;

 private:
  std::filesystem::path root_;
};

}  // namespace twinrig::studio
