#include "reconstruct/colmap.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <numbers>
#include <sstream>

#include "calibration/rig_calibration.h"
#include "util/files.h"
#include "util/logging.h"
#include "util/options.h"

namespace twinrig::reconstruct {
namespace {

namespace fs = std::filesystem;

std::string Num(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

cv::Matx33d QuaternionToRotation(double w, double x, double y, double z) {
  const double n = std::sqrt(w * w + x * x + y * y + z * z);
  w /= n;
  x /= n;
  y /= n;
  z /= n;
  return {1 - 2 * (y * y + z * z), 2 * (x * y - z * w),     2 * (x * z + y * w),
          2 * (x * y + z * w),     1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
          2 * (x * z - y * w),     2 * (y * z + x * w),     1 - 2 * (x * x + y * y)};
}

std::string PoseLine(const PinholeView& v) {
  std::array<double, 9> R{};
  for (size_t k = 0; k < 9; ++k) R[k] = v.R.val[k];
  const auto q = calibration::RotationToQuaternion(R);
  return Num(q[0]) + " " + Num(q[1]) + " " + Num(q[2]) + " " + Num(q[3]) + " " + Num(v.t[0]) + " " +
         Num(v.t[1]) + " " + Num(v.t[2]);
}

struct DbImage {
  int image_id = 0;
  int camera_id = 0;
};

// Writes the calibrated pinhole intrinsics into the database's cameras (model PINHOLE, focal
// length marked as known) so that matching and triangulation hold them fixed.
Result<std::map<std::string, DbImage>> FixIntrinsics(const fs::path& database,
                                                     const std::vector<PinholeView>& views) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(database.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    const std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return MakeError("cannot open the COLMAP database: " + message, database.string(),
                     "run the reconstruction again");
  }
  std::map<std::string, DbImage> images;
  sqlite3_stmt* select = nullptr;
  sqlite3_prepare_v2(db, "SELECT image_id, name, camera_id FROM images", -1, &select, nullptr);
  while (select != nullptr && sqlite3_step(select) == SQLITE_ROW) {
    const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(select, 1));
    images[name != nullptr ? name : ""] = {sqlite3_column_int(select, 0),
                                           sqlite3_column_int(select, 2)};
  }
  sqlite3_finalize(select);
  std::string error;
  sqlite3_stmt* update = nullptr;
  sqlite3_prepare_v2(db,
                     "UPDATE cameras SET model = 1, width = ?, height = ?, params = ?, "
                     "prior_focal_length = 1 WHERE camera_id = ?",
                     -1, &update, nullptr);
  for (const auto& v : views) {
    const auto it = images.find(v.name);
    if (it == images.end()) {
      error = "COLMAP extracted no features record for image " + v.name;
      break;
    }
    const double params[4] = {v.fx, v.fy, v.cx, v.cy};
    sqlite3_reset(update);
    sqlite3_bind_int(update, 1, v.width);
    sqlite3_bind_int(update, 2, v.height);
    sqlite3_bind_blob(update, 3, params, sizeof(params), SQLITE_TRANSIENT);
    sqlite3_bind_int(update, 4, it->second.camera_id);
    if (sqlite3_step(update) != SQLITE_DONE) {
      error = std::string("cannot write intrinsics: ") + sqlite3_errmsg(db);
      break;
    }
  }
  sqlite3_finalize(update);
  sqlite3_close(db);
  if (!error.empty()) return MakeError(error, database.string(), "run the reconstruction again");
  return images;
}

}  // namespace

std::vector<std::string> ColmapOptions::Validate() const {
  std::vector<std::string> problems;
  if (program.empty()) problems.push_back("colmap program is empty");
  if (threads < 1) problems.push_back("threads must be at least 1");
  if (step_timeout.count() < 1) problems.push_back("step timeout must be positive");
  return problems;
}

std::vector<std::string> SparseOptions::Validate() const {
  std::vector<std::string> problems;
  if (peak_threshold <= 0) problems.push_back("peak_threshold must be positive");
  if (max_features < 100) problems.push_back("max_features must be at least 100");
  if (pair_max_angle_deg <= 0 || pair_max_angle_deg > 180) {
    problems.push_back("pair_max_angle_deg must be in (0, 180]");
  }
  if (pair_neighbours < 1) problems.push_back("pair_neighbours must be at least 1");
  return problems;
}

