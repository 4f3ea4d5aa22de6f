// The virtual studio's renderer: what a camera sees at an exposure, through its true lens.
//
// The scene is the head scan (textured, Lambert with smooth normals, soft studio lights and
// ambient) on a neutral backdrop, or in calibration mode a ChArUco board and a ColorChecker chart
// at the scripted poses of the layout. Every output pixel is traced through the camera's OpenCV
// model (pinhole + k1, k2, p1, p2, k3): its distorted position is undistorted to a ray by Newton's
// method, so a point of the scene lands exactly where cv::projectPoints puts it. Embree builds the
// BVH; TBB spreads rows over the cores. Same inputs and seed -> the same bytes.
//
//   auto renderer = Renderer::Create(head_folder, layout.truth);   // once per process
//   auto jpeg = renderer->RenderJpeg(*layout.truth.Find(serial), exposure, SceneState{}, seed);
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/aruco/charuco.hpp>
#include <opencv2/core.hpp>

#include "sim/layout/layout.h"
#include "util/result.h"

namespace twinrig::sim::render {

// What the camera is set to and when it exposed.
struct Exposure {
  int iso = 100;
  double shutter_s = 1.0 / 125.0;
  double aperture_f = 8.0;
  double white_balance_k = 5500;  // camera white balance; the studio lights are 5500 K
  int width = 0;                  // output size; 0 = the camera's full sensor size
  int height = 0;
  int jpeg_quality = 92;
  // True exposure start (CLOCK_MONOTONIC ns) and the offset that turns it into the camera's
  // calendar clock (unix ns) for DateTimeOriginal/SubSecTimeOriginal. Both are inputs so that a
  // render is a pure function of its arguments; see MonotonicToUnixOffsetNs().
  std::int64_t true_time_ns = 0;
  std::int64_t clock_offset_ns = 0;
  std::string make = "Canon";
  std::string model = "Canon EOS 2000D";
  std::string serial;  // BodySerialNumber (EXIF 0xA431)
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// What is in front of the cameras.
struct SceneState {
  enum class Mode { kSubject, kCalibration, kEmpty };
  Mode mode = Mode::kSubject;
  int board_pose = 0;  // calibration mode: index into GroundTruth::calibration.poses
};

struct RendererOptions {
  int supersamples = 4;                   // 1 or 4 (rotated grid)
  bool noise = true;                      // seeded sensor noise (shot + read, grows with ISO)
  int threads = 0;                        // 0: all cores (TBB's default)
  int board_texture_px_per_square = 160;  // ChArUco texture resolution
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// Thread-safe once created: RenderImage, RenderJpeg and RenderCoverage may run concurrently.
class Renderer {
 public:
  // Loads head.obj + Map-COL.jpg from `head_folder` and builds the scene for `truth` (subject
  // pose, calibration targets). Errors name the file and what is wrong with it.
  static Result<std::unique_ptr<Renderer>> Create(const std::filesystem::path& head_folder,
                                                  const layout::GroundTruth& truth,
                                                  const RendererOptions& options = {});
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // BGR 8-bit image (before JPEG), for tests and tools.
  Result<cv::Mat> RenderImage(const layout::CameraTruth& camera, const Exposure& exposure,
                              const SceneState& scene, std::uint64_t seed) const;

  // The JPEG a camera would store: RenderImage, compressed with libturbojpeg, with EXIF
  // (Make, Model, BodySerialNumber, DateTimeOriginal, SubSecTimeOriginal, FocalLength,
  // ExposureTime, FNumber, ISO).
  Result<std::vector<std::uint8_t>> RenderJpeg(const layout::CameraTruth& camera,
                                               const Exposure& exposure, const SceneState& scene,
                                               std::uint64_t seed) const;

  // Fraction of each pixel's supersamples that hit the subject (CV_32F in [0, 1]); a silhouette
  // for tests and scoring.
  Result<cv::Mat> RenderCoverage(const layout::CameraTruth& camera, int width, int height,
                                 const SceneState& scene) const;

  // Head scan facts (in the scan's own frame) for tests and scoring.
  [[nodiscard]] const std::vector<cv::Point3f>& HeadVertices() const;
  [[nodiscard]] const std::vector<cv::Vec3i>& HeadTriangles() const;

 private:
  struct Impl;
  explicit Renderer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Where the head scan is: `hint` when given, else $TWINRIG_SIM_DATA/head, else sim/data/head
// under the current folder or under any parent of the running executable's folder (so binaries
// in a build tree inside the repository find it). Errors list where it looked.
Result<std::filesystem::path> FindHeadData(const std::filesystem::path& hint = {});

// CLOCK_REALTIME - CLOCK_MONOTONIC now, in ns: sample once per studio and pass it in Exposure.
std::int64_t MonotonicToUnixOffsetNs();

}  // namespace twinrig::sim::render
