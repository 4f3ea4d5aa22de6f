// `twinrig sim up|status|down` as a technician runs them, then a capture from the running studio
// through a camera worker (real libgphoto2 over PTP/IP).
#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>

#include "host/camera/camera_worker.h"
#include "sim/layout/layout.h"
#include "sim/studio/studio.h"
#include "tests/test_support.h"
#include "util/files.h"
#include "util/subprocess.h"

namespace twinrig::sim::studio {
namespace {

SubprocessResult Twinrig(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {testing::TwinrigBinary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  SubprocessOptions options;
  options.timeout = std::chrono::seconds(120);
  auto r = RunSubprocess(argv, options);
  REQUIRE(r.ok());
  return *r;
}

TEST_CASE("sim up starts a rendering studio, sim status shows it, sim down stops it",
          "[integration]") {
  testing::TempDir dir;
  const std::string studio = (dir / "studio").string();
  auto up = Twinrig({"--studio", studio, "sim", "up", "--layout", "head24", "--cameras", "3",
                     "--camera-base-address", "127.0.43.2", "--node-base-address", "127.0.44.1",
                     "--width", "320", "--height", "240"});
  INFO(up.output);
  REQUIRE(up.exit_code == 0);
  CHECK(up.output.find("3 cameras") != std::string::npos);

  Paths paths(studio);
  auto rig = layout::ReadRigFile(paths.RigFile("head24"));
  REQUIRE(rig.ok());
  REQUIRE(rig->cameras.size() == 3);
  CHECK(rig->cameras[0].address == "127.0.43.2");
  CHECK(std::filesystem::exists(paths.TruthFile("head24")));
  CHECK_FALSE(std::filesystem::exists(paths.RigFolder("head24") / "groundtruth.json"));

  auto again = Twinrig({"--studio", studio, "sim", "up", "--camera-base-address", "127.0.43.2"});
  CHECK(again.exit_code == 1);
  CHECK(again.output.find("already running") != std::string::npos);

  auto status = Twinrig({"--studio", studio, "sim", "status"});
  CHECK(status.exit_code == 0);
  CHECK(status.output.find(rig->cameras[2].serial) != std::string::npos);

  // A camera of the running studio, through a camera worker.
  camera::WorkerOptions options;
  options.worker_binary = testing::TwinrigBinary().parent_path() / "twinrig-camera-worker";
  options.home = dir / "home";
  options.capture_deadline = std::chrono::seconds(30);
  camera::CameraClient client("ptpip:" + rig->cameras[1].address, options);
  auto id = client.Connect();
  REQUIRE(id.ok());
  CHECK(id->serial == rig->cameras[1].serial);
  auto file = client.Capture();
  REQUIRE(file.ok());
  auto got = client.Download(*file, dir / "view.jpg");
  REQUIRE(got.ok());
  cv::Mat image = cv::imread((dir / "view.jpg").string());
  CHECK(image.cols == 320);
  CHECK(image.rows == 240);
  client.Stop();

  auto down = Twinrig({"--studio", studio, "sim", "down"});
  CHECK(down.exit_code == 0);
  auto after = Twinrig({"--studio", studio, "sim", "status"});
  CHECK(after.exit_code == 1);
  CHECK(after.output.find("sim up") != std::string::npos);
  // The truth log recorded the exposure.
  auto log = ReadFileText(paths.ExposureLog());
  REQUIRE(log.ok());
  CHECK(log->find(rig->cameras[1].serial) != std::string::npos);
}

}  // namespace
}  // namespace twinrig::sim::studio
