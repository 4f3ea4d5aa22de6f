// Studio layouts of the virtual studio: where the cameras and trigger nodes are (the rig file the
// host reads, `rig.toml`) and what they really are (the ground truth only sim/ and scoring read,
// `groundtruth.json`). A real rig is never built exactly to plan, so the truth's poses differ from
// the rig file's expected positions by a few millimetres and a fraction of a degree.
//
// Frames: world in metres, +Y up; the head scan sits at `subject` in the world and looks toward +Z.
// Camera poses are world -> camera in OpenCV convention (x right, y down, z forward):
//   X_cam = R * X_world + t.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "host/studio/rig_file.h"
#include "util/result.h"

namespace twinrig::sim::layout {

using Vec3 = ::twinrig::studio::Vec3;
using Mat3 = std::array<double, 9>;  // row-major

// ---- The rig file (what the host reads) ----

// The rig file's contents are the station's (host/studio/rig_file.h): the simulator writes what
// the station reads.
using ::twinrig::studio::CameraSpec;
using ::twinrig::studio::NodeSpec;
using ::twinrig::studio::ReadRigFile;
using ::twinrig::studio::Rig;
using ::twinrig::studio::WriteRigFile;

// ---- The ground truth (only sim/ and scoring) ----

// OpenCV pinhole with (k1, k2, p1, p2, k3), at the full sensor resolution width x height.
struct Intrinsics {
  int width = 0;
  int height = 0;
  double fx = 0, fy = 0, cx = 0, cy = 0;
  double k1 = 0, k2 = 0, p1 = 0, p2 = 0, k3 = 0;
  // The same lens at another output size (pixel sizes scale; distortion is in normalised
  // coordinates and does not change). Used for previews.
  [[nodiscard]] Intrinsics Scaled(int new_width, int new_height) const;
};

struct CameraTruth {
  std::string serial;
  Intrinsics intrinsics;
  Mat3 R{1, 0, 0, 0, 1, 0, 0, 0, 1};  // world -> camera rotation
  Vec3 t{};                           // world -> camera translation, metres
  double focal_length_mm = 0;         // for EXIF: fx * sensor_width_mm / width
  double sensor_width_mm = 0;
  double shutter_lag_s = 0.060;  // remote-port shutter edge -> exposure start
  int node_id = 0;
  int node_port = 0;
  [[nodiscard]] Vec3 Centre() const;  // camera centre in the world: -R^T t
};

// A node's clock: node_time = true_time + offset + drift * (true_time - reference).
struct NodeTruth {
  int id = 0;
  double clock_offset_s = 0;  // up to +-1 s
  double drift_ppm = 0;       // up to +-100 ppm
};

enum class TargetKind { kCharuco, kColorChecker };

// A calibration target placed in the capture volume: target frame -> world.
//   X_world = R * X_target + t. Targets follow OpenCV's board convention: the target lies in its
//   plane z = 0, x to the right and y down as the print is read, origin at its top-left corner,
//   so the printed face is seen from -z. For the ChArUco board the target frame is exactly
//   OpenCV's board frame (CharucoBoard::chessboardCorners, cv::aruco::estimatePoseCharucoBoard),
//   so a calibration can be scored corner by corner. The ColorChecker spans [0, w] x [0, h] with
//   patch 1 (dark skin) top left and its 6 x 4 patches on a pitch of w / 6.2.
struct TargetPose {
  TargetKind kind = TargetKind::kCharuco;
  Mat3 R{1, 0, 0, 0, 1, 0, 0, 0, 1};
  Vec3 t{};
};

// Calibration-mode scripting: the board and chart used and where they are at each step.
struct CalibrationScript {
  // The board spec as calibration/board.h reads it (ParseBoardSpec): squares across x down,
  // square and marker sizes in metres, the ArUco dictionary.
  std::string charuco = "charuco:5x7:0.06:0.03:DICT_6X6_250";
  double colorchecker_width_m = 0.279;  // ColorChecker Classic: 279 x 216 mm
  std::vector<TargetPose> poses;
};

struct GroundTruth {
  std::string rig_name;
  std::uint64_t seed = 0;
  Mat3 subject_R{1, 0, 0, 0, 1, 0, 0, 0, 1};  // head scan -> world
  Vec3 subject_t{};
  std::vector<CameraTruth> cameras;  // same order and serials as the rig file
  std::vector<NodeTruth> nodes;
  CalibrationScript calibration;
  [[nodiscard]] const CameraTruth* Find(const std::string& serial) const;
};

struct Layout {
  Rig rig;
  GroundTruth truth;
};

// ---- Generation ----

struct LayoutOptions {
  std::string kind = "head24";                    // head24 | body160
  std::uint64_t seed = 1;                         // same seed -> same layout, bit for bit
  std::string camera_base_address = "127.0.0.1";  // camera k (0-based) gets base + k
  std::string node_base_address = "127.0.2.1";    // node n (1-based) gets base + n - 1
  std::uint16_t node_udp_port = 15740;
  int cameras_per_node = 8;
  int image_width = 0;  // 0: the kind's default (head24 1600x1200, body160 1600x1200)
  int image_height = 0;
  std::string camera_model = "Canon EOS 2000D";
  int board_poses = 24;  // calibration-mode steps
  [[nodiscard]] std::vector<std::string> Validate() const;
};

Result<Layout> GenerateLayout(const LayoutOptions& options);

// ---- Files ----

Status WriteGroundTruth(const std::filesystem::path& path, const GroundTruth& truth);
Result<GroundTruth> ReadGroundTruth(const std::filesystem::path& path);

// Writes `rig.toml` and `groundtruth.json` into `folder` (created when missing).
Status WriteLayout(const std::filesystem::path& folder, const Layout& layout);
// Reads both and checks that they describe the same cameras.
Result<Layout> ReadLayout(const std::filesystem::path& folder);

// Small maths shared by sim/ parts and tests.
Mat3 LookAtRotation(const Vec3& eye, const Vec3& target, const Vec3& up);  // world -> camera
Vec3 Apply(const Mat3& R, const Vec3& x);
Vec3 ApplyTransposed(const Mat3& R, const Vec3& x);
Mat3 Multiply(const Mat3& a, const Mat3& b);

}  // namespace twinrig::sim::layout