// COLMAP runs with the workspace as its working directory, and every path it is given is built
// from the workspace: kept absolute so a library caller's relative path stays valid there.
Colmap::Colmap(const fs::path& workspace, ColmapOptions options, ContextLogger log)
    : workspace_(fs::absolute(workspace).lexically_normal()),
      options_(std::move(options)),
      log_(std::move(log)) {}

Result<SubprocessResult> Colmap::Run(const std::string& step, const std::string& command,
                                     const std::vector<std::string>& args) const {
  std::error_code ec;
  fs::create_directories(workspace_ / "logs", ec);
  const fs::path log_path = workspace_ / "logs" / (step + ".log");
  std::vector<std::string> argv{options_.program, command};
  argv.insert(argv.end(), args.begin(), args.end());
  SubprocessOptions sub;
  sub.timeout = options_.step_timeout;
  sub.log_file = log_path;
  sub.working_directory = workspace_;
  sub.max_captured_bytes = 1 << 20;
  log_.Info("colmap {} ({})", command, step);
  auto run = RunSubprocess(argv, sub);
  std::string line = step + " colmap " + command;
  if (!run.ok()) {
    std::ofstream(workspace_ / "steps.log", std::ios::app) << line << ": not started\n";
    return MakeError("COLMAP could not be started: " + run.error().what, options_.program,
                     "install COLMAP (scripts/setup) or give its path");
  }
  std::ofstream(workspace_ / "steps.log", std::ios::app)
      << line << ": " << run->DescribeEnd() << " in "
      << static_cast<double>(run->elapsed.count()) / 1000.0 << " s, log "
      << log_path.filename().string() << "\n";
  if (!run->succeeded()) {
    // The last lines of the log usually say why.
    std::vector<std::string> lines;
    std::istringstream out(run->output);
    for (std::string l; std::getline(out, l);) {
      if (!l.empty()) lines.push_back(l);
    }
    std::string tail;
    for (const auto& l : lines) {
      if (l.find("Check failed") != std::string::npos || l.find("ERROR") != std::string::npos) {
        tail = l.substr(0, 300);
        break;
      }
    }
    for (size_t i = lines.size() > 2 ? lines.size() - 2 : 0; tail.empty() && i < lines.size();
         ++i) {
      tail += (tail.empty() ? "" : " | ") + lines[i].substr(0, 200);
    }
    return MakeError("COLMAP " + command + " (" + step + ") " + run->DescribeEnd() +
                         (tail.empty() ? "" : ": " + tail),
                     log_path.string(), "read the log; if COLMAP crashed, report it with the log");
  }
  if (on_step) on_step(step, static_cast<double>(run->elapsed.count()) / 1000.0);
  return run;
}

std::vector<std::pair<int, int>> ChooseImagePairs(const std::vector<PinholeView>& views,
                                                  const SparseOptions& options) {
  const int n = static_cast<int>(views.size());
  const double cos_max = std::cos(options.pair_max_angle_deg * std::numbers::pi / 180);
  std::vector<std::vector<std::pair<double, int>>> partners(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      const double c =
          views[static_cast<size_t>(i)].Axis().dot(views[static_cast<size_t>(j)].Axis());
      if (c >= cos_max) partners[static_cast<size_t>(i)].push_back({-c, j});
    }
    auto& p = partners[static_cast<size_t>(i)];
    std::sort(p.begin(), p.end());
    if (static_cast<int>(p.size()) > options.pair_neighbours) {
      p.resize(static_cast<size_t>(options.pair_neighbours));
    }
  }
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < n; ++i) {
    for (const auto& [score, j] : partners[static_cast<size_t>(i)]) {
      const auto pair = std::make_pair(std::min(i, j), std::max(i, j));
      if (std::find(pairs.begin(), pairs.end(), pair) == pairs.end()) pairs.push_back(pair);
    }
  }
  return pairs;
}

cv::Vec3d Convergence(const std::vector<PinholeView>& views) {
  cv::Matx33d A = cv::Matx33d::zeros();
  cv::Vec3d b(0, 0, 0);
  for (const auto& v : views) {
    const cv::Vec3d d = v.Axis();
    const cv::Matx33d P = cv::Matx33d::eye() - d * d.t();
    A += P;
    b += P * v.Centre();
  }
  return A.inv() * b;
}

