// twinrig against OpenCV's own calibration on the same real photographs, in the same run: OpenCV's
// pipeline as its calibration sample runs it (findChessboardCorners, cornerSubPix with an 11 x 11
// half-window, cv::calibrateCamera), twinrig's as `twinrig calibrate --images` runs it
// (DetectBoards, SolveRig). twinrig must fit no worse and land within OpenCV's own uncertainty.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>

#include <opencv2/aruco/charuco.hpp>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "calibration/calibrate.h"
#include "tests/test_support.h"

namespace twinrig::calibration {
namespace {

using twinrig::testing::TestData;

struct OpenCvCalibration {
  double rms = 0;
  cv::Mat K;
  cv::Mat sigma;  // stdDeviationsIntrinsics: fx, fy, cx, cy, k1, k2, p1, p2, k3, ...
};

OpenCvCalibration OpenCvCalibrate(const std::vector<std::vector<cv::Point3f>>& object,
                                  const std::vector<std::vector<cv::Point2f>>& image, cv::Size size,
                                  int flags) {
  OpenCvCalibration out;
  cv::Mat dist, sigma_extrinsics, per_view;
  std::vector<cv::Mat> rvecs, tvecs;
  out.K = cv::Mat::eye(3, 3, CV_64F);
  out.rms = cv::calibrateCamera(object, image, size, out.K, dist, rvecs, tvecs, out.sigma,
                                sigma_extrinsics, per_view, flags);
  return out;
}

std::vector<std::filesystem::path> LeftPhotos() {
  std::vector<std::filesystem::path> files;
  for (const char* name : {"left01", "left02", "left03", "left04", "left05", "left06", "left07",
                           "left08", "left09", "left11", "left12", "left13", "left14"}) {
    files.push_back(TestData(std::string("calib/") + name + ".jpg"));
  }
  return files;
}

// OpenCV's samples/cpp/calibration.cpp on left*.jpg, with its default detection flags and window.
OpenCvCalibration OpenCvSample(const BoardSpec& spec, int flags) {
  std::vector<std::vector<cv::Point3f>> object;
  std::vector<std::vector<cv::Point2f>> image;
  cv::Size size;
  for (const auto& path : LeftPhotos()) {
    const cv::Mat grey = cv::imread(path.string(), cv::IMREAD_GRAYSCALE);
    size = grey.size();
    std::vector<cv::Point2f> corners;
    if (!cv::findChessboardCorners(grey, cv::Size(spec.cols, spec.rows), corners,
                                   cv::CALIB_CB_ADAPTIVE_THRESH | cv::CALIB_CB_FAST_CHECK |
                                       cv::CALIB_CB_NORMALIZE_IMAGE)) {
      continue;
    }
    cv::cornerSubPix(grey, corners, cv::Size(11, 11), cv::Size(-1, -1),
                     cv::TermCriteria(cv::TermCriteria::EPS + cv::TermCriteria::COUNT, 30, 1e-4));
    object.push_back(spec.Corners());
    image.push_back(corners);
  }
  REQUIRE(image.size() == 13);
  return OpenCvCalibrate(object, image, size, flags);
}

TEST_CASE("On OpenCV's left*.jpg twinrig fits closer than OpenCV's own calibration and agrees",
          "[integration]") {
  auto spec = ParseBoardSpec("chessboard:9x6:0.025");
  REQUIRE(spec.ok());
  // Same lens model as twinrig's (fx, fy, cx, cy, k1, k2, p1, p2, k3).
  const OpenCvCalibration cv_own = OpenCvSample(*spec, 0);
  // As published in left_intrinsics.yml (FIX_ASPECT_RATIO): RMS 0.3926 px, f 535.916.
  const OpenCvCalibration cv_published = OpenCvSample(*spec, cv::CALIB_FIX_ASPECT_RATIO);

  auto observations = DetectBoards({{"left", LeftPhotos()}}, *spec);
  REQUIRE(observations.ok());
  REQUIRE(observations->size() == 1);
  CHECK((*observations)[0].views.size() == 13);
  auto solution = SolveRig(*observations, *spec);
  REQUIRE(solution.ok());
  const CameraCalibration& cam = solution->cameras[0];
  const double fx = cv_own.K.at<double>(0, 0);
  const double fy = cv_own.K.at<double>(1, 1);
  const double cx = cv_own.K.at<double>(0, 2);
  const double cy = cv_own.K.at<double>(1, 2);
  const auto sigma = [&](int i) { return cv_own.sigma.at<double>(i); };
  std::printf(
      "left*.jpg  OpenCV (sample pipeline, 5 coefficients): RMS %.4f px, fx %.3f +- %.3f, "
      "fy %.3f +- %.3f, cx %.2f +- %.2f, cy %.2f +- %.2f\n"
      "           OpenCV (FIX_ASPECT_RATIO, as published): RMS %.4f px, f %.3f\n"
      "           twinrig (calibrate --images path): RMS %.4f px over every corner (%.4f over "
      "%d inliers, %d outliers), fx %.3f, fy %.3f, cx %.2f, cy %.2f\n",
      cv_own.rms, fx, sigma(0), fy, sigma(1), cx, sigma(2), cy, sigma(3), cv_published.rms,
      cv_published.K.at<double>(0, 0), cam.rms_px, solution->rms_px, solution->corners,
      solution->outliers, cam.fx, cam.fy, cam.cx, cam.cy);
  // twinrig's RMS counts every detected corner, outliers too, as OpenCV's does.
  CHECK(cam.rms_px <= cv_own.rms);
  CHECK(cam.rms_px <= cv_published.rms);
  // Within three of OpenCV's standard deviations of its own result.
  CHECK(std::abs(cam.fx - fx) <= 3 * sigma(0));
  CHECK(std::abs(cam.fy - fy) <= 3 * sigma(1));
  CHECK(std::abs(cam.cx - cx) <= 3 * sigma(2));
  CHECK(std::abs(cam.cy - cy) <= 3 * sigma(3));
  // ... and of the published focal length.
  CHECK(std::abs(cam.fx - 535.916) <= 3 * sigma(0));
  CHECK(std::abs(cam.fy - 535.916) <= 3 * sigma(1));
}

// OpenCV's ChArUco corners of one photo, as its tutorial finds them: markers, then
// interpolateCornersCharuco (which refines each corner in a window set by the nearest marker).
void OpenCvCharuco(const cv::Mat& grey, const cv::Ptr<cv::aruco::CharucoBoard>& board,
                   std::vector<int>& ids, std::vector<cv::Point2f>& corners) {
  std::vector<std::vector<cv::Point2f>> markers;
  std::vector<int> marker_ids;
  cv::aruco::detectMarkers(grey, board->dictionary, markers, marker_ids);
  REQUIRE_FALSE(marker_ids.empty());
  cv::aruco::interpolateCornersCharuco(markers, marker_ids, grey, board, corners, ids);
}

TEST_CASE("On OpenCV's two ChArUco photos twinrig's corners fit a lens closer than OpenCV's",
          "[integration]") {
  // Two views cannot fix a full lens: both sets of corners are fitted with the same reduced
  // model (one focal length, k1 and k2) by the same solver, so the RMS compares the corners.
  auto spec = ParseBoardSpec("charuco:5x7:0.04:0.02:DICT_6X6_250");
  REQUIRE(spec.ok());
  auto board = MakeCharuco(*spec);
  REQUIRE(board.ok());
  const std::vector<cv::Point3f> corners = spec->Corners();
  std::vector<std::vector<cv::Point3f>> object[2];
  std::vector<std::vector<cv::Point2f>> image[2];
  cv::Size size;
  for (const char* name : {"choriginal", "chocclusion_original"}) {
    const cv::Mat grey =
        cv::imread(TestData(std::string("calib/") + name + ".jpg").string(), cv::IMREAD_GRAYSCALE);
    REQUIRE_FALSE(grey.empty());
    size = grey.size();
    std::vector<int> ids[2];
    std::vector<cv::Point2f> points[2];
    OpenCvCharuco(grey, *board, ids[0], points[0]);
    const Detection ours = DetectBoard(*spec, grey);
    ids[1] = ours.ids;
    points[1] = ours.points;
    CHECK(ids[1].size() >= ids[0].size());
    for (int k = 0; k < 2; ++k) {
      std::vector<cv::Point3f> o;
      for (const int id : ids[k]) o.push_back(corners[static_cast<size_t>(id)]);
      object[k].push_back(o);
      image[k].push_back(points[k]);
    }
  }
  const int reduced = cv::CALIB_FIX_ASPECT_RATIO | cv::CALIB_ZERO_TANGENT_DIST | cv::CALIB_FIX_K3;
  const OpenCvCalibration opencv = OpenCvCalibrate(object[0], image[0], size, reduced);
  const OpenCvCalibration twinrig = OpenCvCalibrate(object[1], image[1], size, reduced);
  std::printf(
      "choriginal + chocclusion_original: RMS with OpenCV's corners %.4f px, with "
      "twinrig's %.4f px\n",
      opencv.rms, twinrig.rms);
  CHECK(twinrig.rms <= opencv.rms);
}

}  // namespace
}  // namespace twinrig::calibration
