#include "host/farm/jobs.h"

#include <algorithm>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "reconstruct/input.h"
#include "util/files.h"

namespace twinrig::farm {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using reconstruct::Stage;

fs::path JobsFile(const fs::path& records) { return records / "jobs.json"; }
fs::path StateFolder(const fs::path& records) { return records / "state"; }
fs::path LogsFolder(const fs::path& records) { return records / "logs"; }
fs::path JobScript(const fs::path& records) { return records / "stage-job.sh"; }

// What one line of Slurm's queue says about a job.
struct Queued {
  std::string state;  // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ...
  std::string reason;
  std::string node;
};

Result<JobRecord> ReadJobRecord(const fs::path& file) {
  auto text = ReadFileText(file);
  if (!text.ok()) return text.error();
  try {
    const json j = json::parse(*text);
    JobRecord r;
    r.state = j.at("state").get<std::string>();
    r.node = j.value("node", "");
    r.job_id = j.value("job_id", "");
    r.started = j.value("started", "");
    r.ended = j.value("ended", "");
    r.seconds = j.value("seconds", 0.0);
    r.error = j.value("error", "");
    return r;
  } catch (const json::exception&) {
    return MakeError("a job's record is damaged", file.string(), "resubmit with --resume");
  }
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// Slurm's queue, every job it still remembers, by id ("12", "13_2"). An error when the controller
// does not answer: a job missing from an empty answer is not a job that ended.
Result<std::map<std::string, Queued>> ReadQueue(const Settings& settings) {
  std::map<std::string, Queued> queue;
  auto run = RunSlurm(settings,
                      {"squeue", "--noheader", "--array", "--states=all", "--format=%i|%T|%r|%N"});
  if (!run.ok()) return run.error();
  if (!run->succeeded()) {
    return MakeError(
        "the farm's queue cannot be read (squeue " + run->DescribeEnd() + "): " + Trim(run->output),
        settings.slurm_conf.string(), "check the farm with `twinrig doctor`");
  }
  std::istringstream lines(run->output);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> fields;
    std::istringstream parts(line);
    for (std::string f; std::getline(parts, f, '|');) fields.push_back(f);
    // A pending job has no node yet: its line ends with the last separator.
    if (fields.size() < 3) continue;
    queue[fields[0]] = {fields[1], fields[2], fields.size() > 3 ? fields[3] : std::string()};
  }
  return queue;
}

Result<std::string> SubmitOne(const Settings& settings, std::vector<std::string> argv) {
  auto run = RunSlurm(settings, std::move(argv));
  if (!run.ok()) return run.error();
  const std::string out = Trim(run->output);
  if (!run->succeeded()) {
    return MakeError("sbatch refused the job (" + run->DescribeEnd() + "): " + out,
                     settings.slurm_conf.string(),
                     "check the farm (`twinrig doctor`, `twinrig farm up`) and its partition");
  }
  // --parsable: "ID" or "ID;CLUSTER", after any warnings on lines of their own.
  std::string id = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
  id = id.substr(0, id.find(';'));
  if (id.empty() || !std::all_of(id.begin(), id.end(), ::isdigit)) {
    return MakeError("sbatch answered without a job id: " + out, settings.slurm_conf.string(),
                     "check the Slurm client's version (22.05 or newer)");
  }
  return id;
}

}  // namespace

std::string StageJob::Name() const {
  return stage == Stage::kDepth ? "depth " + std::to_string(chunk + 1)
                                : reconstruct::StageName(stage);
}

bool SessionJobs::Finished() const {
  return !jobs.empty() && jobs.back().stage == Stage::kMesh && jobs.back().state == "done";
}

bool SessionJobs::Active() const {
  return std::any_of(jobs.begin(), jobs.end(), [](const StageJob& j) {
    return j.state == "pending" || j.state == "running";
  });
}

fs::path RecordsFolder(const fs::path& studio, const std::string& session,
                       reconstruct::Level level) {
  return studio / "sessions" / session / "farm" / reconstruct::LevelName(level);
}

