// `twinrig calibrate` on OpenCV's real chessboard photos: the printed table, the files written,
// and the errors a person gets for bad input.
#include <catch2/catch.hpp>

#include "calibration/rig_calibration.h"
#include "sim/layout/layout.h"
#include "tests/test_support.h"
#include "util/files.h"
#include "util/subprocess.h"

namespace twinrig::calibration {
namespace {

using twinrig::testing::TempDir;
using twinrig::testing::TestData;

// One camera's folder holding the left*.jpg photos (and nothing else).
std::filesystem::path LeftFolder(const TempDir& dir, const std::string& serial) {
  auto folder = dir / "images" / serial;
  std::filesystem::create_directories(folder);
  for (const auto& entry : std::filesystem::directory_iterator(TestData("calib"))) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("left", 0) == 0 && entry.path().extension() == ".jpg") {
      std::filesystem::copy_file(entry.path(), folder / name);
    }
  }
  return folder;
}

Result<SubprocessResult> Twinrig(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {testing::TwinrigBinary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunSubprocess(argv, {.timeout = std::chrono::seconds(120)});
}

TEST_CASE("twinrig calibrate --images calibrates one camera and prints its RMS", "[integration]") {
  TempDir dir;
  const auto folder = LeftFolder(dir, "left");
  auto run = Twinrig({"calibrate", "--images", folder.string(), "--board", "chessboard:9x6:0.025",
                      "--out", (dir / "out").string()});
  REQUIRE(run.ok());
  INFO(run->output);
  REQUIRE(run->succeeded());
  CHECK(run->output.find("left") != std::string::npos);
  CHECK(run->output.find("RMS") != std::string::npos);
  CHECK(run->output.find("report:") != std::string::npos);
  // One calibration folder under --out, with its model and report.
  std::filesystem::path written;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "out")) written = entry.path();
  auto calibration = LoadRigCalibration(written / "calibration.json");
  REQUIRE(calibration.ok());
  REQUIRE(calibration->cameras.size() == 1);
  CHECK(calibration->cameras[0].serial == "left");
  CHECK(calibration->cameras[0].views == 13);
  CHECK(std::abs(calibration->cameras[0].fx - 535.916) / 535.916 < 0.01);
  CHECK(calibration->board == "chessboard:9x6:0.025");
  CHECK(std::filesystem::exists(written / "colmap" / "cameras.txt"));
  CHECK(std::filesystem::exists(written / "report" / "index.html"));
  CHECK(std::filesystem::exists(written / "report" / "coverage-left.png"));
  // Each camera's uncertainty from the solve, in the table and the report.
  CHECK(run->output.find("+-mm (1s)") != std::string::npos);
  CHECK(run->output.find("where each camera's rays land on the subject") != std::string::npos);
  auto report = ReadFileText(written / "report" / "index.html");
  REQUIRE(report.ok());
  CHECK(report->find("<h2>Uncertainty</h2>") != std::string::npos);
  CHECK(report->find("on the subject mm") != std::string::npos);
}

TEST_CASE("twinrig calibrate refuses bad input with the camera and what to do", "[integration]") {
  TempDir dir;
  SECTION("a wrong board definition: the board is seen by no camera") {
    const auto folder = LeftFolder(dir, "CAM7");
    auto run = Twinrig({"calibrate", "--images", (dir / "images").string(), "--board",
                        "charuco:5x7:0.04:0.02:DICT_6X6_250", "--out", (dir / "out").string()});
    REQUIRE(run.ok());
    CHECK_FALSE(run->succeeded());
    CHECK(run->output.find("camera CAM7 saw the board in 0 of 13 images") != std::string::npos);
    CHECK(run->output.find("board spec") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "out"));
  }
  SECTION("a malformed board spec") {
    auto run =
        Twinrig({"calibrate", "--images", (dir / "images").string(), "--board", "chessboard:9x6"});
    REQUIRE(run.ok());
    CHECK_FALSE(run->succeeded());
    CHECK(run->output.find("chessboard:<COLS>x<ROWS>") != std::string::npos);
  }
  SECTION("a camera whose serial is not in the rig file") {
    LeftFolder(dir, "TR999999");
    const auto studio = dir / "studio";
    std::filesystem::create_directories(studio / "rigs" / "head24");
    auto layout = sim::layout::GenerateLayout({});
    REQUIRE(layout.ok());
    REQUIRE(sim::layout::WriteRigFile(studio / "rigs" / "head24" / "rig.toml", layout->rig).ok());
    auto run = Twinrig({"--studio", studio.string(), "calibrate", "--images",
                        (dir / "images").string(), "--board", "chessboard:9x6:0.025"});
    REQUIRE(run.ok());
    CHECK_FALSE(run->succeeded());
    INFO(run->output);
    CHECK(run->output.find("TR999999") != std::string::npos);
  }
  SECTION("a file given where the image folder belongs") {
    auto run = Twinrig({"calibrate", "--images", TestData("calib/left01.jpg").string(), "--board",
                        "chessboard:9x6:0.025", "--out", (dir / "out").string()});
    REQUIRE(run.ok());
    CHECK_FALSE(run->succeeded());
    CHECK(run->output.find("no image folder") != std::string::npos);
  }
}

TEST_CASE("twinrig calibrate --print-board writes a printable board", "[integration]") {
  TempDir dir;
  auto run = Twinrig({"calibrate", "--print-board", (dir / "board.png").string(), "--board",
                      "charuco:5x7:0.04:0.02:DICT_6X6_250", "--dpi", "150"});
  REQUIRE(run.ok());
  INFO(run->output);
  CHECK(run->succeeded());
  CHECK(run->output.find("200.0 x 280.0 mm") != std::string::npos);
  CHECK(std::filesystem::exists(dir / "board.png"));
}

}  // namespace
}  // namespace twinrig::calibration
