// README command 1 as a newcomer runs it: `twinrig demo --quick` from a working directory of its
// own (with a space in its path), the studio the default relative ./studio, through every stage.
// [slow]: under the sanitizers the virtual studio renders 24 cameras for ~10 minutes of board
// takes; .ci/run runs the same quick demo on the release build (scripts/demo --quick) and again
// from the installed .deb (scripts/package-test).
#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/test_support.h"
#include "util/subprocess.h"

namespace twinrig {
namespace {

TEST_CASE("twinrig demo --quick completes from a relative studio in its own working directory",
          "[slow]") {
  testing::TempDir dir;
  const std::filesystem::path work = dir / "a studio's working dir";
  std::filesystem::create_directories(work);
  // Addresses of its own, so it runs beside the other tests' virtual studios.
  const std::vector<std::string> argv{testing::TwinrigBinary().string(),
                                      "demo",
                                      "--quick",
                                      "--camera-base-address",
                                      "127.0.171.2",
                                      "--node-base-address",
                                      "127.0.172.1",
                                      "--review-listen",
                                      "127.0.173.1:8440"};
  SubprocessOptions options;
  options.working_directory = work;
  options.timeout = std::chrono::minutes(25);
  auto run = RunSubprocess(argv, options);
  REQUIRE(run.ok());
  INFO(run->output);
  CHECK(run->exit_code == 0);
  CHECK(run->output.find("demo complete") != std::string::npos);
  // Every stage ran, the review station answered and was stopped again.
  for (const char* stage : {"check the host", "start the virtual studio", "calibrate the rig",
                            "subject and signed consent", "preflight", "capture", "preview twin",
                            "score against the ground truth", "the subject approves and grants",
                            "export for the licensee", "verify the consent chain and the audit log",
                            "review station"}) {
    CHECK(run->output.find(std::string("✓ ") + stage) != std::string::npos);
  }
  CHECK(run->output.find("review station: answered") != std::string::npos);
  // Everything landed in ./studio of that working directory.
  CHECK(std::filesystem::exists(work / "studio" / "studio.db"));
  CHECK(std::filesystem::is_directory(work / "studio" / "deliveries"));
}

}  // namespace
}  // namespace twinrig
