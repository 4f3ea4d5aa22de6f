// The single-machine Slurm farm, end to end through the `twinrig` binary: up, a session's stages
// as jobs, a killed job and --resume, down with no daemon left. Skipped (with the reason) only
// where Slurm cannot start: not root, or the Slurm and munge packages missing.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/farm/cluster.h"
#include "host/farm/jobs.h"
#include "reconstruct/mvs.h"
#include "reconstruct/pipeline.h"
#include "sim/session/rendered_session.h"
#include "tests/test_support.h"
#include "util/files.h"
#include "util/subprocess.h"

namespace fs = std::filesystem;
using namespace twinrig;
using twinrig::testing::TempDir;

namespace {

SubprocessResult Twinrig(const fs::path& studio, std::vector<std::string> args,
                         std::chrono::seconds timeout = std::chrono::seconds(120)) {
  std::vector<std::string> argv = {twinrig::testing::TwinrigBinary().string(), "--studio",
                                   studio.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  SubprocessOptions options;
  options.timeout = timeout;
  auto run = RunSubprocess(argv, options);
  REQUIRE(run.ok());
  return *run;
}

std::string SlurmMissing() {
  if (::geteuid() != 0) return "not root: the single-machine farm's daemons start as root";
  for (const char* p : {"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel"}) {
    if (!ProgramExists(p) && !ProgramExists(std::string("/usr/sbin/") + p)) {
      return std::string(p) + " is not installed (scripts/setup installs Slurm and munge)";
    }
  }
  return {};
}

// The farm goes down whatever the test's end.
struct FarmGuard {
  fs::path studio;
  ~FarmGuard() { (void)farm::Down(studio); }
};

const farm::StageJob& Find(const farm::SessionJobs& jobs, reconstruct::Stage stage, int chunk) {
  for (const auto& j : jobs.jobs) {
    if (j.stage == stage && j.chunk == chunk) return j;
  }
  FAIL("no such job");
  return jobs.jobs.front();
}

}  // namespace

// [slow]: about 4 minutes in the sanitizer build on a loaded 2-core machine.
TEST_CASE("A session is reconstructed on the single-machine Slurm farm, a killed job resumed",
          "[slow]") {
  if (const std::string missing = SlurmMissing(); !missing.empty()) {
    WARN("farm test skipped: " << missing);
    return;
  }
  TempDir dir;
  const fs::path studio = dir.path() / "studio";
  twinrig::sim::session::RenderedSessionOptions so;
  so.width = 400;
  so.height = 300;
  so.supersamples = 1;
  auto session = twinrig::sim::session::MakeRenderedSession(studio, so);
  if (!session.ok()) FAIL(session.error().Describe());

  FarmGuard guard{studio};
  auto up = Twinrig(studio, {"farm", "up"});
  INFO(up.output);
  REQUIRE(up.succeeded());
  CHECK_THAT(up.output, Catch::Contains("idle"));
  const auto doctor = Twinrig(studio, {"doctor"});
  CHECK_THAT(doctor.output, Catch::Contains("1 node(s): station idle"));

  // The farm is the studio's default: no --farm on the command line.
  REQUIRE(Twinrig(studio, {"farm", "use", "slurm"}).succeeded());
  const std::vector<std::string> reconstruct = {"reconstruct", so.session_id, "--scale",  "1",
                                                "--faces",     "4000",        "--chunks", "2"};
  auto submitted = Twinrig(studio, reconstruct);
  INFO(submitted.output);
  REQUIRE(submitted.succeeded());
  CHECK_THAT(submitted.output, Catch::Contains("on the farm"));
  CHECK_THAT(submitted.output, Catch::Contains("depth 2/2"));

  // Kill the first depth chunk that runs: its dependants never run, and status says which job of
  // which stage failed, where, and its log.
  auto settings = farm::LoadSettings(studio);
  REQUIRE(settings.ok());
  std::string killed;
  int killed_chunk = -1;
  for (int i = 0; i < 1200 && killed.empty(); ++i) {
    auto jobs = farm::Query(studio, *settings, so.session_id, reconstruct::Level::kPreview);
    if (!jobs.ok()) continue;  // a busy controller may miss an answer
    REQUIRE(Find(*jobs, reconstruct::Stage::kSparse, 0).state != "failed");
    for (int c = 0; c < 2; ++c) {
      const auto& job = Find(*jobs, reconstruct::Stage::kDepth, c);
      if (job.state == "running" && !job.started.empty()) {  // the job itself said it started
        std::this_thread::sleep_for(std::chrono::seconds(1));
        auto cancel = farm::RunSlurm(*settings, {"scancel", job.job_id});
        REQUIRE(cancel.ok());
        REQUIRE(cancel->succeeded());
        killed = job.job_id;
        killed_chunk = c;
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  REQUIRE_FALSE(killed.empty());
  farm::SessionJobs after;
  for (int i = 0; i < 240; ++i) {
    auto jobs = farm::Query(studio, *settings, so.session_id, reconstruct::Level::kPreview);
    if (!jobs.ok()) continue;
    after = *jobs;
    if (!after.Active()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  REQUIRE_FALSE(after.Active());
  CHECK(Find(after, reconstruct::Stage::kSparse, 0).state == "done");
  CHECK(Find(after, reconstruct::Stage::kDepth, killed_chunk).state == "failed");
  CHECK(Find(after, reconstruct::Stage::kMesh, 0).state == "cancelled");
  const std::string sparse_job = Find(after, reconstruct::Stage::kSparse, 0).job_id;
  auto status = Twinrig(studio, {"farm", "status", so.session_id});
  INFO(status.output);
  CHECK_THAT(status.output, Catch::Contains("failed    on station"));
  CHECK_THAT(status.output,
             Catch::Contains(
                 "log " +
                 (farm::RecordsFolder(studio, so.session_id, reconstruct::Level::kPreview) / "logs")
                     .string()));
  CHECK_FALSE(fs::exists(studio / "sessions" / so.session_id / "twin" / "preview"));

  // --resume runs only what did not finish, and the twin appears.
  auto resume_args = reconstruct;
  resume_args.insert(resume_args.end(), {"--resume", "--wait"});
  auto resumed = Twinrig(studio, resume_args, std::chrono::seconds(900));
  INFO(resumed.output);
  REQUIRE(resumed.succeeded());
  auto done = farm::Query(studio, *settings, so.session_id, reconstruct::Level::kPreview);
  REQUIRE(done.ok());
  CHECK(done->Finished());
  CHECK(Find(*done, reconstruct::Stage::kSparse, 0).job_id == sparse_job);  // not run again
  CHECK(Find(*done, reconstruct::Stage::kDepth, killed_chunk).job_id != killed);
  for (const auto& job : done->jobs) CHECK(job.state == "done");
  const fs::path twin = studio / "sessions" / so.session_id / "twin" / "preview";
  for (const char* f : {"twin.glb", "twin.ply", "twin.obj"}) CHECK(fs::exists(twin / f));
  auto logs = Twinrig(studio, {"farm", "logs", so.session_id, "--stage", "mesh"});
  CHECK_THAT(logs.output, Catch::Contains("export"));

  // Consent holds on the farm: a job that runs after the session's images went (a rejection, an
  // erasure, a closed vault) refuses and removes what the earlier jobs made. This is the command
  // each job runs.
  fs::remove_all(session->session_folder / "images");
  auto late = Twinrig(studio, {"farm", "run-stage", so.session_id, "--level", "preview", "--stage",
                               "mesh", "--chunks", "2", "--chunk", "0"});
  INFO(late.output);
  CHECK_FALSE(late.succeeded());
  CHECK_THAT(late.output, Catch::Contains("images are gone"));
  CHECK_FALSE(fs::exists(twin));
  CHECK_FALSE(fs::exists(session->session_folder / "reconstruction" / "preview"));

  // Down: no daemon of the farm is left.
  const auto daemons = farm::RunningDaemons(studio);
  CHECK(daemons.size() == 3);
  auto down = Twinrig(studio, {"farm", "down"});
  INFO(down.output);
  CHECK(down.succeeded());
  CHECK(farm::RunningDaemons(studio).empty());
  for (const auto& [name, pid] : daemons) {
    INFO(name << " " << pid);
    CHECK(::kill(pid, 0) != 0);
  }
}

TEST_CASE("farm.toml: defaults, paths against the studio, and clear errors", "[unit]") {
  TempDir dir;
  auto none = farm::LoadSettings(dir.path());
  REQUIRE(none.ok());
  CHECK_FALSE(none->reconstruct_on_farm);
  CHECK(none->slurm_conf.empty());
  CHECK(none->depth_chunks == 4);

  REQUIRE(WriteFileAtomic(farm::SettingsFile(dir.path()),
                          "reconstruct = \"slurm\"\nslurm_conf = \"cluster/slurm.conf\"\n"
                          "partition = \"recon\"\ndepth_chunks = 8\n")
              .ok());
  auto set = farm::LoadSettings(dir.path());
  REQUIRE(set.ok());
  CHECK(set->reconstruct_on_farm);
  CHECK(set->slurm_conf == dir.path() / "cluster" / "slurm.conf");
  CHECK(set->partition == "recon");
  CHECK(set->depth_chunks == 8);

  // `farm use` keeps the other settings.
  REQUIRE(farm::SetReconstructOnFarm(dir.path(), false).ok());
  auto kept = farm::LoadSettings(dir.path());
  REQUIRE(kept.ok());
  CHECK_FALSE(kept->reconstruct_on_farm);
  CHECK(kept->slurm_conf == set->slurm_conf);
  CHECK(kept->partition == "recon");
  CHECK(kept->depth_chunks == 8);

  for (const auto& [text, said] : std::vector<std::pair<std::string, std::string>>{
           {"reconstruct = \"cloud\"\n", "reconstruct must be"},
           {"reconstruct = [\n", "not valid TOML (line"},
           {"depth_chunks = 0\n", "depth_chunks must be 1..256"},
           {"depth_chunks = \"many\"\n", "depth_chunks must be a whole number"},
           {"slurm_conf = 3\n", "slurm_conf must be a string"},
           {"nodes = 3\n", "unknown setting \"nodes\""}}) {
    REQUIRE(WriteFileAtomic(farm::SettingsFile(dir.path()), text).ok());
    auto bad = farm::LoadSettings(dir.path());
    INFO(text);
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().what, Catch::Contains(said));
    CHECK(bad.error().where == farm::SettingsFile(dir.path()).string());
  }
}

TEST_CASE("A farm job's options are the options the station was given", "[unit]") {
  reconstruct::ReconstructOptions options;
  options.level = reconstruct::Level::kFull;
  options.scale = 0.3;
  options.take = 2;
  options.threads = 3;
  options.bundle_adjust = true;
  options.target_faces = 1234;
  options.poisson_trim = 5.5;
  options.max_gap_mm = 4.25;
  options.plane_step_px = 0.75;
  options.window = 13;
  options.dense = reconstruct::DenseStereo::kTwinrig;
  options.backdrop = *reconstruct::ParseBackdropKey("10,20,30:12");
  options.colmap = "/opt/colmap/bin/colmap";
  auto back = reconstruct::OptionsFromJson(reconstruct::OptionsToJson(options), "options.json");
  REQUIRE(back.ok());
  CHECK(reconstruct::OptionsToJson(*back) == reconstruct::OptionsToJson(options));

  auto unknown = reconstruct::OptionsToJson(options);
  unknown["gpu"] = true;
  auto refused = reconstruct::OptionsFromJson(unknown, "options.json");
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().what, Catch::Contains("unknown reconstruction option \"gpu\""));
  auto wrong = reconstruct::OptionsToJson(options);
  wrong["threads"] = "two";
  CHECK_FALSE(reconstruct::OptionsFromJson(wrong, "options.json").ok());
  auto invalid = reconstruct::OptionsToJson(options);
  invalid["threads"] = 0;
  auto refused_invalid = reconstruct::OptionsFromJson(invalid, "options.json");
  REQUIRE_FALSE(refused_invalid.ok());
  CHECK_THAT(refused_invalid.error().what, Catch::Contains("threads must be at least 1"));
}

TEST_CASE("The depth stage's chunks cover every view once", "[unit]") {
  for (size_t views : {1U, 3U, 24U, 25U, 160U}) {
    for (int chunks : {1, 2, 4, 7}) {
      size_t next = 0;
      for (int c = 0; c < chunks; ++c) {
        const auto [first, last] = reconstruct::ChunkOfViews(views, c, chunks);
        CHECK(first == next);
        CHECK(last - first <= views / static_cast<size_t>(chunks) + 1);
        next = last;
      }
      CHECK(next == views);
    }
  }
}
