// The small geometry every reconstruction stage shares: an undistorted pinhole view at the
// processing scale (a geometry::Pose with pinhole intrinsics), and a triangle mesh.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "geometry/geometry.h"

namespace twinrig::reconstruct {

// One camera after undistortion and scaling: an ideal pinhole with its pose (X_cam = R * X_world
// + t, the shared geometry::Pose).
struct PinholeView : geometry::Pose {
  std::string name;    // image file name in the workspace, "TR000001.jpg"
  std::string serial;  // camera serial (or the image stem for data sets without serials)
  int width = 0;
  int height = 0;
  double fx = 0, fy = 0, cx = 0, cy = 0;

  // The pose as calibration files and the virtual studio's truth keep it (R row-major).
  void SetPose(const std::array<double, 9>& rotation, const std::array<double, 3>& translation) {
    static_cast<geometry::Pose&>(*this) = Pose::FromArrays(rotation, translation);
  }
  [[nodiscard]] cv::Matx33d K() const { return {fx, 0, cx, 0, fy, cy, 0, 0, 1}; }
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
