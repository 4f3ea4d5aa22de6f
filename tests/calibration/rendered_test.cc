// The calibration on images of the virtual studio's ChArUco board rendered through the true
// lenses (sim/render, no camera stack), scored against the ground truth, and the `twinrig
// calibrate --images` command on the same images.
#include <catch2/catch.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include <opencv2/imgcodecs.hpp>

#include "calibration/calibrate.h"
#include "calibration/rig_calibration.h"
#include "calibration/solver.h"
#include "sim/layout/layout.h"
#include "sim/render/renderer.h"
#include "tests/test_support.h"
#include "util/check.h"
#include "util/files.h"
#include "util/subprocess.h"

namespace twinrig::calibration {
namespace {

using sim::layout::CameraTruth;
using twinrig::testing::TempDir;

constexpr int kWidth = 800;
constexpr int kHeight = 600;

// True camera as a calibration, at the render size.
CameraCalibration FromTruth(const CameraTruth& truth) {
  const auto in = truth.intrinsics.Scaled(kWidth, kHeight);
  CameraCalibration cam;
  cam.serial = truth.serial;
  cam.width = kWidth;
  cam.height = kHeight;
  cam.fx = in.fx;
  cam.fy = in.fy;
  cam.cx = in.cx;
  cam.cy = in.cy;
  cam.k1 = in.k1;
  cam.k2 = in.k2;
  cam.p1 = in.p1;
  cam.p2 = in.p2;
  cam.k3 = in.k3;
  cam.R = truth.R;
  cam.t = truth.t;
  return cam;
}

// Whether most of the board at `pose` faces `camera` and falls inside its image (so that only
// views that can show the board are rendered: the test stays fast).
bool Sees(const CameraTruth& camera, const sim::layout::TargetPose& pose, const BoardSpec& board) {
  const CameraCalibration cam = FromTruth(camera);
  const cv::Matx33d Rc(cam.R.data());
  const cv::Matx33d Rb(pose.R.data());
  const cv::Vec3d tc(cam.t[0], cam.t[1], cam.t[2]);
  const cv::Vec3d tb(pose.t[0], pose.t[1], pose.t[2]);
  const cv::Vec3d normal = Rc * (Rb * cv::Vec3d(0, 0, 1));
  const cv::Vec3d centre = Rc * (Rb * cv::Vec3d(0.15, 0.2, 0) + tb) + tc;
  if (normal.dot(cv::normalize(centre)) < 0.3) return false;
  int inside = 0;
  const auto corners = board.Corners();
  for (const auto& c : corners) {
    const cv::Vec3d p = Rc * (Rb * cv::Vec3d(c.x, c.y, c.z) + tb) + tc;
    const double u = cam.fx * p[0] / p[2] + cam.cx;
    const double v = cam.fy * p[1] / p[2] + cam.cy;
    inside += (p[2] > 0 && u > 10 && v > 10 && u < kWidth - 10 && v < kHeight - 10) ? 1 : 0;
  }
  return inside >= static_cast<int>(corners.size()) / 2;
}

struct Rendered {
  sim::layout::Layout layout;
  BoardSpec board;
  std::vector<size_t> chosen;
  sim::layout::Rig rig;  // the rig file of the chosen cameras
  TempDir dir;           // images/<serial>/take-NNNN.jpg
};

// Renders once per test process: two neighbours on each ring of head24 (0/45 deg, 15/60 deg,
// 30/75 deg around the head), every scripted board pose that can show in each view.
const Rendered& Shared() {
  static const std::unique_ptr<Rendered> shared = [] {
    auto r = std::make_unique<Rendered>();
    sim::layout::LayoutOptions layout_options;
    layout_options.kind = "head24";
    layout_options.seed = 3;
    auto layout = sim::layout::GenerateLayout(layout_options);
    TWINRIG_CHECK(layout.ok()) << layout.error().Describe();
    r->layout = *layout;
    auto head = sim::render::FindHeadData();
    TWINRIG_CHECK(head.ok()) << head.error().Describe();
    auto renderer = sim::render::Renderer::Create(*head, r->layout.truth);
    TWINRIG_CHECK(renderer.ok()) << renderer.error().Describe();
    auto board = ParseBoardSpec(r->layout.truth.calibration.charuco);
    TWINRIG_CHECK(board.ok()) << board.error().Describe();
    r->board = *board;
    r->chosen = {0, 1, 8, 9, 16, 17};
    r->rig = r->layout.rig;
    r->rig.cameras.clear();
    int rendered = 0;
    for (const size_t index : r->chosen) {
      const CameraTruth& camera = r->layout.truth.cameras[index];
      r->rig.cameras.push_back(r->layout.rig.cameras[index]);
      std::filesystem::create_directories(r->dir / "images" / camera.serial);
      for (size_t p = 0; p < r->layout.truth.calibration.poses.size(); ++p) {
        const auto& pose = r->layout.truth.calibration.poses[p];
        if (pose.kind != sim::layout::TargetKind::kCharuco || !Sees(camera, pose, r->board)) {
          continue;
        }
        sim::render::Exposure exposure;
        exposure.width = kWidth;
        exposure.height = kHeight;
        sim::render::SceneState scene;
        scene.mode = sim::render::SceneState::Mode::kCalibration;
        scene.board_pose = static_cast<int>(p);
        auto image = (*renderer)->RenderImage(camera, exposure, scene, 7 + p);
        TWINRIG_CHECK(image.ok()) << image.error().Describe();
        const auto path = r->dir / "images" / camera.serial / cv::format("take-%04zu.jpg", p + 1);
        TWINRIG_CHECK(cv::imwrite(path.string(), *image, {cv::IMWRITE_JPEG_QUALITY, 95}));
        ++rendered;
      }
    }
    std::printf("rendered %d board views of %zu cameras at %dx%d\n", rendered, r->chosen.size(),
                kWidth, kHeight);
    return r;
  }();
  return *shared;
}

TEST_CASE("Rendered board views of six head24 cameras calibrate close to the truth", "[slow]") {
  const Rendered& r = Shared();
  const auto& layout = r.layout;
  const auto& board = r.board;
  const auto& chosen = r.chosen;
  const auto& dir = r.dir;
  auto folders = ListImageFolders(dir / "images");
  REQUIRE(folders.ok());
  REQUIRE(folders->size() == chosen.size());
  auto observations = DetectBoards(*folders, board);
  REQUIRE(observations.ok());
  auto solution = SolveRig(*observations, board);
  REQUIRE(solution.ok());
  std::vector<CameraCalibration> truth;
  truth.reserve(chosen.size());
  for (const size_t index : chosen) truth.push_back(FromTruth(layout.truth.cameras[index]));
  auto errors = CompareRigs(solution->cameras, truth);
  REQUIRE(errors.ok());
  std::printf(
      "rendered head24 x 6 at %dx%d: RMS %.3f px; focal %.3f%% (max %.3f%%), rotation "
      "%.3f deg (max %.3f), position %.2f mm (max %.2f)\n",
      kWidth, kHeight, solution->rms_px, errors->focal_err_pct_mean, errors->focal_err_pct_max,
      errors->rot_err_deg_mean, errors->rot_err_deg_max, errors->pos_err_mm_mean,
      errors->pos_err_mm_max);
  // Looser than the full-size target: half the pixels, few views per camera. The corners' RMS
  // (0.10 px) is the corner accuracy bench/calibration assumes on rendered images (0.15 px).
  CHECK(solution->rms_px < 0.15);
  CHECK(errors->focal_err_pct_max < 0.5);
  CHECK(errors->rot_err_deg_max < 0.3);
  CHECK(errors->pos_err_mm_max < 3.0);
}

TEST_CASE("twinrig calibrate --images on rendered views is in the studio frame", "[slow]") {
  const Rendered& r = Shared();
  const auto& layout = r.layout;
  const auto* board = &r.board;
  const auto& dir = r.dir;
  const auto& rig = r.rig;
  {
    const auto studio = dir / "studio";
    std::filesystem::create_directories(studio / "rigs" / "head24");
    REQUIRE(sim::layout::WriteRigFile(studio / "rigs" / "head24" / "rig.toml", rig).ok());
    auto run =
        RunSubprocess({testing::TwinrigBinary().string(), "--studio", studio.string(), "calibrate",
                       "--images", (dir / "images").string(), "--board", board->ToString()},
                      {.timeout = std::chrono::seconds(120)});
    REQUIRE(run.ok());
    INFO(run->output);
    CHECK(run->succeeded());
    CHECK(run->output.find("report:") != std::string::npos);
    auto current = CurrentCalibrationPath(studio, "head24");
    REQUIRE(current.ok());
    auto loaded = LoadRigCalibration(*current);
    REQUIRE(loaded.ok());
    CHECK(loaded->cameras.size() == r.chosen.size());
    CHECK(loaded->board == board->ToString());
    CHECK(std::filesystem::exists(current->parent_path() / "colmap" / "cameras.txt"));
    CHECK(std::filesystem::exists(current->parent_path() / "colmap" / "images.txt"));
    CHECK(std::filesystem::exists(current->parent_path() / "report" / "index.html"));
    CHECK(std::filesystem::exists(current->parent_path() / "report" / "rms.png"));
    // Aligned to the rig file: in the studio's frame, the truth is millimetres away.
    for (const auto& cam : loaded->cameras) {
      const auto* t = layout.truth.Find(cam.serial);
      REQUIRE(t != nullptr);
      const auto a = cam.Centre();
      const auto b = t->Centre();
      CHECK(std::hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]) < 0.02);
    }
  }
}

