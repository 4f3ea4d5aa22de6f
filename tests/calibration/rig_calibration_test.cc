#include "calibration/rig_calibration.h"
#include "calibration/colour.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <opencv2/calib3d.hpp>

#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::calibration {
namespace {

using twinrig::testing::TempDir;

RigCalibration Sample() {
  RigCalibration c;
  c.id = "C-20261128-074012";
  c.rig = "head24";
  c.created_at = "2026-11-28T07:40:12Z";
  c.board = "charuco:5x7:0.06:0.03:DICT_6X6_250";
  for (int i = 0; i < 3; ++i) {
    CameraCalibration cam;
    cam.serial = "TR00000" + std::to_string(i + 1);
    cam.width = 1600;
    cam.height = 1200;
    cam.fx = 2000 + i;
    cam.fy = 2001 + i;
    cam.cx = 800.5;
    cam.cy = 600.25;
    cam.k1 = -0.05;
    cam.k2 = 0.01;
    cam.p1 = 1e-4;
    cam.p2 = -2e-4;
    cam.k3 = 0.001;
    // A rotation about y by a different angle per camera.
    const double a = 0.3 * (i + 1);
    cam.R = {std::cos(a), 0, std::sin(a), 0, 1, 0, -std::sin(a), 0, std::cos(a)};
    cam.t = {0.1 * i, -0.2, 1.5};
    cam.rms_px = 0.21;
    cam.views = 20 + i;
    cam.verdict = i == 2 ? "check" : "ok";
    if (i == 1) {
      ColourCorrection colour;
      colour.matrix = {1.1, 0.0, 0.0, 0.01, 0.0, 0.9, 0.0, 0.0, 0.0, 0.05, 1.0, -0.01};
      cam.colour = colour;
    }
    c.cameras.push_back(cam);
  }
  return c;
}

TEST_CASE("A rig calibration survives a write and a load unchanged", "[unit]") {
  TempDir dir;
  const RigCalibration c = Sample();
  REQUIRE(WriteRigCalibration(c, dir / "cal" / "calibration.json").ok());
  auto loaded = LoadRigCalibration(dir / "cal" / "calibration.json");
  REQUIRE(loaded.ok());
  CHECK(loaded->id == c.id);
  CHECK(loaded->rig == c.rig);
  CHECK(loaded->created_at == c.created_at);
  CHECK(loaded->board == c.board);
  REQUIRE(loaded->cameras.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    const auto& a = c.cameras[i];
    const auto& b = loaded->cameras[i];
    CHECK(a.serial == b.serial);
    CHECK(a.fx == b.fx);
    CHECK(a.k3 == b.k3);
    CHECK(a.R == b.R);
    CHECK(a.t == b.t);
    CHECK(a.views == b.views);
    CHECK(a.verdict == b.verdict);
    CHECK(a.colour.has_value() == b.colour.has_value());
  }
  CHECK(loaded->cameras[1].colour->matrix == c.cameras[1].colour->matrix);
  // The file carries the contract's format and version.
  auto json = nlohmann::json::parse(*ReadFileText(dir / "cal" / "calibration.json"));
  CHECK(json["format"] == "twinrig-rig-calibration");
  CHECK(json["version"] == 1);
  CHECK(json["cameras"][0].contains("colour") == false);
  CHECK(json["cameras"][1]["colour"]["matrix"].size() == 12);
}

TEST_CASE("Loading refuses foreign and malformed files with what to do", "[unit]") {
  TempDir dir;
  auto load = [&](const std::string& text) {
    REQUIRE(WriteFileAtomic(dir / "x.json", text).ok());
    return LoadRigCalibration(dir / "x.json");
  };
  SECTION("not JSON") {
    auto r = load("{ nope");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("not valid JSON") != std::string::npos);
    CHECK(r.error().where.find("x.json") != std::string::npos);
  }
  SECTION("the virtual studio's ground truth given by mistake") {
    auto r = load(R"({"rig_name":"head24","seed":1,"subject_R":[1,0,0,0,1,0,0,0,1],
                      "subject_t":[0,0,0],"cameras":[],"nodes":[],"calibration":{}})");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("ground truth") != std::string::npos);
    CHECK_FALSE(r.error().todo.empty());
  }
  SECTION("another format") {
    auto r = load(R"({"format":"twinrig-session","version":1})");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("twinrig-session") != std::string::npos);
  }
  SECTION("a newer version") {
    auto text = RigCalibrationToJson(Sample());
    auto json = nlohmann::json::parse(text);
    json["version"] = 7;
    auto r = load(json.dump());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("newer") != std::string::npos);
  }
  SECTION("a camera with a missing field is named") {
    auto json = nlohmann::json::parse(RigCalibrationToJson(Sample()));
    json["cameras"][1].erase("fx");
    auto r = load(json.dump());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("TR000002") != std::string::npos);
    CHECK(r.error().what.find("fx") != std::string::npos);
  }
  SECTION("a rotation that is not one") {
    auto json = nlohmann::json::parse(RigCalibrationToJson(Sample()));
    json["cameras"][0]["R"] = {2, 0, 0, 0, 1, 0, 0, 0, 1};
    auto r = load(json.dump());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("TR000001") != std::string::npos);
    CHECK(r.error().what.find("rotation") != std::string::npos);
  }
  SECTION("a duplicate serial") {
    auto json = nlohmann::json::parse(RigCalibrationToJson(Sample()));
    json["cameras"][1]["serial"] = "TR000001";
    auto r = load(json.dump());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("twice") != std::string::npos);
  }
  SECTION("a missing file") {
    auto r = LoadRigCalibration(dir / "absent.json");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().where.find("absent.json") != std::string::npos);
  }
}

