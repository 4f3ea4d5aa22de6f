// How close a twin is to the truth, ETH3D style: both surfaces are sampled densely; accuracy is
// the distance from the twin to the ground truth, completeness from the ground truth to the twin;
// precision / recall / F-score at 1, 2 and 5 mm. Only the part of the ground-truth surface that at
// least `min_views` cameras see is asked to be complete (a ring of cameras cannot see the top of
// the head or under the chin); accuracy is measured against the whole ground-truth surface.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "reconstruct/types.h"
#include "util/result.h"

namespace twinrig::reconstruct {

struct ScoreOptions {
  double samples_per_m2 = 4e6;  // about one sample per 0.25 mm^2 on both surfaces
  double cap_mm = 20;           // distances are capped here in the means
  int min_views = 2;            // ground truth scored for completeness when seen this often
  std::vector<double> thresholds_mm{1, 2, 5};
  [[nodiscard]] std::vector<std::string> Validate() const;
};

struct ThresholdScore {
  double threshold_mm = 0;
  double precision = 0;
  double recall = 0;
  double fscore = 0;
  // Recall of the dense points the mesh was made from (-1: not scored). Beside `recall` it says
  // whether a hole was already in the multi-view stereo or came from meshing and trimming.
  double dense_recall = -1;
};

struct Metrics {
  double accuracy_mean_mm = 0;
  double accuracy_median_mm = 0;
  double completeness_mean_mm = 0;
  double completeness_median_mm = 0;
  std::vector<ThresholdScore> scores;
  size_t twin_samples = 0;
  size_t truth_samples = 0;  // all ground-truth samples
  size_t truth_scored = 0;   // those in the scored region
  double truth_area_m2 = 0;
  double scored_fraction = 0;  // truth_scored / truth_samples
  [[nodiscard]] double FScore(double threshold_mm) const;
};

// `cameras` decide the scored region (seen by at least min_views of them, not hidden). With
// `dense` (the fused points), their recall is scored too.
Result<Metrics> ScoreMesh(const Mesh& twin, const Mesh& truth,
                          const std::vector<PinholeView>& cameras, const ScoreOptions& options = {},
                          const std::vector<cv::Vec3f>* dense = nullptr);

// <session>/twin/<level>/twin.ply, or an error saying to reconstruct that level first.
Result<std::filesystem::path> SessionTwinMesh(const std::filesystem::path& session,
                                              const std::string& session_id,
                                              const std::string& level);

// Scores the session folder's <level> twin against `truth` (world frame; `cameras` decide the
// scored region), with the recall of the level's fused points when its workspace is still there,
// and writes twin/<level>/metrics.json; `reference` says there what the truth is. The virtual
// studio's scoring (sim/score) makes the truth from its head scan.
Result<Metrics> ScoreSessionTwin(const std::filesystem::path& session,
                                 const std::string& session_id, const std::string& level,
                                 const Mesh& truth, const std::vector<PinholeView>& cameras,
                                 const std::string& reference, const ScoreOptions& options = {});

// Fraction of points inside an axis-aligned box (the templeRing check).
double FractionInside(const std::vector<cv::Vec3f>& points, const cv::Vec3f& lo,
                      const cv::Vec3f& hi);

}  // namespace twinrig::reconstruct
