// `twinrig doctor`: what this host has, what is missing, and what to do about it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace twinrig::doctor {

enum class Level { kOk, kWarn, kFail };
std::string_view LevelName(Level level);

struct Finding {
  std::string name;  // "libgphoto2", "colmap", "free disk"
  Level level = Level::kOk;
  std::string detail;  // what was found
  std::string todo;    // what to do; empty when OK
};

// What `colmap -h` says about itself. Its first lines read, e.g.
//   COLMAP 3.8 -- Structure-from-Motion and Multi-View Stereo
//                 (Commit Unknown on Unknown without CUDA)
struct ColmapBanner {
  bool recognised = false;
  std::string version;  // "3.8"
  bool cuda = false;
};
ColmapBanner ParseColmapBanner(std::string_view help_output);

// COLMAP built without CGAL answers `colmap delaunay_mesher` with
//   "ERROR: Delaunay meshing requires CGAL, which is not available on your system."
// Returns nullopt when the output says neither way.
std::optional<bool> ParseCgalProbe(std::string_view delaunay_output);

struct Options {
  std::filesystem::path studio = "studio";
  std::string colmap = "colmap";  // the program to ask
  std::vector<std::string> Validate() const;
};

std::vector<Finding> Examine(const Options& options);

// The findings as an aligned table, with a closing line; colour is for terminals only.
std::string FormatReport(const std::vector<Finding>& findings, bool colour);
bool AnyFailed(const std::vector<Finding>& findings);

}  // namespace twinrig::doctor
