#include "calibration/solver.h"

#include <ceres/ceres.h>
#include <ceres/rotation.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <numbers>
#include <numeric>
#include <optional>
#include <set>
#include <tuple>

#include <opencv2/calib3d.hpp>

#include "calibration/corner_cost.h"
#include "geometry/geometry.h"
#include "util/check.h"
#include "util/clock.h"
#include "util/logging.h"
#include "util/options.h"

namespace twinrig::calibration {
namespace {

// A rigid transform X' = R X + t (as a camera's pose: world -> camera).
using Rigid = geometry::Pose;

Rigid FromRvec(const cv::Vec3d& rvec, const cv::Vec3d& tvec) {
  Rigid r;
  cv::Rodrigues(rvec, r.R);
  r.t = tvec;
  return r;
}

std::array<double, 6> ToParams(const Rigid& r) {
  cv::Vec3d rvec;
  cv::Rodrigues(r.R, rvec);
  return {rvec[0], rvec[1], rvec[2], r.t[0], r.t[1], r.t[2]};
}

Rigid FromParams(const std::array<double, 6>& p) {
  return FromRvec({p[0], p[1], p[2]}, {p[3], p[4], p[5]});
}

struct Observation {
  int camera;
  int view;    // index into that camera's views
  int corner;  // index into the view's ids/points
  int pose;
  bool outlier = false;
};

cv::Point2d Project(const std::array<double, 9>& in, const std::array<double, 6>& cam,
                    const std::array<double, 6>& board, const cv::Point3f& corner) {
  const CornerCost cost(corner, cv::Point2f(0, 0));
  double r[2];
  cost(in.data(), cam.data(), board.data(), r);
  return {r[0], r[1]};
}

// Fraction of the cells of an 8 x 6 grid over the image that hold at least one corner.
double Coverage(const CameraObservations& camera) {
  constexpr int kCols = 8;
  constexpr int kRows = 6;
  std::set<int> cells;
  for (const ViewObservation& view : camera.views) {
    for (const cv::Point2f& p : view.points) {
      const int cx = std::clamp(
          static_cast<int>(p.x * static_cast<float>(kCols) / static_cast<float>(camera.width)), 0,
          kCols - 1);
      const int cy = std::clamp(
          static_cast<int>(p.y * static_cast<float>(kRows) / static_cast<float>(camera.height)), 0,
          kRows - 1);
      cells.insert(cy * kCols + cx);
    }
  }
  return static_cast<double>(cells.size()) / (kCols * kRows);
}

// Where in its image a camera has not seen the board yet (3 x 3 regions with no corner), as advice:
// ", in the top-left and right of its view" (empty when every region has corners).
std::string WhereToShow(const CameraObservations& camera) {
  static const char* const kRegions[3][3] = {{"top-left", "top", "top-right"},
                                             {"left", "centre", "right"},
                                             {"bottom-left", "bottom", "bottom-right"}};
  bool seen[3][3] = {};
  for (const ViewObservation& view : camera.views) {
    for (const cv::Point2f& p : view.points) {
      const int col =
          std::clamp(static_cast<int>(3 * p.x / static_cast<float>(camera.width)), 0, 2);
      const int row =
          std::clamp(static_cast<int>(3 * p.y / static_cast<float>(camera.height)), 0, 2);
      seen[row][col] = true;
    }
  }
  std::vector<std::string> empty;
  for (int row = 0; row < 3; ++row) {
    for (int col = 0; col < 3; ++col) {
      if (!seen[row][col]) empty.emplace_back(kRegions[row][col]);
    }
  }
  if (empty.empty()) return "";
  if (empty.size() == 9) return ", filling its view";
  std::string list;
  for (size_t i = 0; i < empty.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == empty.size() ? " and " : ", ") + empty[i];
  }
  return ", in the " + list + " of its view";
}

// A per-camera start worse than this (pixels RMS) has not found the lens.
constexpr double kMaxStartRmsPx = 10.0;

// A lens the solve can start from: positive finite focal lengths, the principal point inside the
// image. Views that do not constrain a camera give OpenCV's fit freedom to wander off.
bool PlausibleLens(const cv::Mat& K, int width, int height) {
  if (K.empty()) return false;
  const double fx = K.at<double>(0, 0);
  const double fy = K.at<double>(1, 1);
  const double cx = K.at<double>(0, 2);
  const double cy = K.at<double>(1, 2);
  const bool finite =
      std::isfinite(fx) && std::isfinite(fy) && std::isfinite(cx) && std::isfinite(cy);
  return finite && fx > 0 && fy > 0 && fx / fy < 2 && fy / fx < 2 && cx > 0 && cx < width &&
         cy > 0 && cy < height;
}

// Drops the cameras whose `keep` is false from the per-camera arrays (in step).
void KeepCameras(const std::vector<bool>& keep, std::vector<CameraObservations>& cams,
                 std::vector<std::array<double, 9>>& intrinsics,
                 std::vector<std::vector<Rigid>>& view_pose, std::vector<double>& start_rms,
                 std::vector<std::optional<Rigid>>* camera_pose = nullptr) {
  size_t out = 0;
  for (size_t c = 0; c < cams.size(); ++c) {
    if (!keep[c]) continue;
    if (out != c) {  // a vector moved onto itself would be left empty
      cams[out] = std::move(cams[c]);
      intrinsics[out] = intrinsics[c];
      view_pose[out] = std::move(view_pose[c]);
      start_rms[out] = start_rms[c];
      if (camera_pose != nullptr) (*camera_pose)[out] = (*camera_pose)[c];
    }
    ++out;
  }
  cams.resize(out);
  intrinsics.resize(out);
  view_pose.resize(out);
  start_rms.resize(out);
  if (camera_pose != nullptr) camera_pose->resize(out);
}

// The first camera of the largest group of cameras linked (directly or through others) by board
// poses they saw together.
size_t LargestLinkedGroupFirst(const std::vector<CameraObservations>& cams) {
  std::vector<size_t> group(cams.size());
  for (size_t c = 0; c < cams.size(); ++c) group[c] = c;
  const auto find = [&](size_t c) {
    while (group[c] != c) c = group[c] = group[group[c]];
    return c;
  };
  std::map<int, size_t> first_seen_by;  // board pose -> a camera that saw it
  for (size_t c = 0; c < cams.size(); ++c) {
    for (const ViewObservation& view : cams[c].views) {
      auto [it, inserted] = first_seen_by.emplace(view.pose, c);
      if (!inserted) group[find(c)] = find(it->second);
    }
  }
  std::map<size_t, size_t> size;
  for (size_t c = 0; c < cams.size(); ++c) ++size[find(c)];
  size_t best = 0;
  for (size_t c = 0; c < cams.size(); ++c) {
    if (size[find(c)] > size[find(best)]) best = c;
  }
  return best;
}

Error NoCameraCalibrated(const RigSolution& solution) {
  std::string why;
  for (const UncalibratedCamera& cam : solution.uncalibrated) {
    why += (why.empty() ? "" : "; ") + ("camera " + cam.serial + " " + cam.reason);
  }
  return MakeError("no camera could be calibrated: " + why, "calibration",
                   "show the whole board to every camera in more positions (tilted, near the "
                   "edges of their view) and check that the board spec matches the printed board");
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  const auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  return *mid;
}

// Best rigid fit: dst ~ R src + t (Kabsch).
Result<Rigid> FitRigid(const std::vector<cv::Vec3d>& src, const std::vector<cv::Vec3d>& dst) {
  if (src.size() < 3) {
    return MakeError("need three or more cameras to place the rig in the studio's frame",
                     "rig alignment", "calibrate at least three cameras of the rig together");
  }
  cv::Vec3d cs(0, 0, 0);
  cv::Vec3d cd(0, 0, 0);
  for (size_t i = 0; i < src.size(); ++i) {
    cs += src[i];
    cd += dst[i];
  }
  cs *= 1.0 / static_cast<double>(src.size());
  cd *= 1.0 / static_cast<double>(src.size());
  cv::Matx33d H = cv::Matx33d::zeros();
  for (size_t i = 0; i < src.size(); ++i) H += (src[i] - cs) * (dst[i] - cd).t();
  cv::Mat w, u, vt;
  cv::SVD::compute(cv::Mat(H), w, u, vt);
  if (w.at<double>(1) < 1e-9 * std::max(1.0, w.at<double>(0))) {
    return MakeError("the cameras lie on one line; the rig's orientation is not determined",
                     "rig alignment", "calibrate cameras that are not all in a row");
  }
  cv::Matx33d U(u), Vt(vt);
  cv::Matx33d D = cv::Matx33d::eye();
  if (cv::determinant(Vt.t() * U.t()) < 0) D(2, 2) = -1;
  Rigid r;
  r.R = Vt.t() * D * U.t();
  r.t = cd - r.R * cs;
  return r;
}

// Moves the solution's world by X_new = A X_old (cameras and board poses).
void ApplyWorldTransform(RigSolution& solution, const Rigid& A) {
  const Rigid inverse = A.Inverse();
  for (CameraCalibration& cam : solution.cameras) {
    const Rigid pose = cam.Pose();
    const Rigid moved = pose * inverse;
    cam.R = moved.RotationArray();
    cam.t = {moved.t[0], moved.t[1], moved.t[2]};
  }
  for (auto& [index, pose] : solution.board_poses) {
    const Rigid moved = A * Rigid{pose.first, pose.second};
    pose = {moved.R, moved.t};
  }
}

// The solve's working state, camera by camera in step: the cameras still in, their lenses (fx,
// fy, cx, cy, k1, k2, p1, p2, k3), the board -> camera pose of each view and the per-camera RMS
// of the start; after chaining, each camera's world -> camera pose and each board pose.
struct RigProblem {
  std::vector<CameraObservations> cams;
  std::vector<std::array<double, 9>> intrinsics;
  std::vector<std::vector<Rigid>> view_pose;  // board -> camera
  std::vector<double> start_rms;
  std::vector<std::optional<Rigid>> camera_pose;  // world -> camera
  std::map<int, Rigid> board_pose;                // board -> world
  [[nodiscard]] int size() const { return static_cast<int>(cams.size()); }
};

// The views each camera can use (enough corners, ids in range); a camera with too few views is
// left out into `solution.uncalibrated`.
std::vector<CameraObservations> UsableViews(const std::vector<CameraObservations>& input,
                                            const std::vector<cv::Point3f>& corners,
                                            const SolveOptions& options, RigSolution& solution) {
  std::vector<CameraObservations> cams = input;
  for (CameraObservations& cam : cams) {
    std::erase_if(cam.views, [&](const ViewObservation& v) {
      return static_cast<int>(v.ids.size()) < options.min_corners ||
             v.ids.size() != v.points.size();
    });
    for (const ViewObservation& v : cam.views) {
      for (int id : v.ids) {
        TWINRIG_CHECK(id >= 0 && id < static_cast<int>(corners.size()))
            << "corner id " << id << " outside the board";
      }
    }
  }
  std::erase_if(cams, [&](const CameraObservations& cam) {
    const int views = static_cast<int>(cam.views.size());
    if (views >= options.min_views) return false;
    solution.uncalibrated.push_back(
        {cam.serial,
         "saw the board in " + std::to_string(views) + " of " + std::to_string(cam.images) +
             " images; " + std::to_string(options.min_views) + " are needed",
         "take " + std::to_string(options.min_views - views) +
             " or more board positions this camera sees whole, tilted" + WhereToShow(cam) +
             ", then calibrate again (check that the board spec matches the printed board)"});
    return true;
  });
  return cams;
}

// 1. Per camera: intrinsics and the board pose in each view (OpenCV's closed-form start and LM).
//    A camera whose views do not determine its lens is left out.
RigProblem StartPerCamera(std::vector<CameraObservations> usable,
                          const std::vector<cv::Point3f>& corners, RigSolution& solution) {
  RigProblem p;
  p.cams = std::move(usable);
  const auto n = static_cast<size_t>(p.size());
  p.intrinsics.resize(n);
  p.view_pose.resize(n);
  p.start_rms.resize(n);
  std::vector<bool> keep(n, true);
  for (size_t c = 0; c < n; ++c) {
    const CameraObservations& cam = p.cams[c];
    std::vector<std::vector<cv::Point3f>> object;
    std::vector<std::vector<cv::Point2f>> image;
    for (const ViewObservation& v : cam.views) {
      std::vector<cv::Point3f> o;
      for (int id : v.ids) o.push_back(corners[static_cast<size_t>(id)]);
      object.push_back(std::move(o));
      image.push_back(v.points);
    }
    cv::Mat K, dist;
    std::vector<cv::Mat> rvecs, tvecs;
    bool solved = true;
    try {
      p.start_rms[c] = cv::calibrateCamera(
          object, image, cv::Size(cam.width, cam.height), K, dist, rvecs, tvecs, 0,
          cv::TermCriteria(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, 100, DBL_EPSILON));
    } catch (const cv::Exception& e) {
      // OpenCV's text is for developers: the log keeps it, the technician gets the cause.
      Log().Debug("camera {}: cv::calibrateCamera: {}", cam.serial, e.what());
      solved = false;
    }
    if (!solved || !PlausibleLens(K, cam.width, cam.height) || !(p.start_rms[c] < kMaxStartRmsPx)) {
      keep[c] = false;
      solution.uncalibrated.push_back(
          {cam.serial,
           "its " + std::to_string(cam.views.size()) +
               " views do not determine its lens (the board too small in its image, too "
               "oblique, or always in the same place)",
           "take more board positions for this camera: nearer, tilted both ways" +
               WhereToShow(cam) + ", then calibrate again"});
      continue;
    }
    p.intrinsics[c] = {K.at<double>(0, 0), K.at<double>(1, 1), K.at<double>(0, 2),
                       K.at<double>(1, 2), dist.at<double>(0), dist.at<double>(1),
                       dist.at<double>(2), dist.at<double>(3), dist.at<double>(4)};
    for (size_t v = 0; v < rvecs.size(); ++v) {
      p.view_pose[c].push_back(FromRvec(rvecs[v], tvecs[v]));
    }
  }
  KeepCameras(keep, p.cams, p.intrinsics, p.view_pose, p.start_rms);
  return p;
}

// 2. Chain cameras and board poses into the first camera's frame (breadth first over shared
//    board poses). The first camera is one of the largest group of cameras linked by shared
//    board poses, so one badly placed camera cannot cut the rig off. A camera that shares no
//    board position with the first (directly or through others) cannot be placed: left out.
void ChainIntoOneFrame(RigProblem& p, RigSolution& solution) {
  if (const size_t root = LargestLinkedGroupFirst(p.cams); root != 0) {
    std::swap(p.cams[0], p.cams[root]);
    std::swap(p.intrinsics[0], p.intrinsics[root]);
    std::swap(p.view_pose[0], p.view_pose[root]);
    std::swap(p.start_rms[0], p.start_rms[root]);
  }
  const auto n = static_cast<size_t>(p.size());
  p.camera_pose.assign(n, std::nullopt);
  p.camera_pose[0] = Rigid{};
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t c = 0; c < n; ++c) {
      const auto& views = p.cams[c].views;
      for (size_t v = 0; v < views.size(); ++v) {
        const Rigid& cb = p.view_pose[c][v];  // board -> camera
        auto known_board = p.board_pose.find(views[v].pose);
        if (p.camera_pose[c] && known_board == p.board_pose.end()) {
          p.board_pose[views[v].pose] = p.camera_pose[c]->Inverse() * cb;
          changed = true;
        } else if (!p.camera_pose[c] && known_board != p.board_pose.end()) {
          p.camera_pose[c] = cb * known_board->second.Inverse();
          changed = true;
        }
      }
    }
  }
  std::vector<bool> keep(n, true);
  for (size_t c = 0; c < n; ++c) {
    if (p.camera_pose[c]) continue;
    keep[c] = false;
    solution.uncalibrated.push_back(
        {p.cams[c].serial,
         "shares no board position with camera " + p.cams[0].serial +
             " (directly or through other cameras), so it cannot be placed in the rig",
         "take board positions that this camera and its neighbours see at once, then calibrate "
         "again"});
  }
  KeepCameras(keep, p.cams, p.intrinsics, p.view_pose, p.start_rms, &p.camera_pose);
}