Status WritePinholeModel(const std::vector<PinholeView>& views,
                         const std::vector<std::pair<int, int>>& overlaps, const cv::Vec3d& anchor,
                         const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::vector<std::ostringstream> observations(views.size());
  std::vector<int> counts(views.size(), 0);
  std::ostringstream pts;
  pts.precision(17);
  for (size_t k = 0; k < overlaps.size(); ++k) {
    const cv::Vec3d p = anchor + cv::Vec3d(1e-4 * static_cast<double>(k % 10),
                                           1e-4 * static_cast<double>(k / 10 % 10), 0);
    pts << k + 1 << " " << p[0] << " " << p[1] << " " << p[2] << " 128 128 128 0";
    for (const int v : {overlaps[k].first, overlaps[k].second}) {
      const auto i = static_cast<size_t>(v);
      const cv::Point2d px = views[i].Pixel(views[i].ToCamera(p));
      observations[i].precision(10);
      observations[i] << px.x << " " << px.y << " " << k + 1 << " ";
      pts << " " << i + 1 << " " << counts[i]++;
    }
    pts << "\n";
  }
  std::string cameras = "# CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]\n";
  std::string images = "# IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME\n";
  for (size_t i = 0; i < views.size(); ++i) {
    const auto& v = views[i];
    const std::string id = std::to_string(i + 1);
    cameras += id + " PINHOLE " + std::to_string(v.width) + " " + std::to_string(v.height) + " " +
               Num(v.fx) + " " + Num(v.fy) + " " + Num(v.cx) + " " + Num(v.cy) + "\n";
    images += id + " " + PoseLine(v) + " " + id + " " + v.name + "\n";
    images += observations[i].str();
    images += "\n";
  }
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(dir / "cameras.txt", cameras));
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(dir / "images.txt", images));
  return WriteFileAtomic(dir / "points3D.txt", pts.str());
}

std::map<std::string, PinholeView> ReadImagePoses(const std::string& images_txt) {
  std::map<std::string, PinholeView> poses;
  std::istringstream in(images_txt);
  std::string line;
  bool pose_line = true;  // each image has a pose line, then a line of its 2D points (empty when
                          // it has none)
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    if (pose_line && line.empty()) continue;
    if (pose_line) {
      std::istringstream f(line);
      int id = 0;
      int cam = 0;
      double q[4];
      double t[3];
      PinholeView v;
      f >> id >> q[0] >> q[1] >> q[2] >> q[3] >> t[0] >> t[1] >> t[2] >> cam >> v.name;
      if (f) {
        v.R = QuaternionToRotation(q[0], q[1], q[2], q[3]);
        v.t = {t[0], t[1], t[2]};
        poses[v.name] = v;
      }
    }
    pose_line = !pose_line;
  }
  return poses;
}

size_t PlyVertexCount(const fs::path& ply) {
  std::ifstream in(ply, std::ios::binary);
  std::string line;
  for (int i = 0; i < 64 && std::getline(in, line); ++i) {
    if (line.rfind("element vertex ", 0) == 0) return std::stoul(line.substr(15));
    if (line.rfind("end_header", 0) == 0) break;
  }
  return 0;
}

namespace {

// 1. SIFT features of this take's images into a fresh database.db (an image list, so that
//    nothing else in the folder is read), with the calibrated intrinsics fixed in it.
Result<std::map<std::string, DbImage>> ExtractFeatures(const Colmap& colmap,
                                                       const std::vector<PinholeView>& views,
                                                       const fs::path& images,
                                                       const SparseOptions& options) {
  const fs::path& ws = colmap.workspace();
  const fs::path database = ws / "database.db";
  std::error_code ec;
  fs::remove(database, ec);
  std::string list;
  for (const auto& v : views) list += v.name + "\n";
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(ws / "image_list.txt", list));
  TWINRIG_RETURN_IF_ERROR(colmap.Run(
      "1-features", "feature_extractor",
      {"--database_path", database.string(), "--image_path", images.string(), "--image_list_path",
       (ws / "image_list.txt").string(), "--ImageReader.camera_model", "PINHOLE",
       "--ImageReader.single_camera", "0", "--SiftExtraction.use_gpu", "0",
       "--SiftExtraction.num_threads", std::to_string(colmap.options().threads),
       "--SiftExtraction.max_num_features", std::to_string(options.max_features),
       "--SiftExtraction.peak_threshold", std::to_string(options.peak_threshold)}));
  return FixIntrinsics(database, views);
}

