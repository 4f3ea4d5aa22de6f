// bench/farm — see bench/farm.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench/harness/harness.h"
#include "host/farm/cluster.h"
#include "host/farm/jobs.h"
#include "reconstruct/score.h"
#include "sim/score/score.h"
#include "sim/session/rendered_session.h"
#include "util/subprocess.h"

namespace fs = std::filesystem;
using namespace twinrig;

namespace {

bool Twinrig(const fs::path& studio, std::vector<std::string> args) {
  std::vector<std::string> argv = {TWINRIG_BINARY, "--studio", studio.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  SubprocessOptions options;
  options.timeout = std::chrono::hours(2);
  auto run = RunSubprocess(argv, options);
  if (!run.ok() || !run->succeeded()) {
    std::fprintf(stderr, "twinrig %s failed: %s\n", args.front().c_str(),
                 run.ok() ? run->output.c_str() : run.error().Describe().c_str());
    return false;
  }
  return true;
}

double FScore2(const fs::path& studio, const std::string& session) {
  auto metrics = sim::score::ScoreSession(studio, session, "full");
  if (!metrics.ok()) {
    std::fprintf(stderr, "score %s: %s\n", session.c_str(), metrics.error().Describe().c_str());
    return -1;
  }
  return metrics->FScore(2);
}

}  // namespace

int main(int argc, char** argv) {
  const char* n_text = bench::FlagValue(argc, argv, "--sessions");
  const char* size_text = bench::FlagValue(argc, argv, "--size");
  const char* chunks_text = bench::FlagValue(argc, argv, "--chunks");
  const int sessions = n_text != nullptr ? std::atoi(n_text) : 4;
  int width = 1600;
  int height = 1200;
  if (size_text != nullptr && std::sscanf(size_text, "%dx%d", &width, &height) != 2) {
    std::fprintf(stderr, "--size is WxH, e.g. 800x600\n");
    return 2;
  }
  const std::string chunks = chunks_text != nullptr ? chunks_text : "4";
  if (sessions < 1 || width < 64 || height < 48) {
    std::fprintf(stderr, "--sessions must be at least 1 and --size at least 64x48\n");
    return 2;
  }
  // --studio DIR: work in DIR (kept), reusing the sessions already rendered there.
  const char* studio_text = bench::FlagValue(argc, argv, "--studio");
  const bool keep = bench::HasFlag(argc, argv, "--keep") || studio_text != nullptr;
  char pattern[] = "/tmp/twinrig-bench-farm-XXXXXX";
  const char* made = studio_text != nullptr ? studio_text : ::mkdtemp(pattern);
  if (made == nullptr) return 1;
  const fs::path studio = fs::absolute(made);
  std::vector<std::string> ids;
  for (int i = 0; i < sessions; ++i) {
    sim::session::RenderedSessionOptions so;
    so.width = width;
    so.height = height;
    so.seed = 11 + static_cast<std::uint64_t>(i);
    so.session_id = "S-FARM-" + std::to_string(i + 1);
    so.calibration_id = "C-FARM-" + std::to_string(i + 1);
    ids.push_back(so.session_id);
    if (fs::exists(studio / "sessions" / so.session_id / "session.json")) continue;
    std::printf("rendering %s (head24, %dx%d) into %s\n", so.session_id.c_str(), width, height,
                studio.c_str());
    std::fflush(stdout);
    auto session = sim::session::MakeRenderedSession(studio, so);
    if (!session.ok()) {
      std::fprintf(stderr, "%s\n", session.error().Describe().c_str());
      return 1;
    }
  }

  // Local: one after another, as a station without a farm makes them.
  std::vector<double> local_f2;
  bench::Stopwatch local_clock;
  for (const auto& id : ids) {
    std::printf("local %s ...\n", id.c_str());
    std::fflush(stdout);
    if (!Twinrig(studio, {"reconstruct", id, "--full", "--farm", "local"})) return 1;
  }
  const double local_s = local_clock.Seconds();
  for (const auto& id : ids) {
    local_f2.push_back(FScore2(studio, id));
    std::error_code ec;
    const fs::path twin = studio / "sessions" / id / "twin";
    fs::remove_all(twin / "full-local", ec);
    fs::rename(twin / "full", twin / "full-local", ec);
  }

  // Farm: every session submitted at once; the time runs from the first submission to the last
  // twin.
  auto up = farm::Up(studio);
  if (!up.ok()) {
    std::fprintf(stderr, "farm up: %s\n", up.error().Describe().c_str());
    return 1;
  }
  auto settings = farm::LoadSettings(studio);
  if (!settings.ok()) return 1;
  bench::Stopwatch farm_clock;
  for (const auto& id : ids) {
    if (!Twinrig(studio, {"reconstruct", id, "--full", "--farm", "slurm", "--chunks", chunks})) {
      (void)farm::Down(studio);
      return 1;
    }
  }
  bool all_done = false;
  for (int polls = 0; polls < 4 * 3600 && !all_done; ++polls) {
    all_done = true;
    for (const auto& id : ids) {
      auto jobs = farm::Query(studio, *settings, id, reconstruct::Level::kFull);
      if (!jobs.ok() || !jobs->Finished()) all_done = false;
      if (jobs.ok() && !jobs->Active() && !jobs->Finished()) {
        std::fprintf(stderr, "the farm jobs of %s ended without the twin\n", id.c_str());
        (void)farm::Down(studio);
        return 1;
      }
    }
    if (!all_done) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  const double farm_s = farm_clock.Seconds();
  (void)farm::Down(studio);

  bool equal = all_done;
  std::printf("\n%-12s %10s %10s\n", "session", "F@2mm loc", "F@2mm farm");
  for (size_t i = 0; i < ids.size(); ++i) {
    const double f2 = FScore2(studio, ids[i]);
    std::printf("%-12s %10.4f %10.4f\n", ids[i].c_str(), local_f2[i], f2);
    if (f2 < 0 || local_f2[i] < 0 || std::abs(f2 - local_f2[i]) > 0.005) equal = false;
  }
  std::printf("local %.1f s, farm %.1f s (%.2f x)\n", local_s, farm_s, farm_s / local_s);
  if (!keep) {
    std::error_code ec;
    fs::remove_all(studio, ec);
  }
  bench::ResultLine result("farm");
  result.Add("sessions", std::to_string(sessions))
      .Add("size", std::to_string(width) + "x" + std::to_string(height))
      .Add("local_s", local_s, 1)
      .Add("farm_s", farm_s, 1)
      .Add("ratio", farm_s / local_s, 3)
      .Add("twins_equal", equal ? "yes" : "no");
  result.Print();
  return equal ? 0 : 1;
}
