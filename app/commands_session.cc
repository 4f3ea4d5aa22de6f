#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <random>

#include "app/command.h"
#include "consent/gates.h"
#include "host/camera/discovery.h"
#include "host/camera/settings.h"
#include "host/session/capture.h"
#include "host/session/node_trigger.h"
#include "host/session/preflight.h"
#include "host/session/session.h"
#include "host/session/studio_capture.h"
#include "host/usecases/studio.h"
#include "store/catalog.h"

namespace twinrig::app {
namespace {

void Fail(const Error& error, int& exit_code) {
  PrintError(error.what, error.where, error.todo);
  exit_code = kExitFailed;
}

}  // namespace

// One live line per take on a terminal; in a log, one line when a take has every frame verified.
void ShowCaptureProgress(const session::Progress& p) {
  if (isatty(STDOUT_FILENO) == 0) {
    static int last_complete = 0;
    if (p.verified == p.cameras && p.take != last_complete) {
      last_complete = p.take;
      std::printf("  take %d: %d/%d verified, %.1f MB in %.1f s\n", p.take, p.verified, p.cameras,
                  p.megabytes, p.seconds);
      std::fflush(stdout);
    }
    return;
  }
  std::printf("\r  take %d: fired %d/%d  downloaded %d/%d  verified %d/%d  %.1f MB  %.1f MB/s   ",
              p.take, p.fired, p.cameras, p.downloaded, p.cameras, p.verified, p.cameras,
              p.megabytes, p.seconds > 0 ? p.megabytes / p.seconds : 0.0);
  std::fflush(stdout);
}

namespace {

int PrintReport(const session::CaptureReport& report) {
  if (isatty(STDOUT_FILENO) != 0) std::printf("\n");
  if (!report.stopped.empty()) {
    std::cout << "STOPPED: " << report.stopped << "\n  what to do: " << report.stopped_todo << "\n";
  }
  for (const auto& moved : report.moved) {
    std::cout << "camera moved, used where it is now: " << moved
              << "\n  what to do: update the rig file when the move is for good\n";
  }
  for (const auto& take : report.takes) {
    std::cout << session::DescribeTake(take) << "\n";
    for (const auto& p : take.problems) {
      std::cout << "  camera " << p.serial << ": " << p.what << "\n    what to do: " << p.todo
                << "\n";
    }
    for (const auto& w : take.warnings) {
      std::cout << "  warning, camera " << w.serial << ": " << w.what
                << "\n    what to do: " << w.todo << "\n";
    }
  }
  for (const auto& stray : report.strays) {
    std::cout << "STRAY: camera " << stray.serial << " holds " << stray.file << " (taken at "
              << stray.captured << " s since 1970, camera clock), which belongs to no take of "
              << "this session: not filed here\n";
    if (!stray.session.empty()) {
      std::cout << "  it is the frame of take " << stray.take << " of session " << stray.session
                << "\n  what to do: `twinrig capture --session " << stray.session
                << " --resume` files it there\n";
    } else if (stray.deleted) {
      std::cout << "  deleted on the camera: it belongs to no open session (recorded in the "
                   "journal)\n";
    } else {
      std::cout << "  what to do: it may be another person's image: delete it on the camera\n";
    }
  }
  if (!report.complete()) {
    std::cout << session::DescribeIncomplete(report)
              << "INCOMPLETE: some frames are missing (see above); nothing already verified is "
                 "lost\n";
    return kExitFailed;
  }
  return 0;
}

struct CaptureArgs {
  std::string session;
  int takes = 1;
  bool software_trigger = false;
  bool resume = false;
  bool retake_missing = false;
  int finish = 0;
  std::vector<std::string> accept_missing;
  std::string reason;
  int capture_timeout_s = 15;
  int downloads_at_once = session::CaptureOptions{}.downloads_at_once;
};

struct PreflightArgs {
  std::string rig;
  int takes = 3;
  double frame_mb = 30;
  bool json = false;
};

struct SettingsArgs {
  std::string rig;
  std::filesystem::path profile;
};

struct CamerasArgs {
  std::string rig;
  bool no_usb = false;
};

// The rig's cameras, each in its own worker (the pool a settings command works on).
Result<std::unique_ptr<camera::CameraPool>> RigPool(const GlobalOptions& global,
                                                    const std::string& rig_name) {
  auto rig = session::ResolveRig(global.studio, rig_name);
  if (!rig.ok()) return rig.error();
  auto cameras = session::RigCameras(global.studio / "rigs" / *rig / "rig.toml");
  if (!cameras.ok()) return cameras.error();
  camera::WorkerOptions worker;
  worker.home = global.studio / ".gphoto";
  return std::make_unique<camera::CameraPool>(*cameras, worker);
}

struct NewArgs {
  std::string subject;
  std::string rig;
  bool calibration = false;
};

}  // namespace

void AddSession(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* cmd = parent.add_subcommand("session", "capture sessions");
  cmd->require_subcommand(1);
  static NewArgs args;
  auto* create = cmd->add_subcommand("new", "create a capture session for a subject");
  create->add_option("--subject", args.subject, "subject id (twinrig subject list)");
  create->add_option("--rig", args.rig, "rig name (default: the studio's only rig)");
  create->add_flag("--calibration", args.calibration, "a session of board takes (no subject)");
  create->callback([&global, &exit_code] {
    auto catalog = store::Catalog::Open(global.studio);
    if (!catalog.ok()) return Fail(catalog.error(), exit_code);
    auto resolved = session::ResolveRig(global.studio, args.rig);
    if (!resolved.ok()) return Fail(resolved.error(), exit_code);
    const std::string rig = *resolved;
    auto created = session::CreateSession(
        *catalog,
        args.calibration ? session::SessionKind::kCalibration : session::SessionKind::kSubject,
        args.subject, rig);
    if (!created.ok()) return Fail(created.error(), exit_code);
    std::cout << created->id << "\n";
    exit_code = kExitOk;
  });

  cmd->add_subcommand("list", "sessions in this studio")->callback([&global, &exit_code] {
    auto catalog = store::Catalog::Open(global.studio);
    if (!catalog.ok()) return Fail(catalog.error(), exit_code);
    auto sessions = usecases::ListSessions(*catalog);
    if (!sessions.ok()) return Fail(sessions.error(), exit_code);
    for (const auto& s : *sessions) {
      std::cout << s.id << "  subject " << s.subject_id << "  rig " << s.rig << "  " << s.state
                << "  " << s.created_at << "\n";
    }
    exit_code = kExitOk;
  });
}

void AddCapture(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  static CaptureArgs args;
  auto* cmd =
      parent.add_subcommand("capture", "fire every camera, download and verify every frame");
  cmd->add_option("--session", args.session, "session id (default: the newest)");
  cmd->add_option("--takes", args.takes, "number of takes")->check(CLI::Range(1, 1000));
  cmd->add_flag("--software-trigger", args.software_trigger,
                "InitiateCapture on every camera at once (rigs without trigger nodes)");
  cmd->add_flag("--resume", args.resume, "finish takes a stopped station left open");
  cmd->add_option("--capture-timeout", args.capture_timeout_s,
                  "seconds a camera may take from trigger to a new image before it counts as hung")
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--downloads-at-once", args.downloads_at_once,
                  "frames transferred at the same time (the others wait on their cards)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--finish", args.finish,
                  "when a take is incomplete, resume it and retake the missing cameras up to N "
                  "times, with the same connected cameras")
      ->check(CLI::Range(0, 10));
  cmd->add_flag("--retake-missing", args.retake_missing,
                "fire again only the cameras whose frame is missing, in every incomplete take");
  auto* reason =
      cmd->add_option("--reason", args.reason, "why the frames of --accept-missing are missing");
  cmd->add_option("--accept-missing", args.accept_missing,
                  "close the incomplete takes without these cameras' frames (serials); needs "
                  "--reason, which is recorded and signed into the capture seal")
      ->needs(reason);
  cmd->callback([&global, &exit_code] {
    auto catalog = store::Catalog::Open(global.studio);
    if (!catalog.ok()) return Fail(catalog.error(), exit_code);
    std::string id = args.session;
    if (id.empty()) {
      auto latest = session::LatestSessionId(*catalog);
      if (!latest.ok()) return Fail(latest.error(), exit_code);
      id = *latest;
    }
    auto info = session::LoadSession(global.studio, id);
    if (!info.ok()) return Fail(info.error(), exit_code);

    // A person is captured only under their signed consent for this very session, whatever the
    // mode: resuming, retaking and closing a take are processing too, and consent may have been
    // revoked since the take began.
    auto gate = [&]() -> Status {
      if (info->kind != session::SessionKind::kSubject) return OkStatus();
      return consent::CheckCaptureAllowed(*catalog, info->subject_id, info->id);
    };
    if (Status allowed = gate(); !allowed.ok()) return Fail(allowed.error(), exit_code);

    session::StudioCaptureArgs capture_args;
    capture_args.takes = args.takes;
    capture_args.software_trigger = args.software_trigger;
    capture_args.connect_nodes = !args.resume && args.accept_missing.empty();
    capture_args.capture_timeout_s = args.capture_timeout_s;
    auto prepared = session::PrepareStudioCapture(global.studio, *info, capture_args);
    if (!prepared.ok()) return Fail(prepared.error(), exit_code);
    session::CaptureOptions options = (*prepared)->options;
    options.progress = ShowCaptureProgress;
    options.downloads_at_once = args.downloads_at_once;
    session::CaptureRunner runner(*info, options);
    std::cout << "session " << id << ": " << info->cameras.size() << " cameras\n";
    Result<session::CaptureReport> report =
        !args.accept_missing.empty() ? runner.AcceptMissing(args.accept_missing, args.reason)
        : args.resume                ? runner.Resume()
        : args.retake_missing        ? runner.RetakeMissing()
                                     : runner.Capture();
    if (!report.ok()) return Fail(report.error(), exit_code);
    // The same runner, hence the same worker per camera, finishes the take.
    for (int round = 0; round < args.finish && !report->complete() && report->stopped.empty();
         ++round) {
      (void)PrintReport(*report);
      std::cout << "finishing (round " << round + 1 << " of " << args.finish << ")\n";
      if (Status allowed = gate(); !allowed.ok()) return Fail(allowed.error(), exit_code);
      report = runner.Resume();
      if (!report.ok()) return Fail(report.error(), exit_code);
      if (report->complete() || !report->stopped.empty()) break;
      report = runner.RetakeMissing();
      if (!report.ok()) return Fail(report.error(), exit_code);
    }
    exit_code = PrintReport(*report);
  });
}

}  // namespace twinrig::app

