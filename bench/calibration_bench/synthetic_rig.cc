#include "bench/calibration_bench/synthetic_rig.h"

#include <cmath>
#include <random>

#include <opencv2/calib3d.hpp>

#include "util/check.h"

namespace twinrig::calibration_bench {
namespace {

constexpr double kDeg = 3.14159265358979323846 / 180;

cv::Vec3d Direction(double azimuth, double elevation) {
  return {std::sin(azimuth) * std::cos(elevation), std::sin(elevation),
          std::cos(azimuth) * std::cos(elevation)};
}

// World -> camera rotation of a camera at `eye` looking at `target` (OpenCV axes, +Y world up).
cv::Matx33d LookAt(const cv::Vec3d& eye, const cv::Vec3d& target) {
  const cv::Vec3d z = cv::normalize(target - eye);
  const cv::Vec3d x = cv::normalize(cv::Vec3d(0, -1, 0).cross(z));  // image y points down
  const cv::Vec3d y = z.cross(x);
  return {x[0], x[1], x[2], y[0], y[1], y[2], z[0], z[1], z[2]};
}

cv::Matx33d AxisAngle(const cv::Vec3d& axis, double angle) {
  cv::Matx33d R;
  cv::Rodrigues(cv::normalize(axis) * angle, R);
  return R;
}

}  // namespace

SyntheticRig MakeSyntheticRig(const SyntheticRigOptions& options) {
  SyntheticRig rig;
  auto board = calibration::ParseBoardSpec(options.board);
  TWINRIG_CHECK(board.ok()) << board.error().Describe();
  rig.board = *board;
  std::mt19937_64 rng(options.seed);
  auto normal = [&](double sigma) { return std::normal_distribution<double>(0, sigma)(rng); };
  auto uniform = [&](double a, double b) {
    return std::uniform_real_distribution<double>(a, b)(rng);
  };

  const cv::Vec3d centre(0, 0, 0);
  const int per_ring = (options.cameras + options.rings - 1) / options.rings;
  for (int k = 0; k < options.cameras; ++k) {
    const int ring = k / per_ring;
    const int i = k % per_ring;
    const double elevation =
        options.rings == 1 ? 5 * kDeg : (-20 + 52.0 * ring / (options.rings - 1)) * kDeg;
    const double azimuth = (360.0 * i / per_ring + ring * 360.0 / per_ring / options.rings) * kDeg;
    const cv::Vec3d eye = centre + Direction(azimuth, elevation) * options.distance_m +
                          cv::Vec3d(normal(0.003), normal(0.003), normal(0.003));
    const cv::Vec3d aim = centre + cv::Vec3d(normal(0.005), normal(0.005), normal(0.005));
    const cv::Matx33d R = AxisAngle({0, 0, 1}, normal(0.3 * kDeg)) * LookAt(eye, aim);
    calibration::CameraCalibration cam;
    cam.serial = cv::format("SY%06d", k + 1);
    cam.width = options.width;
    cam.height = options.height;
    const double nominal = 35.0 / 22.3 * options.width;
    cam.fx = nominal * (1 + normal(0.004));
    cam.fy = cam.fx * (1 + normal(0.0005));
    cam.cx = (options.width - 1) / 2.0 + normal(0.004 * options.width);
    cam.cy = (options.height - 1) / 2.0 + normal(0.004 * options.width);
    const double corner_x = std::max(cam.cx, options.width - 1 - cam.cx) / cam.fx;
    const double corner_y = std::max(cam.cy, options.height - 1 - cam.cy) / cam.fy;
    const double r2 = corner_x * corner_x + corner_y * corner_y;
    const double r = std::sqrt(r2);
    const double shift_px = uniform(1.0, 2.0) * (uniform(0, 1) < 0.5 ? -1 : 1);
    cam.k1 = shift_px / (cam.fx * r * (r2 - 0.25 * r2 * r2 + 0.05 * r2 * r2 * r2));
    cam.k2 = -0.25 * cam.k1;
    cam.k3 = 0.05 * cam.k1;
    cam.p1 = normal(5e-5);
    cam.p2 = normal(5e-5);
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < 3; ++b)
        cam.R[(static_cast<size_t>(a) * 3 + static_cast<size_t>(b))] = R(a, b);
    }
    const cv::Vec3d t = -(R * eye);
    cam.t = {t[0], t[1], t[2]};
    rig.truth.push_back(cam);
    calibration::CameraObservations obs;
    obs.serial = cam.serial;
    obs.width = cam.width;
    obs.height = cam.height;
    obs.images = options.poses;
    rig.observations.push_back(obs);
  }

  const std::vector<cv::Point3f> corners = rig.board.Corners();
  const cv::Size2d size = rig.board.PatternSize();
  const double axis_sigma = options.noise_px / std::sqrt(2.0);
  for (int p = 0; p < options.poses; ++p) {
    // The board turned toward one part of the rig, tilted and rolled.
    const double azimuth = 360.0 * p / options.poses * kDeg + uniform(-10, 10) * kDeg;
    const double elevation = uniform(-10, 25) * kDeg;
    const cv::Vec3d facing = cv::normalize(Direction(azimuth, elevation) +
                                           cv::Vec3d(normal(0.25), normal(0.15), normal(0.25)));
    const cv::Vec3d middle = centre + cv::Vec3d(normal(0.04), normal(0.05), normal(0.04));
    const double roll = (90 + uniform(-20, 20)) * kDeg;
    // Board axes: z into the board (away from the cameras it faces), x and y in its plane.
    const cv::Vec3d z = -facing;
    cv::Vec3d up(0, 1, 0);
    if (std::abs(up.dot(z)) > 0.95) up = {0, 0, 1};
    const cv::Vec3d up0 = cv::normalize(up - z * up.dot(z));
    const cv::Vec3d right0 = up0.cross(facing);
    const cv::Vec3d x = right0 * std::cos(roll) + up0 * std::sin(roll);
    const cv::Vec3d y = z.cross(x);
    const cv::Matx33d Rb(x[0], y[0], z[0], x[1], y[1], z[1], x[2], y[2], z[2]);
    const cv::Vec3d tb = middle - Rb * cv::Vec3d(size.width / 2, size.height / 2, 0);
    for (size_t c = 0; c < rig.truth.size(); ++c) {
      const calibration::CameraCalibration& cam = rig.truth[c];
      const cv::Matx33d Rc(cam.R.data());
      const cv::Vec3d tc(cam.t[0], cam.t[1], cam.t[2]);
      // The printed face must face the camera (seen from -z of the board), not too obliquely.
      const cv::Vec3d normal_in_camera = Rc * (Rb * cv::Vec3d(0, 0, 1));
      const cv::Vec3d board_in_camera = Rc * middle + tc;
      if (normal_in_camera.dot(cv::normalize(board_in_camera)) < 0.3) continue;
      cv::Mat rvec;
      cv::Rodrigues(Rc * Rb, rvec);
      const cv::Vec3d tvec = Rc * tb + tc;
      std::vector<cv::Point2f> projected;
      cv::projectPoints(corners, rvec, tvec, cam.CameraMatrix(), cam.Distortion(), projected);
      calibration::ViewObservation view;
      view.pose = p;
      view.source = cv::format("pose %d", p);
      for (size_t i = 0; i < corners.size(); ++i) {
        const cv::Point2f q = projected[i];
        if (q.x < 0 || q.y < 0 || q.x > static_cast<float>(cam.width - 1) ||
            q.y > static_cast<float>(cam.height - 1))
          continue;
        view.ids.push_back(static_cast<int>(i));
        view.points.emplace_back(static_cast<float>(q.x + normal(axis_sigma)),
                                 static_cast<float>(q.y + normal(axis_sigma)));
      }
      if (view.ids.size() >= 6) rig.observations[c].views.push_back(std::move(view));
    }
  }
  return rig;
}

}  // namespace twinrig::calibration_bench
