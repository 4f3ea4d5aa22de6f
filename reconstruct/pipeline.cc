#include "reconstruct/pipeline.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "reconstruct/colmap.h"
#include "reconstruct/mesh.h"
#include "reconstruct/mvs.h"
#include "reconstruct/texture.h"
#include "util/colmap_banner.h"
#include "util/files.h"
#include "util/logging.h"
#include "util/options.h"

namespace twinrig::reconstruct {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class Clock {
 public:
  double Lap() {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return s;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

std::string Fixed(double v, int digits) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, v);
  return text;
}

}  // namespace

std::string LevelName(Level level) { return level == Level::kFull ? "full" : "preview"; }

std::vector<std::string> ReconstructOptions::Validate() const {
  std::vector<std::string> problems;
  if (scale < 0 || scale > 1)
    problems.push_back("scale must be in (0, 1] (0: the level's default)");
  if (threads < 1) problems.push_back("threads must be at least 1");
  if (target_faces < 0) problems.push_back("target_faces must not be negative");
  if (atlas_size < 0) problems.push_back("atlas_size must not be negative");
  if (poisson_depth < 0 || poisson_depth > 13) problems.push_back("poisson_depth must be 0..13");
  if (poisson_trim < 0 || poisson_trim > 20)
    problems.push_back("poisson_trim must be 0..20 (0: the level's default)");
  if (step_timeout_s < 1) problems.push_back("step_timeout_s must be positive");
  if (max_gap_mm < 0) problems.push_back("max_gap_mm must not be negative");
  if (plane_step_px < 0) problems.push_back("plane_step_px must not be negative");
  if (window < 0 || (window > 0 && (window < 3 || window % 2 == 0)))
    problems.push_back("window must be odd and at least 3 (0: the level's default)");
  return problems;
}

