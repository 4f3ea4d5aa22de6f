// bench/reconstruction — see bench/reconstruction.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench/harness/harness.h"
#include "reconstruct/colmap.h"
#include "reconstruct/mesh.h"
#include "reconstruct/pipeline.h"
#include "reconstruct/score.h"
#include "tests/reconstruct/rendered_session.h"
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

Level RunLevel(const fs::path& studio, const std::string& session, reconstruct::Level level) {
  Level out;
  reconstruct::ReconstructOptions options;
  options.level = level;
  const auto name = reconstruct::LevelName(level);
  std::printf("%s:\n", name.c_str());
  auto report = reconstruct::ReconstructSession(studio, session, options, [](const auto& s) {
    std::printf("  %-14s %7.1f s  %s\n", s.stage.c_str(), s.seconds, s.detail.c_str());
    std::fflush(stdout);
  });
  if (!report.ok()) {
    std::printf("  failed: %s\n", report.error().Describe().c_str());
    return out;
  }
  out.seconds = report->total_seconds;
  out.faces = report->faces;
  auto metrics = reconstruct::ScoreSession(studio, session, name);
  if (!metrics.ok()) {
    std::printf("  score failed: %s\n", metrics.error().Describe().c_str());
    return out;
  }
  out.fscore2 = metrics->FScore(2);
  out.fscore5 = metrics->FScore(5);
  out.ok = true;
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
  testing::RenderedSessionOptions so;
  so.width = quick ? 800 : 1600;
  so.height = quick ? 600 : 1200;
  std::printf("rendering head24 at %dx%d into %s\n", so.width, so.height, studio.c_str());
  auto session = testing::MakeRenderedSession(studio, so);
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
  SubprocessOptions sub;
  sub.timeout = std::chrono::minutes(quick ? 15 : 30);
  sub.log_file = auto_ws / "automatic_reconstructor.log";
  std::printf("colmap automatic_reconstructor --use_gpu 0 --dense 1 ...\n");
  std::fflush(stdout);
  auto run = RunSubprocess(
      {"colmap", "automatic_reconstructor", "--workspace_path", auto_ws.string(), "--image_path",
       (auto_ws / "images").string(), "--use_gpu", "0", "--dense", "1", "--num_threads", "2"},
      sub);
  double auto_s = run.ok() ? static_cast<double>(run->elapsed.count()) / 1000.0 : 0;
  int registered = 0;
  if (fs::exists(auto_ws / "sparse" / "0")) {
    fs::create_directories(auto_ws / "txt");
    auto convert = RunSubprocess({"colmap", "model_converter", "--input_path",
                                  (auto_ws / "sparse" / "0").string(), "--output_path",
                                  (auto_ws / "txt").string(), "--output_type", "TXT"});
    auto images = ReadFileText(auto_ws / "txt" / "images.txt");
    if (images.ok()) {
      int lines = 0;
      size_t start = 0;
      while (start < images->size()) {
        size_t end = images->find('\n', start);
        if (end == std::string::npos) end = images->size();
        if (end > start && (*images)[start] != '#') ++lines;
        start = end + 1;
      }
      registered = lines / 2 + lines % 2;
    }
  }
  bool auto_mesh = false;
  for (const char* m : {"dense/0/meshed-poisson.ply", "dense/0/meshed-delaunay.ply"}) {
    if (fs::exists(auto_ws / m) && reconstruct::PlyVertexCount(auto_ws / m) > 0) auto_mesh = true;
  }
  const int cameras = static_cast<int>(session->layout.truth.cameras.size());
  std::printf("\n%-28s %10s %10s %10s %10s\n", "", "seconds", "F@2mm", "F@5mm", "faces");
  std::printf("%-28s %10.1f %10.3f %10.3f %10zu\n", "twinrig preview", preview.seconds,
              preview.fscore2, preview.fscore5, preview.faces);
  if (!quick) {
    std::printf("%-28s %10.1f %10.3f %10.3f %10zu\n", "twinrig full", full.seconds, full.fscore2,
                full.fscore5, full.faces);
  }
  std::printf("%-28s %10.1f   registered %d of %d, mesh: %s (%s)\n", "colmap automatic", auto_s,
              registered, cameras, auto_mesh ? "yes" : "none",
              run.ok() ? run->DescribeEnd().c_str() : "not started");
  bench::ResultLine result("reconstruction");
  result.Add("preview_s", preview.seconds);
  result.Add("fscore2_preview", preview.fscore2);
  if (!quick) {
    result.Add("full_s", full.seconds);
    result.Add("fscore2_full", full.fscore2);
  }
  result.Add("colmap_auto_s", auto_s);
  result.Add("colmap_registered", registered);
  result.Add("colmap_mesh", auto_mesh ? 1 : 0);
  result.Add("cameras", cameras);
  result.Add("speedup_vs_colmap", preview.seconds > 0 ? auto_s / preview.seconds : 0);
  result.Print();
  if (keep) {
    std::printf("kept %s\n", studio.c_str());
  } else {
    std::error_code ec;
    fs::remove_all(studio, ec);
  }
  return preview.ok ? 0 : 1;
}
