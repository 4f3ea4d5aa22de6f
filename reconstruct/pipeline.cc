#include "reconstruct/pipeline.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "reconstruct/colmap.h"
#include "reconstruct/mesh.h"
#include "reconstruct/mvs.h"
#include "reconstruct/texture.h"
#include "util/check.h"
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

// The processing scale: the options' own, else the long side of the images brought to the
// level's size (never enlarged).
double ProcessingScale(const std::vector<InputView>& views, const ReconstructOptions& options) {
  if (options.scale > 0) return options.scale;
  const int long_side =
      views.empty() ? 0 : std::max(views.front().camera.width, views.front().camera.height);
  return long_side > 0 ? std::min(1.0, options.long_side_px / static_cast<double>(long_side)) : 1.0;
}

json ViewToJson(const PinholeView& v) {
  return {{"name", v.name},
          {"serial", v.serial},
          {"width", v.width},
          {"height", v.height},
          {"fx", v.fx},
          {"fy", v.fy},
          {"cx", v.cx},
          {"cy", v.cy},
          {"R", std::vector<double>(v.R.val, v.R.val + 9)},
          {"t", {v.t[0], v.t[1], v.t[2]}}};
}

PinholeView ViewFromJson(const json& j) {
  PinholeView v;
  v.name = j.at("name").get<std::string>();
  v.serial = j.at("serial").get<std::string>();
  v.width = j.at("width").get<int>();
  v.height = j.at("height").get<int>();
  v.fx = j.at("fx").get<double>();
  v.fy = j.at("fy").get<double>();
  v.cx = j.at("cx").get<double>();
  v.cy = j.at("cy").get<double>();
  const auto r = j.at("R").get<std::vector<double>>();
  const auto t = j.at("t").get<std::vector<double>>();
  TWINRIG_CHECK(r.size() == 9 && t.size() == 3);
  for (size_t k = 0; k < 9; ++k) v.R.val[k] = r[k];
  v.t = {t[0], t[1], t[2]};
  return v;
}

// What the sparse stage hands over: the cameras and points the dense stage works from, and the
// report so far. Doubles are written with all their digits, so a stage in another process works
// from exactly the numbers a local run has.
struct SparseHandover {
  std::vector<PinholeView> views;
  std::vector<cv::Vec3d> points;
  bool colmap_dense = false;
  ReconstructReport report;
};

fs::path StagesFolder(const fs::path& workspace) { return workspace / "stages"; }
fs::path SparseFile(const fs::path& workspace) { return StagesFolder(workspace) / "sparse.json"; }
fs::path DepthFile(const fs::path& workspace, int chunk, int chunks) {
  return StagesFolder(workspace) /
         ("depth-" + std::to_string(chunk) + "-of-" + std::to_string(chunks) + ".json");
}

json StagesToJson(const std::vector<StageTime>& stages) {
  json out = json::array();
  for (const auto& s : stages) {
    out.push_back({{"stage", s.stage}, {"seconds", s.seconds}, {"detail", s.detail}});
  }
  return out;
}

std::vector<StageTime> StagesFromJson(const json& j) {
  std::vector<StageTime> out;
  for (const auto& s : j) {
    out.push_back({s.at("stage").get<std::string>(), s.at("seconds").get<double>(),
                   s.at("detail").get<std::string>()});
  }
  return out;
}

Status WriteSparseHandover(const fs::path& workspace, const SparseHandover& h) {
  json views = json::array();
  for (const auto& v : h.views) views.push_back(ViewToJson(v));
  json points = json::array();
  for (const auto& p : h.points) points.push_back({p[0], p[1], p[2]});
  const auto& r = h.report;
  const json out = {{"views", views},
                    {"points", points},
                    {"colmap_dense", h.colmap_dense},
                    {"report",
                     {{"cameras", r.cameras},
                      {"registered", r.registered},
                      {"pairs", r.pairs},
                      {"sparse_points", r.sparse_points},
                      {"mean_reprojection_px", r.mean_reprojection_px},
                      {"adjustment",
                       {{"cameras", r.adjustment.cameras},
                        {"rotation_median_deg", r.adjustment.rotation_median_deg},
                        {"rotation_max_deg", r.adjustment.rotation_max_deg},
                        {"position_median_mm", r.adjustment.position_median_mm},
                        {"position_max_mm", r.adjustment.position_max_mm},
                        {"scale", r.adjustment.alignment.scale}}},
                      {"dense_stereo", r.dense_stereo},
                      {"stages", StagesToJson(r.stages)}}}};
  return WriteFileAtomic(SparseFile(workspace), out.dump() + "\n");
}