Result<ReconstructReport> Reconstruct(const std::vector<InputView>& views,
                                      const fs::path& workspace, const fs::path& twin,
                                      const ReconstructOptions& options, const Progress& progress) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "reconstruction options"));
  const bool full = options.level == Level::kFull;
  // By default each level works at a size, not a fraction: the long side of the images brought
  // to 512 px for the preview and 1280 px for the full twin (never enlarged).
  double scale = options.scale;
  if (scale <= 0) {
    const int long_side =
        views.empty() ? 0 : std::max(views.front().camera.width, views.front().camera.height);
    scale = long_side > 0 ? std::min(1.0, (full ? 1280.0 : 512.0) / long_side) : 1.0;
  }
  const int target_faces =
      options.target_faces > 0 ? options.target_faces : (full ? 200000 : 40000);
  const int atlas = options.atlas_size > 0 ? options.atlas_size : (full ? 4096 : 2048);
  const int poisson_depth = options.poisson_depth > 0 ? options.poisson_depth : (full ? 10 : 8);
  const double poisson_trim = options.poisson_trim > 0 ? options.poisson_trim : 4.0;
  const double max_gap_mm = options.max_gap_mm > 0 ? options.max_gap_mm : (full ? 5.0 : 8.0);
  const int window = options.window > 0 ? options.window : (full ? 11 : 9);

  ReconstructReport report;
  report.level = LevelName(options.level);
  report.workspace = workspace;
  report.twin = twin;
  report.cameras = static_cast<int>(views.size());
  const auto log = Log().With("reconstruct", report.level);
  Clock total;
  Clock clock;
  auto stage = [&](const std::string& name, double seconds, const std::string& detail) {
    report.stages.push_back({name, seconds, detail});
    if (progress) progress(report.stages.back());
  };

  // COLMAP's dense stereo when its colmap can run it (CUDA), else twinrig's.
  bool colmap_dense = false;
  if (options.dense != DenseStereo::kTwinrig) {
    const ColmapBanner banner = ProbeColmap(options.colmap);
    colmap_dense = banner.cuda;
    if (options.dense == DenseStereo::kColmap && !banner.cuda) {
      return MakeError(banner.recognised
                           ? "this colmap (" + banner.version +
                                 ") is built without CUDA: its patch_match_stereo cannot run"
                           : "`" + options.colmap + " -h` did not print a COLMAP banner",
                       options.colmap, "use twinrig's multi-view stereo (--dense twinrig or auto)");
    }
  }
  report.dense_stereo = colmap_dense ? "colmap" : "twinrig";

  TWINRIG_RETURN_IF_ERROR(CheckImages(views));
  std::error_code ec;
  fs::remove_all(workspace, ec);
  fs::create_directories(workspace, ec);
  if (ec) {
    return MakeError("cannot create the workspace: " + ec.message(), workspace.string(),
                     "check permissions and free space");
  }
  const fs::path images = workspace / "images";
  auto prepared = PrepareImages(views, scale, images, options.threads);
  if (!prepared.ok()) return prepared.error();
  stage("prepare", clock.Lap(),
        std::to_string(prepared->size()) + " images at " + std::to_string(prepared->front().width) +
            "x" + std::to_string(prepared->front().height));

  ColmapOptions colmap_options;
  colmap_options.program = options.colmap;
  colmap_options.threads = options.threads;
  colmap_options.step_timeout = std::chrono::seconds(options.step_timeout_s);
  Colmap colmap(workspace, colmap_options, log);
  colmap.on_step = [&](const std::string& step, double seconds) {
    clock.Lap();
    const auto dash = step.find('-');
    stage(dash == std::string::npos ? step : step.substr(dash + 1), seconds, "colmap");
  };
  SparseOptions sparse_options;
  sparse_options.bundle_adjust = options.bundle_adjust;
  auto sparse = RunSparse(colmap, *prepared, images, sparse_options);
  if (!sparse.ok()) return sparse.error();
  report.registered = sparse->registered;
  report.pairs = sparse->pairs;
  report.sparse_points = sparse->points.size();
  report.mean_reprojection_px = sparse->mean_reprojection_px;
  // The calibrated poses are used for every camera downstream; a camera COLMAP left without
  // triangulated points only means its features were few, so it is reported, not fatal.
  if (sparse->registered < static_cast<int>(views.size())) {
    log.Warn(
        "COLMAP's triangulated model holds {} of {} cameras; all are used with their "
        "calibrated poses",
        sparse->registered, views.size());
  }
  report.stages.back().detail = std::to_string(sparse->points.size()) + " points, " +
                                std::to_string(sparse->registered) + " cameras in the model";
  if (options.bundle_adjust) {
    // Bundle adjustment holds one camera and lets the scale drift: its model goes back into the
    // rig's metric frame (the similarity that best fits its camera centres to the calibrated
    // ones), and what is left is how far it moved the cameras.
    std::vector<PinholeView> adjusted;
    std::vector<PinholeView> calibrated;
    for (size_t i = 0; i < sparse->views.size(); ++i) {
      if (!sparse->in_model[i]) continue;
      adjusted.push_back(sparse->views[i]);
      calibrated.push_back((*prepared)[i]);
    }
    auto moved = ComparePoses(adjusted, calibrated);
    if (!moved.ok()) {
      return MakeError(
          "cannot bring the bundle-adjusted model into the rig's frame: " + moved.error().what,
          (workspace / "sparse").string(), "run again without --bundle-adjust");
    }
    report.adjustment = *moved;
    for (size_t i = 0; i < sparse->views.size(); ++i) {
      if (sparse->in_model[i]) sparse->views[i] = moved->alignment.Apply(sparse->views[i]);
    }
    for (auto& p : sparse->points) p = moved->alignment.Apply(p);
    report.stages.back().detail += ", cameras moved " + Fixed(moved->rotation_median_deg, 3) +
                                   " deg / " + Fixed(moved->position_median_mm, 2) + " mm (median)";
  }

  // Dense workspace: the undistorted images, the model, the depth and normal maps.
  const fs::path dense = workspace / "dense";
  fs::create_directories(dense / "images", ec);
  for (const auto& v : sparse->views) {
    fs::create_hard_link(images / v.name, dense / "images" / v.name, ec);
    if (ec) fs::copy_file(images / v.name, dense / "images" / v.name, ec);
  }
  const std::vector<std::pair<int, int>> overlaps = [&] {
    SparseOptions overlap;
    overlap.pair_max_angle_deg = 80;
    overlap.pair_neighbours = 10;
    return ChooseImagePairs(sparse->views, overlap);
  }();
  TWINRIG_RETURN_IF_ERROR(
      WritePinholeModel(sparse->views, overlaps, Convergence(sparse->views), dense / "sparse"));
  {
    // fusion.cfg: the images to fuse; patch-match.cfg: each image and its source images.
    std::vector<std::string> sources(sparse->views.size());
    for (const auto& [a, b] : overlaps) {
      const auto ia = static_cast<size_t>(a);
      const auto ib = static_cast<size_t>(b);
      sources[ia] += (sources[ia].empty() ? "" : ", ") + sparse->views[ib].name;
      sources[ib] += (sources[ib].empty() ? "" : ", ") + sparse->views[ia].name;
    }
    std::string fusion_cfg;
    std::string patch_match_cfg;
    for (size_t i = 0; i < sparse->views.size(); ++i) {
      fusion_cfg += sparse->views[i].name + "\n";
      patch_match_cfg +=
          sparse->views[i].name + "\n" + (sources[i].empty() ? "__auto__, 10" : sources[i]) + "\n";
    }
    fs::create_directories(dense / "stereo", ec);
    TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(dense / "stereo" / "fusion.cfg", fusion_cfg));
    TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(dense / "stereo" / "patch-match.cfg", patch_match_cfg));
  }
  if (colmap_dense) {
    const int long_side = std::max(prepared->front().width, prepared->front().height);
    auto patch_match = colmap.Run("5-patch-match", "patch_match_stereo",
                                  {"--workspace_path", dense.string(), "--workspace_format",
                                   "COLMAP", "--PatchMatchStereo.geom_consistency", "true",
                                   "--PatchMatchStereo.max_image_size", std::to_string(long_side),
                                   "--PatchMatchStereo.window_radius", std::to_string(window / 2)});
    if (!patch_match.ok()) return patch_match.error();
    report.stages.back().stage = "depth";
    report.stages.back().detail = "colmap patch_match_stereo (CUDA)";
  } else {
    MvsOptions mvs;
    mvs.threads = options.threads;
    mvs.window = window;
    mvs.disparity_step_px = options.plane_step_px > 0 ? options.plane_step_px : (full ? 1.0 : 2.0);
    mvs.max_planes = full ? 384 : 256;
    mvs.backdrop = options.backdrop;
    clock.Lap();
    auto depth = ComputeDepthMaps(sparse->views, images, sparse->points, dense, mvs);
    if (!depth.ok()) return depth.error();
    stage("depth", clock.Lap(),
          Fixed(depth->mean_planes, 0) + " planes, " + Fixed(100 * depth->valid_fraction, 1) +
              "% pixels with depth" +
              (options.backdrop.enabled
                   ? ", " + Fixed(100 * depth->backdrop_fraction, 1) + "% keyed out as backdrop"
                   : std::string()));
  }
  const fs::path fused = dense / "fused.ply";
  const std::string threads = std::to_string(options.threads);
  // Two depth maps that agree make a point: parts of the head only two cameras see have no third
  // (head24 at 1280 px: the dense points' recall at 2 mm goes from 0.76 with three to 0.81).
  auto fusion = colmap.Run(
      "6-fusion", "stereo_fusion",
      {"--workspace_path", dense.string(), "--workspace_format", "COLMAP", "--input_type",
       "geometric", "--output_path", fused.string(), "--StereoFusion.num_threads", threads,
       "--StereoFusion.min_num_pixels", "2", "--StereoFusion.max_normal_error", "25",
       "--StereoFusion.max_reproj_error", "2", "--StereoFusion.max_depth_error", "0.01"});
  if (!fusion.ok()) return fusion.error();
  report.fused_points = PlyVertexCount(fused);
  if (report.fused_points < static_cast<size_t>(options.min_fused_points)) {
    return MakeError("stereo fusion kept only " + std::to_string(report.fused_points) +
                         " points (at least " + std::to_string(options.min_fused_points) +
                         " are needed for a mesh)",
                     (workspace / "logs" / "6-fusion.log").string(),
                     "check that the subject is lit, textured and in focus in every camera");
  }
  report.stages.back().detail = std::to_string(report.fused_points) + " points";

  const fs::path poisson = workspace / "mesh" / "poisson.ply";
  fs::create_directories(poisson.parent_path(), ec);
  auto mesher =
      colmap.Run("7-poisson", "poisson_mesher",
                 {"--input_path", fused.string(), "--output_path", poisson.string(),
                  "--PoissonMeshing.depth", std::to_string(poisson_depth), "--PoissonMeshing.trim",
                  Fixed(poisson_trim, 1), "--PoissonMeshing.num_threads", threads});
  if (!mesher.ok()) return mesher.error();
  auto raw = ReadPly(poisson);
  if (!raw.ok()) return raw.error();
  if (raw->faces.empty()) {
    return MakeError("Poisson meshing produced no faces",
                     (workspace / "logs" / "7-poisson.log").string(),
                     "lower the trim (--trim) or check the fused points");
  }
  report.stages.back().detail = std::to_string(raw->faces.size()) + " faces";

  clock.Lap();
  auto cloud = ReadPly(fused);
  if (!cloud.ok()) return cloud.error();
  const Box3 box = RobustBox(cloud->vertices, 0.002, 0.03);
  Mesh mesh = CropToBox(*raw, box);
  // Poisson closes the surface everywhere; what it invents far from any fused point goes.
  mesh = CropToPoints(mesh, cloud->vertices, static_cast<float>(max_gap_mm / 1000.0));
  mesh = RemoveIslands(mesh, 0.05);
  mesh = Decimate(mesh, static_cast<size_t>(target_faces));
  if (mesh.faces.empty()) {
    return MakeError("nothing of the mesh is left inside the subject's box", poisson.string(),
                     "check the fused points for stray background");
  }
  report.faces = mesh.faces.size();
  stage("cleanup", clock.Lap(), std::to_string(mesh.faces.size()) + " faces");

  std::vector<cv::Mat> colour(sparse->views.size());
  for (size_t i = 0; i < colour.size(); ++i) {
    colour[i] = cv::imread((images / sparse->views[i].name).string(), cv::IMREAD_COLOR);
  }
  TextureOptions texture_options;
  texture_options.atlas_size = atlas;
  texture_options.threads = options.threads;
  auto textured = TextureMesh(mesh, sparse->views, colour, texture_options);
  if (!textured.ok()) return textured.error();
  stage("texture", clock.Lap(),
        std::to_string(atlas) + " px atlas, " + std::to_string(textured->faces_without_view) +
            " faces unseen");

  // The twin appears complete or not at all.
  const fs::path staging =
      twin.parent_path() / (twin.filename().string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(staging, ec);
  TWINRIG_RETURN_IF_ERROR(ExportTwin(*textured, staging));
  fs::remove_all(twin, ec);
  fs::rename(staging, twin, ec);
  if (ec) {
    return MakeError("cannot move the twin into place: " + ec.message(), twin.string(),
                     "check permissions and free space");
  }
  stage("export", clock.Lap(), "twin.glb, twin.obj, twin.ply");
  report.total_seconds = total.Lap();

  json stages = json::array();
  for (const auto& s : report.stages) {
    stages.push_back({{"stage", s.stage}, {"seconds", s.seconds}, {"detail", s.detail}});
  }
  const json summary = {
      {"level", report.level},
      {"scale", scale},
      {"cameras", report.cameras},
      {"registered", report.registered},
      {"pairs", report.pairs},
      {"sparse_points", report.sparse_points},
      {"mean_reprojection_px", report.mean_reprojection_px},
      {"bundle_adjustment",
       options.bundle_adjust ? json{{"rotation_median_deg", report.adjustment.rotation_median_deg},
                                    {"rotation_max_deg", report.adjustment.rotation_max_deg},
                                    {"position_median_mm", report.adjustment.position_median_mm},
                                    {"position_max_mm", report.adjustment.position_max_mm},
                                    {"scale", report.adjustment.alignment.scale}}
                             : json(nullptr)},
      {"fused_points", report.fused_points},
      {"faces", report.faces},
      {"total_seconds", report.total_seconds},
      {"stages", stages}};
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(workspace / "report.json", summary.dump(2) + "\n"));
  return report;
}

