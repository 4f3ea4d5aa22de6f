// `twinrig calibrate`: board takes through the capture stack (or images already on disk), the
// rig solve, the calibration folder with its COLMAP model and report, and `current`.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <thread>

#include "app/command.h"
#include "calibration/board.h"
#include "calibration/calibrate.h"
#include "calibration/report.h"
#include "calibration/rig_calibration.h"
#include "calibration/solver.h"
#include "host/session/capture.h"
#include "host/session/session.h"
#include "host/session/studio_capture.h"
#include "host/studio/rig_file.h"
#include "host/studio/studio_paths.h"
#include "sim/studio/studio.h"
#include "store/catalog.h"

namespace twinrig::app {
namespace {

// With cameras left out, fewer calibrated cameras than this cannot place the rig in the studio or
// make a twin (a calibration of one camera's lens from its own folder is whole).
constexpr size_t kMinUsableCameras = 3;

// The calibrated cameras' entries of `items` (anything with a serial), in the solve's camera order:
// the solve leaves out cameras it cannot calibrate and may start its chain from another camera.
template <class Item>
std::vector<Item> InSolveOrder(std::vector<Item> items, const calibration::RigSolution& solution) {
  std::vector<Item> ordered;
  ordered.reserve(solution.cameras.size());
  for (const auto& cam : solution.cameras) {
    auto it = std::find_if(items.begin(), items.end(),
                           [&](const Item& item) { return item.serial == cam.serial; });
    if (it != items.end()) ordered.push_back(std::move(*it));
  }
  return ordered;
}

struct CalibrateArgs {
  int takes = 0;          // 0: the virtual studio's scripted poses (24), or asked for a real rig
  int colour_takes = -1;  // -1: 4 on the virtual studio (its scripted chart poses), else 0
  std::string images;
  std::string board = "charuco:5x7:0.06:0.03:DICT_6X6_250";
  std::string rig;
  std::string out;
  std::string print_board;
  int dpi = 300;
  bool software_trigger = false;
  int countdown_s = 0;
  int capture_timeout_s = 30;
  int threads = 2;
};

void Fail(const Error& error, int& exit_code) {
  PrintError(error.what, error.where, error.todo);
  exit_code = kExitFailed;
}

constexpr int kScriptedPoses = 24;  // the virtual studio's ChArUco poses (layout default)
constexpr int kScriptedCharts = 4;  // ... followed by its ColorChecker poses

// Solves from observations, aligns to the rig's planned positions when there is a rig file,
// writes the calibration (and makes it current when written into the studio), prints the table.
int SolveAndWrite(const GlobalOptions& global, const CalibrateArgs& args,
                  const calibration::BoardSpec& board, const std::filesystem::path& image_dir,
                  const std::string& rig_name, int& exit_code) {
  std::optional<studio::Rig> rig;
  const std::filesystem::path rig_file = studio::StudioPaths(global.studio).RigFile(rig_name);
  if (!rig_name.empty()) {
    // Its camera serials and planned positions.
    auto read = studio::ReadRigFile(rig_file);
    if (!read.ok()) {
      Fail(read.error(), exit_code);
      return exit_code;
    }
    rig = std::move(read).value();
  }
  auto folders = calibration::ListImageFolders(image_dir);
  if (!folders.ok()) {
    Fail(folders.error(), exit_code);
    return exit_code;
  }
  if (rig) {
    for (const auto& cam : *folders) {
      bool known = false;
      for (const auto& spec : rig->cameras) known = known || spec.serial == cam.serial;
      if (!known) {
        Fail(MakeError("camera " + cam.serial + " (a folder of images) is not in the rig file of " +
                           rig_name,
                       rig_file.string(),
                       "name each camera's folder by its serial as the rig file lists it, or add "
                       "the camera to the rig file (or calibrate with --out DIR, outside the rig)"),
             exit_code);
        return exit_code;
      }
    }
  }
  std::cout << "detecting the board " << board.ToString() << " in " << folders->size()
            << " camera folder(s) of " << image_dir.string() << "\n";
  calibration::DetectAllOptions detect;
  detect.threads = args.threads;
  auto observations = calibration::DetectBoards(*folders, board, detect);
  if (!observations.ok()) {
    Fail(observations.error(), exit_code);
    return exit_code;
  }
  calibration::SolveOptions solve;
  solve.threads = args.threads;
  auto solution = calibration::SolveRig(*observations, board, solve);
  if (!solution.ok()) {
    Fail(solution.error(), exit_code);
    return exit_code;
  }
  // The colour step pairs images, observations and solved cameras by index.
  *folders = InSolveOrder(std::move(*folders), *solution);
  *observations = InSolveOrder(std::move(*observations), *solution);
  auto coloured = calibration::SolveColour(*folders, *observations, *solution, args.threads);
  if (!coloured.ok()) {
    Fail(coloured.error(), exit_code);
    return exit_code;
  }
  std::cout << "colour: " << *coloured << " of " << solution->cameras.size()
            << " cameras saw the ColorChecker"
            << (*coloured > 0 ? " and got a colour correction" : " (no colour correction)") << "\n";
  if (rig && solution->cameras.size() >= 3) {
    std::map<std::string, std::array<double, 3>> planned;
    for (const auto& spec : rig->cameras) planned[spec.serial] = spec.position;
    auto fit = calibration::AlignToPlanned(*solution, planned);
    if (!fit.ok()) {
      Fail(fit.error(), exit_code);
      return exit_code;
    }
    std::printf(
        "rig placed in the studio's frame: camera centres within %.1f mm RMS of the rig "
        "file's planned positions\n",
        *fit * 1000);
  }
  const bool into_studio = args.out.empty();
  const std::filesystem::path root = into_studio
                                         ? calibration::CalibrationRoot(global.studio, rig_name)
                                         : std::filesystem::path(args.out);
  auto written =
      calibration::WriteCalibration(root, rig_name.empty() ? "images" : rig_name, board, *solution);
  if (!written.ok()) {
    Fail(written.error(), exit_code);
    return exit_code;
  }
  if (into_studio) {
    Status current = calibration::SetCurrentCalibration(global.studio, rig_name, written->id);
    if (!current.ok()) {
      Fail(current.error(), exit_code);
      return exit_code;
    }
  }
  std::cout << calibration::FormatCameraTable(*written, *solution);
  const auto folder = root / written->id;
  std::cout << "calibration " << written->id << (into_studio ? " (current)" : "") << ": "
            << (folder / "calibration.json").string() << "\n"
            << "COLMAP model: " << (folder / "colmap").string() << "\n"
            << "report: " << (folder / "report" / "index.html").string() << "\n";
  for (const auto& cam : written->uncalibrated) {
    std::cout << "not calibrated: camera " << cam.serial << ": " << cam.reason
              << "\n  what to do: " << cam.todo << "\n";
  }
  if (!written->uncalibrated.empty()) {
    std::cout << written->cameras.size() << " of "
              << written->cameras.size() + written->uncalibrated.size()
              << " cameras calibrated; a reconstruction goes on without the "
              << written->uncalibrated.size() << " above until they are calibrated\n";
  }
  int bad = 0;
  for (const auto& cam : written->cameras) bad += cam.verdict == "bad" ? 1 : 0;
  exit_code = bad > 0 ? kExitFailed : kExitOk;
  if (!written->uncalibrated.empty() && written->cameras.size() < kMinUsableCameras) {
    std::cout << "the rig is not usable: only " << written->cameras.size()
              << " camera(s) calibrated; take the board positions above and calibrate again\n";
    exit_code = kExitFailed;
  }
  if (bad > 0) {
    std::cout << bad
              << " camera(s) calibrated badly (see the table): recalibrate before a capture\n";
  }
  return exit_code;
}

// Board takes through the capture stack: a calibration session, the board moved before each take
// (the virtual studio's scripted poses, or the technician), then the solve from its images.
void CaptureAndSolve(const GlobalOptions& global, const CalibrateArgs& args,
                     const calibration::BoardSpec& board, int& exit_code) {
  auto catalog = store::Catalog::Open(global.studio);
  if (!catalog.ok()) return Fail(catalog.error(), exit_code);
  auto resolved = session::ResolveRig(global.studio, args.rig);
  if (!resolved.ok()) return Fail(resolved.error(), exit_code);
  const std::string rig = *resolved;
  const bool virtual_studio = sim::studio::QueryStatus(global.studio).ok();
  int takes = args.takes;
  if (takes == 0) {
    if (!virtual_studio) {
      return Fail(MakeError("how many board positions to take is not given", rig,
                            "give --takes K (20 or more positions through the whole volume)"),
                  exit_code);
    }
    takes = kScriptedPoses;
  }
  const int colour_takes =
      args.colour_takes >= 0 ? args.colour_takes : (virtual_studio ? kScriptedCharts : 0);
  auto info = session::CreateSession(*catalog, session::SessionKind::kCalibration, "", rig);
  if (!info.ok()) return Fail(info.error(), exit_code);
  std::cout << "calibration session " << info->id << ": " << info->cameras.size() << " cameras, "
            << takes << " board positions, " << colour_takes << " ColorChecker positions\n";

  session::StudioCaptureArgs capture_args;
  capture_args.takes = takes + colour_takes;
  capture_args.software_trigger = args.software_trigger;
  capture_args.capture_timeout_s = args.capture_timeout_s;
  auto prepared = session::PrepareStudioCapture(global.studio, *info, capture_args);
  if (!prepared.ok()) return Fail(prepared.error(), exit_code);
  session::CaptureOptions options = (*prepared)->options;
  const std::filesystem::path studio = global.studio;
  const int countdown = args.countdown_s;
  options.before_take = [studio, virtual_studio, takes, colour_takes,
                         countdown](int take) -> Status {
    const bool chart = take > takes;
    if (virtual_studio) {
      // The virtual studio's targets are scripted: its ChArUco poses, then its ColorChecker ones.
      // Fewer takes than scripted poses are spread over the whole script (it goes round the rig,
      // so its first half would leave the far side of the rig without a view).
      const int board_pose =
          takes < kScriptedPoses ? (take - 1) * kScriptedPoses / takes : take - 1;
      const int pose = chart ? kScriptedPoses + (take - takes - 1) : board_pose;
      auto reply = sim::studio::Call(
          studio, {{"op", "scene"}, {"mode", "calibration"}, {"board_pose", pose}});
      if (!reply.ok()) return reply.error();
      if (!reply->value("ok", false)) {
        return MakeError("the virtual studio cannot show board pose " + std::to_string(pose) +
                             ": " + reply->value("error", std::string()),
                         "virtual studio", "use fewer --takes");
      }
      return OkStatus();
    }
    if (chart) {
      std::printf(
          "\nColorChecker position %d of %d: hold the chart square on to the next side of "
          "the rig, evenly lit\n",
          take - takes, colour_takes);
    } else {
      std::printf(
          "\nboard position %d of %d: hold the board still where most cameras see it (tilt "
          "it, and cover the edges of the views over the takes)\n",
          take, takes);
    }
    if (countdown > 0) {
      for (int s = countdown; s > 0; --s) {
        std::printf("  firing in %d s\r", s);
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    } else {
      std::printf("  press Enter to fire ");
      std::fflush(stdout);
      std::string line;
      if (!std::getline(std::cin, line)) {
        return MakeError("no answer at the prompt (standard input closed)", "twinrig calibrate",
                         "run it at a terminal, or give --countdown SECONDS");
      }
    }
    return OkStatus();
  };
  options.progress = ShowCaptureProgress;
  session::CaptureRunner runner(*info, options);
  auto report = runner.Capture();
  if (virtual_studio) {
    (void)sim::studio::Call(global.studio, {{"op", "scene"}, {"mode", "subject"}});
  }
  if (!report.ok()) return Fail(report.error(), exit_code);
  for (const auto& take : report->takes) {
    for (const auto& p : take.problems) {
      std::cout << "  camera " << p.serial << ": " << p.what << "\n    what to do: " << p.todo
                << "\n";
    }
  }
  if (!report->complete()) {
    std::cout << "some frames are missing (see above); finish them with `twinrig capture --session "
              << info->id << " --resume --retake-missing`, or calibrate from what arrived with "
              << "`twinrig calibrate --images " << (info->folder / "images").string() << " --rig "
              << rig << "`\n";
    exit_code = kExitFailed;
    return;
  }
  std::cout << "captured " << report->takes.size() << " takes\n";
  SolveAndWrite(global, args, board, info->folder / "images", rig, exit_code);
}

}  // namespace

void AddCalibrate(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  static CalibrateArgs args;
  auto* cmd = parent.add_subcommand(
      "calibrate", "calibrate the rig: board takes (or images on disk), lenses and poses, report");
  cmd->add_option("--takes", args.takes,
                  "board positions to capture (default: the virtual studio's 24 scripted ones)")
      ->check(CLI::Range(3, 1000));
  cmd->add_option(
         "--colour-takes", args.colour_takes,
         "ColorChecker positions after the board (default: 4 on the virtual studio, else 0)")
      ->check(CLI::Range(0, 100));
  cmd->add_option("--images", args.images,
                  "calibrate from images on disk: one sub-folder per camera (named by serial), "
                  "or one camera's folder")
      ->transform(UserPath());
  cmd->add_option("--board", args.board,
                  "charuco:COLSxROWS:SQUARE_M:MARKER_M:DICT or chessboard:COLSxROWS:SQUARE_M "
                  "(inner corners)");
  cmd->add_option("--rig", args.rig, "rig name (default: the studio's only rig)");
  cmd->add_option("--out", args.out,
                  "write the calibration under this folder instead of the studio's rig")
      ->transform(UserPath());
  cmd->add_option("--print-board", args.print_board,
                  "write the board as a PNG to print at true scale (with --board, --dpi)")
      ->transform(UserPath());
  cmd->add_option("--dpi", args.dpi, "print resolution of --print-board")
      ->check(CLI::Range(72, 2400));
  cmd->add_flag("--software-trigger", args.software_trigger,
                "fire by InitiateCapture on every camera (rigs without trigger nodes)");
  cmd->add_option("--countdown", args.countdown_s,
                  "real rig: fire each take after this many seconds instead of at Enter")
      ->check(CLI::Range(0, 600));
  cmd->add_option("--capture-timeout", args.capture_timeout_s,
                  "seconds a camera may take from trigger to a new image")
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--threads", args.threads, "threads for detection and the solve")
      ->check(CLI::Range(1, 64));
  cmd->callback([&global, &exit_code] {
    auto board = calibration::ParseBoardSpec(args.board);
    if (!board.ok()) return Fail(board.error(), exit_code);
    if (!args.print_board.empty()) {
      Status written = calibration::WriteBoardPng(*board, args.dpi, args.print_board);
      if (!written.ok()) return Fail(written.error(), exit_code);
      const cv::Size2d size = board->PatternSize();
      std::printf(
          "%s: %s at %d dpi; print at 100 %% (no fit to page): the pattern measures "
          "%.1f x %.1f mm, each square %.1f mm\n",
          args.print_board.c_str(), board->ToString().c_str(), args.dpi, size.width * 1000,
          size.height * 1000, board->square_m * 1000);
      exit_code = kExitOk;
      return;
    }
    if (!args.images.empty()) {
      std::string rig = args.rig;
      if (rig.empty() && args.out.empty()) {
        auto found = session::DefaultRig(global.studio);
        if (!found.ok()) {
          Error error = found.error();
          error.todo += "; or write the calibration elsewhere with --out DIR";
          return Fail(error, exit_code);
        }
        rig = *found;
      }
      SolveAndWrite(global, args, *board, args.images, rig, exit_code);
      return;
    }
    CaptureAndSolve(global, args, *board, exit_code);
  });
}

}  // namespace twinrig::app
