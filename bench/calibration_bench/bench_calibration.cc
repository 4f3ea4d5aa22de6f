// bench/calibration: solve a synthetic rig (48 cameras x 80 poses of a 10x14 ChArUco, 0.15 px
// corner noise, lenses with 1-2 px of distortion at the corners) with the joint bundle adjustment,
// and in the same run with the classic pipeline: each camera alone (cv::calibrateCamera), then the
// rig put together by chaining cv::stereoCalibrate of neighbouring pairs (intrinsics fixed) along a
// spanning tree. Both are scored against the truth after a rigid alignment of camera centres.
// --quick: 12 cameras x 12 poses; --poses N and --board SPEC try other procedures, --noise PX
// other corner accuracies.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <set>
#include <string>

#include <opencv2/calib3d.hpp>

#include "bench/calibration_bench/synthetic_rig.h"
#include "bench/harness/harness.h"
#include "calibration/solver.h"

namespace twinrig::calibration_bench {
namespace {

using calibration::CameraCalibration;
using calibration::CameraObservations;

struct Baseline {
  std::vector<CameraCalibration> cameras;
  double rms_px = 0;  // of the per-camera calibrations (each fits its own board poses)
  int pairs = 0;
};

// Each camera alone, then stereo pairs chained from the first camera.
Baseline PerCameraAndStereoChain(const SyntheticRig& rig) {
  const std::vector<cv::Point3f> corners = rig.board.Corners();
  const size_t n = rig.observations.size();
  Baseline out;
  out.cameras.resize(n);
  double sum_sq = 0;
  double count = 0;
  std::vector<cv::Mat> K(n), D(n);
  for (size_t c = 0; c < n; ++c) {
    const CameraObservations& cam = rig.observations[c];
    std::vector<std::vector<cv::Point3f>> object;
    std::vector<std::vector<cv::Point2f>> image;
    for (const auto& v : cam.views) {
      std::vector<cv::Point3f> o;
      for (int id : v.ids) o.push_back(corners[static_cast<size_t>(id)]);
      object.push_back(o);
      image.push_back(v.points);
    }
    std::vector<cv::Mat> rvecs, tvecs;
    const double rms = cv::calibrateCamera(object, image, cv::Size(cam.width, cam.height), K[c],
                                           D[c], rvecs, tvecs);
    size_t points = 0;
    for (const auto& o : object) points += o.size();
    sum_sq += rms * rms * static_cast<double>(points);
    count += static_cast<double>(points);
    CameraCalibration& cal = out.cameras[c];
    cal.serial = cam.serial;
    cal.width = cam.width;
    cal.height = cam.height;
    cal.fx = K[c].at<double>(0, 0);
    cal.fy = K[c].at<double>(1, 1);
    cal.cx = K[c].at<double>(0, 2);
    cal.cy = K[c].at<double>(1, 2);
  }
  out.rms_px = std::sqrt(sum_sq / count);

  // Corners two cameras share: same pose, same corner id.
  auto shared = [&](size_t a, size_t b, std::vector<std::vector<cv::Point3f>>& object,
                    std::vector<std::vector<cv::Point2f>>& pa,
                    std::vector<std::vector<cv::Point2f>>& pb) {
    size_t total = 0;
    for (const auto& va : rig.observations[a].views) {
      for (const auto& vb : rig.observations[b].views) {
        if (va.pose != vb.pose) continue;
        std::map<int, cv::Point2f> in_b;
        for (size_t i = 0; i < vb.ids.size(); ++i) in_b[vb.ids[i]] = vb.points[i];
        std::vector<cv::Point3f> o;
        std::vector<cv::Point2f> qa, qb;
        for (size_t i = 0; i < va.ids.size(); ++i) {
          auto it = in_b.find(va.ids[i]);
          if (it == in_b.end()) continue;
          o.push_back(corners[static_cast<size_t>(va.ids[i])]);
          qa.push_back(va.points[i]);
          qb.push_back(it->second);
        }
        if (o.size() >= 6) {
          total += o.size();
          object.push_back(o);
          pa.push_back(qa);
          pb.push_back(qb);
        }
      }
    }
    return total;
  };
  // Spanning tree by breadth first from camera 0, each step to the unplaced camera sharing the
  // most corners with a placed one.
  std::vector<bool> placed(n, false);
  std::vector<cv::Matx33d> R(n, cv::Matx33d::eye());
  std::vector<cv::Vec3d> t(n, cv::Vec3d(0, 0, 0));
  placed[0] = true;
  for (size_t step = 1; step < n; ++step) {
    size_t best_a = 0, best_b = 0, best = 0;
    for (size_t a = 0; a < n; ++a) {
      if (!placed[a]) continue;
      for (size_t b = 0; b < n; ++b) {
        if (placed[b]) continue;
        std::vector<std::vector<cv::Point3f>> o;
        std::vector<std::vector<cv::Point2f>> pa, pb;
        const size_t s = shared(a, b, o, pa, pb);
        if (s > best) {
          best = s;
          best_a = a;
          best_b = b;
        }
      }
    }
    if (best == 0) break;
    std::vector<std::vector<cv::Point3f>> o;
    std::vector<std::vector<cv::Point2f>> pa, pb;
    shared(best_a, best_b, o, pa, pb);
    cv::Mat Rab, Tab, E, F;
    cv::stereoCalibrate(o, pa, pb, K[best_a], D[best_a], K[best_b], D[best_b],
                        cv::Size(rig.observations[0].width, rig.observations[0].height), Rab, Tab,
                        E, F, cv::CALIB_FIX_INTRINSIC);
    // X_b = Rab X_a + Tab and X_a = R_a X_w + t_a.
    const cv::Matx33d rab(Rab);
    const cv::Vec3d tab(Tab);
    R[best_b] = rab * R[best_a];
    t[best_b] = rab * t[best_a] + tab;
    placed[best_b] = true;
    ++out.pairs;
  }
  for (size_t c = 0; c < n; ++c) {
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < 3; ++b)
        out.cameras[c].R[(static_cast<size_t>(a) * 3 + static_cast<size_t>(b))] = R[c](a, b);
    }
    out.cameras[c].t = {t[c][0], t[c][1], t[c][2]};
  }
  return out;
}