fs::path OptionsFile(const fs::path& records) { return records / "options.json"; }

Result<reconstruct::ReconstructOptions> ReadOptions(const fs::path& records) {
  const fs::path file = OptionsFile(records);
  auto text = ReadFileText(file);
  if (!text.ok()) {
    return MakeError("the reconstruction options of these jobs are missing", file.string(),
                     "submit the session again (twinrig reconstruct SESSION --farm slurm)");
  }
  try {
    return reconstruct::OptionsFromJson(json::parse(*text), file.string());
  } catch (const json::exception&) {
    return MakeError("the reconstruction options of these jobs are not JSON", file.string(),
                     "submit the session again (twinrig reconstruct SESSION --farm slurm)");
  }
}

fs::path JobRecordFile(const fs::path& records, Stage stage, int chunk) {
  return StateFolder(records) /
         (reconstruct::StageName(stage) +
          (stage == Stage::kDepth ? "-" + std::to_string(chunk) : "") + ".json");
}

Status WriteJobRecord(const fs::path& file, const JobRecord& r) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  const json j = {{"state", r.state},     {"node", r.node},   {"job_id", r.job_id},
                  {"started", r.started}, {"ended", r.ended}, {"seconds", r.seconds},
                  {"error", r.error}};
  return WriteFileAtomic(file, j.dump(2) + "\n");
}

