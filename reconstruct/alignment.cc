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
