// `twinrig reconstruct SESSION --preview|--full` (here, or on the studio's Slurm farm).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "app/command.h"
#include "app/farm_commands.h"
#include "host/farm/cluster.h"
#include "host/farm/jobs.h"
#include "reconstruct/pipeline.h"

namespace twinrig::app {
namespace {

struct ReconstructArgs {
  std::string session;
  bool preview = false;
  bool full = false;
  int take = 0;
  double scale = 0;
  int threads = 2;
  bool bundle_adjust = false;
  int target_faces = 0;
  double poisson_trim = 0;
  double max_gap_mm = 0;
  double plane_step_px = 0;
  int window = 0;
  std::string backdrop;
  std::string dense = "auto";
  std::string colmap = "colmap";
  std::string farm;  // "", "local" or "slurm"
  bool wait = false;
  bool resume = false;
  int chunks = 0;
};

// Submits the session's stages to the farm; with --wait, follows them to the end.
int SubmitToFarm(const std::filesystem::path& studio, const farm::Settings& settings,
                 const ReconstructArgs& args, const reconstruct::ReconstructOptions& options) {
  farm::SubmitOptions submit;
  char self[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  submit.twinrig = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string("twinrig");
  submit.depth_chunks = args.chunks > 0 ? args.chunks : settings.depth_chunks;
  submit.resume = args.resume;
  auto jobs = farm::Submit(studio, settings, args.session, options, submit);
  if (!jobs.ok()) {
    PrintError(jobs.error().what, jobs.error().where, jobs.error().todo);
    return kExitFailed;
  }
  std::printf("reconstruct %s (%s) on the farm%s\n", args.session.c_str(),
              reconstruct::LevelName(options.level).c_str(), args.resume ? ", resumed" : "");
  PrintFarmJobs(*jobs);
  if (!args.wait) {
    std::printf("follow it: twinrig farm status %s\n", args.session.c_str());
    return 0;
  }
  auto done =
      WaitForFarmJobs(studio, settings, args.session, options.level, std::chrono::hours(12));
  if (!done.ok()) {
    PrintError(done.error().what, done.error().where, done.error().todo);
    return kExitFailed;
  }
  if (!done->Finished()) {
    PrintError("the farm jobs ended without the twin",
               farm::RecordsFolder(studio, args.session, options.level).string(),
               "see `twinrig farm status " + args.session + "` and `twinrig farm logs " +
                   args.session + "`, then resubmit with --resume");
    return kExitFailed;
  }
  std::printf("twin     %s\n",
              reconstruct::SessionTwin(studio, args.session, options.level).string().c_str());
  return 0;
}

}  // namespace

void AddReconstruct(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<ReconstructArgs>();
  auto* cmd = parent.add_subcommand(
      "reconstruct",
      "make the twin of a session: --preview (fast, for the review on the spot) or --full");
  cmd->add_option("session", args->session, "session id")->required();
  auto* preview = cmd->add_flag("--preview", args->preview, "the fast preview twin (default)");
  cmd->add_flag("--full", args->full, "the full twin")->excludes(preview);
  cmd->add_option("--take", args->take, "take number (default: the last take every camera has)");
  cmd->add_option("--scale", args->scale,
                  "image scale (default: the long side brought to 512 px for the preview, 1280 px "
                  "for the full twin)");
  cmd->add_option("--threads", args->threads, "worker threads")->check(CLI::Range(1, 64));
  cmd->add_flag("--bundle-adjust", args->bundle_adjust,
                "refine camera poses (intrinsics fixed) after triangulation");
  cmd->add_option("--faces", args->target_faces, "target face count of the twin");
  cmd->add_option("--trim", args->poisson_trim,
                  "Poisson trim (default 4); lower keeps more of the closed surface")
      ->check(CLI::Range(0.0, 20.0));
  cmd->add_option("--max-gap", args->max_gap_mm,
                  "mm: surface farther than this from every dense point is cut away (default: "
                  "preview 8, full 5)")
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--plane-step", args->plane_step_px,
                  "px: spacing of the depth planes in the multi-view stereo (default: preview 2, "
                  "full 1)")
      ->check(CLI::Range(0.0, 50.0));
  cmd->add_option("--window", args->window,
                  "px: side of the matching window, odd (default: preview 9, full 11)")
      ->check(CLI::Range(0, 51));
  cmd->add_option("--backdrop", args->backdrop,
                  "the studio's backdrop colour, keyed out before the dense stage: black, white, "
                  "grey or R,G,B, optionally :TOLERANCE (default 40), e.g. black:40")
      ->check([](const std::string& text) -> std::string {
        auto key = reconstruct::ParseBackdropKey(text);
        return key.ok() ? std::string() : key.error().what + "; " + key.error().todo;
      });
  cmd->add_option("--dense", args->dense,
                  "who makes the depth maps: auto (COLMAP's patch_match_stereo when colmap has "
                  "CUDA, else twinrig's), twinrig (CPU multi-view stereo) or colmap")
      ->check(CLI::IsMember({"auto", "twinrig", "colmap"}));
  cmd->add_option("--colmap", args->colmap, "the colmap program");
  cmd->add_option("--farm", args->farm,
                  "where to reconstruct: local (this station) or slurm (the studio's farm: the "
                  "stages as Slurm jobs); default: farm.toml's reconstruct setting, else local")
      ->check(CLI::IsMember({"local", "slurm"}));
  cmd->add_flag("--wait", args->wait,
                "with the farm: wait for the jobs, showing each stage's progress (else return "
                "with the job ids at once); a local run always ends with the twin");
  cmd->add_flag("--resume", args->resume,
                "with the farm: submit only the stages that did not finish (after a failure or a "
                "cancel), with the options of the first submission");
  cmd->add_option("--chunks", args->chunks,
                  "with the farm: the depth stage as a job array of this many chunks of views "
                  "(default: farm.toml's depth_chunks, 4)")
      ->check(CLI::Range(1, 256));
  cmd->callback([args, &global, &exit_code] {
    // The level's presets, then what the command line gave (0: not given).
    auto options = reconstruct::ReconstructOptions::ForLevel(
        args->full ? reconstruct::Level::kFull : reconstruct::Level::kPreview);
    options.take = args->take;
    options.scale = args->scale;
    options.threads = args->threads;
    options.bundle_adjust = args->bundle_adjust;
    const auto given = [](auto& option, auto value) {
      if (value != 0) option = value;
    };
    given(options.target_faces, args->target_faces);
    given(options.poisson_trim, args->poisson_trim);
    given(options.max_gap_mm, args->max_gap_mm);
    given(options.plane_step_px, args->plane_step_px);
    given(options.window, args->window);
    options.colmap = args->colmap;
    options.dense = args->dense == "twinrig"  ? reconstruct::DenseStereo::kTwinrig
                    : args->dense == "colmap" ? reconstruct::DenseStereo::kColmap
                                              : reconstruct::DenseStereo::kAuto;
    if (!args->backdrop.empty()) options.backdrop = *reconstruct::ParseBackdropKey(args->backdrop);
    // A person's images are processed only under their standing consent, here or on the farm.
    if (Status allowed = CheckReconstructionAllowed(global.studio, args->session); !allowed.ok()) {
      PrintError(allowed.error().what, allowed.error().where, allowed.error().todo);
      exit_code = kExitFailed;
      return;
    }
    auto settings = farm::LoadSettings(global.studio);
    if (!settings.ok()) {
      PrintError(settings.error().what, settings.error().where, settings.error().todo);
      exit_code = kExitFailed;
      return;
    }
    const bool on_farm = args->farm.empty() ? settings->reconstruct_on_farm : args->farm == "slurm";
    if (on_farm) {
      exit_code = SubmitToFarm(global.studio, *settings, *args, options);
      return;
    }
    if (args->resume) {
      PrintError("--resume is for farm jobs", "", "add --farm slurm");
      exit_code = kExitUsage;
      return;
    }
    std::cout << "reconstruct " << args->session << " (" << reconstruct::LevelName(options.level)
              << ")\n";
    double elapsed = 0;
    auto report = reconstruct::ReconstructSession(
        global.studio, args->session, options, [&](const reconstruct::StageTime& s) {
          elapsed += s.seconds;
          std::printf("  %-14s %7.1f s  (%6.1f s)  %s\n", s.stage.c_str(), s.seconds, elapsed,
                      s.detail.c_str());
          std::fflush(stdout);
        });
    if (!report.ok()) {
      PrintError(report.error().what, report.error().where, report.error().todo);
      exit_code = kExitFailed;
      return;
    }
    std::printf("twin     %s\n", report->twin.string().c_str());
    std::printf(
        "cameras  %d (%d in COLMAP's triangulated model), %zu sparse points, %zu fused "
        "points, %zu faces\n",
        report->cameras, report->registered, report->sparse_points, report->fused_points,
        report->faces);
    std::printf("total    %.1f s\n", report->total_seconds);
    for (const auto& cam : report->left_out) {
      std::printf("left out camera %s: the calibration could not calibrate it (%s); %s\n",
                  cam.serial.c_str(), cam.reason.c_str(), cam.todo.c_str());
    }
    exit_code = kExitOk;
  });
}

}  // namespace twinrig::app