Result<SparseHandover> ReadSparseHandover(const fs::path& workspace) {
  const fs::path file = SparseFile(workspace);
  auto text = ReadFileText(file);
  if (!text.ok()) {
    return MakeError("the sparse stage has not finished here (" + text.error().what + ")",
                     file.string(), "run the sparse stage (or the whole reconstruction) first");
  }
  try {
    const json j = json::parse(*text);
    SparseHandover h;
    for (const auto& v : j.at("views")) h.views.push_back(ViewFromJson(v));
    for (const auto& p : j.at("points")) {
      h.points.emplace_back(p.at(0).get<double>(), p.at(1).get<double>(), p.at(2).get<double>());
    }
    h.colmap_dense = j.at("colmap_dense").get<bool>();
    const json& r = j.at("report");
    h.report.cameras = r.at("cameras").get<int>();
    h.report.registered = r.at("registered").get<int>();
    h.report.pairs = r.at("pairs").get<int>();
    h.report.sparse_points = r.at("sparse_points").get<size_t>();
    h.report.mean_reprojection_px = r.at("mean_reprojection_px").get<double>();
    const json& a = r.at("adjustment");
    h.report.adjustment.cameras = a.at("cameras").get<int>();
    h.report.adjustment.rotation_median_deg = a.at("rotation_median_deg").get<double>();
    h.report.adjustment.rotation_max_deg = a.at("rotation_max_deg").get<double>();
    h.report.adjustment.position_median_mm = a.at("position_median_mm").get<double>();
    h.report.adjustment.position_max_mm = a.at("position_max_mm").get<double>();
    h.report.adjustment.alignment.scale = a.at("scale").get<double>();
    h.report.dense_stereo = r.at("dense_stereo").get<std::string>();
    h.report.stages = StagesFromJson(r.at("stages"));
    return h;
  } catch (const json::exception&) {
    return MakeError("the sparse stage's hand-over file is damaged", file.string(),
                     "run the reconstruction again from the start");
  }
}

}  // namespace

std::string LevelName(Level level) { return level == Level::kFull ? "full" : "preview"; }

ReconstructOptions ReconstructOptions::ForLevel(Level level) {
  const bool full = level == Level::kFull;
  ReconstructOptions o;
  o.level = level;
  o.long_side_px = full ? 1280 : 512;
  o.target_faces = full ? 200000 : 40000;
  o.atlas_size = full ? 4096 : 2048;
  o.poisson_depth = full ? 10 : 8;
  o.poisson_trim = 4.0;
  o.max_gap_mm = full ? 5.0 : 8.0;
  o.plane_step_px = full ? 1.0 : 2.0;
  o.max_planes = full ? 384 : 256;
  o.window = full ? 11 : 9;
  return o;
}

ReconstructOptions ReconstructOptions::WithLevelPresets() const {
  const ReconstructOptions preset = ForLevel(level);
  ReconstructOptions o = *this;
  const auto fill = [](auto& value, auto preset_value) {
    if (value <= 0) value = preset_value;
  };
  fill(o.long_side_px, preset.long_side_px);
  fill(o.target_faces, preset.target_faces);
  fill(o.atlas_size, preset.atlas_size);
  fill(o.poisson_depth, preset.poisson_depth);
  fill(o.poisson_trim, preset.poisson_trim);
  fill(o.max_gap_mm, preset.max_gap_mm);
  fill(o.plane_step_px, preset.plane_step_px);
  fill(o.max_planes, preset.max_planes);
  fill(o.window, preset.window);
  return o;
}

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
  if (long_side_px < 0) problems.push_back("long_side_px must not be negative");
  if (max_planes < 0 || max_planes == 1) problems.push_back("max_planes must be 0 or at least 2");
  if (window < 0 || (window > 0 && (window < 3 || window % 2 == 0)))
    problems.push_back("window must be odd and at least 3 (0: the level's default)");
  return problems;
}

