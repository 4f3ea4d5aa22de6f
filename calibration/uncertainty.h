// How well the rig solve determined each camera, from the solve's covariance: the Gauss-Newton
// normal equations of the joint problem at the solution, every board pose eliminated (Schur
// complement), scaled by the residual variance. The rig's frame is free (any rigid motion of the
// whole rig fits the corners equally), so the covariance is taken in the frame that moves the
// cameras least (the pseudo-inverse): each camera's uncertainty relative to the rig as a whole,
// as the rig is scored against a reference (CompareRigs).
#pragma once

#include <array>
#include <map>
#include <vector>

#include <opencv2/core.hpp>

namespace twinrig::calibration {

// One standard deviation, in the units a technician reads.
struct CameraUncertainty {
  double focal_pct = 0;     // of fx
  double rotation_deg = 0;  // of the camera's orientation, along its worst axis
  double position_mm = 0;   // of the camera centre, along its worst axis
  // Where the camera's ray through the board lands on the subject (at the board's distance),
  // lens and pose together: the figure a twin's accuracy depends on. Worst over its views.
  double subject_mm = 0;
};

// One inlier corner of the solve: which camera saw which board pose's corner (board frame).
struct Sighting {
  int camera = 0;
  int pose = 0;
  cv::Point3f corner;
};

// `intrinsics`, `cameras` (world -> camera angle-axis and translation) and `boards` (board ->
// world) are the solved parameters; `sigma_px` the corner error per image axis (the residual RMS
// per axis, corrected for the parameters fitted). One entry per camera.
std::vector<CameraUncertainty> EstimateUncertainty(
    const std::vector<std::array<double, 9>>& intrinsics,
    const std::vector<std::array<double, 6>>& cameras,
    const std::map<int, std::array<double, 6>>& boards, const std::vector<Sighting>& sightings,
    double sigma_px);

}  // namespace twinrig::calibration