Result<ReconstructReport> ReconstructSession(const fs::path& studio, const std::string& session_id,
                                             const ReconstructOptions& options,
                                             const Progress& progress) {
  auto input = LoadSessionInput(studio, session_id, options.take);
  if (!input.ok()) return input.error();
  const std::string level = LevelName(options.level);
  const fs::path workspace = input->session_folder / "reconstruction" / level;
  const fs::path twin = input->session_folder / "twin" / level;
  for (const auto& cam : input->left_out) {
    Log().Warn("camera {} left out: calibration {} could not calibrate it ({})", cam.serial,
               input->calibration_id, cam.reason);
  }
  auto report = Reconstruct(input->views, workspace, twin, options, progress);
  if (report.ok()) report->left_out = input->left_out;
  // A twin never outlives the capture it was made from. If the images went while it was being
  // made (the subject rejected the scan or was erased, or the vault was closed), whatever this
  // run made is removed again, and that, not a failed step, is the error.
  const bool capture_gone =
      std::any_of(input->views.begin(), input->views.end(), [](const InputView& v) {
        std::error_code ec;
        return !fs::exists(v.image, ec);
      });
  if (capture_gone) {
    std::error_code ec;
    fs::remove_all(twin, ec);
    fs::remove_all(workspace, ec);
    return MakeError("the session's images were removed while its " + level +
                         " twin was being made (a rejection, an erasure or a closed vault); "
                         "nothing of this run was kept",
                     (input->session_folder / "images").string(),
                     "nothing to do if that was meant; else restore the images (twinrig vault "
                     "open) and run the reconstruction again");
  }
  return report;
}

}  // namespace twinrig::reconstruct
