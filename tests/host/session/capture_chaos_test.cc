// The capture chaos campaign as a test (bench/capture-chaos runs it larger and prints its figures):
// random camera faults, SIGKILLed stations, abandoned sessions and stray shots, and still no
// corrupt, foreign or duplicated frame accepted, no false "done", every missing frame reported.
#include <catch2/catch.hpp>

#include <iostream>

#include "bench/capture_chaos/chaos.h"
#include "tests/test_support.h"

namespace twinrig::chaos {
namespace {

TEST_CASE("the chaos campaign: nothing corrupt, foreign or duplicated, no false done", "[slow]") {
  testing::TempDir dir;
  ChaosOptions options;
  options.sessions = 8;
  options.takes_per_session = 3;
  options.kill_every = 4;
  options.base_address = "127.0.72.2";
  options.work_dir = dir.path();
  options.worker_binary = testing::TwinrigBinary().parent_path() / "twinrig-camera-worker";
  auto result = RunChaos(options);
  REQUIRE(result.ok());
  for (const auto& finding : result->findings) std::cout << "finding: " << finding << "\n";
  std::cout << result->ResultLine() << std::endl;
  INFO(result->ResultLine());
  CHECK(result->takes >= 18);
  CHECK(result->faults >= 20);
  CHECK(result->kills == 2);
  CHECK(result->corrupt_accepted == 0);
  CHECK(result->foreign_adopted == 0);
  CHECK(result->duplicated == 0);
  CHECK(result->false_done == 0);
  CHECK(result->lost_unreported == 0);
  CHECK(result->frames_verified + result->lost + result->corrupt_accepted +
            result->foreign_adopted + result->duplicated ==
        result->frames_expected);
}

}  // namespace
}  // namespace twinrig::chaos