int Main(int argc, char** argv) {
  const bool quick = bench::QuickMode(argc, argv);
  SyntheticRigOptions options;
  if (quick) {
    options.cameras = 12;
    options.poses = 12;
    options.rings = 2;
  }
  // --poses N and --board SPEC try other calibration procedures on the same rig.
  if (const char* n = bench::FlagValue(argc, argv, "--poses"))
    options.poses = std::max(4, std::atoi(n));
  if (const char* spec = bench::FlagValue(argc, argv, "--board")) options.board = spec;
  if (const char* px = bench::FlagValue(argc, argv, "--noise")) {
    options.noise_px = std::clamp(std::atof(px), 0.0, 5.0);
  }
  const SyntheticRig rig = MakeSyntheticRig(options);
  size_t corners = 0;
  size_t views = 0;
  for (const auto& cam : rig.observations) {
    views += cam.views.size();
    for (const auto& v : cam.views) corners += v.ids.size();
  }
  std::printf("synthetic rig: %d cameras, %d board poses, %zu views, %zu corners, noise %.2f px\n",
              options.cameras, options.poses, views, corners, options.noise_px);

  calibration::SolveOptions solve_options;
  solve_options.threads = 2;
  bench::Stopwatch joint_watch;
  auto solution = calibration::SolveRig(rig.observations, rig.board, solve_options);
  const double joint_s = joint_watch.Seconds();
  if (!solution.ok()) {
    std::fprintf(stderr, "solve failed: %s\n", solution.error().Describe().c_str());
    return 1;
  }
  auto joint = calibration::CompareRigs(solution->cameras, rig.truth);

  bench::Stopwatch baseline_watch;
  const Baseline baseline = PerCameraAndStereoChain(rig);
  const double baseline_s = baseline_watch.Seconds();
  auto base = calibration::CompareRigs(baseline.cameras, rig.truth);
  if (!joint.ok() || !base.ok()) {
    std::fprintf(stderr, "scoring failed\n");
    return 1;
  }

  std::printf("\n%-34s %10s %12s %12s %12s %10s\n", "method", "seconds", "focal err %",
              "rot err deg", "pos err mm", "RMS px");
  std::printf("%-34s %10.2f %6.4f/%-5.4f %6.4f/%-5.4f %6.3f/%-5.3f %10.3f\n",
              "joint bundle adjustment (mean/max)", joint_s, joint->focal_err_pct_mean,
              joint->focal_err_pct_max, joint->rot_err_deg_mean, joint->rot_err_deg_max,
              joint->pos_err_mm_mean, joint->pos_err_mm_max, solution->rms_px);
  std::printf("%-34s %10.2f %6.4f/%-5.4f %6.4f/%-5.4f %6.3f/%-5.3f %10.3f\n",
              "per camera + stereo chain (mean/max)", baseline_s, base->focal_err_pct_mean,
              base->focal_err_pct_max, base->rot_err_deg_mean, base->rot_err_deg_max,
              base->pos_err_mm_mean, base->pos_err_mm_max, baseline.rms_px);
  std::printf(
      "joint solve: start RMS %.3f px after chaining, %d outliers dropped, %d stereo "
      "pairs in the baseline chain; errors are maxima over cameras in the RESULT line\n",
      solution->initial_rms_px, solution->outliers, baseline.pairs);

  calibration::CameraUncertainty worst;
  for (const auto& u : solution->uncertainty) {
    worst.focal_pct = std::max(worst.focal_pct, u.focal_pct);
    worst.rotation_deg = std::max(worst.rotation_deg, u.rotation_deg);
    worst.position_mm = std::max(worst.position_mm, u.position_mm);
    worst.subject_mm = std::max(worst.subject_mm, u.subject_mm);
  }
  std::printf(
      "joint solve's own uncertainty (1 sigma, worst camera): focal %.4f %%, rotation %.4f deg, "
      "position %.3f mm, rays on the subject %.3f mm; %zu cameras short of a %.1f mm twin\n",
      worst.focal_pct, worst.rotation_deg, worst.position_mm, worst.subject_mm,
      solution->too_uncertain.size(), solve_options.twin_mm);

  bench::ResultLine result("calibration");
  result.Add("cameras", options.cameras, 0)
      .Add("poses", options.poses, 0)
      .Add("seconds", joint_s, 2)
      .Add("focal_err_pct", joint->focal_err_pct_max, 4)
      .Add("rot_err_deg", joint->rot_err_deg_max, 4)
      .Add("pos_err_mm", joint->pos_err_mm_max, 3)
      .Add("rms_px", solution->rms_px, 3)
      .Add("sigma_rot_deg", worst.rotation_deg, 4)
      .Add("sigma_pos_mm", worst.position_mm, 3)
      .Add("sigma_subject_mm", worst.subject_mm, 3)
      .Add("baseline_seconds", baseline_s, 2)
      .Add("baseline_focal_err_pct", base->focal_err_pct_max, 4)
      .Add("baseline_rot_err_deg", base->rot_err_deg_max, 4)
      .Add("baseline_pos_err_mm", base->pos_err_mm_max, 3)
      .Add("baseline_rms_px", baseline.rms_px, 3)
      .Add("pos_err_ratio", base->pos_err_mm_max / std::max(1e-9, joint->pos_err_mm_max), 1);
  result.Print();
  return 0;
}

}  // namespace
}  // namespace twinrig::calibration_bench

int main(int argc, char** argv) { return twinrig::calibration_bench::Main(argc, argv); }