json OptionsToJson(const ReconstructOptions& o) {
  const char* dense = o.dense == DenseStereo::kTwinrig  ? "twinrig"
                      : o.dense == DenseStereo::kColmap ? "colmap"
                                                        : "auto";
  return {{"level", LevelName(o.level)},
          {"scale", o.scale},
          {"take", o.take},
          {"threads", o.threads},
          {"bundle_adjust", o.bundle_adjust},
          {"target_faces", o.target_faces},
          {"atlas_size", o.atlas_size},
          {"poisson_depth", o.poisson_depth},
          {"poisson_trim", o.poisson_trim},
          {"max_gap_mm", o.max_gap_mm},
          {"plane_step_px", o.plane_step_px},
          {"long_side_px", o.long_side_px},
          {"max_planes", o.max_planes},
          {"window", o.window},
          {"dense", dense},
          {"backdrop",
           {{"enabled", o.backdrop.enabled},
            {"rgb", {o.backdrop.rgb[0], o.backdrop.rgb[1], o.backdrop.rgb[2]}},
            {"tolerance", o.backdrop.tolerance},
            {"min_area", o.backdrop.min_area}}},
          {"min_fused_points", o.min_fused_points},
          {"colmap", o.colmap},
          {"step_timeout_s", o.step_timeout_s}};
}

Result<ReconstructOptions> OptionsFromJson(const json& j, const std::string& where) {
  ReconstructOptions o;
  try {
    const std::vector<std::string> known = {
        "level",         "scale",          "take",          "threads",      "bundle_adjust",
        "target_faces",  "atlas_size",     "poisson_depth", "poisson_trim", "max_gap_mm",
        "plane_step_px", "window",         "dense",         "backdrop",     "min_fused_points",
        "colmap",        "step_timeout_s", "long_side_px",  "max_planes"};
    for (const auto& [key, value] : j.items()) {
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        return MakeError("unknown reconstruction option \"" + key + "\"", where,
                         "write the options with this twinrig version");
      }
    }
    const auto level = j.at("level").get<std::string>();
    if (level != "preview" && level != "full") {
      return MakeError("level must be preview or full, not \"" + level + "\"", where, "");
    }
    o.level = level == "full" ? Level::kFull : Level::kPreview;
    o.scale = j.at("scale").get<double>();
    o.take = j.at("take").get<int>();
    o.threads = j.at("threads").get<int>();
    o.bundle_adjust = j.at("bundle_adjust").get<bool>();
    o.target_faces = j.at("target_faces").get<int>();
    o.atlas_size = j.at("atlas_size").get<int>();
    o.poisson_depth = j.at("poisson_depth").get<int>();
    o.poisson_trim = j.at("poisson_trim").get<double>();
    o.max_gap_mm = j.at("max_gap_mm").get<double>();
    o.plane_step_px = j.at("plane_step_px").get<double>();
    o.window = j.at("window").get<int>();
    // Options of runs before these presets were options: 0, the level's.
    o.long_side_px = j.value("long_side_px", 0);
    o.max_planes = j.value("max_planes", 0);
    const auto dense = j.at("dense").get<std::string>();
    if (dense != "auto" && dense != "twinrig" && dense != "colmap") {
      return MakeError("dense must be auto, twinrig or colmap, not \"" + dense + "\"", where, "");
    }
    o.dense = dense == "twinrig"  ? DenseStereo::kTwinrig
              : dense == "colmap" ? DenseStereo::kColmap
                                  : DenseStereo::kAuto;
    const json& b = j.at("backdrop");
    o.backdrop.enabled = b.at("enabled").get<bool>();
    const auto rgb = b.at("rgb").get<std::vector<int>>();
    if (rgb.size() != 3 ||
        std::any_of(rgb.begin(), rgb.end(), [](int c) { return c < 0 || c > 255; })) {
      return MakeError("backdrop rgb must be three values 0..255", where, "");
    }
    o.backdrop.rgb = cv::Vec3b(static_cast<uchar>(rgb[0]), static_cast<uchar>(rgb[1]),
                               static_cast<uchar>(rgb[2]));
    o.backdrop.tolerance = b.at("tolerance").get<int>();
    o.backdrop.min_area = b.at("min_area").get<double>();
    o.min_fused_points = j.at("min_fused_points").get<int>();
    o.colmap = j.at("colmap").get<std::string>();
    o.step_timeout_s = j.at("step_timeout_s").get<int>();
  } catch (const json::exception&) {
    return MakeError("the reconstruction options are incomplete or of the wrong type", where,
                     "write the options with this twinrig version");
  }
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(o, "reconstruction options in " + where));
  return o;
}

