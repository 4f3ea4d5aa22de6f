// The small geometry every reconstruction stage shares: an undistorted pinhole view at the
// processing scale, and a triangle mesh.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace twinrig::reconstruct {

// One camera after undistortion and scaling: an ideal pinhole. X_cam = R * X_world + t.
struct PinholeView {
  std::string name;    // image file name in the workspace, "TR000001.jpg"
  std::string serial;  // camera serial (or the image stem for data sets without serials)
  int width = 0;
  int height = 0;
  double fx = 0, fy = 0, cx = 0, cy = 0;
  cv::Matx33d R = cv::Matx33d::eye();
  cv::Vec3d t{0, 0, 0};

  // The pose as calibration files and the virtual studio's truth keep it (R row-major).
  void SetPose(const std::array<double, 9>& rotation, const std::array<double, 3>& translation) {
    for (size_t k = 0; k < 9; ++k) R.val[k] = rotation[k];
    t = {translation[0], translation[1], translation[2]};
  }
  [[nodiscard]] cv::Vec3d Centre() const { return -(R.t() * t); }
  [[nodiscard]] cv::Vec3d Axis() const { return {R(2, 0), R(2, 1), R(2, 2)}; }  // viewing dir
  [[nodiscard]] cv::Matx33d K() const { return {fx, 0, cx, 0, fy, cy, 0, 0, 1}; }
  // Camera-frame point of a world point.
  [[nodiscard]] cv::Vec3d ToCamera(const cv::Vec3d& x) const { return R * x + t; }
  // Pixel of a camera-frame point (z > 0).
  [[nodiscard]] cv::Point2d Pixel(const cv::Vec3d& xc) const {
    return {fx * xc[0] / xc[2] + cx, fy * xc[1] / xc[2] + cy};
  }
};

struct Mesh {
  std::vector<cv::Vec3f> vertices;
  std::vector<cv::Vec3b> colours;  // RGB per vertex, empty when none
  std::vector<cv::Vec3i> faces;
};

}  // namespace twinrig::reconstruct
