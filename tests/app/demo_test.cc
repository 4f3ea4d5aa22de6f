// README command 1 as a newcomer runs it: `twinrig demo --quick` from a working directory of its
// own (with a space in its path), the studio the default relative ./studio, through every stage.
// Then the same at every image size a studio might try (320x240 to 1600x1200).
// [slow]: under the sanitizers the virtual studio renders 24 cameras for over ten minutes of board
// takes (a minute a take measured on a busy 2-core machine). .ci/run runs the first test on the
// release build, besides the quick demo itself (scripts/demo --quick) and from the installed .deb
// (scripts/package-test). The size matrix too is meant for the release build:
//   ctest --preset release -L slow -R demo --timeout 3600
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/test_support.h"
#include "util/subprocess.h"

namespace twinrig {
namespace {

struct DemoRun {
  std::string output;
  int exit_code = -1;
};

// `twinrig demo --quick EXTRA…` in WORK, on addresses of its own so that it runs beside the other
// tests' virtual studios.
DemoRun QuickDemo(const std::filesystem::path& work, const std::vector<std::string>& extra) {
  std::filesystem::create_directories(work);
  std::vector<std::string> argv{testing::TwinrigBinary().string(),
                                "demo",
                                "--quick",
                                "--camera-base-address",
                                "127.0.171.2",
                                "--node-base-address",
                                "127.0.172.1",
                                "--review-listen",
                                "127.0.173.1:8440"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  SubprocessOptions options;
  options.working_directory = work;
  options.timeout = std::chrono::minutes(40);
  auto run = RunSubprocess(argv, options);
  REQUIRE(run.ok());
  return {run->output, run->exit_code};
}

void CheckEveryStageRan(const DemoRun& run) {
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK(run.output.find("demo complete") != std::string::npos);
  for (const char* stage : {"check the host", "start the virtual studio", "calibrate the rig",
                            "subject and signed consent", "preflight", "capture", "preview twin",
                            "score against the ground truth", "the subject approves and grants",
                            "export for the licensee", "verify the consent chain and the audit log",
                            "review station"}) {
    CHECK(run.output.find(std::string("✓ ") + stage) != std::string::npos);
  }
  // The review station answered and was stopped again.
  CHECK(run.output.find("review station: answered") != std::string::npos);
}

TEST_CASE("twinrig demo --quick completes from a relative studio in its own working directory",
          "[slow]") {
  testing::TempDir dir;
  const std::filesystem::path work = dir / "a studio's working dir";
  const DemoRun run = QuickDemo(work, {});
  CheckEveryStageRan(run);
  // Everything landed in ./studio of that working directory.
  CHECK(std::filesystem::exists(work / "studio" / "studio.db"));
  CHECK(std::filesystem::is_directory(work / "studio" / "deliveries"));
}

TEST_CASE("twinrig demo --quick completes at 320x240, 640x480, 800x600 and 1600x1200", "[slow]") {
  const auto [width, height] =
      GENERATE(table<int, int>({{320, 240}, {640, 480}, {800, 600}, {1600, 1200}}));
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  SECTION(size) {
    testing::TempDir dir;
    const DemoRun run = QuickDemo(
        dir / size, {"--width", std::to_string(width), "--height", std::to_string(height)});
    CheckEveryStageRan(run);
    // The cameras delivered what the demo asked for.
    INFO(run.output);
    CHECK(run.output.find("imagesize=" + size) != std::string::npos);
  }
}

}  // namespace
}  // namespace twinrig