namespace twinrig::app {

void AddPreflight(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  static PreflightArgs args;
  auto* cmd = parent.add_subcommand("preflight", "everything a capture needs, with what to fix");
  cmd->add_option("--rig", args.rig, "rig name (default: the studio's only rig)");
  cmd->add_option("--takes", args.takes, "planned takes (card space)")->check(CLI::Range(1, 10000));
  cmd->add_option("--frame-mb", args.frame_mb, "expected size of one frame in MB");
  cmd->add_flag("--json", args.json,
                "print the report as one line of JSON on stdout (the table goes to stderr)");
  cmd->callback([&global, &exit_code] {
    auto resolved = session::ResolveRig(global.studio, args.rig);
    if (!resolved.ok()) return Fail(resolved.error(), exit_code);
    const std::string rig = *resolved;
    session::PreflightOptions options;
    options.takes = args.takes;
    options.frame_megabytes = args.frame_mb;
    options.worker.home = global.studio / ".gphoto";
    auto report = session::RunPreflight(global.studio / "rigs" / rig / "rig.toml", options);
    if (!report.ok()) return Fail(report.error(), exit_code);
    // With --json the table still goes to whoever watches (stderr), the JSON to stdout.
    (args.json ? std::cerr : std::cout) << "preflight of rig " << rig << "\n"
                                        << session::FormatPreflight(*report) << std::flush;
    if (args.json) std::cout << session::PreflightJson(*report) << "\n";
    exit_code = report->ready() ? 0 : 1;
  });
}

}  // namespace twinrig::app

