// Colour agreement between cameras: each camera's view of a ColorChecker Classic (found with
// OpenCV mcc) gives the 24 patch colours as that camera sees them; a 3x4 matrix per camera on
// linear RGB maps them onto the colours all cameras agree on (the per-patch mean over cameras), so
// that a texture blended from many cameras has no seams of colour. Reconstruction applies the
// matrix with ApplyColourCorrection before texturing.
#pragma once

#include <array>
#include <vector>

#include <opencv2/core.hpp>

#include "calibration/rig_calibration.h"
#include "util/result.h"

namespace twinrig::calibration {

using Patches = std::array<cv::Vec3d, 24>;  // linear RGB (sRGB decoded, 0..1), patch 1..24

// The chart's 24 patch means in an 8-bit BGR image; an error when no chart is found.
Result<Patches> MeasureColorChecker(const cv::Mat& bgr8, const std::string& where);

// One correction per camera (same order): least squares of M * [rgb, 1] onto the per-patch mean
// of all cameras. Needs two or more cameras.
Result<std::vector<ColourCorrection>> SolveColourAgreement(const std::vector<Patches>& cameras);

// Linear RGB of a patch after the correction (for tests and the report).
cv::Vec3d Correct(const ColourCorrection& correction, const cv::Vec3d& rgb);

}  // namespace twinrig::calibration
