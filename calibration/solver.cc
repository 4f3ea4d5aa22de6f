#include "calibration/solver.h"

#include <ceres/ceres.h>
#include <ceres/rotation.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <numeric>
#include <set>

#include <opencv2/calib3d.hpp>

#include "util/check.h"
#include "util/clock.h"
#include "util/logging.h"
#include "util/options.h"

namespace twinrig::calibration {
namespace {

constexpr double kPi = 3.14159265358979323846;

// A rigid transform X' = R X + t.
struct Rigid {
  cv::Matx33d R = cv::Matx33d::eye();
  cv::Vec3d t{0, 0, 0};
  [[nodiscard]] Rigid Inverse() const { return {R.t(), -(R.t() * t)}; }
  Rigid operator*(const Rigid& o) const { return {R * o.R, R * o.t + t}; }
};

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

// Projection of a board corner through board pose (board -> world), camera pose (world ->
// camera) and the OpenCV lens model (fx, fy, cx, cy, k1, k2, p1, p2, k3).
struct CornerCost {
  CornerCost(const cv::Point3f& corner, const cv::Point2f& observed)
      : X{corner.x, corner.y, corner.z}, u(observed.x), v(observed.y) {}

  template <typename T>
  bool operator()(const T* intrinsics, const T* camera, const T* board, T* residual) const {
    const T Xb[3] = {T(X[0]), T(X[1]), T(X[2])};
    T Xw[3];
    ceres::AngleAxisRotatePoint(board, Xb, Xw);
    for (int i = 0; i < 3; ++i) Xw[i] += board[3 + i];
    T Xc[3];
    ceres::AngleAxisRotatePoint(camera, Xw, Xc);
    for (int i = 0; i < 3; ++i) Xc[i] += camera[3 + i];
    const T x = Xc[0] / Xc[2];
    const T y = Xc[1] / Xc[2];
    const T& fx = intrinsics[0];
    const T& fy = intrinsics[1];
    const T& cx = intrinsics[2];
    const T& cy = intrinsics[3];
    const T& k1 = intrinsics[4];
    const T& k2 = intrinsics[5];
    const T& p1 = intrinsics[6];
    const T& p2 = intrinsics[7];
    const T& k3 = intrinsics[8];
    const T r2 = x * x + y * y;
    const T radial = T(1) + r2 * (k1 + r2 * (k2 + r2 * k3));
    const T xd = x * radial + T(2) * p1 * x * y + p2 * (r2 + T(2) * x * x);
    const T yd = y * radial + p1 * (r2 + T(2) * y * y) + T(2) * p2 * x * y;
    residual[0] = fx * xd + cx - T(u);
    residual[1] = fy * yd + cy - T(v);
    return true;
  }