namespace twinrig::app {

void AddSettings(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  static SettingsArgs args;
  auto* cmd = parent.add_subcommand("settings", "every camera's settings; apply a profile");
  cmd->require_subcommand(1);
  auto* show = cmd->add_subcommand(
      "show", "every camera's settings as a table, values that differ from the majority marked");
  show->add_option("--rig", args.rig, "rig name (default: the studio's only rig)");
  show->callback([&global, &exit_code] {
    auto pool = RigPool(global, args.rig);
    if (!pool.ok()) return Fail(pool.error(), exit_code);
    auto survey = camera::ReadSettings(**pool);
    std::cout << camera::FormatSurvey(survey, isatty(STDOUT_FILENO) != 0);
    exit_code = survey.uniform() ? 0 : 1;
  });
  auto* apply = cmd->add_subcommand(
      "apply", "set a profile on every camera at once, read it back, list who differs");
  apply->add_option("--rig", args.rig, "rig name (default: the studio's only rig)");
  apply
      ->add_option("--profile", args.profile,
                   "TOML (or .json) file: iso, shutter, aperture, whitebalance, imagequality, "
                   "capturetarget")
      ->transform(UserPath())
      ->required();
  apply->callback([&global, &exit_code] {
    auto profile = camera::LoadSettingsProfile(args.profile);
    if (!profile.ok()) return Fail(profile.error(), exit_code);
    auto pool = RigPool(global, args.rig);
    if (!pool.ok()) return Fail(pool.error(), exit_code);
    auto report = camera::ApplyProfile(**pool, *profile);
    std::cout << camera::FormatSurvey(report.after, isatty(STDOUT_FILENO) != 0);
    if (report.ok()) {
      std::cout << "APPLIED: " << report.after.cameras.size() << " cameras have the profile\n";
      exit_code = kExitOk;
      return;
    }
    std::cout << "DIFFER: " << report.differ.size() << " camera(s) do not have the profile:\n";
    for (const auto& line : report.differ) std::cout << "  - " << line << "\n";
    exit_code = kExitFailed;
  });
}

void AddCameras(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  static CamerasArgs args;
  auto* cmd = parent.add_subcommand(
      "cameras", "cameras found on USB (autodetect) and at the rig's PTP/IP addresses, by serial");
  cmd->add_option("--rig", args.rig, "rig name (default: the studio's only rig)");
  cmd->add_flag("--no-usb", args.no_usb, "skip USB autodetect");
  cmd->callback([&global, &exit_code] {
    auto resolved = session::ResolveRig(global.studio, args.rig);
    if (!resolved.ok()) return Fail(resolved.error(), exit_code);
    const std::string rig = *resolved;
    auto cameras = session::RigCameras(global.studio / "rigs" / rig / "rig.toml");
    if (!cameras.ok()) return Fail(cameras.error(), exit_code);
    std::vector<camera::ExpectedCamera> expected;
    expected.reserve(cameras->size());
    for (const auto& c : *cameras) expected.push_back({c.serial, c.port});
    camera::DiscoveryOptions options;
    options.usb = !args.no_usb;
    options.worker.home = global.studio / ".gphoto";
    auto discovery = camera::DiscoverCameras(expected, options);
    std::cout << "cameras of rig " << rig << "\n" << camera::FormatDiscovery(discovery);
    bool missing = false;
    for (const auto& c : discovery.cameras) missing |= c.place == camera::CameraPlace::kMissing;
    exit_code = missing ? 1 : 0;
  });
}

}  // namespace twinrig::app
