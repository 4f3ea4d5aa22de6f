// bench/capture-chaos: the capture chaos campaign (bench/capture_chaos/chaos.h) over many takes,
// ending with its RESULT line. Its baseline is the truth itself: every frame is checked against
// the exposures the virtual cameras made in the same run.
//   --quick          4 sessions of 2 takes (under two minutes)
//   --sessions N     sessions of --takes M takes (default 30 x 3: about 80 takes checked)
//   --seed S         the fault schedule's seed
//   --keep           keep the studio folder (sessions, journals, logs) in /tmp
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "bench/capture_chaos/chaos.h"
#include "bench/harness/harness.h"

int main(int argc, char** argv) {
  using namespace twinrig;
  chaos::ChaosOptions options;
  if (bench::QuickMode(argc, argv)) {
    options.sessions = 4;
    options.takes_per_session = 2;
    options.kill_every = 2;
  }
  if (const char* v = bench::FlagValue(argc, argv, "--sessions")) options.sessions = std::atoi(v);
  if (const char* v = bench::FlagValue(argc, argv, "--takes")) {
    options.takes_per_session = std::atoi(v);
  }
  if (const char* v = bench::FlagValue(argc, argv, "--seed")) {
    options.seed = static_cast<std::uint32_t>(std::atoi(v));
  }
  char pattern[] = "/tmp/twinrig-bench-chaos-XXXXXX";
  const char* made = ::mkdtemp(pattern);
  if (made == nullptr) {
    std::cerr << "capture-chaos: could not create a work folder in /tmp\n";
    return 1;
  }
  options.work_dir = made;
  options.worker_binary =
      std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path() / "host" / "app" /
      "twinrig-camera-worker";
  auto result = chaos::RunChaos(options);
  std::error_code ec;
  if (!bench::HasFlag(argc, argv, "--keep")) std::filesystem::remove_all(options.work_dir, ec);
  if (!result.ok()) {
    std::cerr << "capture-chaos: " << result.error().Describe() << "\n";
    return 1;
  }
  for (const auto& finding : result->findings) std::cout << "finding: " << finding << "\n";
  std::cout << result->ResultLine() << std::endl;
  const bool clean = result->corrupt_accepted == 0 && result->foreign_adopted == 0 &&
                     result->false_done == 0 && result->duplicated == 0 &&
                     result->lost_unreported == 0;
  return clean ? 0 : 1;
}
