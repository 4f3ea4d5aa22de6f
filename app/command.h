// The `twinrig` command table (COLMAP's exe/colmap.cc pattern): each subcommand registers its
// options on a CLI11 sub-app and runs through the same library code the review station calls.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace twinrig::session {
struct Progress;
}

namespace twinrig::app {

// The exit status of every command, one convention for all (README "Exit status"):
constexpr int kExitOk = 0;         // done; or the answer is yes (ready, verified, allowed)
constexpr int kExitFailed = 1;     // it failed, or the answer is no: the message says what to do
constexpr int kExitUsage = 2;      // the command line is wrong (CLI11's parse errors too)
constexpr int kExitInternal = 70;  // a broken invariant: a bug to report (EX_SOFTWARE)
constexpr int kExitInterrupted = 130;  // stopped by Ctrl-C or SIGTERM (128 + SIGINT)

// Options every subcommand sees.
struct GlobalOptions {
  std::filesystem::path studio = "studio";  // --studio DIR or TWINRIG_STUDIO
  std::string log_level = "warn";
};

// Registers a subcommand. The callback sets `exit_code`.
using Register = void (*)(CLI::App& parent, const GlobalOptions& global, int& exit_code);

struct Command {
  const char* name;
  Register add;
};

// Defined by each commands_*.cc file.
void AddDoctor(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddStudio(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddSim(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddSession(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddCapture(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddCameras(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddSettings(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddPreflight(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddRig(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddKeys(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddSubject(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddConsent(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddExport(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddAudit(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddRetention(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddVault(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddCalibrate(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddReview(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddReconstruct(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddFarm(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddScore(CLI::App& parent, const GlobalOptions& global, int& exit_code);
void AddDemo(CLI::App& parent, const GlobalOptions& global, int& exit_code);

// A path the user typed, made absolute against the working directory the command was started in
// (CLI11 transform). Paths are resolved once, here at the command line: below it, COLMAP, the
// camera workers, the renderers and the review station's jobs run in other working directories.
// "-" (standard input) and "fd:N" pass through unchanged.
std::function<std::string(std::string)> UserPath();
// The same rule for the studio folder (--studio, TWINRIG_STUDIO, the default ./studio).
std::filesystem::path AbsoluteUserPath(const std::filesystem::path& path);

// Prints an error for a person: what failed, where, what to do.
void PrintError(const std::string& what, const std::string& where, const std::string& todo);
// The live progress of a capture (`twinrig capture`, the board takes of `twinrig calibrate`).
void ShowCaptureProgress(const session::Progress& progress);

}  // namespace twinrig::app
