// twinrig: the studio station's single binary.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "app/command.h"
#include "app/version.h"
#include "util/check.h"
#include "util/logging.h"

namespace twinrig::app {
namespace {

// Subcommands in the order `--help` lists them.
constexpr Command kCommands[] = {
    {"doctor", AddDoctor},
    {"studio", AddStudio},
    {"sim", AddSim},
    {"session", AddSession},
    {"preflight", AddPreflight},
    {"capture", AddCapture},
    {"calibrate", AddCalibrate},
    {"cameras", AddCameras},
    {"settings", AddSettings},
    {"rig", AddRig},
    {"keys", AddKeys},
    {"subject", AddSubject},
    {"consent", AddConsent},
    {"export", AddExport},
    {"audit", AddAudit},
    {"retention", AddRetention},
    {"vault", AddVault},
    {"reconstruct", AddReconstruct},
    {"score", AddScore},
    {"farm", AddFarm},
    {"review", AddReview},
    {"demo", AddDemo},
};

}  // namespace

std::filesystem::path AbsoluteUserPath(const std::filesystem::path& path) {
  if (path.empty()) return path;
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec);
  return ec ? path : absolute.lexically_normal();
}

std::function<std::string(std::string)> UserPath() {
  return [](std::string value) {
    if (value.empty() || value == "-" || value.rfind("fd:", 0) == 0) return value;
    return AbsoluteUserPath(value).string();
  };
}

void PrintError(const std::string& what, const std::string& where, const std::string& todo) {
  std::cerr << "error: ";
  if (!where.empty()) std::cerr << where << ": ";
  std::cerr << what << "\n";
  if (!todo.empty()) std::cerr << "  what to do: " << todo << "\n";
}

int Main(int argc, char** argv) {
  CLI::App app{"twinrig — photogrammetry studio station for digital twins of people"};
  app.set_version_flag("--version", std::string("twinrig ") + TWINRIG_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  GlobalOptions global;
  if (const char* env = std::getenv("TWINRIG_STUDIO"); env != nullptr && *env != '\0') {
    global.studio = env;
  }
  app.add_option("--studio", global.studio, "studio folder (default ./studio, or TWINRIG_STUDIO)");
  app.add_option("--log", global.log_level, "log level: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  int exit_code = kExitOk;
  for (const Command& command : kCommands) command.add(app, global, exit_code);
  app.parse_complete_callback([&] {
    global.studio = AbsoluteUserPath(global.studio);
    ConfigureLogging(global.log_level);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are ParseErrors that succeed; every other one is a wrong command line.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  } catch (const CheckFailure& e) {
    PrintError(std::string("internal error: ") + e.what(), "", "please report this as a bug");
    return kExitInternal;
  }
  return exit_code;
}

}  // namespace twinrig::app

int main(int argc, char** argv) { return twinrig::app::Main(argc, argv); }
