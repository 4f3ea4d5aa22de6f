#include "geometry/geometry.h"

namespace twinrig::geometry {

Pose Similarity::Apply(const Pose& pose) const {
  // x_cam = R x + t with x = (x' - T) / (s Q): scaling the camera frame by s keeps every pixel,
  // so R' = R Q^T and t' = s t - R Q^T T.
  Pose out;
  out.R = pose.R * rotation.t();
  out.t = scale * pose.t - out.R * translation;
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

}  // namespace twinrig::geometry