TEST_CASE("twinrig calibrate names a rendered camera folder that is not in the rig file",
          "[slow]") {
  const Rendered& r = Shared();
  const auto* board = &r.board;
  const auto& dir = r.dir;
  const auto& rig = r.rig;
  {
    const auto studio = dir / "studio2";
    sim::layout::Rig smaller = rig;
    const std::string missing = smaller.cameras.back().serial;
    smaller.cameras.pop_back();
    std::filesystem::create_directories(studio / "rigs" / "head24");
    REQUIRE(sim::layout::WriteRigFile(studio / "rigs" / "head24" / "rig.toml", smaller).ok());
    auto run =
        RunSubprocess({testing::TwinrigBinary().string(), "--studio", studio.string(), "calibrate",
                       "--images", (dir / "images").string(), "--board", board->ToString()});
    REQUIRE(run.ok());
    CHECK_FALSE(run->succeeded());
    CHECK(run->output.find(missing) != std::string::npos);
    CHECK(run->output.find("not in the rig file") != std::string::npos);
  }
}

TEST_CASE("twinrig calibrate with a wrong board definition names the rendered cameras", "[slow]") {
  const Rendered& r = Shared();
  const auto& layout = r.layout;
  const auto& dir = r.dir;
  {
    auto run = RunSubprocess(
        {testing::TwinrigBinary().string(), "calibrate", "--images", (dir / "images").string(),
         "--board", "charuco:7x5:0.06:0.03:DICT_4X4_50", "--out", (dir / "out").string()});
    REQUIRE(run.ok());
    CHECK_FALSE(run->succeeded());
    CHECK(run->output.find(layout.truth.cameras[0].serial) != std::string::npos);
    CHECK(run->output.find("board spec") != std::string::npos);
  }
}

}  // namespace
}  // namespace twinrig::calibration