// The joint problem's parameters (each camera's intrinsics and pose, each board pose) and every
// corner seen, with the residual (observed - projected) of one corner at the current parameters.
struct JointProblem {
  const RigProblem& rig;
  const std::vector<cv::Point3f>& corners;
  std::vector<std::array<double, 9>> intrinsics;
  std::vector<std::array<double, 6>> cam_params;
  std::map<int, std::array<double, 6>> board_params;
  std::vector<Observation> observations;

  JointProblem(const RigProblem& p, const std::vector<cv::Point3f>& board_corners)
      : rig(p), corners(board_corners), intrinsics(p.intrinsics) {
    for (const std::optional<Rigid>& pose : p.camera_pose) cam_params.push_back(ToParams(*pose));
    for (const auto& [pose, rigid] : p.board_pose) board_params[pose] = ToParams(rigid);
    for (int c = 0; c < p.size(); ++c) {
      const auto& views = p.cams[static_cast<size_t>(c)].views;
      for (size_t v = 0; v < views.size(); ++v) {
        for (size_t k = 0; k < views[v].ids.size(); ++k) {
          observations.push_back({c, static_cast<int>(v), static_cast<int>(k), views[v].pose});
        }
      }
    }
  }

  [[nodiscard]] const ViewObservation& ViewOf(const Observation& o) const {
    return rig.cams[static_cast<size_t>(o.camera)].views[static_cast<size_t>(o.view)];
  }
  [[nodiscard]] const cv::Point3f& CornerOf(const Observation& o) const {
    return corners[static_cast<size_t>(ViewOf(o).ids[static_cast<size_t>(o.corner)])];
  }
  [[nodiscard]] cv::Point2d Residual(const Observation& o) const {
    const cv::Point2d projected =
        Project(intrinsics[static_cast<size_t>(o.camera)],
                cam_params[static_cast<size_t>(o.camera)], board_params.at(o.pose), CornerOf(o));
    // Project() returns the residual of a zero observation, i.e. the projected position.
    const cv::Point2f& seen = ViewOf(o).points[static_cast<size_t>(o.corner)];
    return {seen.x - projected.x, seen.y - projected.y};
  }
  [[nodiscard]] double Rms() const {
    double sum = 0;
    int count = 0;
    for (const Observation& o : observations) {
      const cv::Point2d r = Residual(o);
      sum += r.dot(r);
      ++count;
    }
    return std::sqrt(sum / std::max(1, count));
  }
};