TEST_CASE("Writing refuses an unusable calibration and leaves the old file", "[unit]") {
  TempDir dir;
  REQUIRE(WriteRigCalibration(Sample(), dir / "calibration.json").ok());
  RigCalibration bad = Sample();
  bad.cameras[0].fx = -1;
  auto status = WriteRigCalibration(bad, dir / "calibration.json");
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().what.find("TR000001") != std::string::npos);
  CHECK(LoadRigCalibration(dir / "calibration.json")->cameras[0].fx == 2000);
}

TEST_CASE("The current calibration is found through the current file", "[unit]") {
  TempDir studio;
  auto none = CurrentCalibrationPath(studio.path(), "head24");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().todo.find("twinrig calibrate") != std::string::npos);
  const RigCalibration c = Sample();
  const auto folder = CalibrationRoot(studio.path(), "head24") / c.id;
  CHECK_FALSE(SetCurrentCalibration(studio.path(), "head24", c.id).ok());
  REQUIRE(WriteRigCalibration(c, folder / "calibration.json").ok());
  REQUIRE(SetCurrentCalibration(studio.path(), "head24", c.id).ok());
  auto path = CurrentCalibrationPath(studio.path(), "head24");
  REQUIRE(path.ok());
  CHECK(*path == folder / "calibration.json");
  // A current file naming a calibration that is gone is an error, not a crash.
  REQUIRE(
      WriteFileAtomic(CalibrationRoot(studio.path(), "head24") / "current", std::string("C-gone\n"))
          .ok());
  CHECK_FALSE(CurrentCalibrationPath(studio.path(), "head24").ok());
}

TEST_CASE("The COLMAP text model holds each camera and its pose", "[unit]") {
  TempDir dir;
  const RigCalibration c = Sample();
  REQUIRE(WriteColmapTextModel(c, dir / "colmap", [](const std::string& s) {
            return s + ".jpg";
          }).ok());
  std::istringstream cameras(*ReadFileText(dir / "colmap" / "cameras.txt"));
  std::istringstream images(*ReadFileText(dir / "colmap" / "images.txt"));
  CHECK(ReadFileText(dir / "colmap" / "points3D.txt").ok());
  std::string line;
  int camera_lines = 0;
  while (std::getline(cameras, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    int id = 0, w = 0, h = 0;
    std::string model;
    double fx = 0, fy = 0, cx = 0, cy = 0, k1 = 0, k2 = 0, p1 = 0, p2 = 0;
    in >> id >> model >> w >> h >> fx >> fy >> cx >> cy >> k1 >> k2 >> p1 >> p2;
    REQUIRE(id == camera_lines + 1);
    const auto& cam = c.cameras[camera_lines];
    CHECK(model == "OPENCV");
    CHECK(w == cam.width);
    CHECK(fx == Approx(cam.fx));
    CHECK(fy == Approx(cam.fy));
    CHECK(p2 == Approx(cam.p2));
    ++camera_lines;
  }
  CHECK(camera_lines == 3);
  int image_lines = 0;
  while (std::getline(images, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    int id = 0, camera_id = 0;
    double qw = 0, qx = 0, qy = 0, qz = 0, tx = 0, ty = 0, tz = 0;
    std::string name;
    in >> id >> qw >> qx >> qy >> qz >> tx >> ty >> tz >> camera_id >> name;
    const auto& cam = c.cameras[image_lines];
    CHECK(id == image_lines + 1);
    CHECK(camera_id == id);
    CHECK(name == cam.serial + ".jpg");
    CHECK(tz == Approx(cam.t[2]));
    // The quaternion gives back R (COLMAP: Hamilton, world -> camera).
    const double Rq[9] = {
        1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qw * qz),     2 * (qx * qz + qw * qy),
        2 * (qx * qy + qw * qz),     1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qw * qx),
        2 * (qx * qz - qw * qy),     2 * (qy * qz + qw * qx),     1 - 2 * (qx * qx + qy * qy)};
    for (int k = 0; k < 9; ++k) CHECK(Rq[k] == Approx(cam.R[k]).margin(1e-12));
    ++image_lines;
  }
  CHECK(image_lines == 3);
}

