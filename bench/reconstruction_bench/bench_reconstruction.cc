// bench/reconstruction — see bench/reconstruction.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "bench/harness/harness.h"
#include "reconstruct/alignment.h"
#include "reconstruct/colmap.h"
#include "reconstruct/input.h"
#include "reconstruct/mesh.h"
#include "reconstruct/pipeline.h"
#include "reconstruct/published.h"
#include "reconstruct/score.h"
#include "sim/score/score.h"
#include "sim/session/rendered_session.h"
#include "util/files.h"
#include "util/subprocess.h"

namespace fs = std::filesystem;
using namespace twinrig;

namespace {

struct Level {
  double seconds = 0;
  double fscore2 = 0;
  double fscore5 = 0;
  size_t faces = 0;
  bool ok = false;
};

void PrintStage(const reconstruct::StageTime& s) {
  std::printf("  %-14s %7.1f s  %s\n", s.stage.c_str(), s.seconds, s.detail.c_str());
  std::fflush(stdout);
}

Level RunLevel(const fs::path& studio, const std::string& session, reconstruct::Level level) {
  Level out;
  reconstruct::ReconstructOptions options;
  options.level = level;
  const auto name = reconstruct::LevelName(level);
  std::printf("%s:\n", name.c_str());
  auto report = reconstruct::ReconstructSession(studio, session, options, PrintStage);
  if (!report.ok()) {
    std::printf("  failed: %s\n", report.error().Describe().c_str());
    return out;
  }
  out.seconds = report->total_seconds;
  out.faces = report->faces;
  auto metrics = sim::score::ScoreSession(studio, session, name);
  if (!metrics.ok()) {
    std::printf("  score failed: %s\n", metrics.error().Describe().c_str());
    return out;
  }
  out.fscore2 = metrics->FScore(2);
  out.fscore5 = metrics->FScore(5);
  out.ok = true;
  return out;
}

// COLMAP's own pipeline from the images alone (no calibration): the baseline.
struct ColmapAuto {
  double seconds = 0;
  std::map<std::string, reconstruct::PinholeView> poses;  // the images it registered
  bool mesh = false;
  std::string end;
};

ColmapAuto RunColmapAuto(const fs::path& ws, bool dense, std::chrono::minutes timeout) {
  ColmapAuto out;
  SubprocessOptions sub;
  sub.timeout = timeout;
  sub.log_file = ws / "automatic_reconstructor.log";
  const std::string dense_flag = dense ? "1" : "0";
  std::printf("colmap automatic_reconstructor --use_gpu 0 --dense %s ...\n", dense_flag.c_str());
  std::fflush(stdout);
  auto run = RunSubprocess(
      {"colmap", "automatic_reconstructor", "--workspace_path", ws.string(), "--image_path",
       (ws / "images").string(), "--use_gpu", "0", "--dense", dense_flag, "--num_threads", "2"},
      sub);
  out.seconds = run.ok() ? static_cast<double>(run->elapsed.count()) / 1000.0 : 0;
  out.end = run.ok() ? run->DescribeEnd() : "not started";
  if (fs::exists(ws / "sparse" / "0")) {
    fs::create_directories(ws / "txt");
    auto convert =
        RunSubprocess({"colmap", "model_converter", "--input_path", (ws / "sparse" / "0").string(),
                       "--output_path", (ws / "txt").string(), "--output_type", "TXT"});
    auto images = ReadFileText(ws / "txt" / "images.txt");
    if (images.ok()) out.poses = reconstruct::ReadImagePoses(*images);
  }
  for (const char* m : {"dense/0/meshed-poisson.ply", "dense/0/meshed-delaunay.ply"}) {
    if (fs::exists(ws / m) && reconstruct::PlyVertexCount(ws / m) > 0) out.mesh = true;
  }
  return out;
}

// The real templeRing photographs with their published cameras: twinrig with the backdrop keyed
// out and bundle adjustment (pose error after aligning the frames, dense points inside the
// published box), against COLMAP's automatic_reconstructor from the images alone.
struct TempleRing {
  double seconds = 0;
  double inside = 0;
  size_t fused = 0;
  reconstruct::PoseDifference pose;
  ColmapAuto colmap;
  int colmap_registered = 0;
  reconstruct::PoseDifference colmap_pose;
  bool ok = false;
};

TempleRing RunTempleRing(const fs::path& work) {
  TempleRing out;
  std::printf("templeRing (Middlebury, 19 views, published cameras):\n");
  auto views = reconstruct::LoadPublishedViews(TWINRIG_TEMPLERING_PAR);
  if (!views.ok()) {
    std::printf("  failed: %s\n", views.error().Describe().c_str());
    return out;
  }
  auto report = reconstruct::Reconstruct(*views, work / "twinrig", work / "twin",
                                         reconstruct::TempleRingOptions(), PrintStage);
  if (!report.ok()) {
    std::printf("  failed: %s\n", report.error().Describe().c_str());
    return out;
  }
  out.seconds = report->total_seconds;
  out.pose = report->adjustment;
  auto fused = reconstruct::ReadPly(work / "twinrig" / "dense" / "fused.ply");
  if (!fused.ok()) return out;
  out.fused = fused->vertices.size();
  out.inside = reconstruct::TempleRingInside(fused->vertices);
  out.ok = true;

  const fs::path ws = work / "colmap-auto";
  fs::create_directories(ws / "images");
  for (const auto& v : *views) fs::copy_file(v.image, ws / "images" / v.image.filename());
  out.colmap = RunColmapAuto(ws, false, std::chrono::minutes(15));
  std::vector<reconstruct::PinholeView> estimated;
  std::vector<reconstruct::PinholeView> published;
  for (const auto& v : *views) {
    const auto it = out.colmap.poses.find(v.image.filename().string());
    if (it == out.colmap.poses.end()) continue;
    estimated.push_back(it->second);
    reconstruct::PinholeView p;
    p.SetPose(v.camera.R, v.camera.t);
    published.push_back(p);
  }
  out.colmap_registered = static_cast<int>(estimated.size());
  if (auto d = reconstruct::ComparePoses(estimated, published); d.ok()) out.colmap_pose = *d;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = bench::QuickMode(argc, argv);
  // --keep: leave the rendered studio (its sessions, logs and twins) for a look.
  const bool keep = bench::HasFlag(argc, argv, "--keep");
  char pattern[] = "/tmp/twinrig-bench-recon-XXXXXX";
  const char* made = ::mkdtemp(pattern);
  if (made == nullptr) return 1;
  const fs::path studio = made;
  sim::session::RenderedSessionOptions so;
  so.width = quick ? 800 : 1600;
  so.height = quick ? 600 : 1200;
  std::printf("rendering head24 at %dx%d into %s\n", so.width, so.height, studio.c_str());
  auto session = sim::session::MakeRenderedSession(studio, so);
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.error().Describe().c_str());
    return 1;
  }
  const Level preview = RunLevel(studio, so.session_id, reconstruct::Level::kPreview);
  Level full;
  if (!quick) full = RunLevel(studio, so.session_id, reconstruct::Level::kFull);

  // Baseline: COLMAP's own pipeline on the same images.
  const fs::path auto_ws = studio / "colmap-auto";
  fs::create_directories(auto_ws / "images");
  for (const auto& c : session->layout.truth.cameras) {
    fs::copy_file(session->session_folder / "images" / c.serial / "take-0001.jpg",
                  auto_ws / "images" / (c.serial + ".jpg"));
  }
  const ColmapAuto colmap = RunColmapAuto(auto_ws, true, std::chrono::minutes(quick ? 15 : 30));
  const int registered = static_cast<int>(colmap.poses.size());
  const TempleRing temple = RunTempleRing(studio / "templeRing");
  const int cameras = static_cast<int>(session->layout.truth.cameras.size());
  std::printf("\n%-28s %10s %10s %10s %10s\n", "", "seconds", "F@2mm", "F@5mm", "faces");
  std::printf("%-28s %10.1f %10.3f %10.3f %10zu\n", "twinrig preview", preview.seconds,
              preview.fscore2, preview.fscore5, preview.faces);
  if (!quick) {
    std::printf("%-28s %10.1f %10.3f %10.3f %10zu\n", "twinrig full", full.seconds, full.fscore2,
                full.fscore5, full.faces);
  }
  std::printf("%-28s %10.1f   registered %d of %d, mesh: %s (%s)\n", "colmap automatic",
              colmap.seconds, registered, cameras, colmap.mesh ? "yes" : "none",
              colmap.end.c_str());
  std::printf("\ntempleRing %17s %10s %14s %14s\n", "seconds", "in box", "rot med/max",
              "pos med/max");
  std::printf("%-28s %10.1f %9.1f%% %6.3f/%.3f deg %5.2f/%.2f mm  (%zu fused points)\n",
              "twinrig (calibrated + BA)", temple.seconds, 100 * temple.inside,
              temple.pose.rotation_median_deg, temple.pose.rotation_max_deg,
              temple.pose.position_median_mm, temple.pose.position_max_mm, temple.fused);
  std::printf("%-28s %10.1f %10s %6.3f/%.3f deg %5.2f/%.2f mm  (registered %d of 19, %s)\n",
              "colmap automatic (sparse)", temple.colmap.seconds, "-",
              temple.colmap_pose.rotation_median_deg, temple.colmap_pose.rotation_max_deg,
              temple.colmap_pose.position_median_mm, temple.colmap_pose.position_max_mm,
              temple.colmap_registered, temple.colmap.end.c_str());
  bench::ResultLine result("reconstruction");
  result.Add("preview_s", preview.seconds);
  result.Add("fscore2_preview", preview.fscore2);
  if (!quick) {
    result.Add("full_s", full.seconds);
    result.Add("fscore2_full", full.fscore2);
  }
  result.Add("colmap_auto_s", colmap.seconds);
  result.Add("colmap_registered", registered);
  result.Add("colmap_mesh", colmap.mesh ? 1 : 0);
  result.Add("cameras", cameras);
  result.Add("speedup_vs_colmap", preview.seconds > 0 ? colmap.seconds / preview.seconds : 0);
  result.Add("templering_s", temple.seconds);
  result.Add("templering_inside", temple.inside);
  result.Add("templering_rot_deg", temple.pose.rotation_median_deg);
  result.Add("templering_pos_mm", temple.pose.position_median_mm);
  result.Add("colmap_templering_registered", temple.colmap_registered);
  result.Add("colmap_templering_rot_deg", temple.colmap_pose.rotation_median_deg);
  result.Add("colmap_templering_pos_mm", temple.colmap_pose.position_median_mm);
  result.Print();
  if (keep) {
    std::printf("kept %s\n", studio.c_str());
  } else {
    std::error_code ec;
    fs::remove_all(studio, ec);
  }
  return preview.ok && temple.ok ? 0 : 1;
}