// One Ceres solve over the inlier corners (Huber loss when robust).
Status SolveJointPass(JointProblem& j, const SolveOptions& options, int pass) {
  ceres::Problem::Options problem_options;
  problem_options.loss_function_ownership = ceres::DO_NOT_TAKE_OWNERSHIP;
  ceres::Problem problem(problem_options);
  ceres::HuberLoss loss(options.huber_px);
  for (const Observation& o : j.observations) {
    if (o.outlier) continue;
    auto* cost = new ceres::AutoDiffCostFunction<CornerCost, 2, 9, 6, 6>(
        new CornerCost(j.CornerOf(o), j.ViewOf(o).points[static_cast<size_t>(o.corner)]));
    problem.AddResidualBlock(
        cost, options.robust ? &loss : nullptr, j.intrinsics[static_cast<size_t>(o.camera)].data(),
        j.cam_params[static_cast<size_t>(o.camera)].data(), j.board_params.at(o.pose).data());
  }
  // The first camera defines the frame (the board gives the scale).
  problem.SetParameterBlockConstant(j.cam_params[0].data());
  // Board poses are eliminated first (Schur complement); cameras form the reduced system.
  auto ordering = std::make_shared<ceres::ParameterBlockOrdering>();
  for (auto& [pose, params] : j.board_params) ordering->AddElementToGroup(params.data(), 0);
  for (size_t c = 0; c < j.cam_params.size(); ++c) {
    ordering->AddElementToGroup(j.intrinsics[c].data(), 1);
    ordering->AddElementToGroup(j.cam_params[c].data(), 1);
  }
  ceres::Solver::Options solver_options;
  solver_options.linear_solver_type =
      ceres::IsSparseLinearAlgebraLibraryTypeAvailable(ceres::SUITE_SPARSE) ||
              ceres::IsSparseLinearAlgebraLibraryTypeAvailable(ceres::EIGEN_SPARSE)
          ? ceres::SPARSE_SCHUR
          : ceres::DENSE_SCHUR;
  if (j.cam_params.size() <= 64) solver_options.linear_solver_type = ceres::DENSE_SCHUR;
  solver_options.linear_solver_ordering = ordering;
  solver_options.num_threads = options.threads;
  solver_options.max_num_iterations = options.max_iterations;
  solver_options.function_tolerance = 1e-10;
  solver_options.parameter_tolerance = 1e-10;
  solver_options.gradient_tolerance = 1e-12;
  solver_options.logging_type = ceres::SILENT;
  ceres::Solver::Summary summary;
  ceres::Solve(solver_options, &problem, &summary);
  if (!summary.IsSolutionUsable()) {
    return MakeError("the rig solve failed: " + summary.message, "calibration",
                     "check the board spec; retake the board positions");
  }
  Log().Debug("rig solve pass {}: {} -> {} cost, {} iterations, {:.2f} s", pass + 1,
              summary.initial_cost, summary.final_cost, summary.iterations.size(),
              summary.total_time_in_seconds);
  return {};
}