Result<SessionJobs> Query(const fs::path& studio, const Settings& settings,
                          const std::string& session, reconstruct::Level level) {
  const fs::path records = RecordsFolder(studio, session, level);
  auto text = ReadFileText(JobsFile(records));
  if (!text.ok()) {
    return MakeError(
        "no farm jobs recorded for this session (" + reconstruct::LevelName(level) + ")",
        JobsFile(records).string(),
        "submit them: twinrig reconstruct " + session + " --farm slurm");
  }
  SessionJobs out;
  out.session = session;
  out.level = reconstruct::LevelName(level);
  try {
    const json j = json::parse(*text);
    out.chunks = j.at("chunks").get<int>();
    for (const auto& e : j.at("jobs")) {
      StageJob job;
      auto stage = reconstruct::ParseStage(e.at("stage").get<std::string>());
      if (!stage.ok()) throw json::other_error::create(0, "stage", nullptr);
      job.stage = *stage;
      job.chunk = e.at("chunk").get<int>();
      job.job_id = e.at("job_id").get<std::string>();
      job.log = e.at("log").get<std::string>();
      out.jobs.push_back(job);
    }
  } catch (const json::exception&) {
    return MakeError("the farm's job list is damaged", JobsFile(records).string(),
                     "cancel the session's jobs by hand (scancel) and submit again");
  }
  const auto read = ReadQueue(settings);
  if (!read.ok()) return read.error();
  const auto& queue = *read;
  for (auto& job : out.jobs) {
    auto record = ReadJobRecord(JobRecordFile(records, job.stage, job.chunk));
    const bool ran = record.ok() && record->job_id == job.job_id;
    if (ran) {
      job.node = record->node;
      job.started = record->started;
      job.ended = record->ended;
      job.seconds = record->seconds;
    }
    const auto queued = queue.find(job.job_id);
    if (ran && record->state == "done") {
      job.state = "done";
    } else if (ran && record->state == "failed") {
      job.state = "failed";
      job.reason = record->error;
    } else if (queued != queue.end() && queued->second.state == "PENDING") {
      job.state = "pending";
      job.reason = queued->second.reason;
    } else if (queued != queue.end() &&
               (queued->second.state == "RUNNING" || queued->second.state == "CONFIGURING" ||
                queued->second.state == "COMPLETING")) {
      job.state = "running";
      if (job.node.empty()) job.node = queued->second.node;
    } else if (ran) {
      // It started and ended without saying so: killed, cancelled, or its node went down.
      job.state = "failed";
      job.reason = "the job ended without finishing (" +
                   (queued != queue.end() ? queued->second.state : std::string("gone")) +
                   "): cancelled, killed or its node went down";
    } else if (queued == queue.end() && job.job_id.empty()) {
      job.state = "resubmit";
    } else {
      job.state = "cancelled";
      job.reason = queued != queue.end() ? queued->second.state + " before it ran"
                                         : "never ran (cancelled, or a job it waited for failed)";
      if (queued != queue.end() && queued->second.reason != "None") {
        job.reason += " (" + queued->second.reason + ")";
      }
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> RecordedSessions(const fs::path& studio) {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  for (const auto& s : fs::directory_iterator(studio / "sessions", ec)) {
    for (const char* level : {"preview", "full"}) {
      if (fs::exists(s.path() / "farm" / level / "jobs.json", ec)) {
        out.emplace_back(s.path().filename().string(), level);
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status Cancel(const fs::path& studio, const Settings& settings, const std::string& session,
              reconstruct::Level level) {
  auto jobs = Query(studio, settings, session, level);
  if (!jobs.ok()) return jobs.error();
  std::vector<std::string> ids;
  for (const auto& job : jobs->jobs) {
    if (job.state != "pending" && job.state != "running") continue;
    const std::string base = job.job_id.substr(0, job.job_id.find('_'));
    if (std::find(ids.begin(), ids.end(), base) == ids.end()) ids.push_back(base);
  }
  if (ids.empty()) return {};
  std::vector<std::string> argv = {"scancel"};
  argv.insert(argv.end(), ids.begin(), ids.end());
  auto run = RunSlurm(settings, argv);
  if (!run.ok()) return run.error();
  if (!run->succeeded()) {
    return MakeError("scancel failed (" + run->DescribeEnd() + "): " + Trim(run->output),
                     settings.slurm_conf.string(), "check the farm with `twinrig doctor`");
  }
  return {};
}

namespace {

// What a submission runs: every stage, or with --resume what did not finish, with the options
// and chunks the finished stages were made with.
struct SubmitPlan {
  reconstruct::ReconstructOptions options;
  int chunks = 1;
  std::vector<StageJob> previous;  // the jobs of the submission before, if any
  bool sparse = true;
  std::vector<int> depth;  // chunks to run
  bool mesh = true;
};

Result<SubmitPlan> PlanSubmission(const fs::path& studio, const Settings& settings,
                                  const std::string& session,
                                  const reconstruct::ReconstructOptions& requested,
                                  const SubmitOptions& submit, size_t views) {
  const fs::path records = RecordsFolder(studio, session, requested.level);
  const fs::path workspace = reconstruct::SessionWorkspace(studio, session, requested.level);
  const std::string level = reconstruct::LevelName(requested.level);
  std::error_code ec;
  SubmitPlan plan;
  plan.options = requested;
  plan.chunks = std::clamp(submit.depth_chunks, 1, static_cast<int>(views));
  if (fs::exists(JobsFile(records), ec)) {
    TWINRIG_ASSIGN_OR_RETURN(const SessionJobs before,
                             Query(studio, settings, session, requested.level));
    if (before.Active()) {
      return MakeError("jobs of this session's " + level + " twin are still queued or running",
                       records.string(),
                       "wait for them (twinrig farm status " + session +
                           ") or cancel them (twinrig farm cancel " + session + ")");
    }
    plan.previous = before.jobs;
    if (submit.resume) {
      if (before.Finished()) {
        return MakeError("the " + level + " twin of this session is complete: nothing to resume",
                         reconstruct::SessionTwin(studio, session, requested.level).string(),
                         "submit without --resume to make it again");
      }
      plan.chunks = before.chunks;
      // The finished stages were made with the recorded options: the rest is made with them too.
      TWINRIG_ASSIGN_OR_RETURN(plan.options, ReadOptions(records));
    }
  } else if (submit.resume) {
    return MakeError("no farm jobs of this session's " + level + " twin to resume",
                     records.string(), "submit without --resume");
  }
  // A new sparse stage makes every later stage's work stale.
  plan.sparse = !submit.resume || !reconstruct::StageDone(workspace, {Stage::kSparse, 0, 1});
  for (int c = 0; c < plan.chunks; ++c) {
    if (plan.sparse || !reconstruct::StageDone(workspace, {Stage::kDepth, c, plan.chunks})) {
      plan.depth.push_back(c);
    }
  }
  plan.mesh =
      plan.sparse || !plan.depth.empty() ||
      !reconstruct::StageDone(workspace, {Stage::kMesh, 0, plan.chunks}) ||
      !fs::exists(reconstruct::SessionTwin(studio, session, requested.level) / "twin.glb", ec);
  return plan;
}

// The records folder ready for the jobs: logs/, state/ (afresh unless resuming), options.json
// (unless resuming) and the job script.
Status PrepareRecords(const fs::path& records, const SubmitPlan& plan, bool resume) {
  std::error_code ec;
  fs::create_directories(LogsFolder(records), ec);
  fs::create_directories(StateFolder(records), ec);
  if (ec) {
    return MakeError("cannot create the farm records: " + ec.message(), records.string(),
                     "check permissions and free space");
  }
  if (!resume) {
    fs::remove_all(StateFolder(records), ec);
    fs::create_directories(StateFolder(records), ec);
    TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(
        OptionsFile(records), reconstruct::OptionsToJson(plan.options).dump(2) + "\n"));
  }
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(
      JobScript(records),
      "#!/bin/sh\n"
      "# One stage of a twinrig reconstruction, as a Slurm job: the depth stage's array element\n"
      "# is the chunk of views it makes depth maps for.\n"
      "exec \"$@\" --chunk \"${SLURM_ARRAY_TASK_ID:-0}\"\n"));
  fs::permissions(JobScript(records),
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec,
                  ec);
  return {};
}

// Submits the stages' jobs of one session's twin, each depending on the one before.
class StageSubmitter {
 public:
  StageSubmitter(const fs::path& studio, const Settings& settings, const std::string& session,
                 reconstruct::Level level, const SubmitOptions& submit, const SubmitPlan& plan)
      : studio_(studio),
        settings_(settings),
        session_(session),
        submit_(submit),
        plan_(plan),
        records_(RecordsFolder(studio, session, level)),
        level_(reconstruct::LevelName(level)) {}

  // The job id of `stage` (an array of chunks when `array` is given), after job `after`.
  Result<std::string> Submit(Stage stage, const std::string& array, const std::string& after,
                             const std::string& log_pattern) const {
    std::vector<std::string> argv = {
        "sbatch",
        "--parsable",
        "--job-name=twinrig-" + session_ + "-" + reconstruct::StageName(stage),
        "--output=" + (LogsFolder(records_) / log_pattern).string(),
        "--cpus-per-task=" + std::to_string(plan_.options.threads),
        "--chdir=" + records_.string()};
    if (!settings_.partition.empty()) argv.push_back("--partition=" + settings_.partition);
    if (!array.empty()) argv.push_back("--array=" + array);
    if (!after.empty()) {
      argv.push_back("--dependency=afterok:" + after);
      argv.push_back("--kill-on-invalid-dep=yes");
    }
    for (const std::string& a :
         {JobScript(records_).string(), submit_.twinrig.string(), std::string("--studio"),
          studio_.string(), std::string("farm"), std::string("run-stage"), session_,
          std::string("--level"), level_, std::string("--stage"), reconstruct::StageName(stage),
          std::string("--chunks"), std::to_string(plan_.chunks)}) {
      argv.push_back(a);
    }
    return SubmitOne(settings_, argv);
  }

  // A stage not run again: its job as the submission before recorded it, done.
  [[nodiscard]] StageJob Kept(Stage stage, int chunk) const {
    StageJob job;
    job.stage = stage;
    job.chunk = chunk;
    for (const auto& p : plan_.previous) {
      if (p.stage == stage && p.chunk == chunk) job = p;
    }
    job.state = "done";
    return job;
  }

  [[nodiscard]] const fs::path& records() const { return records_; }

 private:
  const fs::path& studio_;
  const Settings& settings_;
  const std::string& session_;
  const SubmitOptions& submit_;
  const SubmitPlan& plan_;
  const fs::path records_;
  const std::string level_;
};

// The jobs of the plan: sparse, then the depth array after it, then mesh after those.
Result<std::vector<StageJob>> SubmitStages(const StageSubmitter& submitter,
                                           const SubmitPlan& plan) {
  const fs::path logs = LogsFolder(submitter.records());
  std::vector<StageJob> jobs;
  std::string sparse_id;
  if (plan.sparse) {
    TWINRIG_ASSIGN_OR_RETURN(sparse_id, submitter.Submit(Stage::kSparse, "", "", "sparse-%j.log"));
    jobs.push_back({Stage::kSparse, 0, sparse_id, "pending", "", "", "", "", 0,
                    logs / ("sparse-" + sparse_id + ".log")});
  } else {
    jobs.push_back(submitter.Kept(Stage::kSparse, 0));
  }
  std::string depth_id;
  if (!plan.depth.empty()) {
    std::string array;
    for (int c : plan.depth) array += (array.empty() ? "" : ",") + std::to_string(c);
    TWINRIG_ASSIGN_OR_RETURN(depth_id,
                             submitter.Submit(Stage::kDepth, array, sparse_id, "depth-%a-%A.log"));
  }
  for (int c = 0; c < plan.chunks; ++c) {
    if (std::find(plan.depth.begin(), plan.depth.end(), c) != plan.depth.end()) {
      jobs.push_back({Stage::kDepth, c, depth_id + "_" + std::to_string(c), "pending", "", "", "",
                      "", 0, logs / ("depth-" + std::to_string(c) + "-" + depth_id + ".log")});
    } else {
      jobs.push_back(submitter.Kept(Stage::kDepth, c));
    }
  }
  if (plan.mesh) {
    TWINRIG_ASSIGN_OR_RETURN(
        const std::string id,
        submitter.Submit(Stage::kMesh, "", depth_id.empty() ? sparse_id : depth_id, "mesh-%j.log"));
    jobs.push_back(
        {Stage::kMesh, 0, id, "pending", "", "", "", "", 0, logs / ("mesh-" + id + ".log")});
  } else {
    jobs.push_back(submitter.Kept(Stage::kMesh, 0));
  }
  return jobs;
}

}  // namespace

Result<SessionJobs> Submit(const fs::path& studio, const Settings& settings,
                           const std::string& session,
                           const reconstruct::ReconstructOptions& requested,
                           const SubmitOptions& submit) {
  // The images are there and the session can be reconstructed at all (else the jobs would fail
  // one by one on the farm).
  TWINRIG_ASSIGN_OR_RETURN(const auto input,
                           reconstruct::LoadSessionInput(studio, session, requested.take));
  TWINRIG_ASSIGN_OR_RETURN(
      const SubmitPlan plan,
      PlanSubmission(studio, settings, session, requested, submit, input.views.size()));
  const fs::path records = RecordsFolder(studio, session, requested.level);
  TWINRIG_RETURN_IF_ERROR(PrepareRecords(records, plan, submit.resume));
  const StageSubmitter submitter(studio, settings, session, requested.level, submit, plan);
  SessionJobs out;
  out.session = session;
  out.level = reconstruct::LevelName(requested.level);
  out.chunks = plan.chunks;
  TWINRIG_ASSIGN_OR_RETURN(out.jobs, SubmitStages(submitter, plan));

  json list = json::array();
  for (const auto& job : out.jobs) {
    list.push_back({{"stage", reconstruct::StageName(job.stage)},
                    {"chunk", job.chunk},
                    {"job_id", job.job_id},
                    {"log", job.log.string()}});
  }
  const json record = {
      {"session", session}, {"level", out.level}, {"chunks", out.chunks}, {"jobs", list}};
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(JobsFile(records), record.dump(2) + "\n"));
  return out;
}

}  // namespace twinrig::farm
