#include "calibration/solver.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>

#include "bench/calibration_bench/synthetic_rig.h"
#include "tests/test_support.h"

namespace twinrig::calibration {
namespace {

// A small synthetic rig in two rings, its corners with 0.3 px of noise.
calibration_bench::SyntheticRig SmallRig(int cameras, int poses) {
  calibration_bench::SyntheticRigOptions options;
  options.cameras = cameras;
  options.poses = poses;
  options.rings = 2;
  options.noise_px = 0.3;
  return calibration_bench::MakeSyntheticRig(options);
}

TEST_CASE("The joint solve recovers a synthetic rig from noisy corners", "[unit]") {
  const auto rig = SmallRig(8, 20);
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

TEST_CASE("The solve's own uncertainty matches its errors and names cameras short of the twin",
          "[unit]") {
  const auto rig = SmallRig(8, 20);
  auto solution = SolveRig(rig.observations, rig.board);
  REQUIRE(solution.ok());
  auto errors = CompareRigs(solution->cameras, rig.truth);
  REQUIRE(errors.ok());
  REQUIRE(solution->uncertainty.size() == 8);
  CameraUncertainty worst;
  double mean_rotation = 0;
  for (const CameraUncertainty& u : solution->uncertainty) {
    worst.rotation_deg = std::max(worst.rotation_deg, u.rotation_deg);
    worst.position_mm = std::max(worst.position_mm, u.position_mm);
    worst.subject_mm = std::max(worst.subject_mm, u.subject_mm);
    mean_rotation += u.rotation_deg / 8;
    CHECK(u.focal_pct > 0);
    CHECK(u.subject_mm > 0);
  }
  std::printf(
      "synthetic 8 x 20: 1 sigma rotation %.4f deg (max %.4f; error max %.4f), position "
      "max %.3f mm (error max %.3f), on the subject max %.3f mm\n",
      mean_rotation, worst.rotation_deg, errors->rot_err_deg_max, worst.position_mm,
      errors->pos_err_mm_max, worst.subject_mm);
  // The errors are what the covariance says: neither far beyond it nor far inside.
  CHECK(errors->rot_err_deg_max < 4 * worst.rotation_deg);
  CHECK(errors->rot_err_deg_mean > 0.25 * mean_rotation);
  CHECK(errors->pos_err_mm_max < 4 * worst.position_mm);
  CHECK(solution->too_uncertain.empty());
  // A twin far finer than these corners allow: every camera is named, with where to show it.
  SolveOptions demanding;
  demanding.twin_mm = worst.subject_mm;
  auto strict = SolveRig(rig.observations, rig.board, demanding);
  REQUIRE(strict.ok());
  CHECK(strict->too_uncertain.size() == 8);
  for (const auto& cam : strict->too_uncertain) {
    CHECK(cam.reason.find("mm twin needs") != std::string::npos);
    CHECK(cam.todo.find("show it the board") != std::string::npos);
  }
}

TEST_CASE("The robust solve drops corners that were found in the wrong place", "[unit]") {
  auto rig = SmallRig(6, 16);
  // Every 50th corner 8 px off, as a corner snapped onto a marker's edge would be.
  int moved = 0;
  for (auto& camera : rig.observations) {
    for (auto& view : camera.views) {
      for (size_t k = 0; k < view.points.size(); k += 50, ++moved) view.points[k].x += 8;
    }
  }
  SolveOptions plain;
  plain.robust = false;
  auto fooled = SolveRig(rig.observations, rig.board, plain);
  auto robust = SolveRig(rig.observations, rig.board);
  REQUIRE(fooled.ok());
  REQUIRE(robust.ok());
  CHECK(robust->outliers >= moved);
  CHECK(robust->outliers < moved + moved / 10);
  CHECK(robust->rms_px < 0.35);
  auto fooled_errors = CompareRigs(fooled->cameras, rig.truth);
  auto robust_errors = CompareRigs(robust->cameras, rig.truth);
  REQUIRE(robust_errors.ok());
  CHECK(robust_errors->rot_err_deg_max < fooled_errors->rot_err_deg_max);
  CHECK(robust_errors->pos_err_mm_max < 1.0);
}

// The camera `serial` is left out of `solution` with a reason and a remedy; the others are solved.
void CheckLeftOut(const RigSolution& solution, const std::string& serial, size_t solved,
                  const std::string& reason_has) {
  CHECK(solution.cameras.size() == solved);
  for (const auto& cam : solution.cameras) CHECK(cam.serial != serial);
  REQUIRE(solution.uncalibrated.size() == 1);
  const UncalibratedCamera& left = solution.uncalibrated[0];
  CHECK(left.serial == serial);
  CHECK(left.reason.find(reason_has) != std::string::npos);
  CHECK(left.todo.find("board positions") != std::string::npos);
  CHECK(left.todo.find("calibrate again") != std::string::npos);
  // No library's text as the explanation.
  CHECK(left.reason.find("OpenCV") == std::string::npos);
  CHECK(left.reason.find("cv::") == std::string::npos);
}

TEST_CASE("A camera that cannot be calibrated is named with its remedy; the rest are solved",
          "[unit]") {
  calibration_bench::SyntheticRigOptions options;
  options.cameras = 6;
  options.poses = 16;
  options.rings = 2;
  auto rig = calibration_bench::MakeSyntheticRig(options);
  const std::string serial1 = rig.observations[1].serial;
  const std::string serial2 = rig.observations[2].serial;
  SECTION("a camera that never saw the board") {
    rig.observations[2].views.clear();
    auto r = SolveRig(rig.observations, rig.board);
    REQUIRE(r.ok());
    CheckLeftOut(*r, serial2, 5, "saw the board in 0 of");
  }
  SECTION("a camera that saw the board 3 times: how many more and where") {
    rig.observations[1].views.resize(3);
    auto r = SolveRig(rig.observations, rig.board);
    INFO((r.ok() ? std::string() : r.error().Describe()));
    REQUIRE(r.ok());
    CheckLeftOut(*r, serial1, 5, "saw the board in 3 of");
    CHECK(r->uncalibrated[0].todo.find("take 1 or more") != std::string::npos);
    CHECK(r->rms_px < 1.0);
  }
  SECTION("views that do not determine the lens (one corner seen, always the same)") {
    auto& cam = rig.observations[1];
    for (auto& view : cam.views) {
      view.ids.resize(std::min<size_t>(view.ids.size(), 6));
      view.points.resize(view.ids.size());
      for (size_t k = 0; k < view.points.size(); ++k) {
        view.points[k] = cv::Point2f(5.0F + static_cast<float>(k), 5.0F);  // collinear, in a corner
      }
    }
    auto r = SolveRig(rig.observations, rig.board);
    REQUIRE(r.ok());
    CheckLeftOut(*r, serial1, 5, "do not determine its lens");
  }
  SECTION("a camera that shares no board position with the others") {
    for (auto& view : rig.observations[3].views) view.pose += 1000;
    auto r = SolveRig(rig.observations, rig.board);
    REQUIRE(r.ok());
    CheckLeftOut(*r, rig.observations[3].serial, 5, "shares no board position");
  }
  SECTION("no camera can be calibrated: an error naming each") {
    for (auto& cam : rig.observations) cam.views.resize(1);
    auto r = SolveRig(rig.observations, rig.board);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find(serial1) != std::string::npos);
    CHECK(r.error().todo.find("board") != std::string::npos);
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