// Marks the residuals far beyond the typical one (robust sigma from the median) as outliers;
// returns how many.
int MarkOutliers(JointProblem& j, const SolveOptions& options) {
  std::vector<double> norms;
  norms.reserve(j.observations.size());
  for (const Observation& o : j.observations) norms.push_back(cv::norm(j.Residual(o)));
  // The median of a 2-D residual norm is about 1.18 sigma for Gaussian noise.
  const double sigma = Median(norms) / 1.1774;
  const double threshold = std::max(options.min_outlier_px, options.outlier_sigmas * sigma);
  int dropped = 0;
  for (size_t i = 0; i < j.observations.size(); ++i) {
    if (norms[i] > threshold) {
      j.observations[i].outlier = true;
      ++dropped;
    }
  }
  return dropped;
}

// 3. Joint bundle adjustment: a robust pass, then (when it found outliers) one without them.
Status BundleAdjust(JointProblem& j, const SolveOptions& options) {
  const int passes = !options.joint ? 0 : options.robust ? 2 : 1;
  for (int pass = 0; pass < passes; ++pass) {
    TWINRIG_RETURN_IF_ERROR(SolveJointPass(j, options, pass));
    if (pass == 0 && options.robust && MarkOutliers(j, options) == 0) {
      break;  // nothing changes in a second pass
    }
  }
  return {};
}

