#include "sim/layout/layout.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/calib3d.hpp>
#include <set>

#include "calibration/board.h"
#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::sim::layout {
namespace {

using twinrig::testing::TempDir;

Layout Generate(const std::string& kind, std::uint64_t seed = 7) {
  LayoutOptions options;
  options.kind = kind;
  options.seed = seed;
  auto layout = GenerateLayout(options);
  REQUIRE(layout.ok());
  return *layout;
}

// Projects world points through the camera's true model with OpenCV.
std::vector<cv::Point2d> Project(const CameraTruth& c, const std::vector<cv::Point3d>& world) {
  const cv::Matx33d R(c.R.data());
  cv::Vec3d rvec;
  cv::Rodrigues(R, rvec);
  const cv::Vec3d tvec(c.t[0], c.t[1], c.t[2]);
  const Intrinsics& in = c.intrinsics;
  const cv::Matx33d K(in.fx, 0, in.cx, 0, in.fy, in.cy, 0, 0, 1);
  const cv::Vec<double, 5> dist(in.k1, in.k2, in.p1, in.p2, in.k3);
  std::vector<cv::Point2d> image;
  cv::projectPoints(world, rvec, tvec, K, dist, image);
  return image;
}

double Depth(const CameraTruth& c, const Vec3& x) { return Apply(c.R, x)[2] + c.t[2]; }

void WriteText(const std::filesystem::path& path, const std::string& text) {
  REQUIRE(WriteFileAtomic(path, text).ok());
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

TEST_CASE("head24 is three rings of eight at 0.6 to 1 m, deterministic for a seed", "[unit]") {
  const Layout a = Generate("head24", 7);
  const Layout b = Generate("head24", 7);
  const Layout c = Generate("head24", 8);
  REQUIRE(a.rig.cameras.size() == 24);
  REQUIRE(a.truth.cameras.size() == 24);
  REQUIRE(a.rig.nodes.size() == 3);
  CHECK(a.rig.cameras[0].address == "127.0.0.2");
  CHECK(a.rig.cameras[23].address == "127.0.0.25");
  CHECK(a.rig.nodes[2].address == "127.0.2.3");
  std::set<std::string> serials;
  for (size_t i = 0; i < 24; ++i) {
    CHECK(a.rig.cameras[i].serial == b.rig.cameras[i].serial);
    CHECK(a.truth.cameras[i].t == b.truth.cameras[i].t);
    CHECK(a.truth.cameras[i].intrinsics.k1 == b.truth.cameras[i].intrinsics.k1);
    serials.insert(a.rig.cameras[i].serial);
    const CameraTruth& truth = a.truth.cameras[i];
    const Vec3 centre = truth.Centre();
    const Vec3 head{0.005, -0.02, -0.07};
    const double distance =
        std::hypot(centre[0] - head[0], centre[1] - head[1], centre[2] - head[2]);
    CHECK(distance > 0.6);
    CHECK(distance < 1.0);
    // Built close to plan: a few mm off, never exactly on it.
    const Vec3 plan = a.rig.cameras[i].position;
    const double off = std::hypot(centre[0] - plan[0], centre[1] - plan[1], centre[2] - plan[2]);
    CHECK(off > 1e-5);
    CHECK(off < 0.02);
    CHECK(truth.shutter_lag_s == Approx(0.060).margin(0.0005));
  }
  CHECK(serials.size() == 24);
  CHECK(a.truth.cameras[0].t != c.truth.cameras[0].t);
  for (const NodeTruth& node : a.truth.nodes) {
    CHECK(std::abs(node.clock_offset_s) <= 1.0);
    CHECK(std::abs(node.drift_ppm) <= 100.0);
  }
}

TEST_CASE("lens distortion moves the image corner by 1 to 2 px", "[unit]") {
  const Layout layout = Generate("head24", 3);
  for (const CameraTruth& camera : layout.truth.cameras) {
    const Intrinsics& in = camera.intrinsics;
    // Undistorted corner direction vs distorted: project a point on the corner ray with and
    // without distortion.
    const double x = (in.width - 1 - in.cx) / in.fx;
    const double y = (in.height - 1 - in.cy) / in.fy;
    const double r2 = x * x + y * y;
    const double radial = in.k1 * r2 + in.k2 * r2 * r2 + in.k3 * r2 * r2 * r2;
    const double shift = std::sqrt(r2) * std::abs(radial) * in.fx;
    CHECK(shift > 0.7);
    CHECK(shift < 2.3);
  }
}

TEST_CASE("every head24 camera sees the whole head and every body160 camera the volume", "[unit]") {
  const Layout head = Generate("head24");
  // Corners of the head scan's bounding box above the shoulders.
  std::vector<cv::Point3d> box;
  for (double x : {-0.11, 0.12}) {
    for (double y : {-0.15, 0.116}) {
      for (double z : {-0.221, 0.053}) box.emplace_back(x, y, z);
    }
  }
  for (const CameraTruth& camera : head.truth.cameras) {
    for (const cv::Point3d& p : box) CHECK(Depth(camera, {p.x, p.y, p.z}) > 0.3);
    for (const cv::Point2d& p : Project(camera, box)) {
      CHECK(p.x > 0);
      CHECK(p.y > 0);
      CHECK(p.x < camera.intrinsics.width - 1);
      CHECK(p.y < camera.intrinsics.height - 1);
    }
  }

  const Layout body = Generate("body160");
  REQUIRE(body.rig.cameras.size() == 160);
  REQUIRE(body.rig.nodes.size() == 20);
  CHECK(body.rig.cameras[159].address == "127.0.0.161");
  // Every camera aims into the 1 m x 2 m volume, and every level of the volume's axis is seen by
  // many cameras.
  std::vector<int> seen(21, 0);
  for (size_t i = 0; i < body.truth.cameras.size(); ++i) {
    const CameraTruth& camera = body.truth.cameras[i];
    const Vec3 aim = body.rig.cameras[i].look_at;
    CHECK(std::hypot(aim[0], aim[2]) <= 0.5);
    CHECK(aim[1] >= 0);
    CHECK(aim[1] <= 2);
    const auto centre = Project(camera, {{aim[0], aim[1], aim[2]}})[0];
    CHECK(std::abs(centre.x - camera.intrinsics.cx) < 60);
    CHECK(std::abs(centre.y - camera.intrinsics.cy) < 60);
    for (int level = 0; level <= 20; ++level) {
      const cv::Point3d p(0, level * 0.1, 0);
      const auto image = Project(camera, {p})[0];
      if (image.x >= 0 && image.y >= 0 && image.x < camera.intrinsics.width &&
          image.y < camera.intrinsics.height) {
        ++seen[level];
      }
    }
  }
  for (int level = 0; level <= 20; ++level) CHECK(seen[level] >= 10);
}

TEST_CASE("calibration script: boards of the asked size in the capture volume", "[unit]") {
  const Layout layout = Generate("head24");
  const auto spec = calibration::ParseBoardSpec(layout.truth.calibration.charuco);
  REQUIRE(spec.ok());
  CHECK(spec->cols * spec->square_m == Approx(0.3));
  int charuco = 0;
  int chart = 0;
  for (const TargetPose& pose : layout.truth.calibration.poses) {
    (pose.kind == TargetKind::kCharuco ? charuco : chart)++;
    // Board centre near the head.
    const double w = pose.kind == TargetKind::kCharuco ? spec->cols * spec->square_m : 0.279;
    const double h = pose.kind == TargetKind::kCharuco ? spec->rows * spec->square_m : 0.216;
    const Vec3 c = Apply(pose.R, {w / 2, h / 2, 0});
    const Vec3 centre{c[0] + pose.t[0], c[1] + pose.t[1], c[2] + pose.t[2]};
    CHECK(std::hypot(centre[0] - 0.005, centre[1] + 0.02, centre[2] + 0.07) < 0.4);
  }
  CHECK(charuco == 24);
  CHECK(chart == 4);
  CHECK_FALSE(calibration::ParseBoardSpec("charuco:5x7:0.04").ok());
  CHECK_FALSE(calibration::ParseBoardSpec("charuco:5x7:0.02:0.04:DICT_6X6_250").ok());
  CHECK_FALSE(calibration::ParseBoardSpec("charuco:5y7:0.04:0.02:DICT_6X6_250").ok());
  const auto ok = calibration::ParseBoardSpec("charuco:5x7:0.04:0.02:DICT_6X6_250");
  REQUIRE(ok.ok());
  CHECK(ok->rows == 7);
  CHECK(ok->marker_m == 0.02);
}

TEST_CASE("head24 and body160 round-trip through rig.toml and groundtruth.json", "[unit]") {
  for (const std::string kind : {"head24", "body160"}) {
    TempDir dir;
    const Layout layout = Generate(kind);
    REQUIRE(WriteLayout(dir.path(), layout).ok());
    const auto read = ReadLayout(dir.path());
    REQUIRE(read.ok());
    CHECK(read->rig.name == kind);
    REQUIRE(read->rig.cameras.size() == layout.rig.cameras.size());
    REQUIRE(read->rig.nodes.size() == layout.rig.nodes.size());
    for (size_t i = 0; i < layout.rig.cameras.size(); ++i) {
      const CameraSpec& a = layout.rig.cameras[i];
      const CameraSpec& b = read->rig.cameras[i];
      CHECK(a.serial == b.serial);
      CHECK(a.address == b.address);
      CHECK(a.node_id == b.node_id);
      CHECK(a.node_port == b.node_port);
      for (int k = 0; k < 3; ++k) CHECK(a.position[k] == Approx(b.position[k]).epsilon(1e-12));
      const CameraTruth& ta = layout.truth.cameras[i];
      const CameraTruth& tb = read->truth.cameras[i];
      CHECK(ta.R == tb.R);
      CHECK(ta.t == tb.t);
      CHECK(ta.intrinsics.k1 == tb.intrinsics.k1);
      CHECK(ta.intrinsics.cx == tb.intrinsics.cx);
      CHECK(ta.shutter_lag_s == tb.shutter_lag_s);
    }
    CHECK(read->truth.nodes.size() == layout.truth.nodes.size());
    CHECK(read->truth.nodes[0].drift_ppm == layout.truth.nodes[0].drift_ppm);
    CHECK(read->truth.calibration.poses.size() == layout.truth.calibration.poses.size());
    CHECK(read->truth.subject_t == layout.truth.subject_t);
  }
}

TEST_CASE("bad rig and truth files are refused with the file and field named", "[unit]") {
  TempDir dir;
  const Layout layout = Generate("head24");
  REQUIRE(WriteLayout(dir.path(), layout).ok());
  const auto rig_text = ReadFileText(dir / "rig.toml");
  const auto truth_text = ReadFileText(dir / "groundtruth.json");
  REQUIRE(rig_text.ok());
  REQUIRE(truth_text.ok());
  const auto bad = dir / "bad.toml";

  WriteText(bad, "name = \"x\"\n[[nodes]\n");
  auto result = ReadRigFile(bad);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().where == bad.string());
  CHECK(result.error().what.find("line 2") != std::string::npos);

  const std::string serial = layout.rig.cameras[1].serial;
  WriteText(bad, Replace(*rig_text, "serial = '" + serial + "'",
                         "serial = '" + layout.rig.cameras[0].serial + "'"));
  result = ReadRigFile(bad);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().what.find("appears twice") != std::string::npos);

