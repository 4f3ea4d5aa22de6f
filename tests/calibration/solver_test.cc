#include "calibration/solver.h"

#include <catch2/catch.hpp>
#include <cstdio>

#include <opencv2/imgcodecs.hpp>

#include "bench/calibration_bench/synthetic_rig.h"
#include "tests/test_support.h"

namespace twinrig::calibration {
namespace {

using twinrig::testing::TestData;

CameraObservations LeftImages(const BoardSpec& spec) {
  CameraObservations camera;
  camera.serial = "left";
  int pose = 0;
  for (const char* name : {"left01", "left02", "left03", "left04", "left05", "left06", "left07",
                           "left08", "left09", "left11", "left12", "left13", "left14"}) {
    const std::string path = TestData(std::string("calib/") + name + ".jpg").string();
    const cv::Mat image = cv::imread(path, cv::IMREAD_GRAYSCALE);
    REQUIRE_FALSE(image.empty());
    camera.width = image.cols;
    camera.height = image.rows;
    ++camera.images;
    Detection d = DetectBoard(spec, image);
    if (d.ids.empty()) continue;
    camera.views.push_back({pose++, d.ids, d.points, path});
  }
  return camera;
}

TEST_CASE("OpenCV's left chessboard photos calibrate to its published result", "[integration]") {
  auto spec = ParseBoardSpec("chessboard:9x6:0.025");
  REQUIRE(spec.ok());
  const CameraObservations camera = LeftImages(*spec);
  CHECK(camera.views.size() == 13);
  // OpenCV's figure is a plain least-squares fit of every corner: compare like with like.
  SolveOptions plain;
  plain.robust = false;
  auto solution = SolveRig({camera}, *spec, plain);
  REQUIRE(solution.ok());
  const CameraCalibration& cam = solution->cameras[0];
  std::printf(
      "left*.jpg: RMS %.4f px (published 0.3926), fx %.3f fy %.3f (published 535.916), "
      "cx %.2f cy %.2f, %d outliers\n",
      cam.rms_px, cam.fx, cam.fy, cam.cx, cam.cy, solution->outliers);
  CHECK(std::abs(cam.rms_px - 0.3926) < 0.03);
  CHECK(std::abs(cam.fx - 535.916) / 535.916 < 0.01);
  CHECK(std::abs(cam.fy - 535.916) / 535.916 < 0.01);
  CHECK(cam.views == 13);
  CHECK(solution->views.size() == 13);
  // The robust solve leaves out the few corners of the blurred view and fits the rest closer.
  auto robust = SolveRig({camera}, *spec);
  REQUIRE(robust.ok());
  CHECK(robust->outliers > 0);
  CHECK(robust->rms_px < solution->rms_px);
  CHECK(std::abs(robust->cameras[0].fx - 535.916) / 535.916 < 0.01);
}

TEST_CASE("The joint solve recovers a synthetic rig from noisy corners", "[unit]") {
  calibration_bench::SyntheticRigOptions options;
  options.cameras = 8;
  options.poses = 20;
  options.rings = 2;
  options.noise_px = 0.3;
  const auto rig = calibration_bench::MakeSyntheticRig(options);
  auto solution = SolveRig(rig.observations, rig.board);
  REQUIRE(solution.ok());
  auto errors = CompareRigs(solution->cameras, rig.truth);
  REQUIRE(errors.ok());
  std::printf(
      "synthetic 8 x 20: focal %.4f%% (max %.4f%%), rotation %.4f deg (max %.4f), "
      "position %.3f mm (max %.3f), RMS %.3f px, %.2f s\n",
      errors->focal_err_pct_mean, errors->focal_err_pct_max, errors->rot_err_deg_mean,
      errors->rot_err_deg_max, errors->pos_err_mm_mean, errors->pos_err_mm_max, solution->rms_px,
      solution->seconds);
  CHECK(errors->cameras == 8);
  // Means over cameras against the targets; the worst camera (fewest views) gets twice the room.
  CHECK(errors->focal_err_pct_mean < 0.1);
  CHECK(errors->pos_err_mm_mean < 0.5);
  CHECK(errors->rot_err_deg_mean < 0.1);
  CHECK(errors->focal_err_pct_max < 0.2);
  CHECK(errors->pos_err_mm_max < 1.0);
  CHECK(errors->rot_err_deg_max < 0.3);
  CHECK(solution->rms_px < 0.3);
  // The joint solve improves on the per-camera start chained through the board poses.
  CHECK(solution->rms_px < solution->initial_rms_px);
}

TEST_CASE("Bad input names the camera and says what to do", "[unit]") {
  calibration_bench::SyntheticRigOptions options;
  options.cameras = 4;
  options.poses = 8;
  options.rings = 1;
  auto rig = calibration_bench::MakeSyntheticRig(options);
  SECTION("a camera that never saw the board") {
    rig.observations[2].views.clear();
    auto r = SolveRig(rig.observations, rig.board);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find(rig.observations[2].serial) != std::string::npos);
    CHECK(r.error().todo.find("board") != std::string::npos);
  }
  SECTION("a camera with too few views") {
    rig.observations[1].views.resize(2);
    auto r = SolveRig(rig.observations, rig.board);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find(rig.observations[1].serial) != std::string::npos);
  }
  SECTION("no cameras") { CHECK_FALSE(SolveRig({}, rig.board).ok()); }
}

TEST_CASE("Alignment to planned positions puts the rig in the studio's frame", "[unit]") {
  calibration_bench::SyntheticRigOptions options;
  options.cameras = 8;
  options.poses = 16;
  options.rings = 2;
  const auto rig = calibration_bench::MakeSyntheticRig(options);
  auto solution = SolveRig(rig.observations, rig.board);
  REQUIRE(solution.ok());
  std::map<std::string, std::array<double, 3>> planned;
  for (const auto& cam : rig.truth) planned[cam.serial] = cam.Centre();
  auto rms = AlignToPlanned(*solution, planned);
  REQUIRE(rms.ok());
  CHECK(*rms < 0.002);
  for (size_t i = 0; i < rig.truth.size(); ++i) {
    const auto a = solution->cameras[i].Centre();
    const auto b = rig.truth[i].Centre();
    CHECK(std::hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]) < 0.003);
    for (int k = 0; k < 9; ++k)
      CHECK(solution->cameras[i].R[k] == Approx(rig.truth[i].R[k]).margin(0.005));
  }
  std::map<std::string, std::array<double, 3>> too_few{
      {rig.truth[0].serial, planned[rig.truth[0].serial]}};
  CHECK_FALSE(AlignToPlanned(*solution, too_few).ok());
}

}  // namespace
}  // namespace twinrig::calibration