// 4a. Per-view results and errors: every corner's residual; per camera and per view the RMS over
//     every detected corner, as OpenCV reports it (an outlier left out of the fit still shows in
//     the camera's error); overall over the corners the fit used. Returns each camera's RMS.
std::vector<double> CollectResiduals(const JointProblem& j, RigSolution& solution) {
  const auto n = static_cast<size_t>(j.rig.size());
  std::vector<double> sum_sq(n, 0);
  std::vector<int> count(n, 0);
  std::map<std::pair<int, int>, size_t> view_index;
  for (size_t c = 0; c < n; ++c) {
    const auto& views = j.rig.cams[c].views;
    for (size_t v = 0; v < views.size(); ++v) {
      ViewResult r;
      r.camera = static_cast<int>(c);
      r.pose = views[v].pose;
      r.source = views[v].source;
      view_index[{static_cast<int>(c), static_cast<int>(v)}] = solution.views.size();
      solution.views.push_back(std::move(r));
    }
  }
  std::vector<double> view_sum(solution.views.size(), 0);
  std::vector<int> view_count(solution.views.size(), 0);
  double total = 0;
  for (const Observation& o : j.observations) {
    const cv::Point2d r = j.Residual(o);
    const size_t vi = view_index.at({o.camera, o.view});
    solution.views[vi].observed.push_back(j.ViewOf(o).points[static_cast<size_t>(o.corner)]);
    solution.views[vi].residual.emplace_back(static_cast<float>(r.x), static_cast<float>(r.y));
    solution.views[vi].outlier.push_back(o.outlier);
    const double sq = r.dot(r);
    sum_sq[static_cast<size_t>(o.camera)] += sq;
    ++count[static_cast<size_t>(o.camera)];
    view_sum[vi] += sq;
    ++view_count[vi];
    if (o.outlier) {
      ++solution.outliers;
      continue;
    }
    total += sq;
    ++solution.corners;
  }
  for (size_t vi = 0; vi < solution.views.size(); ++vi) {
    solution.views[vi].rms_px = std::sqrt(view_sum[vi] / std::max(1, view_count[vi]));
  }
  solution.rms_px = std::sqrt(total / std::max(1, solution.corners));
  std::vector<double> camera_rms(n);
  for (size_t c = 0; c < n; ++c) camera_rms[c] = std::sqrt(sum_sq[c] / std::max(1, count[c]));
  return camera_rms;
}

