// The rig solve: per-camera intrinsics from the board views each camera saw (cv::calibrateCamera,
// the starting point), the cameras and board poses chained into one frame, then one joint bundle
// adjustment (Ceres) of every camera's intrinsics and pose and every board pose over every corner
// seen, with a robust loss and a second pass without the outliers the first one exposed. The board
// gives the metric scale.
//
//   std::vector<CameraObservations> cameras = ...;   // corners per camera per board pose
//   auto solution = SolveRig(cameras, board, {});    // world frame: the first camera's
//   AlignToPlanned(*solution, planned_centres);      // world frame: the studio's (rig file)
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "calibration/board.h"
#include "calibration/rig_calibration.h"
#include "calibration/uncertainty.h"
#include "util/result.h"

namespace twinrig::calibration {

// The corners one camera found in the image of one board pose.
struct ViewObservation {
  int pose = 0;                     // board pose index (the take), shared by all cameras
  std::vector<int> ids;             // corner ids into BoardSpec::Corners()
  std::vector<cv::Point2f> points;  // pixels
  std::string source;               // the image file, for messages and the report
};

struct CameraObservations {
  std::string serial;
  int width = 0;
  int height = 0;
  std::vector<ViewObservation> views;  // only views where the board was seen
  int images = 0;                      // images looked at (seen or not), for messages
};

struct SolveOptions {
  int min_views = 4;            // a camera with fewer views cannot be calibrated
  int min_corners = 6;          // a view with fewer corners is not used
  bool robust = true;           // Huber loss and the outlier pass; false: plain least squares
  double huber_px = 2.0;        // robust loss scale (pixels)
  double outlier_sigmas = 6;    // after the first pass: drop residuals beyond this many sigmas
  double min_outlier_px = 3.0;  // ... but never below this many pixels
  int threads = 2;
  int max_iterations = 100;
  bool joint = true;  // false: stop after the per-camera start (the baseline; no rig solve)
  // Verdicts: "bad" when RMS > bad_rms_px; "check" when RMS > check_rms_px, fewer than
  // check_views views, or less than check_coverage of the image's grid cells hold a corner.
  double check_rms_px = 0.5;
  double bad_rms_px = 1.5;
  int check_views = 6;
  double check_coverage = 0.3;
  // The accuracy the twin needs (mm): a camera whose rays land on the subject less surely than
  // this (three standard deviations) is named in `too_uncertain` with where to show it the board.
  double twin_mm = 1.0;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// One camera's corners in one view after the solve.
struct ViewResult {
  int camera = 0;  // index into RigSolution::cameras
  int pose = 0;
  std::string source;
  double rms_px = 0;
  std::vector<cv::Point2f> observed;
  std::vector<cv::Point2f> residual;  // observed - projected
  std::vector<bool> outlier;          // dropped by the second pass
};

struct RigSolution {
  // Intrinsics, world -> camera pose, views, verdict; rms_px over all of the camera's detected
  // corners (outliers included, as OpenCV's RMS).
  std::vector<CameraCalibration> cameras;
  std::vector<double> coverage;    // per camera: fraction of 8x6 grid cells with a corner
  std::vector<std::string> notes;  // per camera: why the verdict is not "ok" (or empty)
  // Board pose -> world (X_world = R X_board + t), per pose index; absent poses are not in it.
  std::map<int, std::pair<cv::Matx33d, cv::Vec3d>> board_poses;
  std::vector<ViewResult> views;
  double rms_px = 0;  // over the corners the fit used (outliers left out)
  int corners = 0;    // inlier corners used
  int outliers = 0;
  double seconds = 0;
  double initial_rms_px = 0;  // after the per-camera start and chaining, before the joint solve
  // Cameras left out, each with the reason and what to do; `cameras` holds the others.
  std::vector<UncalibratedCamera> uncalibrated;
  // Per camera (as `cameras`): 1 sigma from the solve's covariance.
  std::vector<CameraUncertainty> uncertainty;
  // Calibrated cameras whose uncertainty exceeds what a twin of SolveOptions::twin_mm needs, with
  // how uncertain and where to show them the board.
  std::vector<UncalibratedCamera> too_uncertain;
};

// A camera that cannot be calibrated (fewer than min_views views, views that do not determine its
// lens, no board pose shared with the others) is left out into `uncalibrated` with the reason and
// what to do (how many more views, where in its image); the others are solved. Errors: no
// cameras, or none that can be calibrated.
Result<RigSolution> SolveRig(const std::vector<CameraObservations>& cameras, const BoardSpec& board,
                             const SolveOptions& options = {});

// Moves the solution into the frame of the planned camera centres (world metres, e.g. the rig
// file's positions) by the rigid transform that best fits the solved centres to them (no scale:
// the board gave it). Needs three or more cameras not on one line; cameras not in `planned` do not
// take part in the fit but are moved too. Returns the RMS distance (metres) of the fit.
Result<double> AlignToPlanned(RigSolution& solution,
                              const std::map<std::string, std::array<double, 3>>& planned);

// How far a solved rig is from a reference one (the virtual studio's truth, in tests and the
// benchmark): the solved rig is first moved onto the reference by the rigid transform that fits
// the camera centres best.
struct RigErrors {
  double focal_err_pct_mean = 0;  // |f - f_ref| / f_ref, over fx and fy of every camera
  double focal_err_pct_max = 0;
  double rot_err_deg_mean = 0;  // angle of R_solved^T R_ref after alignment
  double rot_err_deg_max = 0;
  double pos_err_mm_mean = 0;  // camera centre distance after alignment
  double pos_err_mm_max = 0;
  int cameras = 0;
};
Result<RigErrors> CompareRigs(const std::vector<CameraCalibration>& solved,
                              const std::vector<CameraCalibration>& reference);

}  // namespace twinrig::calibration
