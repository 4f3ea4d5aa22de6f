#include "host/doctor/doctor.h"

#include <ceres/version.h>
#include <dlfcn.h>
#include <gphoto2/gphoto2-port-info-list.h>
#include <gphoto2/gphoto2-port-result.h>
#include <gphoto2/gphoto2-version.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <opencv2/core/version.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "host/farm/cluster.h"
#include "util/subprocess.h"

namespace twinrig::doctor {
namespace {

Finding Ok(std::string name, std::string detail) {
  return {std::move(name), Level::kOk, std::move(detail), {}};
}
Finding Warn(std::string name, std::string detail, std::string todo) {
  return {std::move(name), Level::kWarn, std::move(detail), std::move(todo)};
}
Finding Fail(std::string name, std::string detail, std::string todo) {
  return {std::move(name), Level::kFail, std::move(detail), std::move(todo)};
}

// Compares dotted versions numerically: "2.5.30" >= "2.5.28".
bool VersionAtLeast(const std::string& have, const std::string& want) {
  std::istringstream a(have), b(want);
  std::string x, y;
  while (std::getline(b, y, '.')) {
    if (!std::getline(a, x, '.')) return false;
    int xi = std::atoi(x.c_str()), yi = std::atoi(y.c_str());
    if (xi != yi) return xi > yi;
  }
  return true;
}

void ExamineGphoto(std::vector<Finding>& out) {
  const char** version = gp_library_version(GP_VERSION_SHORT);
  std::string lib = version != nullptr && version[0] != nullptr ? version[0] : "unknown";

  GPPortInfoList* list = nullptr;
  std::set<std::string> drivers;
  if (gp_port_info_list_new(&list) == GP_OK && gp_port_info_list_load(list) == GP_OK) {
    int count = gp_port_info_list_count(list);
    for (int i = 0; i < count; ++i) {
      GPPortInfo info;
      if (gp_port_info_list_get_info(list, i, &info) != GP_OK) continue;
      GPPortType type;
      gp_port_info_get_type(info, &type);
      if (type == GP_PORT_PTPIP) drivers.insert("ptpip");
      if (type == GP_PORT_USB) drivers.insert("usb1");
      if (type == GP_PORT_DISK) drivers.insert("disk");
    }
  }
  if (list != nullptr) gp_port_info_list_free(list);
  std::string names;
  for (const auto& d : drivers) names += (names.empty() ? "" : ", ") + d;
  std::string detail = lib + "; port drivers: " + (names.empty() ? "none" : names);

  if (!drivers.contains("ptpip")) {
    out.push_back(Fail("libgphoto2", detail,
                       "the ptpip port driver is missing: networked cameras and the virtual "
                       "studio cannot connect; reinstall libgphoto2-port12 (scripts/setup)"));
  } else if (!VersionAtLeast(lib, "2.5.30")) {
    out.push_back(Warn("libgphoto2", detail, "twinrig is tested with 2.5.30; upgrade libgphoto2"));
  } else if (!drivers.contains("usb1")) {
    out.push_back(Warn("libgphoto2", detail,
                       "the usb1 port driver is missing: USB cameras will not be found"));
  } else {
    out.push_back(Ok("libgphoto2", detail));
  }

  if (ProgramExists("gphoto2")) {
    out.push_back(Ok("gphoto2 CLI", "present (used by tests and the CLI baseline)"));
  } else {
    out.push_back(
        Warn("gphoto2 CLI", "not found", "install gphoto2 (scripts/setup) to run the tests"));
  }
}

void ExamineColmap(const Options& options, std::vector<Finding>& out) {
  if (!ProgramExists(options.colmap)) {
    out.push_back(Fail("colmap", "`" + options.colmap + "` not found on PATH",
                       "install colmap (scripts/setup); reconstruction needs it"));
    return;
  }
  SubprocessOptions run;
  run.timeout = std::chrono::seconds(30);
  const ColmapBanner banner = ProbeColmap(options.colmap);
  if (!banner.recognised) {
    out.push_back(Fail("colmap", "`" + options.colmap + " -h` did not print a COLMAP banner",
                       "check the colmap installation (run `colmap -h` by hand)"));
    return;
  }
  if (!VersionAtLeast(banner.version, "3.8")) {
    out.push_back(Warn("colmap", "version " + banner.version, "twinrig needs COLMAP 3.8 or newer"));
  } else {
    out.push_back(Ok("colmap", "version " + banner.version));
  }
  if (banner.cuda) {
    out.push_back(Ok("colmap CUDA", "built with CUDA: dense stereo uses patch_match_stereo"));
  } else {
    out.push_back(Warn("colmap CUDA", "built without CUDA: patch_match_stereo is unavailable",
                       "nothing to do: dense stereo falls back to twinrig's CPU multi-view "
                       "stereo (slower); a CUDA build of COLMAP would use the GPU"));
  }
  auto probe = RunSubprocess({options.colmap, "delaunay_mesher"}, run);
  std::optional<bool> cgal = probe.ok() ? ParseCgalProbe(probe->output) : std::nullopt;
  if (!cgal.has_value()) {
    out.push_back(Warn("colmap CGAL", "could not tell whether colmap has CGAL",
                       "run `colmap delaunay_mesher` by hand to see"));
  } else if (*cgal) {
    out.push_back(Ok("colmap CGAL", "built with CGAL: delaunay_mesher available"));
  } else {
    out.push_back(Warn("colmap CGAL", "built without CGAL: delaunay_mesher is unavailable",
                       "nothing to do: twinrig meshes with poisson_mesher; Delaunay meshing "
                       "would need a COLMAP built with CGAL"));
  }
}

void ExamineOpenCv(std::vector<Finding>& out) {
  // Debian ships each module as its own library (libopencv_aruco.so.406 for 4.6): ask the loader.
  std::string missing;
  std::string found;
  for (const char* module : {"aruco", "mcc", "calib3d"}) {
    std::string lib =
        fmt::format("libopencv_{}.so.{}{:02}", module, CV_VERSION_MAJOR, CV_VERSION_MINOR);
    void* handle = dlopen(lib.c_str(), RTLD_LAZY | RTLD_LOCAL);
    if (handle != nullptr) {
      found += (found.empty() ? "" : ", ") + std::string(module);
      dlclose(handle);
    } else {
      missing += (missing.empty() ? "" : ", ") + std::string(module);
    }
  }
  std::string detail = std::string(CV_VERSION) + "; modules: " + (found.empty() ? "none" : found);
  if (!missing.empty()) {
    out.push_back(Fail("OpenCV", detail + "; missing: " + missing,
                       "install libopencv-contrib-dev (scripts/setup); calibration needs them"));
  } else {
    out.push_back(Ok("OpenCV", detail));
  }
}

void ExamineLibraries(std::vector<Finding>& out) {
  out.push_back(Ok("Ceres", CERES_VERSION_STRING));
  if (sodium_init() < 0) {
    out.push_back(Fail("libsodium", sodium_version_string(), "libsodium failed to initialise"));
  } else {
    out.push_back(Ok("libsodium", sodium_version_string()));
  }
  out.push_back(Ok("SQLite", sqlite3_libversion()));
}

std::string Gib(double bytes) {
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << bytes / (1024.0 * 1024.0 * 1024.0) << " GiB";
  return s.str();
}

void ExamineMachine(const Options& options, std::vector<Finding>& out) {
  unsigned cores = std::thread::hardware_concurrency();
  std::string c = std::to_string(cores) + " cores";
  if (cores < 2) {
    out.push_back(Warn("cores", c, "reconstruction will be slow; use a machine with more cores"));
  } else {
    out.push_back(Ok("cores", c));
  }
  double memory =
      static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
  if (memory < 8.0 * (1 << 30)) {
    out.push_back(Warn("memory", Gib(memory), "8 GiB or more is recommended for reconstruction"));
  } else {
    out.push_back(Ok("memory", Gib(memory)));
  }
  // The studio may not exist yet: measure the nearest folder that does.
  std::filesystem::path where = std::filesystem::absolute(options.studio);
  while (!where.empty() && !std::filesystem::exists(where) && where != where.parent_path()) {
    where = where.parent_path();
  }
  struct statvfs fs {};
  if (statvfs(where.c_str(), &fs) != 0) {
    out.push_back(
        Fail("free disk", "could not measure " + where.string(), "check the studio folder"));
    return;
  }
  double free_bytes = static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize);
  std::string detail = Gib(free_bytes) + " free at " + where.string();
  if (free_bytes < 1.0 * (1 << 30)) {
    out.push_back(Fail("free disk", detail, "free space: a capture needs gigabytes"));
  } else if (free_bytes < 20.0 * (1 << 30)) {
    out.push_back(Warn("free disk", detail, "under 20 GiB: a body rig fills that in a few takes"));
  } else {
    out.push_back(Ok("free disk", detail));
  }
}

}  // namespace

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kOk:
      return "OK";
    case Level::kWarn:
      return "WARN";
    case Level::kFail:
      return "FAIL";
  }
  return "?";
}

