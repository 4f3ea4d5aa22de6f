// The rig solve's model of one board corner seen by one camera, shared by the solve (Ceres
// autodiff) and its uncertainty: the corner through the board pose (board -> world), the camera
// pose (world -> camera) and the OpenCV lens (fx, fy, cx, cy, k1, k2, p1, p2, k3); the residual is
// projected - observed.
#pragma once

#include <ceres/rotation.h>

#include <opencv2/core.hpp>

namespace twinrig::calibration {

struct CornerCost {
  CornerCost(const cv::Point3f& corner, const cv::Point2f& observed)
      : X{corner.x, corner.y, corner.z}, u(observed.x), v(observed.y) {}

  template <typename T>
  bool operator()(const T* intrinsics, const T* camera, const T* board, T* residual) const {
    const T Xb[3] = {T(X[0]), T(X[1]), T(X[2])};
    T Xw[3];
    ceres::AngleAxisRotatePoint(board, Xb, Xw);
    for (int i = 0; i < 3; ++i) Xw[i] += board[3 + i];
    T Xc[3];
    ceres::AngleAxisRotatePoint(camera, Xw, Xc);
    for (int i = 0; i < 3; ++i) Xc[i] += camera[3 + i];
    const T x = Xc[0] / Xc[2];
    const T y = Xc[1] / Xc[2];
    const T& fx = intrinsics[0];
    const T& fy = intrinsics[1];
    const T& cx = intrinsics[2];
    const T& cy = intrinsics[3];
    const T& k1 = intrinsics[4];
    const T& k2 = intrinsics[5];
    const T& p1 = intrinsics[6];
    const T& p2 = intrinsics[7];
    const T& k3 = intrinsics[8];
    const T r2 = x * x + y * y;
    const T radial = T(1) + r2 * (k1 + r2 * (k2 + r2 * k3));
    const T xd = x * radial + T(2) * p1 * x * y + p2 * (r2 + T(2) * x * x);
    const T yd = y * radial + p1 * (r2 + T(2) * y * y) + T(2) * p2 * x * y;
    residual[0] = fx * xd + cx - T(u);
    residual[1] = fy * yd + cy - T(v);
    return true;
  }

  double X[3];
  double u;
  double v;
};

}  // namespace twinrig::calibration