  WriteText(bad, Replace(*rig_text, "node_port = 3", "node_port = 9"));
  result = ReadRigFile(bad);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().what.find("node_port") != std::string::npos);

  WriteText(bad, Replace(*rig_text, "udp_port = 15740", "udp_port = 'x'"));
  result = ReadRigFile(bad);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().what.find("nodes[0].udp_port") != std::string::npos);

  CHECK_FALSE(ReadRigFile(dir / "missing.toml").ok());

  const auto bad_json = dir / "bad.json";
  WriteText(bad_json, truth_text->substr(0, truth_text->size() / 2));
  auto truth = ReadGroundTruth(bad_json);
  REQUIRE_FALSE(truth.ok());
  CHECK(truth.error().where == bad_json.string());

  WriteText(bad_json, Replace(*truth_text, "\"fx\":", "\"fx_\":"));
  truth = ReadGroundTruth(bad_json);
  REQUIRE_FALSE(truth.ok());
  CHECK(truth.error().what.find("cameras[0].fx is missing") != std::string::npos);

  // A rotation that is not one.
  nlohmann::json parsed = nlohmann::json::parse(*truth_text);
  parsed["cameras"][2]["R"][0] = 2.0;
  WriteText(bad_json, parsed.dump());
  truth = ReadGroundTruth(bad_json);
  REQUIRE_FALSE(truth.ok());
  CHECK(truth.error().what.find("cameras[2].R is not a rotation") != std::string::npos);

  // Files of two different layouts do not make one layout.
  const Layout other = Generate("head24", 99);
  REQUIRE(WriteGroundTruth(dir / "groundtruth.json", other.truth).ok());
  const auto mixed = ReadLayout(dir.path());
  REQUIRE_FALSE(mixed.ok());
  CHECK(mixed.error().what.find("has no ground truth") != std::string::npos);
}

TEST_CASE("layout options are validated", "[unit]") {
  LayoutOptions options;
  options.kind = "head12";
  options.camera_base_address = "127.0.0";
  auto layout = GenerateLayout(options);
  REQUIRE_FALSE(layout.ok());
  CHECK(layout.error().what.find("head12") != std::string::npos);
  CHECK(layout.error().what.find("camera_base_address") != std::string::npos);
  options = {};
  options.camera_base_address = "127.0.1.0";
  layout = GenerateLayout(options);
  REQUIRE(layout.ok());
  CHECK(layout->rig.cameras[0].address == "127.0.1.1");
}

}  // namespace
}  // namespace twinrig::sim::layout
