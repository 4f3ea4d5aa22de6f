#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <random>

#include "consent/gates.h"
#include "host/app/command.h"
#include "host/catalog/catalog.h"
#include "host/session/capture.h"
#include "host/session/node_trigger.h"
#include "host/session/preflight.h"
#include "host/session/session.h"

namespace twinrig::app {
namespace {

void Fail(const Error& error, int& exit_code) {
  PrintError(error.what, error.where, error.todo);
  exit_code = 1;
}

// One live line per take on a terminal; nothing between summaries otherwise (logs stay clean).
void ShowProgress(const session::Progress& p) {
  if (isatty(STDOUT_FILENO) == 0) return;
  std::printf("\r  take %d: fired %d/%d  downloaded %d/%d  verified %d/%d  %.1f MB  %.1f MB/s   ",
              p.take, p.fired, p.cameras, p.downloaded, p.cameras, p.verified, p.cameras,
              p.megabytes, p.seconds > 0 ? p.megabytes / p.seconds : 0.0);
  std::fflush(stdout);
}

int PrintReport(const session::CaptureReport& report) {
  if (isatty(STDOUT_FILENO) != 0) std::printf("\n");
  for (const auto& take : report.takes) {
    std::cout << session::DescribeTake(take) << "\n";
    for (const auto& p : take.problems) {
      std::cout << "  camera " << p.serial << ": " << p.what << "\n    what to do: " << p.todo
                << "\n";
    }
  }
  if (!report.complete()) {
    std::cout
        << "INCOMPLETE: some frames are missing (see above); nothing already verified is lost\n";
    return 1;
  }
  return 0;
}

struct CaptureArgs {
  std::string session;
  int takes = 1;
  bool software_trigger = false;
  bool resume = false;
  bool retake_missing = false;
  int capture_timeout_s = 15;
};

struct PreflightArgs {
  std::string rig;
  int takes = 3;
  double frame_mb = 30;
};

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
    auto catalog = catalog::Catalog::Open(global.studio);
    if (!catalog.ok()) return Fail(catalog.error(), exit_code);
    std::string rig = args.rig;
    if (rig.empty()) {
      auto found = session::DefaultRig(global.studio);
      if (!found.ok()) return Fail(found.error(), exit_code);
      rig = *found;
    }
    auto created = session::CreateSession(
        *catalog,
        args.calibration ? session::SessionKind::kCalibration : session::SessionKind::kSubject,
        args.subject, rig);
    if (!created.ok()) return Fail(created.error(), exit_code);
    std::cout << created->id << "\n";
    exit_code = 0;
  });

  cmd->add_subcommand("list", "sessions in this studio")->callback([&global, &exit_code] {
    auto catalog = catalog::Catalog::Open(global.studio);
    if (!catalog.ok()) return Fail(catalog.error(), exit_code);
    auto stmt = catalog->db().Prepare(
        "SELECT id, coalesce(subject_id, ''), rig, state, created_at FROM sessions ORDER BY id");
    if (!stmt.ok()) return Fail(stmt.error(), exit_code);
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return Fail(row.error(), exit_code);
      if (!*row) break;
      std::cout << stmt->ColumnText(0) << "  subject " << stmt->ColumnText(1) << "  rig "
                << stmt->ColumnText(2) << "  " << stmt->ColumnText(3) << "  " << stmt->ColumnText(4)
                << "\n";
    }
    exit_code = 0;
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
  cmd->add_flag("--retake-missing", args.retake_missing,
                "fire again only the cameras whose frame of the last take is missing");
  cmd->callback([&global, &exit_code] {
    auto catalog = catalog::Catalog::Open(global.studio);
    if (!catalog.ok()) return Fail(catalog.error(), exit_code);
    std::string id = args.session;
    if (id.empty()) {
      auto latest = session::LatestSessionId(*catalog);
      if (!latest.ok()) return Fail(latest.error(), exit_code);
      id = *latest;
    }
    auto info = session::LoadSession(global.studio, id);
    if (!info.ok()) return Fail(info.error(), exit_code);

    // A person is captured only under their signed consent for this very session. Resuming
    // downloads what was already taken and needs no new decision.
    if (info->kind == session::SessionKind::kSubject && !args.resume) {
      Status allowed = consent::CheckCaptureAllowed(*catalog, info->subject_id, info->id);
      if (!allowed.ok()) return Fail(allowed.error(), exit_code);
    }

    session::CaptureOptions options;
    options.takes = args.takes;
    options.software_trigger = args.software_trigger;
    std::unique_ptr<session::NodeTrigger> trigger;
    if (!args.software_trigger && !args.resume) {
      auto connected =
          session::NodeTrigger::Connect(global.studio / "rigs" / info->rig / "rig.toml", *info);
      if (!connected.ok()) {
        Error error = connected.error();
        error.todo += "; or capture without nodes: --software-trigger";
        return Fail(error, exit_code);
      }
      trigger = std::move(connected).value();
      const std::uint32_t base = std::random_device{}() & 0xFFFF0000U;
      options.hardware_fire = [&trigger, base](int take,
                                               const std::vector<std::string>& serials) -> Status {
        auto fired = trigger->Fire(base + static_cast<std::uint32_t>(take), serials);
        if (!fired.ok()) return fired.error();
        return OkStatus();
      };
    }
    options.worker.home = global.studio / ".gphoto";
    options.worker.capture_deadline = std::chrono::seconds(args.capture_timeout_s);
    options.frame_wait = std::chrono::seconds(args.capture_timeout_s);
    options.progress = ShowProgress;
    session::CaptureRunner runner(*info, options);
    std::cout << "session " << id << ": " << info->cameras.size() << " cameras\n";
    Result<session::CaptureReport> report = args.resume           ? runner.Resume()
                                            : args.retake_missing ? runner.RetakeMissing()
                                                                  : runner.Capture();
    if (!report.ok()) return Fail(report.error(), exit_code);
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
  cmd->callback([&global, &exit_code] {
    std::string rig = args.rig;
    if (rig.empty()) {
      auto found = session::DefaultRig(global.studio);
      if (!found.ok()) return Fail(found.error(), exit_code);
      rig = *found;
    }
    session::PreflightOptions options;
    options.takes = args.takes;
    options.frame_megabytes = args.frame_mb;
    options.worker.home = global.studio / ".gphoto";
    auto report = session::RunPreflight(global.studio / "rigs" / rig / "rig.toml", options);
    if (!report.ok()) return Fail(report.error(), exit_code);
    std::cout << "preflight of rig " << rig << "\n" << session::FormatPreflight(*report);
    exit_code = report->ready() ? 0 : 1;
  });
}

}  // namespace twinrig::app