// How many image pairs COLMAP verified with 15 or more inlier matches.
int VerifiedPairs(const fs::path& database) {
  sqlite3* db = nullptr;
  int verified = 0;
  if (sqlite3_open_v2(database.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* count = nullptr;
    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM two_view_geometries WHERE rows >= 15", -1, &count,
                       nullptr);
    if (count != nullptr && sqlite3_step(count) == SQLITE_ROW)
      verified = sqlite3_column_int(count, 0);
    sqlite3_finalize(count);
  }
  sqlite3_close(db);
  return verified;
}

// 2. Matches of the rig's image pairs only (pairs.txt).
Status MatchPairs(const Colmap& colmap, const std::vector<PinholeView>& views,
                  const std::vector<std::pair<int, int>>& pairs) {
  const fs::path& ws = colmap.workspace();
  const fs::path database = ws / "database.db";
  std::string pair_list;
  for (const auto& [a, b] : pairs) {
    pair_list +=
        views[static_cast<size_t>(a)].name + " " + views[static_cast<size_t>(b)].name + "\n";
  }
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(ws / "pairs.txt", pair_list));
  TWINRIG_RETURN_IF_ERROR(
      colmap.Run("2-matches", "matches_importer",
                 {"--database_path", database.string(), "--match_list_path",
                  (ws / "pairs.txt").string(), "--match_type", "pairs", "--SiftMatching.use_gpu",
                  "0", "--SiftMatching.num_threads", std::to_string(colmap.options().threads)}));
  // point_triangulator aborts on an empty problem: say plainly when nothing matched.
  if (VerifiedPairs(database) == 0) {
    return MakeError("no two images of this take match each other (0 of " +
                         std::to_string(pairs.size()) + " camera pairs verified)",
                     (ws / "logs" / "2-matches.log").string(),
                     "check that the subject is in focus and lit in every camera and that the "
                     "calibration belongs to this rig");
  }
  return {};
}

// The calibrated model with the database's ids; no points yet.
Status WriteCalibratedModel(const std::vector<PinholeView>& views,
                            const std::map<std::string, DbImage>& ids, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string cameras;
  std::string image_lines;
  for (const auto& v : views) {
    const DbImage id = ids.at(v.name);
    cameras += std::to_string(id.camera_id) + " PINHOLE " + std::to_string(v.width) + " " +
               std::to_string(v.height) + " " + Num(v.fx) + " " + Num(v.fy) + " " + Num(v.cx) +
               " " + Num(v.cy) + "\n";
    image_lines += std::to_string(id.image_id) + " " + PoseLine(v) + " " +
                   std::to_string(id.camera_id) + " " + v.name + "\n\n";
  }
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(dir / "cameras.txt", cameras));
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(dir / "images.txt", image_lines));
  return WriteFileAtomic(dir / "points3D.txt", std::string());
}

// 3. Points triangulated with the calibrated poses held, optionally bundle adjusted, then the
//    model as text; returns the text model's folder.
Result<fs::path> Triangulate(const Colmap& colmap, const fs::path& images, const fs::path& input,
                             const SparseOptions& options) {
  const fs::path& ws = colmap.workspace();
  std::error_code ec;
  const fs::path triangulated = ws / "sparse" / "triangulated";
  fs::create_directories(triangulated, ec);
  TWINRIG_RETURN_IF_ERROR(
      colmap.Run("3-triangulation", "point_triangulator",
                 {"--database_path", (ws / "database.db").string(), "--image_path", images.string(),
                  "--input_path", input.string(), "--output_path", triangulated.string(),
                  "--Mapper.ba_refine_focal_length", "0", "--Mapper.ba_refine_principal_point", "0",
                  "--Mapper.ba_refine_extra_params", "0", "--Mapper.num_threads",
                  std::to_string(colmap.options().threads)}));
  fs::path result = triangulated;
  if (options.bundle_adjust) {
    const fs::path adjusted = ws / "sparse" / "adjusted";
    fs::create_directories(adjusted, ec);
    TWINRIG_RETURN_IF_ERROR(colmap.Run(
        "4-bundle-adjustment", "bundle_adjuster",
        {"--input_path", triangulated.string(), "--output_path", adjusted.string(),
         "--BundleAdjustment.refine_focal_length", "0", "--BundleAdjustment.refine_principal_point",
         "0", "--BundleAdjustment.refine_extra_params", "0"}));
    result = adjusted;
  }
  const fs::path text = ws / "sparse" / "text";
  fs::create_directories(text, ec);
  TWINRIG_RETURN_IF_ERROR(colmap.Run(
      "5-model-text", "model_converter",
      {"--input_path", result.string(), "--output_path", text.string(), "--output_type", "TXT"}));
  return text;
}

