// The twin from a session, stage by stage, with a progress report per stage:
//
//   prepare        undistort, colour-correct and scale the take's images (calibration intrinsics)
//   features       colmap feature_extractor, the calibrated intrinsics written into the database
//   matches        colmap matches_importer with the rig's pair list (cameras that see the same
//   side) triangulation  colmap point_triangulator with the calibrated poses (never mapper)
//   [bundle]       colmap bundle_adjuster with intrinsics fixed (optional)
//   depth          twinrig's CPU multi-view stereo -> COLMAP depth and normal maps (or, when the
//                  colmap program has CUDA, colmap patch_match_stereo)
//   fusion         colmap stereo_fusion
//   poisson        colmap poisson_mesher (depth and trim for a head-sized subject)
//   cleanup        crop to the subject, remove islands, decimate
//   texture        UV atlas from the colour-corrected images
//   export         twin.glb, twin.obj (+ mtl, jpg), twin.ply
//
// The steps run in three stages, each able to run in a process of its own (a farm job, on another
// machine that sees the same studio folder): sparse (prepare to the dense workspace), depth (the
// depth maps, in chunks of reference views that can run side by side) and mesh (fusion to export).
// A local run is the three stages one after another; the stages hand over through files in
// <workspace>/stages/, so a twin made by stage jobs is the twin a local run makes.
//
// Files: <session>/reconstruction/<level>/ holds the workspace (images, database, sparse and dense
// models, logs/, stages/, steps.log, report.json); <session>/twin/<level>/ gets only the twin,
// written into a temporary folder and renamed into place when complete.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "reconstruct/alignment.h"
#include "reconstruct/input.h"
#include "reconstruct/mvs.h"
#include "util/result.h"

namespace twinrig::reconstruct {

enum class Level { kPreview, kFull };
std::string LevelName(Level level);  // "preview" | "full"

// Who makes the depth maps: COLMAP's patch_match_stereo needs a colmap built with CUDA.
enum class DenseStereo {
  kAuto,     // COLMAP's when the colmap program has CUDA, else twinrig's
  kTwinrig,  // twinrig's CPU multi-view stereo
  kColmap,   // COLMAP's patch_match_stereo (an error when colmap has no CUDA)
};

// What a reconstruction does. Each level has its presets (ForLevel); a field left at 0 takes the
// level's preset when a stage starts (WithLevelPresets), so that options built field by field and
// the options.json of earlier farm jobs mean what they meant.
struct ReconstructOptions {
  Level level = Level::kPreview;
  double scale = 0;      // processing scale of the images; 0: the long side to long_side_px
  int long_side_px = 0;  // preview 512, full 1280 (images are never enlarged)
  int take = 0;          // 0: the last take every camera has
  int threads = 2;
  bool bundle_adjust = false;
  int target_faces = 0;     // preview 40000, full 200000
  int atlas_size = 0;       // preview 2048, full 4096
  int poisson_depth = 0;    // preview 8, full 10
  double poisson_trim = 0;  // 4 (the cut at max_gap_mm does most of the trimming)
  // Poisson surface farther than this from every fused point is cut away (preview 8, full 5).
  double max_gap_mm = 0;
  double plane_step_px = 0;  // multi-view stereo plane spacing (preview 2, full 1)
  int max_planes = 0;        // multi-view stereo planes at most (preview 256, full 384)
  int window = 0;            // multi-view stereo NCC window (preview 9, full 11)
  DenseStereo dense = DenseStereo::kAuto;
  BackdropKey backdrop;  // the studio's backdrop, keyed out of the depth maps (off by default)
  int min_fused_points = 2000;
  std::string colmap = "colmap";
  int step_timeout_s = 1800;

  // The level's presets, every field set but scale (which depends on the images).
  static ReconstructOptions ForLevel(Level level);
  // These options with each preset left at 0 taken from ForLevel(level).
  [[nodiscard]] ReconstructOptions WithLevelPresets() const;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

struct StageTime {
  std::string stage;
  double seconds = 0;
  std::string detail;
};

struct ReconstructReport {
  std::string level;
  std::filesystem::path workspace;
  std::filesystem::path twin;
  int cameras = 0;
  int registered = 0;
  int pairs = 0;
  size_t sparse_points = 0;
  double mean_reprojection_px = 0;
  // With bundle adjustment: how far it moved the cameras from their calibration, once its model is
  // brought back into the rig's frame (cameras 0 when it did not run).
  PoseDifference adjustment;
  std::string dense_stereo;  // "twinrig" or "colmap"
  // Session cameras left out because the calibration could not calibrate them.
  std::vector<calibration::UncalibratedCamera> left_out;
  size_t fused_points = 0;
  size_t faces = 0;
  double total_seconds = 0;
  std::vector<StageTime> stages;
};

using Progress = std::function<void(const StageTime&)>;

// The options as a JSON object and back (what a farm job reads); unknown keys are refused.
nlohmann::json OptionsToJson(const ReconstructOptions& options);
Result<ReconstructOptions> OptionsFromJson(const nlohmann::json& json, const std::string& where);

enum class Stage { kSparse, kDepth, kMesh };
std::string StageName(Stage stage);  // "sparse" | "depth" | "mesh"
Result<Stage> ParseStage(const std::string& name);

// One stage of the pipeline, as one process runs it.
struct StageRun {
  Stage stage = Stage::kSparse;
  int chunk = 0;   // depth: which chunk of the reference views (0-based)
  int chunks = 1;  // depth and mesh: how many chunks the depth stage was split into
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// The views of chunk `chunk` of `chunks`: [first, last) of `views` views, contiguous, sizes that
// differ by at most one.
std::pair<size_t, size_t> ChunkOfViews(size_t views, int chunk, int chunks);

// Runs one stage. The sparse stage starts the workspace afresh; depth needs sparse's files, mesh
// needs every depth chunk's. The report is whole after the mesh stage only.
Result<ReconstructReport> RunStage(const std::vector<InputView>& views,
                                   const std::filesystem::path& workspace,
                                   const std::filesystem::path& twin,
                                   const ReconstructOptions& options, const StageRun& run,
                                   const Progress& progress = {});

// True when this stage's files are complete in `workspace` (a finished job's work).
bool StageDone(const std::filesystem::path& workspace, const StageRun& run);

// The reconstruction of `views` in `workspace`, the twin files written into `twin`.
Result<ReconstructReport> Reconstruct(const std::vector<InputView>& views,
                                      const std::filesystem::path& workspace,
                                      const std::filesystem::path& twin,
                                      const ReconstructOptions& options,
                                      const Progress& progress = {});

// A session's twin: <studio>/sessions/<id>/twin/<level>/.
Result<ReconstructReport> ReconstructSession(const std::filesystem::path& studio,
                                             const std::string& session_id,
                                             const ReconstructOptions& options,
                                             const Progress& progress = {});

// One stage of a session's reconstruction (a farm job). Like ReconstructSession, it refuses when
// the session's images are gone (a rejection, an erasure, a closed vault), before or while it
// runs, and then removes the session's workspace and twin of that level.
Result<ReconstructReport> ReconstructSessionStage(const std::filesystem::path& studio,
                                                  const std::string& session_id,
                                                  const ReconstructOptions& options,
                                                  const StageRun& run,
                                                  const Progress& progress = {});

// <studio>/sessions/<id>/reconstruction/<level> and .../twin/<level>.
std::filesystem::path SessionWorkspace(const std::filesystem::path& studio,
                                       const std::string& session_id, Level level);
std::filesystem::path SessionTwin(const std::filesystem::path& studio,
                                  const std::string& session_id, Level level);

}  // namespace twinrig::reconstruct
