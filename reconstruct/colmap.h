// COLMAP 3.8 as subprocesses, each step logged (its own log file and one line in the workspace's
// steps log) and checked: exit code, signal, deadline, and the outputs it must leave behind. A
// crash becomes an Error that names the step and its log file.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "reconstruct/types.h"
#include "util/logging.h"
#include "util/result.h"
#include "util/subprocess.h"

namespace twinrig::reconstruct {

struct ColmapOptions {
  std::string program = "colmap";
  int threads = 2;
  std::chrono::seconds step_timeout{900};
  [[nodiscard]] std::vector<std::string> Validate() const;
};

class Colmap {
 public:
  // Logs go to `workspace`/logs/<step>.log; `workspace`/steps.log gets one line per step.
  Colmap(const std::filesystem::path& workspace, ColmapOptions options, ContextLogger log);

  // Runs `colmap <command> args...`; an Error names the step, how it ended and the log path.
  Result<SubprocessResult> Run(const std::string& step, const std::string& command,
                               const std::vector<std::string>& args) const;
  [[nodiscard]] const ColmapOptions& options() const { return options_; }
  [[nodiscard]] const std::filesystem::path& workspace() const { return workspace_; }
  // Called after every step that succeeded, with its name and wall time.
  std::function<void(const std::string& step, double seconds)> on_step;

 private:
  std::filesystem::path workspace_;
  ColmapOptions options_;
  ContextLogger log_;
};

struct SparseOptions {
  int max_features = 4000;
  double peak_threshold = 0.002;   // SIFT contrast threshold (COLMAP's default 0.0067 finds too
                                   // few features on skin at preview scale)
  double pair_max_angle_deg = 75;  // camera pairs whose viewing directions differ by at most this
  int pair_neighbours = 8;         // and at most this many partners per camera (the closest)
  bool bundle_adjust = false;      // refine poses with intrinsics fixed after triangulation
  [[nodiscard]] std::vector<std::string> Validate() const;
};

struct SparseModel {
  std::vector<PinholeView> views;  // the cameras as COLMAP ended (poses refined when BA ran)
  std::vector<bool> in_model;      // per view: COLMAP's model holds it (else: calibrated pose)
  std::vector<cv::Vec3d> points;
  std::vector<int> track_lengths;
  int registered = 0;
  int pairs = 0;
  double mean_reprojection_px = 0;
};

// Camera pairs that see the same surface: viewing directions within the angle, both cameras in
// front of each other's looked-at point; each camera keeps its closest partners.
std::vector<std::pair<int, int>> ChooseImagePairs(const std::vector<PinholeView>& views,
                                                  const SparseOptions& options);

// feature_extractor (intrinsics written into the database and held fixed), matches_importer with
// the rig's pair list, point_triangulator with the calibrated poses, optional bundle_adjuster, and
// model_converter to text. `images` holds views[i].name.
Result<SparseModel> RunSparse(const Colmap& colmap, const std::vector<PinholeView>& views,
                              const std::filesystem::path& images, const SparseOptions& options);

// Writes a COLMAP text model (cameras.txt, images.txt, points3D.txt) of pinhole views; ids are
// 1-based in order. stereo_fusion only fuses across images that share 3D points, so each pair in
// `overlaps` gets one tie point near `anchor` (where the rig looks) observed by both images.
Status WritePinholeModel(const std::vector<PinholeView>& views,
                         const std::vector<std::pair<int, int>>& overlaps, const cv::Vec3d& anchor,
                         const std::filesystem::path& dir);
// The point nearest to every camera's optical axis (least squares): where the rig looks.
cv::Vec3d Convergence(const std::vector<PinholeView>& views);

// The poses of a COLMAP text model's images.txt, by image name (name, R and t set).
std::map<std::string, PinholeView> ReadImagePoses(const std::string& images_txt);

// Number of vertices a PLY header declares (0 when none or unreadable).
size_t PlyVertexCount(const std::filesystem::path& ply);

}  // namespace twinrig::reconstruct