// The points of a points3D.txt with their track lengths and mean reprojection error.
void ReadPoints(const std::string& points_txt, SparseModel& model) {
  std::istringstream in(points_txt);
  std::string line;
  double error_sum = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    long id = 0;
    double x = 0;
    double y = 0;
    double z = 0;
    int r = 0;
    int g = 0;
    int b = 0;
    double error = 0;
    f >> id >> x >> y >> z >> r >> g >> b >> error;
    if (!f) continue;
    int track = 0;
    long image = 0;
    long point2d = 0;
    while (f >> image >> point2d) ++track;
    model.points.push_back({x, y, z});
    model.track_lengths.push_back(track);
    error_sum += error;
  }
  if (!model.points.empty())
    model.mean_reprojection_px = error_sum / static_cast<double>(model.points.size());
}

// 4. The text model into `model`: registered images (and their poses, which bundle adjustment
//    may have refined) and the points.
Status ReadTextModel(const Colmap& colmap, const fs::path& text,
                     const std::vector<PinholeView>& views, SparseModel& model) {
  auto images_txt = ReadFileText(text / "images.txt");
  auto points_txt = ReadFileText(text / "points3D.txt");
  if (!images_txt.ok() || !points_txt.ok()) {
    return MakeError("COLMAP left no text model", text.string(),
                     "read the logs in " + (colmap.workspace() / "logs").string());
  }
  model.views = views;
  model.in_model.assign(views.size(), false);
  const auto poses = ReadImagePoses(*images_txt);
  for (size_t i = 0; i < views.size(); ++i) {
    const auto it = poses.find(views[i].name);
    if (it == poses.end()) continue;
    model.views[i].R = it->second.R;
    model.views[i].t = it->second.t;
    model.in_model[i] = true;
    ++model.registered;
  }
  ReadPoints(*points_txt, model);
  return {};
}

}  // namespace

Result<SparseModel> RunSparse(const Colmap& colmap, const std::vector<PinholeView>& views,
                              const fs::path& images, const SparseOptions& options) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "sparse options"));
  const fs::path& ws = colmap.workspace();
  TWINRIG_ASSIGN_OR_RETURN(const auto ids, ExtractFeatures(colmap, views, images, options));
  SparseModel model;
  const auto pairs = ChooseImagePairs(views, options);
  model.pairs = static_cast<int>(pairs.size());
  if (pairs.empty()) {
    return MakeError("no two cameras look at the same surface", ws.string(),
                     "check the calibration: the cameras' poses do not face each other");
  }
  TWINRIG_RETURN_IF_ERROR(MatchPairs(colmap, views, pairs));
  const fs::path input = ws / "sparse" / "calibrated";
  TWINRIG_RETURN_IF_ERROR(WriteCalibratedModel(views, ids, input));
  TWINRIG_ASSIGN_OR_RETURN(const fs::path text, Triangulate(colmap, images, input, options));
  TWINRIG_RETURN_IF_ERROR(ReadTextModel(colmap, text, views, model));
  if (model.points.size() < 20) {
    // Not fatal: the calibrated poses carry the reconstruction and the dense stage bounds its
    // depths by the rig's geometry. But it is the sign of a calibration that no longer fits the
    // rig, or of a subject out of focus or unlit, so it is said.
    Log()
        .With("workspace", ws.string())
        .Warn(
            "COLMAP triangulated only {} points from {} cameras: check that the calibration "
            "belongs to this rig as it is now and that the subject is lit and in focus",
            model.points.size(), views.size());
  }
  return model;
}

}  // namespace twinrig::reconstruct
