#include "calibration/colour.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>
#include <opencv2/mcc.hpp>

namespace twinrig::calibration {
namespace {

double SrgbToLinear(double v) {
  return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
}

}  // namespace

Result<Patches> MeasureColorChecker(const cv::Mat& bgr8, const std::string& where) {
  if (bgr8.empty() || bgr8.type() != CV_8UC3) {
    return MakeError("not an 8-bit colour image", where, "give the camera's JPEG");
  }
  auto detector = cv::mcc::CCheckerDetector::create();
  if (!detector->process(bgr8, cv::mcc::MCC24, 1)) {
    return MakeError("no ColorChecker found", where,
                     "show the whole chart to this camera, square on, evenly lit");
  }
  const cv::Ptr<cv::mcc::CChecker> checker = detector->getBestColorChecker();
  if (checker.empty()) {
    return MakeError("no ColorChecker found", where,
                     "show the whole chart to this camera, square on, evenly lit");
  }
  // getChartsRGB: one row per patch and channel (R, G, B in turn): count, mean, stddev, ...;
  // the means are of the image's 8-bit values.
  cv::Mat charts;
  checker->getChartsRGB().convertTo(charts, CV_64F);
  if (charts.rows != 72 || charts.cols < 2) {
    return MakeError("the ColorChecker measurement has an unexpected shape", where,
                     "report this as a bug");
  }
  Patches patches{};
  for (int p = 0; p < 24; ++p) {
    for (int c = 0; c < 3; ++c) {
      const double mean = charts.at<double>(p * 3 + c, 1);
      patches[static_cast<size_t>(p)][c] = SrgbToLinear(std::clamp(mean / 255.0, 0.0, 1.0));
    }
  }
  return patches;
}

Result<std::vector<ColourCorrection>> SolveColourAgreement(const std::vector<Patches>& cameras) {
  if (cameras.size() < 2) {
    return MakeError("colour agreement needs the chart seen by two or more cameras", "colour",
                     "show the ColorChecker to every side of the rig");
  }
  Patches target{};
  for (const Patches& p : cameras) {
    for (size_t i = 0; i < 24; ++i) target[i] += p[i] / static_cast<double>(cameras.size());
  }
  std::vector<ColourCorrection> out;
  for (const Patches& p : cameras) {
    cv::Mat A(24, 4, CV_64F);
    cv::Mat B(24, 3, CV_64F);
    for (int i = 0; i < 24; ++i) {
      for (int c = 0; c < 3; ++c) {
        A.at<double>(i, c) = p[static_cast<size_t>(i)][c];
        B.at<double>(i, c) = target[static_cast<size_t>(i)][c];
      }
      A.at<double>(i, 3) = 1;
    }
    cv::Mat X;  // 4 x 3
    if (!cv::solve(A, B, X, cv::DECOMP_SVD)) {
      return MakeError("the colour correction has no solution", "colour",
                       "retake the ColorChecker: the chart was not measured");
    }
    ColourCorrection correction;
    for (int c = 0; c < 3; ++c) {
      for (int k = 0; k < 4; ++k) {
        correction.matrix[(static_cast<size_t>(c) * 4 + static_cast<size_t>(k))] =
            X.at<double>(k, c);
      }
    }
    out.push_back(correction);
  }
  return out;
}

cv::Vec3d Correct(const ColourCorrection& correction, const cv::Vec3d& rgb) {
  cv::Vec3d out;
  const auto& m = correction.matrix;
  for (int c = 0; c < 3; ++c) {
    out[c] = m[(static_cast<size_t>(c) * 4)] * rgb[0] +
             m[(static_cast<size_t>(c) * 4 + static_cast<size_t>(1))] * rgb[1] +
             m[(static_cast<size_t>(c) * 4 + static_cast<size_t>(2))] * rgb[2] +
             m[(static_cast<size_t>(c) * 4 + static_cast<size_t>(3))];
  }
  return out;
}

}  // namespace twinrig::calibration