std::string StageName(Stage stage) {
  switch (stage) {
    case Stage::kSparse:
      return "sparse";
    case Stage::kDepth:
      return "depth";
    case Stage::kMesh:
      return "mesh";
  }
  return "?";
}

Result<Stage> ParseStage(const std::string& name) {
  for (Stage s : {Stage::kSparse, Stage::kDepth, Stage::kMesh}) {
    if (StageName(s) == name) return s;
  }
  return MakeError("unknown stage \"" + name + "\"", "", "use sparse, depth or mesh");
}

std::vector<std::string> StageRun::Validate() const {
  std::vector<std::string> problems;
  if (chunks < 1) problems.push_back("chunks must be at least 1");
  if (chunk < 0 || chunk >= chunks) problems.push_back("chunk must be in 0..chunks-1");
  return problems;
}

std::pair<size_t, size_t> ChunkOfViews(size_t views, int chunk, int chunks) {
  const auto n = static_cast<size_t>(std::max(chunks, 1));
  const auto c = static_cast<size_t>(std::clamp(chunk, 0, static_cast<int>(n) - 1));
  return {views * c / n, views * (c + 1) / n};
}

namespace {

// A stage's steps run by the COLMAP program report as stages of their own ("features", ...).
Colmap MakeColmap(const fs::path& workspace, const ReconstructOptions& options,
                  ReconstructReport& report, const Progress& progress, Clock& clock) {
  ColmapOptions colmap_options;
  colmap_options.program = options.colmap;
  colmap_options.threads = options.threads;
  colmap_options.step_timeout = std::chrono::seconds(options.step_timeout_s);
  Colmap colmap(workspace, colmap_options, Log().With("reconstruct", report.level));
  colmap.on_step = [&report, &progress, &clock](const std::string& step, double seconds) {
    clock.Lap();
    const auto dash = step.find('-');
    report.stages.push_back(
        {dash == std::string::npos ? step : step.substr(dash + 1), seconds, "colmap"});
    if (progress) progress(report.stages.back());
  };
  return colmap;
}

Result<ReconstructReport> RunSparseStage(const std::vector<InputView>& views,
                                         const fs::path& workspace,
                                         const ReconstructOptions& options,
                                         ReconstructReport report, const Progress& progress) {
  const auto log = Log().With("reconstruct", report.level);
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
  fs::create_directories(StagesFolder(workspace), ec);
  if (ec) {
    return MakeError("cannot create the workspace: " + ec.message(), workspace.string(),
                     "check permissions and free space");
  }
  const fs::path images = workspace / "images";
  auto prepared = PrepareImages(views, options.scale, images, options.threads);
  if (!prepared.ok()) return prepared.error();
  stage("prepare", clock.Lap(),
        std::to_string(prepared->size()) + " images at " + std::to_string(prepared->front().width) +
            "x" + std::to_string(prepared->front().height));

  Colmap colmap = MakeColmap(workspace, options, report, progress, clock);
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
  SparseHandover handover;
  handover.views = std::move(sparse->views);
  handover.points = std::move(sparse->points);
  handover.colmap_dense = colmap_dense;
  handover.report = report;
  TWINRIG_RETURN_IF_ERROR(WriteSparseHandover(workspace, handover));
  return report;
}

Result<ReconstructReport> RunDepthStage(const fs::path& workspace,
                                        const ReconstructOptions& options, const StageRun& run,
                                        ReconstructReport report, const Progress& progress) {
  auto handover = ReadSparseHandover(workspace);
  if (!handover.ok()) return handover.error();
  const fs::path dense = workspace / "dense";
  const fs::path file = DepthFile(workspace, run.chunk, run.chunks);
  std::error_code ec;
  fs::remove(file, ec);
  Clock clock;
  json out;
  if (handover->colmap_dense) {
    // COLMAP's patch_match_stereo makes every view's maps in one run: the first chunk runs it.
    if (run.chunk == 0) {
      ReconstructReport colmap_report;
      colmap_report.level = report.level;
      Colmap colmap = MakeColmap(workspace, options, colmap_report, {}, clock);
      const auto& front = handover->views.front();
      const int long_side = std::max(front.width, front.height);
      auto patch_match =
          colmap.Run("5-patch-match", "patch_match_stereo",
                     {"--workspace_path", dense.string(), "--workspace_format", "COLMAP",
                      "--PatchMatchStereo.geom_consistency", "true",
                      "--PatchMatchStereo.max_image_size", std::to_string(long_side),
                      "--PatchMatchStereo.window_radius", std::to_string(options.window / 2)});
      if (!patch_match.ok()) return patch_match.error();
    }
    out = {{"seconds", clock.Lap()}, {"views", 0}, {"colmap", true}};
  } else {
    MvsOptions mvs;
    mvs.threads = options.threads;
    mvs.window = options.window;
    mvs.disparity_step_px = options.plane_step_px;
    mvs.max_planes = options.max_planes;
    mvs.backdrop = options.backdrop;
    const auto [first, last] = ChunkOfViews(handover->views.size(), run.chunk, run.chunks);
    json stats = {{"views", 0}};
    if (first < last) {
      auto depth = ComputeDepthMaps(handover->views, workspace / "images", handover->points, dense,
                                    mvs, ViewRange{first, last});
      if (!depth.ok()) return depth.error();
      stats = {{"views", depth->views},
               {"mean_planes", depth->mean_planes},
               {"valid_fraction", depth->valid_fraction},
               {"backdrop_fraction", depth->backdrop_fraction}};
    }
    out = stats;
    out["seconds"] = clock.Lap();
    out["colmap"] = false;
  }
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(file, out.dump() + "\n"));
  report.stages.push_back(
      {"depth", out["seconds"].get<double>(),
       "chunk " + std::to_string(run.chunk + 1) + " of " + std::to_string(run.chunks)});
  if (progress) progress(report.stages.back());
  return report;
}

