#include "reconstruct/score.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "reconstruct/mesh.h"
#include "util/files.h"
#include "util/options.h"

namespace twinrig::reconstruct {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Distance (mm) from every query point to the nearest of `points`.
std::vector<double> NearestMm(const std::vector<cv::Vec3f>& points,
                              const std::vector<cv::Vec3f>& queries) {
  const std::vector<float> metres = NearestDistances(points, queries);
  std::vector<double> out(metres.size());
  for (size_t i = 0; i < metres.size(); ++i) out[i] = static_cast<double>(metres[i]) * 1000.0;
  return out;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

double CappedMean(const std::vector<double>& v, double cap) {
  if (v.empty()) return 0;
  double s = 0;
  for (double d : v) s += std::min(d, cap);
  return s / static_cast<double>(v.size());
}

}  // namespace

std::vector<std::string> ScoreOptions::Validate() const {
  std::vector<std::string> problems;
  if (samples_per_m2 < 1e4 || samples_per_m2 > 1e8)
    problems.push_back("samples_per_m2 must be 1e4..1e8");
  if (cap_mm <= 0) problems.push_back("cap_mm must be positive");
  if (min_views < 1) problems.push_back("min_views must be at least 1");
  if (thresholds_mm.empty()) problems.push_back("give at least one threshold");
  return problems;
}

double Metrics::FScore(double threshold_mm) const {
  for (const auto& s : scores) {
    if (std::abs(s.threshold_mm - threshold_mm) < 1e-9) return s.fscore;
  }
  return 0;
}

double FractionInside(const std::vector<cv::Vec3f>& points, const cv::Vec3f& lo,
                      const cv::Vec3f& hi) {
  if (points.empty()) return 0;
  size_t inside = 0;
  for (const auto& p : points) {
    if (p[0] >= lo[0] && p[1] >= lo[1] && p[2] >= lo[2] && p[0] <= hi[0] && p[1] <= hi[1] &&
        p[2] <= hi[2]) {
      ++inside;
    }
  }
  return static_cast<double>(inside) / static_cast<double>(points.size());
}

Result<Metrics> ScoreMesh(const Mesh& twin, const Mesh& truth,
                          const std::vector<PinholeView>& cameras, const ScoreOptions& options,
                          const std::vector<cv::Vec3f>* dense) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "score options"));
  if (twin.faces.empty()) return MakeError("the twin has no faces", "", "reconstruct it again");
  if (truth.faces.empty()) return MakeError("the ground truth has no faces", "", "");
  Metrics m;
  m.truth_area_m2 = SurfaceArea(truth);
  std::vector<int> truth_face;
  const auto truth_points = SampleSurface(truth, options.samples_per_m2, 7, &truth_face);
  const auto twin_points = SampleSurface(twin, options.samples_per_m2, 11);
  m.truth_samples = truth_points.size();
  m.twin_samples = twin_points.size();

  // The scored region: truth samples in front of and not hidden from at least min_views cameras.
  std::vector<int> seen(truth_points.size(), 0);
  for (const auto& camera : cameras) {
    const cv::Mat depth = RenderDepth(truth, camera);
    for (size_t i = 0; i < truth_points.size(); ++i) {
      const cv::Vec3d xc = camera.ToCamera(cv::Vec3d(truth_points[i]));
      if (xc[2] <= 0) continue;
      const cv::Point2d p = camera.Pixel(xc);
      const int x = static_cast<int>(std::lround(p.x));
      const int y = static_cast<int>(std::lround(p.y));
      if (x < 0 || y < 0 || x >= camera.width || y >= camera.height) continue;
      // Hidden when the buffer holds something nearer by more than three pixel footprints (the
      // buffer samples a sloped surface at pixel centres, not at this point).
      const double footprint = xc[2] / camera.fx;
      if (xc[2] <= depth.at<float>(y, x) + 3 * footprint) ++seen[i];
    }
  }
  std::vector<cv::Vec3f> scored;
  for (size_t i = 0; i < truth_points.size(); ++i) {
    if (seen[i] >= options.min_views) scored.push_back(truth_points[i]);
  }
  m.truth_scored = scored.size();
  m.scored_fraction = truth_points.empty() ? 0
                                           : static_cast<double>(scored.size()) /
                                                 static_cast<double>(truth_points.size());
  if (scored.empty()) {
    return MakeError(
        "no part of the ground truth is seen by " + std::to_string(options.min_views) + " cameras",
        "", "check the cameras given to the scoring");
  }
  const auto accuracy = NearestMm(truth_points, twin_points);
  const auto completeness = NearestMm(twin_points, scored);
  m.accuracy_mean_mm = CappedMean(accuracy, options.cap_mm);
  m.accuracy_median_mm = Median(accuracy);
  m.completeness_mean_mm = CappedMean(completeness, options.cap_mm);
  m.completeness_median_mm = Median(completeness);
  std::vector<double> dense_completeness;
  if (dense != nullptr && !dense->empty()) dense_completeness = NearestMm(*dense, scored);
  auto within = [](const std::vector<double>& distances, double t) {
    return static_cast<double>(std::count_if(distances.begin(), distances.end(),
                                             [t](double d) { return d <= t; })) /
           static_cast<double>(distances.size());
  };
  for (double t : options.thresholds_mm) {
    ThresholdScore s;
    s.threshold_mm = t;
    s.precision = within(accuracy, t);
    s.recall = within(completeness, t);
    if (!dense_completeness.empty()) s.dense_recall = within(dense_completeness, t);
    s.fscore =
        s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0;
    m.scores.push_back(s);
  }
  return m;
}