// 4b. A camera's verdict ("ok", "check", "bad") and why it is not "ok" ("" when it is).
std::pair<std::string, std::string> Verdict(const CameraCalibration& camera, double coverage,
                                            const SolveOptions& options) {
  std::vector<std::string> why;
  std::string verdict = "ok";
  if (camera.rms_px > options.bad_rms_px) {
    verdict = "bad";
    why.push_back("reprojection RMS " + std::to_string(camera.rms_px).substr(0, 5) +
                  " px: check focus, motion blur and the board spec, then recalibrate");
  } else if (camera.rms_px > options.check_rms_px) {
    verdict = "check";
    why.push_back("reprojection RMS above " + std::to_string(options.check_rms_px).substr(0, 4) +
                  " px");
  }
  if (camera.views < options.check_views) {
    if (verdict == "ok") verdict = "check";
    why.push_back("only " + std::to_string(camera.views) + " views: show it the board more often");
  }
  if (coverage < options.check_coverage) {
    if (verdict == "ok") verdict = "check";
    why.push_back("corners cover only " + std::to_string(static_cast<int>(100 * coverage)) +
                  "% of the image: bring the board near its edges and corners");
  }
  std::string notes;
  for (const std::string& w : why) notes += (notes.empty() ? "" : "; ") + w;
  return {verdict, notes};
}