std::optional<bool> ParseCgalProbe(std::string_view delaunay_output) {
  if (delaunay_output.find("requires CGAL") != std::string_view::npos) return false;
  // With CGAL, delaunay_mesher gets as far as parsing its options and asks for them.
  if (delaunay_output.find("input_path") != std::string_view::npos ||
      delaunay_output.find("Options") != std::string_view::npos) {
    return true;
  }
  return std::nullopt;
}

std::vector<std::string> Options::Validate() const {
  std::vector<std::string> problems;
  if (studio.empty()) problems.push_back("the studio folder is empty");
  if (colmap.empty()) problems.push_back("the colmap program name is empty");
  return problems;
}

namespace {

// The reconstruction farm: none configured is fine (the station reconstructs itself); one the
// studio reconstructs on by default must answer.
void ExamineFarm(const Options& options, std::vector<Finding>& out) {
  auto settings = farm::LoadSettings(options.studio);
  if (!settings.ok()) {
    out.push_back(Fail("farm", settings.error().what + " (" + settings.error().where + ")",
                       settings.error().todo));
    return;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool configured = settings->reconstruct_on_farm ||
                          fs::exists(farm::SettingsFile(options.studio), ec) ||
                          fs::exists(farm::LocalFarmFolder(options.studio) / "slurm.conf", ec);
  if (!configured) {
    out.push_back(Ok("farm", "none configured: reconstruction runs on this station"));
    return;
  }
  auto nodes = farm::ListNodes(*settings);
  if (!nodes.ok()) {
    const std::string detail = "not reachable: " + nodes.error().what;
    out.push_back(settings->reconstruct_on_farm ? Fail("farm", detail, nodes.error().todo)
                                                : Warn("farm", detail, nodes.error().todo));
    return;
  }
  std::string list;
  for (const auto& n : *nodes) {
    list += (list.empty() ? "" : ", ") + n.name + " " + n.state + " " + std::to_string(n.cpus) +
            " CPUs";
  }
  out.push_back(Ok("farm", std::to_string(nodes->size()) + " node(s): " + list +
                               (settings->reconstruct_on_farm ? "; reconstruction runs there"
                                                              : "; used with --farm slurm")));
}

}  // namespace

std::vector<Finding> Examine(const Options& options) {
  std::vector<Finding> findings;
  ExamineGphoto(findings);
  ExamineColmap(options, findings);
  ExamineOpenCv(findings);
  ExamineLibraries(findings);
  ExamineMachine(options, findings);
  ExamineFarm(options, findings);
  return findings;
}

bool AnyFailed(const std::vector<Finding>& findings) {
  for (const auto& f : findings) {
    if (f.level == Level::kFail) return true;
  }
  return false;
}

std::string FormatReport(const std::vector<Finding>& findings, bool colour) {
  size_t width = 0;
  for (const auto& f : findings) width = std::max(width, f.name.size());
  int counts[3] = {0, 0, 0};
  std::ostringstream out;
  for (const auto& f : findings) {
    ++counts[static_cast<int>(f.level)];
    std::string level(LevelName(f.level));
    if (colour) {
      const char* code = f.level == Level::kOk ? "32" : f.level == Level::kWarn ? "33" : "31";
      level = std::string("\033[") + code + "m" + level + "\033[0m";
      level += std::string(4 - LevelName(f.level).size(), ' ');
    } else {
      level += std::string(4 - level.size(), ' ');
    }
    out << "  " << level << "  " << f.name << std::string(width - f.name.size(), ' ') << "  "
        << f.detail << "\n";
    if (!f.todo.empty()) out << "        " << std::string(width, ' ') << "  -> " << f.todo << "\n";
  }
  out << counts[0] << " OK, " << counts[1] << " WARN, " << counts[2] << " FAIL";
  out << (counts[2] > 0 ? ": fix the FAIL lines before a session\n" : "\n");
  return out.str();
}

}  // namespace twinrig::doctor