Result<fs::path> SessionTwinMesh(const fs::path& session, const std::string& session_id,
                                 const std::string& level) {
  const fs::path twin_ply = session / "twin" / level / "twin.ply";
  if (!fs::exists(twin_ply)) {
    return MakeError("the session has no " + level + " twin", twin_ply.string(),
                     "run `twinrig reconstruct " + session_id + " --" + level + "` first");
  }
  return twin_ply;
}

Result<Metrics> ScoreSessionTwin(const fs::path& session, const std::string& session_id,
                                 const std::string& level, const Mesh& truth,
                                 const std::vector<PinholeView>& cameras,
                                 const std::string& reference, const ScoreOptions& options) {
  TWINRIG_ASSIGN_OR_RETURN(const fs::path twin_ply, SessionTwinMesh(session, session_id, level));
  TWINRIG_ASSIGN_OR_RETURN(const Mesh twin, ReadPly(twin_ply));
  std::vector<cv::Vec3f> dense;
  const fs::path fused = session / "reconstruction" / level / "dense" / "fused.ply";
  if (fs::exists(fused)) {
    auto cloud = ReadPly(fused);
    if (cloud.ok()) dense = std::move(cloud->vertices);
  }
  TWINRIG_ASSIGN_OR_RETURN(const Metrics metrics, ScoreMesh(twin, truth, cameras, options, &dense));
  json scores = json::array();
  for (const auto& s : metrics.scores) {
    json score = {{"threshold_mm", s.threshold_mm},
                  {"precision", s.precision},
                  {"recall", s.recall},
                  {"fscore", s.fscore}};
    if (s.dense_recall >= 0) score["dense_points_recall"] = s.dense_recall;
    scores.push_back(score);
  }
  const json out = {
      {"format", "twinrig-twin-metrics"},
      {"version", 1},
      {"session", session_id},
      {"level", level},
      {"reference", reference},
      {"region",
       {{"accuracy", "twin surface samples against the whole ground-truth surface"},
        {"completeness", "ground-truth surface seen (in front, not hidden) by at least " +
                             std::to_string(options.min_views) + " cameras"},
        {"scored_fraction_of_truth", metrics.scored_fraction}}},
      {"samples_per_m2", options.samples_per_m2},
      {"twin_samples", metrics.twin_samples},
      {"truth_samples_scored", metrics.truth_scored},
      {"accuracy_mean_mm", metrics.accuracy_mean_mm},
      {"accuracy_median_mm", metrics.accuracy_median_mm},
      {"completeness_mean_mm", metrics.completeness_mean_mm},
      {"completeness_median_mm", metrics.completeness_median_mm},
      {"distance_cap_mm", options.cap_mm},
      {"scores", scores}};
  TWINRIG_RETURN_IF_ERROR(
      WriteFileAtomic(session / "twin" / level / "metrics.json", out.dump(2) + "\n"));
  return metrics;
}

}  // namespace twinrig::reconstruct