// 4c. The solved cameras (lens, pose, errors, verdicts) and board poses into the solution.
void CollectCameras(const JointProblem& j, const std::vector<double>& camera_rms,
                    const SolveOptions& options, RigSolution& solution) {
  const auto n = static_cast<size_t>(j.rig.size());
  solution.cameras.resize(n);
  solution.notes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    CameraCalibration& out = solution.cameras[i];
    const CameraObservations& cam = j.rig.cams[i];
    out.serial = cam.serial;
    out.width = cam.width;
    out.height = cam.height;
    const auto& in = j.intrinsics[i];
    out.fx = in[0];
    out.fy = in[1];
    out.cx = in[2];
    out.cy = in[3];
    out.k1 = in[4];
    out.k2 = in[5];
    out.p1 = in[6];
    out.p2 = in[7];
    out.k3 = in[8];
    const Rigid pose = FromParams(j.cam_params[i]);
    out.R = pose.RotationArray();
    out.t = {pose.t[0], pose.t[1], pose.t[2]};
    out.rms_px = camera_rms[i];
    out.views = static_cast<int>(cam.views.size());
    solution.coverage.push_back(Coverage(cam));
    std::tie(out.verdict, solution.notes[i]) = Verdict(out, solution.coverage[i], options);
  }
  for (const auto& [pose, params] : j.board_params) {
    const Rigid r = FromParams(params);
    solution.board_poses[pose] = {r.R, r.t};
  }
}

// 4d. Each camera's uncertainty from the covariance of the solve, and the cameras whose rays land
//     less surely than the twin needs, with where to show them the board.
void CollectUncertainty(const JointProblem& j, const SolveOptions& options, RigSolution& solution) {
  std::vector<Sighting> sightings;
  double sum_sq = 0;
  for (const Observation& o : j.observations) {
    if (o.outlier) continue;
    sightings.push_back({o.camera, o.pose, j.CornerOf(o)});
    const cv::Point2d r = j.Residual(o);
    sum_sq += r.dot(r);
  }
  const double unknowns = 15.0 * static_cast<double>(j.cam_params.size()) +
                          6.0 * static_cast<double>(j.board_params.size()) - 6;
  const double freedom = 2.0 * static_cast<double>(sightings.size()) - unknowns;
  if (freedom <= 0) return;
  const double sigma_px = std::sqrt(sum_sq / freedom);
  solution.uncertainty =
      EstimateUncertainty(j.intrinsics, j.cam_params, j.board_params, sightings, sigma_px);
  for (size_t c = 0; c < solution.uncertainty.size(); ++c) {
    const double three_sigma = 3 * solution.uncertainty[c].subject_mm;
    if (three_sigma <= options.twin_mm) continue;
    const std::string where = WhereToShow(j.rig.cams[c]);
    solution.too_uncertain.push_back(
        {j.rig.cams[c].serial,
         cv::format("its rays land on the subject within %.2f mm (3 sigma); a %.1f mm twin needs "
                    "%.1f mm",
                    three_sigma, options.twin_mm, options.twin_mm),
         "show it the board in more positions" +
             (where.empty() ? std::string(", tilted steeply both ways and nearer to it") : where) +
             ", then calibrate again"});
  }
}

}  // namespace

std::vector<std::string> SolveOptions::Validate() const {
  std::vector<std::string> problems;
  if (min_views < 3) problems.push_back("min_views must be at least 3");
  if (min_corners < 4) problems.push_back("min_corners must be at least 4");
  if (!(huber_px > 0)) problems.push_back("huber_px must be positive");
  if (!(outlier_sigmas > 0)) problems.push_back("outlier_sigmas must be positive");
  if (threads < 1 || threads > 256) problems.push_back("threads must be 1..256");
  if (max_iterations < 1) problems.push_back("max_iterations must be positive");
  if (!(twin_mm > 0)) problems.push_back("twin_mm must be positive");
  return problems;
}

