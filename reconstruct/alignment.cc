#include "reconstruct/alignment.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace twinrig::reconstruct {
namespace {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  const auto middle = v.begin() + static_cast<long>(v.size() / 2);
  std::nth_element(v.begin(), middle, v.end());
  return *middle;
}

}  // namespace

PinholeView Similarity::Apply(const PinholeView& view) const {
  // x_cam = R x + t with x = (x' - T) / (s Q): scaling the camera frame by s keeps every pixel,
  // so R' = R Q^T and t' = s t - R Q^T T.
  PinholeView out = view;
  out.R = view.R * rotation.t();
  out.t = scale * view.t - out.R * translation;
  return out;
}

Result<Similarity> EstimateSimilarity(const std::vector<cv::Vec3d>& from,
                                      const std::vector<cv::Vec3d>& to) {
  if (from.size() != to.size() || from.size() < 3) {
    return MakeError("a similarity needs at least three pairs of points");
  }
  const double n = static_cast<double>(from.size());
  cv::Vec3d mean_from(0, 0, 0);
  cv::Vec3d mean_to(0, 0, 0);
  for (size_t i = 0; i < from.size(); ++i) {
    mean_from += from[i] / n;
    mean_to += to[i] / n;
  }
  cv::Matx33d covariance = cv::Matx33d::zeros();
  double variance_from = 0;
  for (size_t i = 0; i < from.size(); ++i) {
    const cv::Vec3d a = from[i] - mean_from;
    const cv::Vec3d b = to[i] - mean_to;
    covariance += (b * a.t()) * (1.0 / n);
    variance_from += a.dot(a) / n;
  }
  if (variance_from <= 0) return MakeError("the points to align all coincide");
  cv::Mat w;
  cv::Mat u;
  cv::Mat vt;
  cv::SVD::compute(cv::Mat(covariance), w, u, vt);
  // Collinear points leave the rotation about their line undetermined.
  if (w.at<double>(1) <= 1e-12 * w.at<double>(0)) {
    return MakeError("the points to align lie on one line");
  }
  cv::Matx33d d = cv::Matx33d::eye();
  if (cv::determinant(u) * cv::determinant(vt) < 0) d(2, 2) = -1;  // a rotation, not a reflection
  Similarity s;
  s.rotation = cv::Matx33d(u) * d * cv::Matx33d(vt);
  s.scale = (w.at<double>(0) + w.at<double>(1) + d(2, 2) * w.at<double>(2)) / variance_from;
  s.translation = mean_to - s.scale * (s.rotation * mean_from);
  return s;
}

Result<PoseDifference> ComparePoses(const std::vector<PinholeView>& estimated,
                                    const std::vector<PinholeView>& reference) {
  if (estimated.size() != reference.size()) {
    return MakeError("the two sets of cameras differ in number");
  }
  std::vector<cv::Vec3d> from;
  std::vector<cv::Vec3d> to;
  for (size_t i = 0; i < estimated.size(); ++i) {
    from.push_back(estimated[i].Centre());
    to.push_back(reference[i].Centre());
  }
  auto alignment = EstimateSimilarity(from, to);
  if (!alignment.ok()) return alignment.error();
  PoseDifference out;
  out.cameras = static_cast<int>(estimated.size());
  out.alignment = *alignment;
  std::vector<double> angles;
  std::vector<double> distances;
  for (size_t i = 0; i < estimated.size(); ++i) {
    const PinholeView aligned = alignment->Apply(estimated[i]);
    const cv::Matx33d relative = aligned.R * reference[i].R.t();
    // atan2(sin, cos) of the angle: exact for small angles, where acos(cos) is not.
    const cv::Vec3d axis(relative(2, 1) - relative(1, 2), relative(0, 2) - relative(2, 0),
                         relative(1, 0) - relative(0, 1));
    const double angle = std::atan2(cv::norm(axis) / 2, (cv::trace(relative) - 1) / 2);
    angles.push_back(angle * 180 / std::numbers::pi);
    distances.push_back(cv::norm(aligned.Centre() - reference[i].Centre()) * 1000);
  }
  out.rotation_median_deg = Median(angles);
  out.rotation_max_deg = *std::max_element(angles.begin(), angles.end());
  out.position_median_mm = Median(distances);
  out.position_max_mm = *std::max_element(distances.begin(), distances.end());
  return out;
}

}  // namespace twinrig::reconstruct