// The depth stage as one line of the report: its chunks' times added up (the work, whatever ran
// side by side) and their figures averaged over the views.
Result<StageTime> GatherDepth(const fs::path& workspace, int chunks, bool backdrop) {
  double seconds = 0;
  double views = 0;
  double planes = 0;
  double valid = 0;
  double keyed = 0;
  bool colmap = false;
  for (int c = 0; c < chunks; ++c) {
    const fs::path file = DepthFile(workspace, c, chunks);
    auto text = ReadFileText(file);
    if (!text.ok()) {
      return MakeError("depth chunk " + std::to_string(c + 1) + " of " + std::to_string(chunks) +
                           " has not finished",
                       file.string(), "run that chunk of the depth stage first");
    }
    try {
      const json j = json::parse(*text);
      seconds += j.at("seconds").get<double>();
      colmap = j.at("colmap").get<bool>();
      const double n = j.at("views").get<double>();
      if (n > 0) {
        views += n;
        planes += n * j.at("mean_planes").get<double>();
        valid += n * j.at("valid_fraction").get<double>();
        keyed += n * j.at("backdrop_fraction").get<double>();
      }
    } catch (const json::exception&) {
      return MakeError("a depth chunk's file is damaged", file.string(),
                       "run that chunk of the depth stage again");
    }
  }
  if (colmap) return StageTime{"depth", seconds, "colmap patch_match_stereo (CUDA)"};
  if (views <= 0) views = 1;
  return StageTime{"depth", seconds,
                   Fixed(planes / views, 0) + " planes, " + Fixed(100 * valid / views, 1) +
                       "% pixels with depth" +
                       (backdrop ? ", " + Fixed(100 * keyed / views, 1) + "% keyed out as backdrop"
                                 : std::string())};
}

