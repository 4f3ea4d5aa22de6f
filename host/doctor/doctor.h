// `twinrig doctor`: what this host has, what is missing, and what to do about it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/colmap_banner.h"

namespace twinrig::doctor {

enum class Level { kOk, kWarn, kFail };
std::string_view LevelName(Level level);

struct Finding {
  std::string name;  // "libgphoto2", "colmap", "free disk"
  Level level = Level::kOk;
  std::string detail;  // what was found
  std::string todo;    // what to do; empty when OK
};

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