  double X[3];
  double u;
  double v;
};

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

cv::Matx33d ToMatx(const std::array<double, 9>& R) {
  return {R[0], R[1], R[2], R[3], R[4], R[5], R[6], R[7], R[8]};
}
std::array<double, 9> ToArray(const cv::Matx33d& R) {
  return {R(0, 0), R(0, 1), R(0, 2), R(1, 0), R(1, 1), R(1, 2), R(2, 0), R(2, 1), R(2, 2)};
}

// Moves the solution's world by X_new = A X_old (cameras and board poses).
void ApplyWorldTransform(RigSolution& solution, const Rigid& A) {
  const Rigid inverse = A.Inverse();
  for (CameraCalibration& cam : solution.cameras) {
    const Rigid pose{ToMatx(cam.R), {cam.t[0], cam.t[1], cam.t[2]}};
    const Rigid moved = pose * inverse;
    cam.R = ToArray(moved.R);
    cam.t = {moved.t[0], moved.t[1], moved.t[2]};
  }
  for (auto& [index, pose] : solution.board_poses) {
    const Rigid moved = A * Rigid{pose.first, pose.second};
    pose = {moved.R, moved.t};
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

  // Usable views per camera (enough corners, ids in range); a camera with too few is left out.
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

  // 1. Per camera: intrinsics and the board pose in each view (OpenCV's closed-form start and LM).
  //    A camera whose views do not determine its lens is left out.
  int n = static_cast<int>(cams.size());
  std::vector<std::array<double, 9>> intrinsics(static_cast<size_t>(n));
  std::vector<std::vector<Rigid>> view_pose(static_cast<size_t>(n));  // board -> camera
  std::vector<double> start_rms(static_cast<size_t>(n));
  std::vector<bool> keep(static_cast<size_t>(n), true);
  for (int c = 0; c < n; ++c) {
    const CameraObservations& cam = cams[static_cast<size_t>(c)];
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
      start_rms[static_cast<size_t>(c)] = cv::calibrateCamera(
          object, image, cv::Size(cam.width, cam.height), K, dist, rvecs, tvecs, 0,
          cv::TermCriteria(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, 100, DBL_EPSILON));
    } catch (const cv::Exception& e) {
      // OpenCV's text is for developers: the log keeps it, the technician gets the cause.
      Log().Debug("camera {}: cv::calibrateCamera: {}", cam.serial, e.what());
      solved = false;
    }
    if (!solved || !PlausibleLens(K, cam.width, cam.height) ||
        !(start_rms[static_cast<size_t>(c)] < kMaxStartRmsPx)) {
      keep[static_cast<size_t>(c)] = false;
      solution.uncalibrated.push_back(
          {cam.serial,
           "its " + std::to_string(cam.views.size()) +
               " views do not determine its lens (the board too small in its image, too "
               "oblique, or always in the same place)",
           "take more board positions for this camera: nearer, tilted both ways" +
               WhereToShow(cam) + ", then calibrate again"});
      continue;
    }
    auto& in = intrinsics[static_cast<size_t>(c)];
    in = {K.at<double>(0, 0), K.at<double>(1, 1), K.at<double>(0, 2),
          K.at<double>(1, 2), dist.at<double>(0), dist.at<double>(1),
          dist.at<double>(2), dist.at<double>(3), dist.at<double>(4)};
    for (size_t v = 0; v < rvecs.size(); ++v) {
      view_pose[static_cast<size_t>(c)].push_back(FromRvec(rvecs[v], tvecs[v]));
    }
  }

  KeepCameras(keep, cams, intrinsics, view_pose, start_rms);
  n = static_cast<int>(cams.size());
  if (n == 0) return NoCameraCalibrated(solution);

  // 2. Chain cameras and board poses into the first camera's frame (breadth first over shared
  //    board poses). The first camera is one of the largest group of cameras linked by shared
  //    board poses, so one badly placed camera cannot cut the rig off.
  if (const size_t root = LargestLinkedGroupFirst(cams); root != 0) {
    std::swap(cams[0], cams[root]);
    std::swap(intrinsics[0], intrinsics[root]);
    std::swap(view_pose[0], view_pose[root]);
    std::swap(start_rms[0], start_rms[root]);
  }
  std::vector<std::optional<Rigid>> camera_pose(static_cast<size_t>(n));  // world -> camera
  std::map<int, Rigid> board_pose;                                        // board -> world
  camera_pose[0] = Rigid{};
  bool changed = true;
  while (changed) {
    changed = false;
    for (int c = 0; c < n; ++c) {
      const auto& views = cams[static_cast<size_t>(c)].views;
      for (size_t v = 0; v < views.size(); ++v) {
        const Rigid& cb = view_pose[static_cast<size_t>(c)][v];  // board -> camera
        auto known_board = board_pose.find(views[v].pose);
        if (camera_pose[static_cast<size_t>(c)] && known_board == board_pose.end()) {
          board_pose[views[v].pose] = camera_pose[static_cast<size_t>(c)]->Inverse() * cb;
          changed = true;
        } else if (!camera_pose[static_cast<size_t>(c)] && known_board != board_pose.end()) {
          camera_pose[static_cast<size_t>(c)] = cb * known_board->second.Inverse();
          changed = true;
        }
      }
    }
  }
  // A camera that shares no board position with the first (directly or through others) cannot
  // be placed in the rig: left out.
  keep.assign(static_cast<size_t>(n), true);
  for (int c = 0; c < n; ++c) {
    if (camera_pose[static_cast<size_t>(c)]) continue;
    keep[static_cast<size_t>(c)] = false;
    solution.uncalibrated.push_back(
        {cams[static_cast<size_t>(c)].serial,
         "shares no board position with camera " + cams[0].serial +
             " (directly or through other cameras), so it cannot be placed in the rig",
         "take board positions that this camera and its neighbours see at once, then calibrate "
         "again"});
  }
  KeepCameras(keep, cams, intrinsics, view_pose, start_rms, &camera_pose);
  n = static_cast<int>(cams.size());

  // 3. Joint bundle adjustment.
  std::vector<std::array<double, 6>> cam_params(static_cast<size_t>(n));
  for (int c = 0; c < n; ++c)
    cam_params[static_cast<size_t>(c)] = ToParams(*camera_pose[static_cast<size_t>(c)]);
  std::map<int, std::array<double, 6>> board_params;
  for (const auto& [pose, rigid] : board_pose) board_params[pose] = ToParams(rigid);

  std::vector<Observation> observations;
  for (int c = 0; c < n; ++c) {
    const auto& views = cams[static_cast<size_t>(c)].views;
    for (size_t v = 0; v < views.size(); ++v) {
      for (size_t k = 0; k < views[v].ids.size(); ++k) {
        observations.push_back({c, static_cast<int>(v), static_cast<int>(k), views[v].pose});
      }
    }
  }
  auto residual_of = [&](const Observation& o) {
    const ViewObservation& view =
        cams[static_cast<size_t>(o.camera)].views[static_cast<size_t>(o.view)];
    const cv::Point2d projected =
        Project(intrinsics[static_cast<size_t>(o.camera)],
                cam_params[static_cast<size_t>(o.camera)], board_params.at(o.pose),
                corners[static_cast<size_t>(view.ids[static_cast<size_t>(o.corner)])]);
    // Project() returns the residual of a zero observation, i.e. the projected position.
    const cv::Point2f& seen = view.points[static_cast<size_t>(o.corner)];
    return cv::Point2d(seen.x - projected.x, seen.y - projected.y);
  };
  auto rms_of = [&](bool inliers_only) {
    double sum = 0;
    int count = 0;
    for (const Observation& o : observations) {
      if (inliers_only && o.outlier) continue;
      const cv::Point2d r = residual_of(o);
      sum += r.dot(r);
      ++count;
    }
    return std::sqrt(sum / std::max(1, count));
  };

  solution.initial_rms_px = rms_of(false);

  const bool joint = options.joint;
  const int passes = !joint ? 0 : options.robust ? 2 : 1;
  for (int pass = 0; pass < passes; ++pass) {
    ceres::Problem::Options problem_options;
    problem_options.loss_function_ownership = ceres::DO_NOT_TAKE_OWNERSHIP;
    ceres::Problem problem(problem_options);
    ceres::HuberLoss loss(options.huber_px);
    for (const Observation& o : observations) {
      if (o.outlier) continue;
      const ViewObservation& view =
          cams[static_cast<size_t>(o.camera)].views[static_cast<size_t>(o.view)];
      auto* cost = new ceres::AutoDiffCostFunction<CornerCost, 2, 9, 6, 6>(
          new CornerCost(corners[static_cast<size_t>(view.ids[static_cast<size_t>(o.corner)])],
                         view.points[static_cast<size_t>(o.corner)]));
      problem.AddResidualBlock(
          cost, options.robust ? &loss : nullptr, intrinsics[static_cast<size_t>(o.camera)].data(),
          cam_params[static_cast<size_t>(o.camera)].data(), board_params.at(o.pose).data());
    }
    // The first camera defines the frame (the board gives the scale).
    problem.SetParameterBlockConstant(cam_params[0].data());
    // Board poses are eliminated first (Schur complement); cameras form the reduced system.
    auto ordering = std::make_shared<ceres::ParameterBlockOrdering>();
    for (auto& [pose, params] : board_params) ordering->AddElementToGroup(params.data(), 0);
    for (int c = 0; c < n; ++c) {
      ordering->AddElementToGroup(intrinsics[static_cast<size_t>(c)].data(), 1);
      ordering->AddElementToGroup(cam_params[static_cast<size_t>(c)].data(), 1);
    }
    ceres::Solver::Options solver_options;
    solver_options.linear_solver_type =
        ceres::IsSparseLinearAlgebraLibraryTypeAvailable(ceres::SUITE_SPARSE) ||
                ceres::IsSparseLinearAlgebraLibraryTypeAvailable(ceres::EIGEN_SPARSE)
            ? ceres::SPARSE_SCHUR
            : ceres::DENSE_SCHUR;
    if (n <= 64) solver_options.linear_solver_type = ceres::DENSE_SCHUR;
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
    if (pass == 0 && options.robust) {
      // Outliers: residuals far beyond the typical one (robust sigma from the median).
      std::vector<double> norms;
      norms.reserve(observations.size());
      for (const Observation& o : observations) norms.push_back(cv::norm(residual_of(o)));
      // The median of a 2-D residual norm is about 1.18 sigma for Gaussian noise.
      const double sigma = Median(norms) / 1.1774;
      const double threshold = std::max(options.min_outlier_px, options.outlier_sigmas * sigma);
      int dropped = 0;
      for (size_t i = 0; i < observations.size(); ++i) {
        if (norms[i] > threshold) {
          observations[i].outlier = true;
          ++dropped;
        }
      }
      if (dropped == 0) break;  // nothing changes in a second pass
    }
  }

  // 4. Results: cameras, per-view and per-camera errors, verdicts.
  solution.cameras.resize(static_cast<size_t>(n));
  std::vector<double> sum_sq(static_cast<size_t>(n), 0);
  std::vector<int> count(static_cast<size_t>(n), 0);
  std::map<std::pair<int, int>, size_t> view_index;
  for (int c = 0; c < n; ++c) {
    const auto& views = cams[static_cast<size_t>(c)].views;
    for (size_t v = 0; v < views.size(); ++v) {
      ViewResult r;
      r.camera = c;
      r.pose = views[v].pose;
      r.source = views[v].source;
      view_index[{c, static_cast<int>(v)}] = solution.views.size();
      solution.views.push_back(std::move(r));
    }
  }
  std::vector<double> view_sum(solution.views.size(), 0);
  std::vector<int> view_count(solution.views.size(), 0);
  double total = 0;
  for (const Observation& o : observations) {
    const cv::Point2d r = residual_of(o);
    const size_t vi = view_index.at({o.camera, o.view});
    const ViewObservation& view =
        cams[static_cast<size_t>(o.camera)].views[static_cast<size_t>(o.view)];
    solution.views[vi].observed.push_back(view.points[static_cast<size_t>(o.corner)]);
    solution.views[vi].residual.emplace_back(static_cast<float>(r.x), static_cast<float>(r.y));
    solution.views[vi].outlier.push_back(o.outlier);
    // Per camera and per view: every detected corner, as OpenCV reports RMS (an outlier left out
    // of the fit still shows in the camera's error); overall: the corners the fit used.
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
  solution.notes.resize(static_cast<size_t>(n));
  for (int c = 0; c < n; ++c) {
    const auto i = static_cast<size_t>(c);
    CameraCalibration& out = solution.cameras[i];
    out.serial = cams[i].serial;
    out.width = cams[i].width;
    out.height = cams[i].height;
    const auto& in = intrinsics[i];
    out.fx = in[0];
    out.fy = in[1];
    out.cx = in[2];
    out.cy = in[3];
    out.k1 = in[4];
    out.k2 = in[5];
    out.p1 = in[6];
    out.p2 = in[7];
    out.k3 = in[8];
    const Rigid pose = FromParams(cam_params[i]);
    out.R = ToArray(pose.R);
    out.t = {pose.t[0], pose.t[1], pose.t[2]};
    out.rms_px = std::sqrt(sum_sq[i] / std::max(1, count[i]));
    out.views = static_cast<int>(cams[i].views.size());
    solution.coverage.push_back(Coverage(cams[i]));
    std::vector<std::string> why;
    std::string verdict = "ok";
    if (out.rms_px > options.bad_rms_px) {
      verdict = "bad";
      why.push_back("reprojection RMS " + std::to_string(out.rms_px).substr(0, 5) +
                    " px: check focus, motion blur and the board spec, then recalibrate");
    } else if (out.rms_px > options.check_rms_px) {
      verdict = "check";
      why.push_back("reprojection RMS above " + std::to_string(options.check_rms_px).substr(0, 4) +
                    " px");
    }
    if (out.views < options.check_views) {
      if (verdict == "ok") verdict = "check";
      why.push_back("only " + std::to_string(out.views) + " views: show it the board more often");
    }
    if (solution.coverage[i] < options.check_coverage) {
      if (verdict == "ok") verdict = "check";
      why.push_back("corners cover only " +
                    std::to_string(static_cast<int>(100 * solution.coverage[i])) +
                    "% of the image: bring the board near its edges and corners");
    }
    out.verdict = verdict;
    for (const std::string& w : why) {
      solution.notes[i] += (solution.notes[i].empty() ? "" : "; ") + w;
    }
  }
  for (const auto& [pose, params] : board_params) {
    const Rigid r = FromParams(params);
    solution.board_poses[pose] = {r.R, r.t};
  }
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
    const cv::Matx33d Rs = ToMatx(s.R) * fit->R.t();
    const cv::Matx33d delta = Rs.t() * ToMatx(r.R);
    const double cos_angle = std::clamp((cv::trace(delta) - 1) / 2, -1.0, 1.0);
    const double deg = std::acos(cos_angle) * 180 / kPi;
    e.rot_err_deg_mean += deg / static_cast<double>(pairs.size());
    e.rot_err_deg_max = std::max(e.rot_err_deg_max, deg);
    const double mm = cv::norm(fit->R * src[i] + fit->t - dst[i]) * 1000;
    e.pos_err_mm_mean += mm / static_cast<double>(pairs.size());
    e.pos_err_mm_max = std::max(e.pos_err_mm_max, mm);
  }
  return e;
}

}  // namespace twinrig::calibration
