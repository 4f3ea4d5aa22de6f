#include "calibration/uncertainty.h"

#include <ceres/ceres.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <numbers>

#include <opencv2/calib3d.hpp>

#include "calibration/corner_cost.h"

namespace twinrig::calibration {
namespace {

constexpr int kCam = 15;  // a camera's parameters: 9 of the lens, then 6 of its pose
constexpr int kBoard = 6;
using CameraJacobian = Eigen::Matrix<double, 2, kCam>;
using BoardJacobian = Eigen::Matrix<double, 2, kBoard>;
using CrossBlock = Eigen::Matrix<double, kCam, kBoard>;

// The residual's derivatives by the camera's 15 parameters and the board pose's 6.
void Jacobians(const std::array<double, 9>& intrinsics, const std::array<double, 6>& camera,
               const std::array<double, 6>& board, const cv::Point3f& corner, CameraJacobian& jc,
               BoardJacobian* jb) {
  const ceres::AutoDiffCostFunction<CornerCost, 2, 9, 6, 6> cost(
      new CornerCost(corner, cv::Point2f(0, 0)));
  const double* parameters[3] = {intrinsics.data(), camera.data(), board.data()};
  Eigen::Matrix<double, 2, 9, Eigen::RowMajor> j_lens;
  Eigen::Matrix<double, 2, 6, Eigen::RowMajor> j_pose;
  Eigen::Matrix<double, 2, 6, Eigen::RowMajor> j_board;
  double* jacobians[3] = {j_lens.data(), j_pose.data(), j_board.data()};
  double residual[2];
  cost.Evaluate(parameters, residual, jacobians);
  jc << j_lens, j_pose;
  if (jb != nullptr) *jb = j_board;
}

// The reduced normal matrix of the cameras: J^T J with every board pose eliminated.
Eigen::MatrixXd CameraNormalMatrix(const std::vector<std::array<double, 9>>& intrinsics,
                                   const std::vector<std::array<double, 6>>& cameras,
                                   const std::map<int, std::array<double, 6>>& boards,
                                   const std::vector<Sighting>& sightings) {
  const auto n = static_cast<Eigen::Index>(cameras.size());
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(n * kCam, n * kCam);
  std::map<int, Eigen::Matrix<double, kBoard, kBoard>> board_block;
  std::map<int, std::map<int, CrossBlock>> cross;  // pose -> camera -> block
  for (const Sighting& seen : sightings) {
    const auto c = static_cast<size_t>(seen.camera);
    CameraJacobian jc;
    BoardJacobian jb;
    Jacobians(intrinsics[c], cameras[c], boards.at(seen.pose), seen.corner, jc, &jb);
    const Eigen::Index at = Eigen::Index{seen.camera} * kCam;
    s.block<kCam, kCam>(at, at) += jc.transpose() * jc;
    auto [block, fresh] = board_block.try_emplace(seen.pose);
    if (fresh) block->second.setZero();
    block->second += jb.transpose() * jb;
    auto [x, first] = cross[seen.pose].try_emplace(seen.camera);
    if (first) x->second.setZero();
    x->second += jc.transpose() * jb;
  }
  for (const auto& [pose, by_camera] : cross) {
    // A board pose seen by few corners in a line may not fix all six of its parameters.
    const Eigen::Matrix<double, kBoard, kBoard> inverse =
        board_block.at(pose).completeOrthogonalDecomposition().pseudoInverse();
    for (const auto& [a, xa] : by_camera) {
      const CrossBlock xa_inv = xa * inverse;
      for (const auto& [b, xb] : by_camera) {
        s.block<kCam, kCam>(Eigen::Index{a} * kCam, Eigen::Index{b} * kCam) -=
            xa_inv * xb.transpose();
      }
    }
  }
  return s;
}

// The pseudo-inverse of a normal matrix whose null space is the rig's free frame (six rigid
// motions), equilibrated first so that lens and pose parameters weigh alike.
Eigen::MatrixXd FrameFreeInverse(const Eigen::MatrixXd& s) {
  const Eigen::VectorXd scale = s.diagonal().cwiseMax(1e-30).cwiseSqrt().cwiseInverse();
  const Eigen::MatrixXd scaled = scale.asDiagonal() * s * scale.asDiagonal();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(scaled);
  Eigen::VectorXd inverse = eigen.eigenvalues();
  constexpr int kFrame = 6;  // the smallest six: the free frame (eigenvalues come sorted)
  for (Eigen::Index i = 0; i < inverse.size(); ++i) {
    inverse[i] = i < kFrame || inverse[i] <= 0 ? 0 : 1 / inverse[i];
  }
  const Eigen::MatrixXd pinv =
      eigen.eigenvectors() * inverse.asDiagonal() * eigen.eigenvectors().transpose();
  return scale.asDiagonal() * pinv * scale.asDiagonal();
}

double LargestSigma(const Eigen::Matrix3d& covariance) {
  return std::sqrt(std::max(
      0.0, Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d>(covariance).eigenvalues().maxCoeff()));
}

// d(camera centre) / d(angle-axis, translation), numerically.
Eigen::Matrix<double, 3, 6> CentreJacobian(const std::array<double, 6>& pose) {
  const auto centre = [](const std::array<double, 6>& p) {
    cv::Matx33d r;
    cv::Rodrigues(cv::Vec3d(p[0], p[1], p[2]), r);
    const cv::Vec3d c = -(r.t() * cv::Vec3d(p[3], p[4], p[5]));
    return Eigen::Vector3d(c[0], c[1], c[2]);
  };
  Eigen::Matrix<double, 3, 6> j;
  constexpr double kStep = 1e-7;
  for (int k = 0; k < 6; ++k) {
    std::array<double, 6> plus = pose;
    std::array<double, 6> minus = pose;
    plus[static_cast<size_t>(k)] += kStep;
    minus[static_cast<size_t>(k)] -= kStep;
    j.col(k) = (centre(plus) - centre(minus)) / (2 * kStep);
  }
  return j;
}

// Where the camera's ray through the middle of each board pose it saw lands, 1 sigma in mm at
// that distance; the worst of its views.
double SubjectMm(const std::array<double, 9>& intrinsics, const std::array<double, 6>& camera,
                 const std::vector<const std::array<double, 6>*>& seen_boards,
                 const cv::Point3f& board_middle, const Eigen::Matrix<double, kCam, kCam>& cov) {
  double worst = 0;
  for (const std::array<double, 6>* board : seen_boards) {
    CameraJacobian jc;
    Jacobians(intrinsics, camera, *board, board_middle, jc, nullptr);
    const Eigen::Matrix2d image = jc * cov * jc.transpose();
    const double sigma_px = std::sqrt(std::max(
        0.0, Eigen::SelfAdjointEigenSolver<Eigen::Matrix2d>(image).eigenvalues().maxCoeff()));
    // Depth of the board's middle in the camera.
    cv::Matx33d rb;
    cv::Matx33d rc;
    cv::Rodrigues(cv::Vec3d((*board)[0], (*board)[1], (*board)[2]), rb);
    cv::Rodrigues(cv::Vec3d(camera[0], camera[1], camera[2]), rc);
    const cv::Vec3d world = rb * cv::Vec3d(board_middle.x, board_middle.y, board_middle.z) +
                            cv::Vec3d((*board)[3], (*board)[4], (*board)[5]);
    const cv::Vec3d in_camera = rc * world + cv::Vec3d(camera[3], camera[4], camera[5]);
    worst = std::max(worst, 1000 * sigma_px * in_camera[2] / intrinsics[0]);
  }
  return worst;
}

}  // namespace

std::vector<CameraUncertainty> EstimateUncertainty(
    const std::vector<std::array<double, 9>>& intrinsics,
    const std::vector<std::array<double, 6>>& cameras,
    const std::map<int, std::array<double, 6>>& boards, const std::vector<Sighting>& sightings,
    double sigma_px) {
  const size_t n = cameras.size();
  std::vector<CameraUncertainty> out(n);
  if (n == 0 || sightings.empty()) return out;
  const Eigen::MatrixXd covariance =
      sigma_px * sigma_px *
      FrameFreeInverse(CameraNormalMatrix(intrinsics, cameras, boards, sightings));
  // Each camera's boards, and the middle of the board (the mean of the corners sighted).
  std::vector<std::map<int, const std::array<double, 6>*>> seen(n);
  cv::Point3d middle(0, 0, 0);
  for (const Sighting& s : sightings) {
    seen[static_cast<size_t>(s.camera)][s.pose] = &boards.at(s.pose);
    middle += cv::Point3d(s.corner.x, s.corner.y, s.corner.z);
  }
  middle *= 1.0 / static_cast<double>(sightings.size());
  for (size_t c = 0; c < n; ++c) {
    const auto at = static_cast<Eigen::Index>(c) * kCam;
    const Eigen::Matrix<double, kCam, kCam> cov = covariance.block<kCam, kCam>(at, at);
    CameraUncertainty& u = out[c];
    u.focal_pct = 100 * std::sqrt(std::max(0.0, cov(0, 0))) / intrinsics[c][0];
    u.rotation_deg = LargestSigma(cov.block<3, 3>(9, 9)) * 180 / std::numbers::pi;
    const Eigen::Matrix<double, 3, 6> jc = CentreJacobian(cameras[c]);
    u.position_mm = 1000 * LargestSigma(jc * cov.block<6, 6>(9, 9) * jc.transpose());
    std::vector<const std::array<double, 6>*> boards_seen;
    for (const auto& [pose, board] : seen[c]) boards_seen.push_back(board);
    u.subject_mm = SubjectMm(intrinsics[c], cameras[c], boards_seen,
                             cv::Point3f(static_cast<float>(middle.x), static_cast<float>(middle.y),
                                         static_cast<float>(middle.z)),
                             cov);
  }
  return out;
}

}  // namespace twinrig::calibration
