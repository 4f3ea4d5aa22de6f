// The rig calibration as a file: what every camera's lens is and where every camera is, solved
// from a board moved through the capture volume. Reconstruction reads it (its COLMAP text model is
// written from it), a session records which one it used, and the report shows how good it is.
//
// On disk, inside the studio folder:
//   rigs/<rig>/calibration/<id>/calibration.json   this file (format "twinrig-rig-calibration")
//   rigs/<rig>/calibration/<id>/colmap/            cameras.txt, images.txt, points3D.txt (empty)
//   rigs/<rig>/calibration/<id>/report/index.html  the report with its PNG pictures
//   rigs/<rig>/calibration/current                 text file: the id of the calibration in use
//
// Frames: world in metres (+Y up in a studio's world frame); a camera's pose is world -> camera in
// OpenCV axes (x right, y down, z forward): X_cam = R * X_world + t.
#pragma once

#include <array>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "geometry/geometry.h"
#include "util/result.h"

namespace twinrig::calibration {

// A per-camera colour correction: corrected = M * [r, g, b, 1] on linear RGB in 0..1 (sRGB
// decoded), M 3x4 row-major. Solved so that every camera sees the ColorChecker alike.
struct ColourCorrection {
  std::array<double, 12> matrix{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
};

struct CameraCalibration {
  std::string serial;  // "TR000001"
  int width = 0;       // image size the intrinsics are for
  int height = 0;
  double fx = 0, fy = 0, cx = 0, cy = 0;  // OpenCV pinhole, pixels
  double k1 = 0, k2 = 0, p1 = 0, p2 = 0, k3 = 0;
  std::array<double, 9> R{1, 0, 0, 0, 1, 0, 0, 0, 1};  // world -> camera, row-major
  std::array<double, 3> t{0, 0, 0};                    // world -> camera, metres
  double rms_px = 0;           // reprojection RMS of this camera's corners after the rig solve
  int views = 0;               // board poses this camera saw
  std::string verdict = "ok";  // "ok" | "check" | "bad"
  std::optional<ColourCorrection> colour;

  // The lens and the pose in the shared geometry vocabulary.
  [[nodiscard]] geometry::Lens Lens() const {
    return {width, height, fx, fy, cx, cy, k1, k2, p1, p2, k3};
  }
  [[nodiscard]] geometry::Pose Pose() const { return geometry::Pose::FromArrays(R, t); }
  [[nodiscard]] cv::Matx33d CameraMatrix() const;
  [[nodiscard]] std::vector<double> Distortion() const;  // k1, k2, p1, p2, k3
  [[nodiscard]] std::array<double, 3> Centre() const;    // camera centre in the world: -R^T t
};

// A camera of the rig that this calibration could not calibrate (too few views, views that do not
// constrain it, no board pose shared with the others): the others are still calibrated, and a
// reconstruction goes on without it, saying so.
struct UncalibratedCamera {
  std::string serial;
  std::string reason;  // what was wrong with its views
  std::string todo;    // what the technician does about it
};

struct RigCalibration {
  std::string id;          // "C-20261128-074012"
  std::string rig;         // "head24"
  std::string created_at;  // ISO-8601 UTC, "2026-11-28T07:40:12Z"
  std::string board;       // "charuco:5x7:0.06:0.03:DICT_6X6_250" or "chessboard:9x6:0.025"
  std::vector<CameraCalibration> cameras;
  std::vector<UncalibratedCamera> uncalibrated;

  [[nodiscard]] const CameraCalibration* Find(const std::string& serial) const;
  [[nodiscard]] const UncalibratedCamera* FindUncalibrated(const std::string& serial) const;
};

inline constexpr const char* kCalibrationFormat = "twinrig-rig-calibration";
inline constexpr int kCalibrationVersion = 1;

// Reads and checks calibration.json. Errors name the file and say what is wrong: not JSON, another
// kind of file (a groundtruth.json or a session.json given by mistake), a newer version, a missing
// or malformed field (naming the camera), duplicate serials, a rotation that is not a rotation.
Result<RigCalibration> LoadRigCalibration(const std::filesystem::path& calibration_json);

// Checks the calibration (same rules as loading) and writes it atomically.
Status WriteRigCalibration(const RigCalibration& calibration,
                           const std::filesystem::path& calibration_json);

// The calibration JSON text (what WriteRigCalibration writes) and its parser (what Load reads);
// `where` names the source in errors.
std::string RigCalibrationToJson(const RigCalibration& calibration);
Result<RigCalibration> ParseRigCalibration(const std::string& text, const std::string& where);

// <studio>/rigs/<rig>/calibration
std::filesystem::path CalibrationRoot(const std::filesystem::path& studio, const std::string& rig);

// The calibration.json in use: <studio>/rigs/<rig>/calibration/<id of `current`>/calibration.json.
// Errors when the rig has no calibration yet (run `twinrig calibrate`) or `current` points nowhere.
Result<std::filesystem::path> CurrentCalibrationPath(const std::filesystem::path& studio,
                                                     const std::string& rig);
// Makes `id` the calibration in use (atomically rewrites `current`); the folder must exist.
Status SetCurrentCalibration(const std::filesystem::path& studio, const std::string& rig,
                             const std::string& id);

// COLMAP text model of the rig: cameras.txt (one OPENCV camera per serial), images.txt (one image
// per camera with its pose; IMAGE_ID = CAMERA_ID = 1-based index in calibration order, NAME from
// `image_name(serial)`, e.g. "TR000001.jpg") and an empty points3D.txt. `dir` is created.
Status WriteColmapTextModel(
    const RigCalibration& calibration, const std::filesystem::path& dir,
    const std::function<std::string(const std::string& serial)>& image_name);

// Applies the camera's colour correction in place to an 8-bit BGR image (sRGB): decode to linear,
// apply the 3x4 matrix, clamp, encode. No-op when the camera has no colour correction. The image
// may be at any size (the correction does not depend on position).
void ApplyColourCorrection(const CameraCalibration& camera, cv::Mat& bgr8);

// Rotation matrix (row-major) <-> COLMAP quaternion (qw, qx, qy, qz).
std::array<double, 4> RotationToQuaternion(const std::array<double, 9>& R);

}  // namespace twinrig::calibration
