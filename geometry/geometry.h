// The cameras' geometry, in one vocabulary for calibration/ and reconstruct/ (the virtual studio
// keeps its own lens code as an independent check):
//
//   Pose        a rigid transform X' = R X + t; as a camera's pose, world -> camera in OpenCV
//               axes (x right, y down, z forward), metres
//   Lens        OpenCV's pinhole with Brown-Conrady distortion (k1, k2, p1, p2, k3) at an image
//   size Similarity  x_to = scale * rotation * x_from + translation, between two frames (Umeyama)
#pragma once

#include <array>
#include <concepts>
#include <vector>

#include <opencv2/core.hpp>

#include "util/result.h"

namespace twinrig::geometry {

struct Pose {
  cv::Matx33d R = cv::Matx33d::eye();
  cv::Vec3d t{0, 0, 0};

  // From the row-major rotation and the translation as files keep them.
  static Pose FromArrays(const std::array<double, 9>& rotation,
                         const std::array<double, 3>& translation) {
    Pose pose;
    for (size_t k = 0; k < 9; ++k) pose.R.val[k] = rotation[k];
    pose.t = {translation[0], translation[1], translation[2]};
    return pose;
  }
  [[nodiscard]] std::array<double, 9> RotationArray() const {
    return {R(0, 0), R(0, 1), R(0, 2), R(1, 0), R(1, 1), R(1, 2), R(2, 0), R(2, 1), R(2, 2)};
  }
  [[nodiscard]] std::array<double, 3> TranslationArray() const { return {t[0], t[1], t[2]}; }

  [[nodiscard]] Pose Inverse() const { return {R.t(), -(R.t() * t)}; }
  Pose operator*(const Pose& o) const { return {R * o.R, R * o.t + t}; }
  [[nodiscard]] cv::Vec3d Apply(const cv::Vec3d& x) const { return R * x + t; }

  // As a camera's pose: where the camera is, where it looks, a world point in its frame.
  [[nodiscard]] cv::Vec3d Centre() const { return -(R.t() * t); }
  [[nodiscard]] cv::Vec3d Axis() const { return {R(2, 0), R(2, 1), R(2, 2)}; }
  [[nodiscard]] cv::Vec3d ToCamera(const cv::Vec3d& x) const { return R * x + t; }
};

struct Lens {
  int width = 0;  // the image size the lens is for
  int height = 0;
  double fx = 0, fy = 0, cx = 0, cy = 0;  // pixels
  double k1 = 0, k2 = 0, p1 = 0, p2 = 0, k3 = 0;

  [[nodiscard]] cv::Matx33d K() const { return {fx, 0, cx, 0, fy, cy, 0, 0, 1}; }
  [[nodiscard]] std::vector<double> Distortion() const { return {k1, k2, p1, p2, k3}; }
};

struct Similarity {
  double scale = 1;
  cv::Matx33d rotation = cv::Matx33d::eye();
  cv::Vec3d translation{0, 0, 0};

  [[nodiscard]] cv::Vec3d Apply(const cv::Vec3d& x) const {
    return scale * (rotation * x) + translation;
  }
  // A camera's pose expressed in the target frame (its image does not change).
  [[nodiscard]] Pose Apply(const Pose& pose) const;
  // The same camera (any type with a Pose), moved into the target frame.
  template <typename Camera>
  requires(std::derived_from<Camera, Pose> && !std::same_as<Camera, Pose>) [[nodiscard]] Camera
      Apply(const Camera& camera) const {
    Camera out = camera;
    static_cast<Pose&>(out) = Apply(static_cast<const Pose&>(camera));
    return out;
  }
};

// The similarity from `from` to `to` (pairs of points, at least three not on one line), by
// Umeyama's least squares.
Result<Similarity> EstimateSimilarity(const std::vector<cv::Vec3d>& from,
                                      const std::vector<cv::Vec3d>& to);

}  // namespace twinrig::geometry