Result<RigSolution> SolveRig(const std::vector<CameraObservations>& input, const BoardSpec& board,
                             const SolveOptions& options) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "calibration options"));
  const std::int64_t start_ns = MonotonicNowNs();
  if (input.empty()) {
    return MakeError("no cameras to calibrate", "calibration",
                     "give one image folder per camera (or a session with images)");
  }
  const std::vector<cv::Point3f> corners = board.Corners();
  RigSolution solution;
  RigProblem rig =
      StartPerCamera(UsableViews(input, corners, options, solution), corners, solution);
  if (rig.size() == 0) return NoCameraCalibrated(solution);
  ChainIntoOneFrame(rig, solution);
  JointProblem joint(rig, corners);
  solution.initial_rms_px = joint.Rms();
  TWINRIG_RETURN_IF_ERROR(BundleAdjust(joint, options));
  CollectCameras(joint, CollectResiduals(joint, solution), options, solution);
  if (options.joint) CollectUncertainty(joint, options, solution);
  solution.seconds = static_cast<double>(MonotonicNowNs() - start_ns) * 1e-9;
  return solution;
}

Result<double> AlignToPlanned(RigSolution& solution,
                              const std::map<std::string, std::array<double, 3>>& planned) {
  std::vector<cv::Vec3d> src;
  std::vector<cv::Vec3d> dst;
  for (const CameraCalibration& cam : solution.cameras) {
    auto it = planned.find(cam.serial);
    if (it == planned.end()) continue;
    const auto c = cam.Centre();
    src.emplace_back(c[0], c[1], c[2]);
    dst.emplace_back(it->second[0], it->second[1], it->second[2]);
  }
  auto fit = FitRigid(src, dst);
  if (!fit.ok()) return fit.error();
  ApplyWorldTransform(solution, *fit);
  double sum = 0;
  for (size_t i = 0; i < src.size(); ++i) {
    const cv::Vec3d d = fit->R * src[i] + fit->t - dst[i];
    sum += d.dot(d);
  }
  return std::sqrt(sum / static_cast<double>(src.size()));
}

Result<RigErrors> CompareRigs(const std::vector<CameraCalibration>& solved,
                              const std::vector<CameraCalibration>& reference) {
  std::vector<cv::Vec3d> src;
  std::vector<cv::Vec3d> dst;
  std::vector<std::pair<const CameraCalibration*, const CameraCalibration*>> pairs;
  for (const CameraCalibration& s : solved) {
    for (const CameraCalibration& r : reference) {
      if (r.serial != s.serial) continue;
      const auto a = s.Centre();
      const auto b = r.Centre();
      src.emplace_back(a[0], a[1], a[2]);
      dst.emplace_back(b[0], b[1], b[2]);
      pairs.emplace_back(&s, &r);
    }
  }
  auto fit = FitRigid(src, dst);
  if (!fit.ok()) return fit.error();
  RigErrors e;
  e.cameras = static_cast<int>(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    const CameraCalibration& s = *pairs[i].first;
    const CameraCalibration& r = *pairs[i].second;
    for (const double err : {std::abs(s.fx - r.fx) / r.fx, std::abs(s.fy - r.fy) / r.fy}) {
      e.focal_err_pct_mean += 100 * err / (2.0 * static_cast<double>(pairs.size()));
      e.focal_err_pct_max = std::max(e.focal_err_pct_max, 100 * err);
    }
    // Solved pose in the reference frame: R_s A^T.
    const cv::Matx33d Rs = s.Pose().R * fit->R.t();
    const cv::Matx33d delta = Rs.t() * r.Pose().R;
    const double cos_angle = std::clamp((cv::trace(delta) - 1) / 2, -1.0, 1.0);
    const double deg = std::acos(cos_angle) * 180 / std::numbers::pi;
    e.rot_err_deg_mean += deg / static_cast<double>(pairs.size());
    e.rot_err_deg_max = std::max(e.rot_err_deg_max, deg);
    const double mm = cv::norm(fit->R * src[i] + fit->t - dst[i]) * 1000;
    e.pos_err_mm_mean += mm / static_cast<double>(pairs.size());
    e.pos_err_mm_max = std::max(e.pos_err_mm_max, mm);
  }
  return e;
}

}  // namespace twinrig::calibration
