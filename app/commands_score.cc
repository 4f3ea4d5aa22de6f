// `twinrig score SESSION`: a twin made in the virtual studio against its truth (sim/score).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "app/command.h"
#include "host/studio/studio_paths.h"
#include "sim/score/score.h"

namespace twinrig::app {
namespace {

struct ScoreArgs {
  std::string session;
  std::string level;
};

}  // namespace

void AddScore(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<ScoreArgs>();
  auto* cmd = parent.add_subcommand(
      "score", "compare a session's twin with the virtual studio's ground truth (metrics.json)");
  cmd->add_option("session", args->session, "session id")->required();
  cmd->add_option("--level", args->level, "preview or full (default: full when it exists)")
      ->check(CLI::IsMember({"preview", "full"}));
  cmd->callback([args, &global, &exit_code] {
    std::string level = args->level;
    if (level.empty()) {
      level =
          std::filesystem::exists(studio::StudioPaths(global.studio).SessionFolder(args->session) /
                                  "twin" / "full" / "twin.ply")
              ? "full"
              : "preview";
    }
    auto metrics = sim::score::ScoreSession(global.studio, args->session, level);
    if (!metrics.ok()) {
      PrintError(metrics.error().what, metrics.error().where, metrics.error().todo);
      exit_code = kExitFailed;
      return;
    }
    std::printf(
        "score %s (%s): accuracy %.2f mm (median %.2f), completeness %.2f mm (median "
        "%.2f), %.0f%% of the truth scored\n",
        args->session.c_str(), level.c_str(), metrics->accuracy_mean_mm,
        metrics->accuracy_median_mm, metrics->completeness_mean_mm, metrics->completeness_median_mm,
        100 * metrics->scored_fraction);
    for (const auto& s : metrics->scores) {
      std::printf("  %.0f mm  precision %.3f  recall %.3f  F %.3f", s.threshold_mm, s.precision,
                  s.recall, s.fscore);
      if (s.dense_recall >= 0) std::printf("  (dense points' recall %.3f)", s.dense_recall);
      std::printf("\n");
    }
    std::printf("written  %s\n", (studio::StudioPaths(global.studio).SessionFolder(args->session) /
                                  "twin" / level / "metrics.json")
                                     .string()
                                     .c_str());
    exit_code = kExitOk;
  });
}

}  // namespace twinrig::app