Result<ReconstructReport> RunMeshStage(const fs::path& workspace, const fs::path& twin,
                                       const ReconstructOptions& options, const StageRun& run,
                                       const Progress& progress) {
  auto handover = ReadSparseHandover(workspace);
  if (!handover.ok()) return handover.error();
  auto depth = GatherDepth(workspace, run.chunks, options.backdrop.enabled);
  if (!depth.ok()) return depth.error();
  ReconstructReport report = handover->report;
  report.level = LevelName(options.level);
  report.workspace = workspace;
  report.twin = twin;
  report.stages.push_back(*depth);
  if (progress) progress(report.stages.back());
  const auto& views = handover->views;
  const fs::path images = workspace / "images";
  const fs::path dense = workspace / "dense";
  Clock clock;
  auto stage = [&](const std::string& name, double seconds, const std::string& detail) {
    report.stages.push_back({name, seconds, detail});
    if (progress) progress(report.stages.back());
  };
  Colmap colmap = MakeColmap(workspace, options, report, progress, clock);
  std::error_code ec;

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
  auto mesher = colmap.Run(
      "7-poisson", "poisson_mesher",
      {"--input_path", fused.string(), "--output_path", poisson.string(), "--PoissonMeshing.depth",
       std::to_string(options.poisson_depth), "--PoissonMeshing.trim",
       Fixed(options.poisson_trim, 1), "--PoissonMeshing.num_threads", threads});
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
  mesh = CropToPoints(mesh, cloud->vertices, static_cast<float>(options.max_gap_mm / 1000.0));
  mesh = RemoveIslands(mesh, 0.05);
  mesh = Decimate(mesh, static_cast<size_t>(options.target_faces));
  if (mesh.faces.empty()) {
    return MakeError("nothing of the mesh is left inside the subject's box", poisson.string(),
                     "check the fused points for stray background");
  }
  report.faces = mesh.faces.size();
  stage("cleanup", clock.Lap(), std::to_string(mesh.faces.size()) + " faces");

  std::vector<cv::Mat> colour(views.size());
  for (size_t i = 0; i < colour.size(); ++i) {
    colour[i] = cv::imread((images / views[i].name).string(), cv::IMREAD_COLOR);
  }
  TextureOptions texture_options;
  texture_options.atlas_size = options.atlas_size;
  texture_options.threads = options.threads;
  auto textured = TextureMesh(mesh, views, colour, texture_options);
  if (!textured.ok()) return textured.error();
  stage("texture", clock.Lap(),
        std::to_string(options.atlas_size) + " px atlas, " +
            std::to_string(textured->faces_without_view) + " faces unseen");

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
  for (const auto& st : report.stages) report.total_seconds += st.seconds;

  const json summary = {
      {"level", report.level},
      {"scale", options.scale},
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
      {"depth_chunks", run.chunks},
      {"stages", StagesToJson(report.stages)}};
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(workspace / "report.json", summary.dump(2) + "\n"));
  return report;
}

}  // namespace

Result<ReconstructReport> RunStage(const std::vector<InputView>& views, const fs::path& workspace,
                                   const fs::path& twin, const ReconstructOptions& options,
                                   const StageRun& run, const Progress& progress) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "reconstruction options"));
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(run, "reconstruction stage"));
  // The level's presets and the processing scale resolved once: the stages read the options.
  ReconstructOptions resolved = options.WithLevelPresets();
  resolved.scale = ProcessingScale(views, resolved);
  ReconstructReport report;
  report.level = LevelName(options.level);
  report.workspace = workspace;
  report.twin = twin;
  report.cameras = static_cast<int>(views.size());
  switch (run.stage) {
    case Stage::kSparse:
      return RunSparseStage(views, workspace, resolved, report, progress);
    case Stage::kDepth:
      return RunDepthStage(workspace, resolved, run, report, progress);
    case Stage::kMesh:
      return RunMeshStage(workspace, twin, resolved, run, progress);
  }
  return MakeError("unknown stage", workspace.string(), "");
}

bool StageDone(const fs::path& workspace, const StageRun& run) {
  std::error_code ec;
  switch (run.stage) {
    case Stage::kSparse:
      return fs::exists(SparseFile(workspace), ec);
    case Stage::kDepth:
      return fs::exists(DepthFile(workspace, run.chunk, run.chunks), ec);
    case Stage::kMesh:
      return fs::exists(workspace / "report.json", ec);
  }
  return false;
}

Result<ReconstructReport> Reconstruct(const std::vector<InputView>& views,
                                      const fs::path& workspace, const fs::path& twin,
                                      const ReconstructOptions& options, const Progress& progress) {
  // The local run is the farm's stages one after another, the depth stage in one chunk.
  auto sparse = RunStage(views, workspace, twin, options, {Stage::kSparse, 0, 1}, progress);
  if (!sparse.ok()) return sparse.error();
  auto depth = RunStage(views, workspace, twin, options, {Stage::kDepth, 0, 1}, {});
  if (!depth.ok()) return depth.error();
  return RunStage(views, workspace, twin, options, {Stage::kMesh, 0, 1}, progress);
}