TEST_CASE("Quaternions of rotations near 180 degrees are exact", "[unit]") {
  for (const cv::Vec3d& rvec : {cv::Vec3d(3.14159, 0, 0), cv::Vec3d(0, 3.1, 0.2),
                                cv::Vec3d(0.1, 0.1, -3.13), cv::Vec3d(0.01, 0.02, 0.03)}) {
    cv::Matx33d m;
    cv::Rodrigues(rvec, m);
    std::array<double, 9> R{};
    for (int k = 0; k < 9; ++k) R[k] = m.val[k];
    const auto q = RotationToQuaternion(R);
    const double qw = q[0], qx = q[1], qy = q[2], qz = q[3];
    CHECK(1 - 2 * (qy * qy + qz * qz) == Approx(R[0]).margin(1e-12));
    CHECK(2 * (qx * qy - qw * qz) == Approx(R[1]).margin(1e-12));
    CHECK(2 * (qy * qz + qw * qx) == Approx(R[7]).margin(1e-12));
  }
}

TEST_CASE("Colour correction maps through linear RGB and is a no-op without one", "[unit]") {
  CameraCalibration cam = Sample().cameras[0];
  cv::Mat image(4, 4, CV_8UC3, cv::Scalar(40, 120, 200));
  cv::Mat copy = image.clone();
  ApplyColourCorrection(cam, image);
  CHECK(cv::norm(image, copy, cv::NORM_INF) == 0);
  // Identity stays identity (within rounding).
  cam.colour = ColourCorrection{};
  ApplyColourCorrection(cam, image);
  CHECK(cv::norm(image, copy, cv::NORM_INF) <= 1);
  // Doubling linear red: an sRGB value of 0.5 (linear 0.214) goes to linear 0.428 -> sRGB ~0.686.
  cam.colour->matrix = {2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
  cv::Mat grey(1, 1, CV_8UC3, cv::Scalar(128, 128, 128));
  ApplyColourCorrection(cam, grey);
  const auto px = grey.at<cv::Vec3b>(0, 0);
  CHECK(px[0] == 128);
  CHECK(px[1] == 128);
  CHECK(std::abs(px[2] - 175) <= 1);
}

}  // namespace
}  // namespace twinrig::calibration

namespace twinrig::calibration {
namespace {

TEST_CASE("Colour corrections make cameras with different casts agree", "[unit]") {
  // A ColorChecker's patches as three cameras see them: the same chart through different gains,
  // cross-talk and black levels.
  Patches truth{};
  for (size_t i = 0; i < 24; ++i) {
    const size_t row = i / 6;  // the chart has 4 rows of 6 patches
    truth[i] =
        cv::Vec3d(0.03 + 0.037 * static_cast<double>(i % 6), 0.05 + 0.1 * static_cast<double>(row),
                  0.9 - 0.035 * static_cast<double>(i));
  }
  const std::vector<std::array<double, 12>> casts = {
      {1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0},
      {1.2, 0.05, 0, 0.01, 0, 0.9, 0.02, 0, 0, 0.03, 1.1, -0.01},
      {0.85, 0, 0.04, 0, 0.02, 1.1, 0, 0.02, 0.01, 0, 0.8, 0}};
  std::vector<Patches> seen;
  for (const auto& m : casts) {
    Patches p{};
    for (size_t i = 0; i < 24; ++i) p[i] = Correct(ColourCorrection{m}, truth[i]);
    seen.push_back(p);
  }
  double before = 0;
  for (size_t i = 0; i < 24; ++i) before = std::max(before, cv::norm(seen[1][i] - seen[2][i]));
  auto corrections = SolveColourAgreement(seen);
  REQUIRE(corrections.ok());
  REQUIRE(corrections->size() == 3);
  double after = 0;
  for (size_t i = 0; i < 24; ++i) {
    const cv::Vec3d a = Correct((*corrections)[1], seen[1][i]);
    const cv::Vec3d b = Correct((*corrections)[2], seen[2][i]);
    after = std::max(after, cv::norm(a - b));
  }
  CHECK(before > 0.05);
  CHECK(after < 1e-6);
  CHECK_FALSE(SolveColourAgreement({seen[0]}).ok());
  // No chart in a flat grey image.
  cv::Mat grey(240, 320, CV_8UC3, cv::Scalar(128, 128, 128));
  CHECK_FALSE(MeasureColorChecker(grey, "grey.png").ok());
}

}  // namespace
}  // namespace twinrig::calibration
