#include "calibration/board.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include <opencv2/imgcodecs.hpp>

#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::calibration {
namespace {

using twinrig::testing::TempDir;
using twinrig::testing::TestData;

TEST_CASE("Board specs parse, print back and refuse what is wrong", "[unit]") {
  auto charuco = ParseBoardSpec("charuco:5x7:0.04:0.02:DICT_6X6_250");
  REQUIRE(charuco.ok());
  CHECK(charuco->kind == BoardSpec::Kind::kCharuco);
  CHECK(charuco->cols == 5);
  CHECK(charuco->rows == 7);
  CHECK(charuco->CornerCount() == 24);
  CHECK(ParseBoardSpec(charuco->ToString())->ToString() == charuco->ToString());
  auto chess = ParseBoardSpec("chessboard:9x6:0.025");
  REQUIRE(chess.ok());
  CHECK(chess->CornerCount() == 54);
  CHECK(chess->Corners()[10].x == Approx(0.025));
  CHECK(chess->Corners()[10].y == Approx(0.025));
  // The ChArUco corners are OpenCV's.
  auto board = MakeCharuco(*charuco);
  REQUIRE(board.ok());
  const auto corners = charuco->Corners();
  REQUIRE(corners.size() == (*board)->chessboardCorners.size());
  for (size_t i = 0; i < corners.size(); ++i) {
    CHECK(cv::norm(corners[i] - (*board)->chessboardCorners[i]) < 1e-6);
  }
  for (const char* bad :
       {"", "charuco", "charuco:5x7:0.04:0.02", "charuco:5x7:0.04:0.05:DICT_6X6_250",
        "charuco:5x7:0.04:0.02:DICT_NOPE", "charuco:50x70:0.04:0.02:DICT_4X4_50", "chessboard:9x6",
        "chessboard:9by6:0.025", "chessboard:9x6:-1", "circles:4x11:0.02"}) {
    auto r = ParseBoardSpec(bad);
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_FALSE(r.error().todo.empty());
  }
}

TEST_CASE("The printable board is at true scale at its DPI", "[unit]") {
  auto spec = ParseBoardSpec("charuco:5x7:0.04:0.02:DICT_6X6_250");
  REQUIRE(spec.ok());
  auto image = DrawBoard(*spec, 300);
  REQUIRE(image.ok());
  // 40 mm at 300 dpi = 472.4 px per square; the pattern plus a one-square margin each side.
  const double square_px = 0.04 / 0.0254 * 300;
  CHECK(std::abs(image->cols - 7 * square_px) < 2);
  CHECK(std::abs(image->rows - 9 * square_px) < 2);
  // It detects as the board it is.
  auto detection = DetectBoard(*spec, *image);
  CHECK(detection.ids.size() == 24);
  TempDir dir;
  REQUIRE(WriteBoardPng(*spec, 300, (dir / "board.png").string()).ok());
  auto bytes = ReadFileBytes(dir / "board.png");
  REQUIRE(bytes.ok());
  // pHYs right after IHDR: 11811 pixels per metre = 300 dpi.
  const std::string text(bytes->begin(), bytes->end());
  const auto at = text.find("pHYs");
  REQUIRE(at == 37);
  const auto ppm = (static_cast<unsigned>((*bytes)[at + 4]) << 24) |
                   (static_cast<unsigned>((*bytes)[at + 5]) << 16) |
                   (static_cast<unsigned>((*bytes)[at + 6]) << 8) | (*bytes)[at + 7];
  CHECK(ppm == 11811);
  CHECK_FALSE(cv::imread((dir / "board.png").string()).empty());
  CHECK_FALSE(DrawBoard(*spec, 10).ok());
}

TEST_CASE("All 17 markers of choriginal.jpg are found within 1 px of OpenCV's gold corners",
          "[integration]") {
  const cv::Mat image = cv::imread(TestData("calib/choriginal.jpg").string());
  REQUIRE_FALSE(image.empty());
  auto spec = ParseBoardSpec("charuco:5x7:0.04:0.02:DICT_6X6_250");
  REQUIRE(spec.ok());
  const Detection detection = DetectBoard(*spec, image);
  std::ifstream csv(TestData("calib/choriginal_marker_corners.csv"));
  std::string line;
  std::getline(csv, line);  // header
  int markers = 0;
  double worst = 0;
  while (std::getline(csv, line)) {
    std::stringstream in(line);
    std::vector<double> v;
    for (std::string field; std::getline(in, field, ',');) v.push_back(std::stod(field));
    REQUIRE(v.size() == 9);
    const int id = static_cast<int>(v[0]);
    const auto it = std::find(detection.marker_ids.begin(), detection.marker_ids.end(), id);
    INFO("marker " << id);
    REQUIRE(it != detection.marker_ids.end());
    const auto& found =
        detection.marker_corners[static_cast<size_t>(it - detection.marker_ids.begin())];
    for (int k = 0; k < 4; ++k) {
      worst = std::max(worst, cv::norm(found[static_cast<size_t>(k)] -
                                       cv::Point2f(static_cast<float>(v[1 + 2 * k]),
                                                   static_cast<float>(v[2 + 2 * k]))));
    }
    ++markers;
  }
  CHECK(markers == 17);
  CHECK(worst < 1.0);
  // And the board's corners are interpolated from them.
  CHECK(detection.ids.size() >= 20);
}

TEST_CASE("A photo without the board gives an empty detection, not an error", "[unit]") {
  auto spec = ParseBoardSpec("charuco:5x7:0.04:0.02:DICT_6X6_250");
  REQUIRE(spec.ok());
  cv::Mat grey(480, 640, CV_8UC1, cv::Scalar(128));
  CHECK(DetectBoard(*spec, grey).ids.empty());
  // The chessboard photos hold no ChArUco board.
  const cv::Mat chess = cv::imread(TestData("calib/left01.jpg").string());
  CHECK(DetectBoard(*spec, chess).ids.empty());
}

}  // namespace
}  // namespace twinrig::calibration
