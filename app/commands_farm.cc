// `twinrig farm up|down|status|cancel|logs|use` and the hidden `twinrig farm run-stage` that each
// Slurm job runs; `twinrig reconstruct --farm slurm` submits through host/farm
// (commands_reconstruct.cc).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/command.h"
#include "app/farm_commands.h"
#include "consent/gates.h"
#include "host/farm/cluster.h"
#include "host/farm/jobs.h"
#include "store/catalog.h"
#include "util/clock.h"
#include "util/files.h"

namespace twinrig::app {
namespace {

namespace fs = std::filesystem;

struct FarmArgs {
  std::string session;
  std::string level;
  std::string stage;
  int chunk = 0;
  int chunks = 1;
  std::string where;
};

bool Fail(const Error& error, int& exit_code) {
  PrintError(error.what, error.where, error.todo);
  exit_code = kExitFailed;
  return false;
}

// "full" when the session has farm records of the full twin and none of the preview, etc.
reconstruct::Level LevelOf(const fs::path& studio, const std::string& session,
                           const std::string& level) {
  if (level == "full") return reconstruct::Level::kFull;
  if (level == "preview") return reconstruct::Level::kPreview;
  std::error_code ec;
  const bool full =
      fs::exists(farm::RecordsFolder(studio, session, reconstruct::Level::kFull) / "jobs.json", ec);
  const bool preview = fs::exists(
      farm::RecordsFolder(studio, session, reconstruct::Level::kPreview) / "jobs.json", ec);
  if (full && preview) {
    return fs::last_write_time(
               farm::RecordsFolder(studio, session, reconstruct::Level::kFull) / "jobs.json", ec) >=
                   fs::last_write_time(
                       farm::RecordsFolder(studio, session, reconstruct::Level::kPreview) /
                           "jobs.json",
                       ec)
               ? reconstruct::Level::kFull
               : reconstruct::Level::kPreview;
  }
  return full ? reconstruct::Level::kFull : reconstruct::Level::kPreview;
}

void AddLevelOption(CLI::App* cmd, FarmArgs& args) {
  cmd->add_option("--level", args.level, "preview or full (default: the last one submitted)")
      ->check(CLI::IsMember({"preview", "full"}));
}

std::string Hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "?";
  return name;
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

}  // namespace

Status CheckReconstructionAllowed(const fs::path& studio, const std::string& session) {
  auto catalog = store::Catalog::Open(studio);
  if (!catalog.ok()) return catalog.error();
  return consent::CheckProcessingAllowed(*catalog, session, "reconstruction");
}

void PrintFarmJobs(const farm::SessionJobs& jobs) {
  std::printf("%s (%s)\n", jobs.session.c_str(), jobs.level.c_str());
  for (const auto& job : jobs.jobs) {
    std::string name = job.Name();
    if (job.stage == reconstruct::Stage::kDepth) name += "/" + std::to_string(jobs.chunks);
    std::printf("  %-10s %-10s %-9s", name.c_str(), job.job_id.empty() ? "-" : job.job_id.c_str(),
                job.state.c_str());
    if (!job.node.empty()) std::printf(" on %s", job.node.c_str());
    if (!job.started.empty()) std::printf(" from %s", job.started.c_str());
    if (!job.ended.empty()) std::printf(" to %s (%.1f s)", job.ended.c_str(), job.seconds);
    if (!job.reason.empty()) std::printf("  %s", job.reason.c_str());
    if (job.state == "failed") std::printf("\n             log %s", job.log.string().c_str());
    std::printf("\n");
  }
}

Result<farm::SessionJobs> WaitForFarmJobs(const fs::path& studio, const farm::Settings& settings,
                                          const std::string& session, reconstruct::Level level,
                                          std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::map<std::string, std::string> shown;
  int unanswered = 0;
  while (true) {
    auto jobs = farm::Query(studio, settings, session, level);
    if (!jobs.ok()) {
      // A busy controller may miss an answer; one that stays silent for a minute is down.
      if (++unanswered > 30) return jobs.error();
      std::this_thread::sleep_for(std::chrono::seconds(2));
      continue;
    }
    unanswered = 0;
    for (const auto& job : jobs->jobs) {
      const std::string key = job.Name();
      if (shown[key] == job.state) continue;
      shown[key] = job.state;
      std::printf("  %-10s %-9s", key.c_str(), job.state.c_str());
      if (!job.node.empty()) std::printf(" on %s", job.node.c_str());
      if (job.state == "done" && job.seconds > 0) std::printf(" (%.1f s)", job.seconds);
      if (!job.reason.empty() && job.state != "pending") std::printf("  %s", job.reason.c_str());
      if (job.state == "failed") std::printf("  log %s", job.log.string().c_str());
      std::printf("\n");
      std::fflush(stdout);
    }
    if (!jobs->Active()) return jobs;
    if (std::chrono::steady_clock::now() > deadline) {
      return MakeError(
          "the farm jobs did not finish within " + std::to_string(limit.count()) + " s",
          farm::RecordsFolder(studio, session, level).string(),
          "they keep running: follow them with `twinrig farm status " + session + "`");
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

namespace {

// `twinrig farm up`: starts the single-machine farm.
void AddFarmUp(CLI::App* cmd, const GlobalOptions& global, int& exit_code) {
  auto* up = cmd->add_subcommand(
      "up", "start this station's single-machine Slurm farm (munged, slurmctld, slurmd; as root)");
  up->callback([&global, &exit_code] {
    auto report = farm::Up(global.studio);
    if (!report.ok()) return (void)Fail(report.error(), exit_code);
    std::printf("farm %s  (%s)\n", report->already_up ? "already up" : "up",
                report->slurm_conf.string().c_str());
    for (const auto& node : report->nodes) {
      std::printf("  node %s  %s  %d CPUs\n", node.name.c_str(), node.state.c_str(), node.cpus);
    }
    std::printf(
        "reconstruct on it: twinrig reconstruct SESSION --farm slurm (or make it the "
        "default: twinrig farm use slurm)\n");
    exit_code = kExitOk;
  });
}

// `twinrig farm down`: stops it.
void AddFarmDown(CLI::App* cmd, const GlobalOptions& global, int& exit_code) {
  auto* down =
      cmd->add_subcommand("down", "cancel the single-machine farm's jobs and stop its daemons");
  down->callback([&global, &exit_code] {
    const auto running = farm::RunningDaemons(global.studio);
    auto stopped = farm::Down(global.studio);
    if (!stopped.ok()) return (void)Fail(stopped.error(), exit_code);
    if (running.empty()) {
      std::printf("farm not running\n");
    } else {
      for (const auto& [name, pid] : running) std::printf("stopped %s (%d)\n", name.c_str(), pid);
    }
    exit_code = kExitOk;
  });
}

// `twinrig farm use slurm|local`: where reconstructions run by default.
void AddFarmUse(CLI::App* cmd, const std::shared_ptr<FarmArgs>& args, const GlobalOptions& global,
                int& exit_code) {
  auto* use = cmd->add_subcommand(
      "use", "where `twinrig reconstruct` (and the review station) reconstruct by default");
  use->add_option("where", args->where, "slurm or local")
      ->required()
      ->check(CLI::IsMember({"slurm", "local"}));
  use->callback([args, &global, &exit_code] {
    auto set = farm::SetReconstructOnFarm(global.studio, args->where == "slurm");
    if (!set.ok()) return (void)Fail(set.error(), exit_code);
    std::printf("reconstruction runs %s by default (%s)\n",
                args->where == "slurm" ? "on the Slurm farm" : "on this station",
                farm::SettingsFile(global.studio).string().c_str());
    exit_code = kExitOk;
  });
}

// `twinrig farm status [SESSION]`: the stages' jobs.
void AddFarmStatus(CLI::App* cmd, const std::shared_ptr<FarmArgs>& args,
                   const GlobalOptions& global, int& exit_code) {
  auto* status = cmd->add_subcommand(
      "status",
      "each stage of a session's farm jobs (or of every session with jobs): state, "
      "node, times; a failed job with its log");
  status->add_option("session", args->session, "session id (default: every session with jobs)");
  AddLevelOption(status, *args);
  status->callback([args, &global, &exit_code] {
    auto settings = farm::LoadSettings(global.studio);
    if (!settings.ok()) return (void)Fail(settings.error(), exit_code);
    std::vector<std::pair<std::string, reconstruct::Level>> wanted;
    if (!args->session.empty()) {
      wanted.emplace_back(args->session, LevelOf(global.studio, args->session, args->level));
    } else {
      for (const auto& [session, level] : farm::RecordedSessions(global.studio)) {
        if (args->level.empty() || args->level == level) {
          wanted.emplace_back(
              session, level == "full" ? reconstruct::Level::kFull : reconstruct::Level::kPreview);
        }
      }
      if (wanted.empty()) std::printf("no farm jobs recorded in this studio\n");
    }
    exit_code = kExitOk;
    for (const auto& [session, level] : wanted) {
      auto jobs = farm::Query(global.studio, *settings, session, level);
      if (!jobs.ok()) return (void)Fail(jobs.error(), exit_code);
      PrintFarmJobs(*jobs);
    }
  });
}

// `twinrig farm cancel SESSION`.
void AddFarmCancel(CLI::App* cmd, const std::shared_ptr<FarmArgs>& args,
                   const GlobalOptions& global, int& exit_code) {
  auto* cancel = cmd->add_subcommand("cancel", "cancel a session's queued and running jobs");
  cancel->add_option("session", args->session, "session id")->required();
  AddLevelOption(cancel, *args);
  cancel->callback([args, &global, &exit_code] {
    auto settings = farm::LoadSettings(global.studio);
    if (!settings.ok()) return (void)Fail(settings.error(), exit_code);
    const auto level = LevelOf(global.studio, args->session, args->level);
    auto cancelled = farm::Cancel(global.studio, *settings, args->session, level);
    if (!cancelled.ok()) return (void)Fail(cancelled.error(), exit_code);
    std::printf(
        "cancelled the farm jobs of %s (%s); resume with: twinrig reconstruct %s "
        "--farm slurm --resume%s\n",
        args->session.c_str(), reconstruct::LevelName(level).c_str(), args->session.c_str(),
        level == reconstruct::Level::kFull ? " --full" : "");
    exit_code = kExitOk;
  });
}

// `twinrig farm logs SESSION`.
void AddFarmLogs(CLI::App* cmd, const std::shared_ptr<FarmArgs>& args, const GlobalOptions& global,
                 int& exit_code) {
  auto* logs = cmd->add_subcommand("logs", "the output of a session's farm jobs");
  logs->add_option("session", args->session, "session id")->required();
  AddLevelOption(logs, *args);
  logs->add_option("--stage", args->stage, "only this stage")
      ->check(CLI::IsMember({"sparse", "depth", "mesh"}));
  logs->callback([args, &global, &exit_code] {
    auto settings = farm::LoadSettings(global.studio);
    if (!settings.ok()) return (void)Fail(settings.error(), exit_code);
    auto jobs = farm::Query(global.studio, *settings, args->session,
                            LevelOf(global.studio, args->session, args->level));
    if (!jobs.ok()) return (void)Fail(jobs.error(), exit_code);
    for (const auto& job : jobs->jobs) {
      if (!args->stage.empty() && reconstruct::StageName(job.stage) != args->stage) continue;
      std::printf("== %s  job %s  %s  %s\n", job.Name().c_str(), job.job_id.c_str(),
                  job.state.c_str(), job.log.string().c_str());
      auto text = ReadFileText(job.log);
      std::printf("%s", text.ok() ? text->c_str() : "(no log yet)\n");
    }
    exit_code = kExitOk;
  });
}

// `twinrig farm run-stage` (hidden): what each Slurm job runs.
void AddFarmRunStage(CLI::App* cmd, const std::shared_ptr<FarmArgs>& args,
                     const GlobalOptions& global, int& exit_code) {
  // What each Slurm job runs: one stage of the pipeline, the same code a local run runs.
  auto* run = cmd->add_subcommand("run-stage", "");  // an empty description hides it
  run->group("");
  run->add_option("session", args->session)->required();
  run->add_option("--level", args->level)->required()->check(CLI::IsMember({"preview", "full"}));
  run->add_option("--stage", args->stage)
      ->required()
      ->check(CLI::IsMember({"sparse", "depth", "mesh"}));
  run->add_option("--chunk", args->chunk);
  run->add_option("--chunks", args->chunks);
  run->callback([args, &global, &exit_code] {
    const auto level =
        args->level == "full" ? reconstruct::Level::kFull : reconstruct::Level::kPreview;
    const fs::path records = farm::RecordsFolder(global.studio, args->session, level);
    const auto stage = *reconstruct::ParseStage(args->stage);
    const int chunk = stage == reconstruct::Stage::kDepth ? args->chunk : 0;
    farm::JobRecord record;
    record.state = "running";
    // Slurm's name of the node (what sinfo and scontrol show), else the machine's.
    record.node = Env("SLURMD_NODENAME").empty() ? Hostname() : Env("SLURMD_NODENAME");
    record.job_id = Env("SLURM_ARRAY_JOB_ID").empty()
                        ? Env("SLURM_JOB_ID")
                        : Env("SLURM_ARRAY_JOB_ID") + "_" + Env("SLURM_ARRAY_TASK_ID");
    record.started = UtcIsoNow();
    const fs::path file = farm::JobRecordFile(records, stage, chunk);
    (void)farm::WriteJobRecord(file, record);
    const auto start = std::chrono::steady_clock::now();
    auto finish = [&](const std::string& error) {
      record.state = error.empty() ? "done" : "failed";
      record.error = error;
      record.ended = UtcIsoNow();
      record.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      (void)farm::WriteJobRecord(file, record);
    };
    std::printf("twinrig %s stage of %s (%s) on %s, job %s\n", args->stage.c_str(),
                args->session.c_str(), args->level.c_str(), record.node.c_str(),
                record.job_id.c_str());
    // Consent may have been revoked, or the subject erased, while the job waited in the queue:
    // the same gate as a local run, and what earlier jobs of the session made is removed.
    if (Status allowed = CheckReconstructionAllowed(global.studio, args->session); !allowed.ok()) {
      std::error_code ec;
      fs::remove_all(reconstruct::SessionWorkspace(global.studio, args->session, level), ec);
      fs::remove_all(reconstruct::SessionTwin(global.studio, args->session, level), ec);
      finish(allowed.error().what);
      return (void)Fail(allowed.error(), exit_code);
    }
    auto options = farm::ReadOptions(records);
    if (!options.ok()) {
      finish(options.error().Describe());
      return (void)Fail(options.error(), exit_code);
    }
    auto report = reconstruct::ReconstructSessionStage(
        global.studio, args->session, *options, {stage, chunk, std::max(args->chunks, 1)},
        [](const reconstruct::StageTime& s) {
          std::printf("  %-14s %7.1f s  %s\n", s.stage.c_str(), s.seconds, s.detail.c_str());
          std::fflush(stdout);
        });
    if (!report.ok()) {
      finish(report.error().what);
      return (void)Fail(report.error(), exit_code);
    }
    finish("");
    exit_code = kExitOk;
  });
}

}  // namespace

void AddFarm(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<FarmArgs>();
  auto* cmd = parent.add_subcommand(
      "farm",
      "the reconstruction farm (Slurm): this station's own single-machine farm, and where "
      "each session's jobs are");
  cmd->require_subcommand(1);

  AddFarmUp(cmd, global, exit_code);
  AddFarmDown(cmd, global, exit_code);
  AddFarmUse(cmd, args, global, exit_code);
  AddFarmStatus(cmd, args, global, exit_code);
  AddFarmCancel(cmd, args, global, exit_code);
  AddFarmLogs(cmd, args, global, exit_code);
  AddFarmRunStage(cmd, args, global, exit_code);
}

}  // namespace twinrig::app