fs::path SessionWorkspace(const fs::path& studio, const std::string& session_id, Level level) {
  return studio / "sessions" / session_id / "reconstruction" / LevelName(level);
}

fs::path SessionTwin(const fs::path& studio, const std::string& session_id, Level level) {
  return studio / "sessions" / session_id / "twin" / LevelName(level);
}

namespace {

// A twin never outlives its capture. When the session's images are gone (the subject rejected
// the scan or was erased, or the vault was closed) whatever was made of them at this level is
// removed, and that, not a failed step, is the error.
// `during`: the images went while this run worked (else before it began).
std::optional<Error> RemoveWhenCaptureGone(const fs::path& studio, const std::string& session_id,
                                           const SessionInput* input, Level level, bool during) {
  const fs::path session = studio / "sessions" / session_id;
  const bool gone = input == nullptr ||
                    std::any_of(input->views.begin(), input->views.end(), [](const InputView& v) {
                      std::error_code ec;
                      return !fs::exists(v.image, ec);
                    });
  if (!gone) return std::nullopt;
  std::error_code ec;
  fs::remove_all(SessionTwin(studio, session_id, level), ec);
  fs::remove_all(SessionWorkspace(studio, session_id, level), ec);
  const std::string name = LevelName(level);
  return MakeError(during
                       ? "the session's images were removed while its " + name +
                             " twin was being made (a rejection, an erasure or a closed vault); "
                             "nothing of this run was kept"
                       : "the session's images are gone (a rejection, an erasure or a closed "
                         "vault): no " +
                             name + " twin is made of it, and what earlier stages made was removed",
                   (session / "images").string(),
                   "nothing to do if that was meant; else restore the images (twinrig vault "
                   "open) and run the reconstruction again");
}

}  // namespace

Result<ReconstructReport> ReconstructSession(const fs::path& studio, const std::string& session_id,
                                             const ReconstructOptions& options,
                                             const Progress& progress) {
  auto input = LoadSessionInput(studio, session_id, options.take);
  if (!input.ok()) return input.error();
  const fs::path workspace = SessionWorkspace(studio, session_id, options.level);
  const fs::path twin = SessionTwin(studio, session_id, options.level);
  for (const auto& cam : input->left_out) {
    Log().Warn("camera {} left out: calibration {} could not calibrate it ({})", cam.serial,
               input->calibration_id, cam.reason);
  }
  auto report = Reconstruct(input->views, workspace, twin, options, progress);
  if (report.ok()) report->left_out = input->left_out;
  if (auto gone = RemoveWhenCaptureGone(studio, session_id, &*input, options.level, true)) {
    return *gone;
  }
  return report;
}

Result<ReconstructReport> ReconstructSessionStage(const fs::path& studio,
                                                  const std::string& session_id,
                                                  const ReconstructOptions& options,
                                                  const StageRun& run, const Progress& progress) {
  auto input = LoadSessionInput(studio, session_id, options.take);
  if (!input.ok()) {
    // A job that runs after its session's images went refuses, and removes what earlier jobs of
    // the session made.
    const fs::path images = studio / "sessions" / session_id / "images";
    std::error_code ec;
    if (fs::exists(studio / "sessions" / session_id / "session.json", ec) &&
        (!fs::exists(images, ec) || fs::is_empty(images, ec))) {
      return *RemoveWhenCaptureGone(studio, session_id, nullptr, options.level, false);
    }
    return input.error();
  }
  if (auto gone = RemoveWhenCaptureGone(studio, session_id, &*input, options.level, false)) {
    return *gone;
  }
  auto report = RunStage(input->views, SessionWorkspace(studio, session_id, options.level),
                         SessionTwin(studio, session_id, options.level), options, run, progress);
  if (report.ok()) report->left_out = input->left_out;
  if (auto gone = RemoveWhenCaptureGone(studio, session_id, &*input, options.level, true)) {
    return *gone;
  }
  return report;
}

}  // namespace twinrig::reconstruct
