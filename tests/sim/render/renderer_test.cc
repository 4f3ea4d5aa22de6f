#include "sim/render/renderer.h"

#include <libexif/exif-data.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <opencv2/aruco.hpp>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "calibration/board.h"
#include "tests/test_support.h"
#include "util/check.h"
#include "util/files.h"

namespace twinrig::sim::render {
namespace {

using layout::CameraTruth;
using layout::Layout;

std::filesystem::path HeadFolder() { return twinrig::testing::SourceDir() / "sim/data/head"; }

const Layout& Head24() {
  static const Layout layout = [] {
    layout::LayoutOptions options;
    options.kind = "head24";
    options.seed = 11;
    auto generated = layout::GenerateLayout(options);
    TWINRIG_CHECK(generated.ok()) << generated.error().Describe();
    return *generated;
  }();
  return layout;
}

const Renderer& SharedRenderer() {
  static const std::unique_ptr<Renderer> renderer = [] {
    auto created = Renderer::Create(HeadFolder(), Head24().truth);
    TWINRIG_CHECK(created.ok()) << created.error().Describe();
    return std::move(*created);
  }();
  return *renderer;
}

struct Pose {
  cv::Vec3d rvec;
  cv::Vec3d tvec;
};

// world -> camera as OpenCV rvec/tvec, optionally composed with object -> world.
Pose CameraPose(const CameraTruth& camera,
                const layout::Mat3& object_R = {1, 0, 0, 0, 1, 0, 0, 0, 1},
                const layout::Vec3& object_t = {0, 0, 0}) {
  const cv::Matx33d Rc(camera.R.data());
  const cv::Vec3d tc(camera.t[0], camera.t[1], camera.t[2]);
  const cv::Matx33d Ro(object_R.data());
  const cv::Vec3d to(object_t[0], object_t[1], object_t[2]);
  const cv::Matx33d R = Rc * Ro;
  const cv::Vec3d t = Rc * to + tc;
  Pose pose;
  cv::Rodrigues(R, pose.rvec);
  pose.tvec = t;
  return pose;
}

std::vector<cv::Point2f> Project(const CameraTruth& camera, const layout::Intrinsics& in,
                                 const Pose& pose, const std::vector<cv::Point3f>& points) {
  const cv::Matx33d K(in.fx, 0, in.cx, 0, in.fy, in.cy, 0, 0, 1);
  const cv::Vec<double, 5> dist(in.k1, in.k2, in.p1, in.p2, in.k3);
  std::vector<cv::Point2f> image;
  cv::projectPoints(points, pose.rvec, pose.tvec, K, dist, image);
  (void)camera;
  return image;
}

// The camera that looks most squarely at calibration pose `index`.
int BestCameraFor(int index, const std::vector<cv::Point3f>& corners) {
  const Layout& layout = Head24();
  const auto& target = layout.truth.calibration.poses[static_cast<size_t>(index)];
  int best = -1;
  double best_score = 0;
  for (size_t i = 0; i < layout.truth.cameras.size(); ++i) {
    const CameraTruth& camera = layout.truth.cameras[i];
    // Board z axis (into the board) in the camera frame: facing the camera means positive z.
    const layout::Vec3 normal{target.R[2], target.R[5], target.R[8]};
    const layout::Vec3 n = layout::Apply(camera.R, normal);
    const auto image =
        Project(camera, camera.intrinsics, CameraPose(camera, target.R, target.t), corners);
    int inside = 0;
    for (const auto& p : image) {
      const double right = camera.intrinsics.width - 20.0;
      const double bottom = camera.intrinsics.height - 20.0;
      inside += p.x > 20 && p.y > 20 && p.x < right && p.y < bottom;
    }
    const double score = n[2] * inside;
    if (score > best_score) {
      best_score = score;
      best = static_cast<int>(i);
    }
  }
  return best;
}

struct CornerErrors {
  int count = 0;
  double max = 0;
  double rms = 0;
  double raw_mean_x = 0;  // interpolateCornersCharuco alone, before our cornerSubPix
  double raw_mean_y = 0;
  double max_distortion = 0;  // how far the lens moves the corners (the test must see it)
};

// Renders the ChArUco board at each pose through the camera that faces it best, detects it with
// OpenCV aruco and compares every corner with cv::projectPoints under the true camera.
//
// OpenCV 4.6's interpolateCornersCharuco returns corners offset by +0.5 px in x and y (it shifts
// the points around cornerSubPix; opencv/opencv#25539, fixed upstream in 2026 by #28380). The
// corners are therefore refined once more with cv::cornerSubPix, which is unbiased; the raw
// offset is reported so that calibration code knows to do the same.
CornerErrors MeasureCharuco(const std::vector<int>& poses, int width, int height) {
  const Layout& layout = Head24();
  const auto spec = calibration::ParseBoardSpec(layout.truth.calibration.charuco);
  REQUIRE(spec.ok());
  const auto board = calibration::MakeCharuco(*spec);
  REQUIRE(board.ok());
  const std::vector<cv::Point3f>& corners = (*board)->chessboardCorners;
  auto parameters = cv::aruco::DetectorParameters::create();
  parameters->cornerRefinementMethod = cv::aruco::CORNER_REFINE_SUBPIX;

  CornerErrors errors;
  double sum_squared = 0;
  for (const int pose_index : poses) {
    const int camera_index = BestCameraFor(pose_index, corners);
    REQUIRE(camera_index >= 0);
    const CameraTruth& camera = layout.truth.cameras[static_cast<size_t>(camera_index)];
    const layout::Intrinsics in = camera.intrinsics.Scaled(width, height);
    Exposure exposure;
    exposure.width = width;
    exposure.height = height;
    SceneState scene;
    scene.mode = SceneState::Mode::kCalibration;
    scene.board_pose = pose_index;
    auto image = SharedRenderer().RenderImage(camera, exposure, scene, 5);
    REQUIRE(image.ok());
    cv::Mat grey;
    cv::cvtColor(*image, grey, cv::COLOR_BGR2GRAY);

    std::vector<std::vector<cv::Point2f>> marker_corners;
    std::vector<int> marker_ids;
    cv::aruco::detectMarkers(grey, (*board)->dictionary, marker_corners, marker_ids, parameters);
    REQUIRE(marker_ids.size() >= 4);
    std::vector<cv::Point2f> charuco_corners;
    std::vector<int> charuco_ids;
    cv::aruco::interpolateCornersCharuco(marker_corners, marker_ids, grey, *board, charuco_corners,
                                         charuco_ids);
    REQUIRE(charuco_ids.size() >= 6);
    std::vector<cv::Point2f> refined = charuco_corners;
    cv::cornerSubPix(grey, refined, cv::Size(5, 5), cv::Size(-1, -1),
                     cv::TermCriteria(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, 100, 1e-4));

    const layout::TargetPose& target =
        layout.truth.calibration.poses[static_cast<size_t>(pose_index)];
    const Pose pose = CameraPose(camera, target.R, target.t);
    const auto truth = Project(camera, in, pose, corners);
    layout::Intrinsics pinhole = in;
    pinhole.k1 = pinhole.k2 = pinhole.p1 = pinhole.p2 = pinhole.k3 = 0;
    const auto undistorted = Project(camera, pinhole, pose, corners);
    for (size_t i = 0; i < charuco_ids.size(); ++i) {
      const auto id = static_cast<size_t>(charuco_ids[i]);
      const double error = cv::norm(refined[i] - truth[id]);
      errors.max = std::max(errors.max, error);
      sum_squared += error * error;
      errors.raw_mean_x += charuco_corners[i].x - truth[id].x;
      errors.raw_mean_y += charuco_corners[i].y - truth[id].y;
      ++errors.count;
      errors.max_distortion =
          std::max(errors.max_distortion, cv::norm(truth[id] - undistorted[id]));
    }
  }
  errors.rms = std::sqrt(sum_squared / std::max(1, errors.count));
  errors.raw_mean_x /= std::max(1, errors.count);
  errors.raw_mean_y /= std::max(1, errors.count);
  std::printf(
      "ChArUco at %dx%d, %zu poses: %d corners, max error %.3f px, RMS %.3f px; "
      "interpolateCornersCharuco alone is off by (%+.3f, %+.3f) px on average; the lens "
      "moves corners up to %.2f px\n",
      width, height, poses.size(), errors.count, errors.max, errors.rms, errors.raw_mean_x,
      errors.raw_mean_y, errors.max_distortion);
  return errors;
}

TEST_CASE("ChArUco corners detected in renders lie within 0.3 px of the true projection",
          "[integration]") {
  const CornerErrors errors = MeasureCharuco({0, 13}, 800, 600);
  CHECK(errors.count >= 25);
  CHECK(errors.max < 0.3);
  CHECK(errors.rms < 0.15);
  CHECK(errors.max_distortion > 0.1);
}

TEST_CASE("ChArUco corners at full size over the whole calibration script", "[slow]") {
  std::vector<int> poses;
  const Layout& layout = Head24();
  for (size_t i = 0; i < layout.truth.calibration.poses.size(); ++i) {
    if (layout.truth.calibration.poses[i].kind == layout::TargetKind::kCharuco) {
      poses.push_back(static_cast<int>(i));
    }
  }
  const CornerErrors errors = MeasureCharuco(poses, 1600, 1200);
  CHECK(errors.count >= 300);
  CHECK(errors.max < 0.3);
  CHECK(errors.rms < 0.15);
}

TEST_CASE("the head lands where the true camera projects the mesh", "[integration]") {
  const Layout& layout = Head24();
  const Renderer& renderer = SharedRenderer();
  const int width = 512;
  const int height = 384;
  for (const int index : {0, 10, 17, 23}) {
    const CameraTruth& camera = layout.truth.cameras[static_cast<size_t>(index)];
    Exposure exposure;
    exposure.width = width;
    exposure.height = height;
    auto subject = renderer.RenderImage(camera, exposure, SceneState{}, 3);
    SceneState empty_scene;
    empty_scene.mode = SceneState::Mode::kEmpty;
    auto empty = renderer.RenderImage(camera, exposure, empty_scene, 3);
    REQUIRE(subject.ok());
    REQUIRE(empty.ok());
    // Same seed, same noise: the backdrop is identical, so any difference is the head.
    cv::Mat difference;
    cv::absdiff(*subject, *empty, difference);
    cv::Mat rendered_mask;
    cv::cvtColor(difference, rendered_mask, cv::COLOR_BGR2GRAY);
    rendered_mask = rendered_mask > 0;

    // Independent silhouette: every mesh triangle projected with cv::projectPoints and filled.
    const layout::Intrinsics in = camera.intrinsics.Scaled(width, height);
    const Pose pose = CameraPose(camera, layout.truth.subject_R, layout.truth.subject_t);
    const auto projected = Project(camera, in, pose, renderer.HeadVertices());
    cv::Mat projected_mask = cv::Mat::zeros(height, width, CV_8U);
    constexpr int kShift = 8;
    for (const cv::Vec3i& tri : renderer.HeadTriangles()) {
      std::array<cv::Point, 3> points;
      for (int k = 0; k < 3; ++k) {
        const cv::Point2f& p = projected[static_cast<size_t>(tri[k])];
        points[k] = cv::Point(static_cast<int>(std::lround(p.x * (1 << kShift))),
                              static_cast<int>(std::lround(p.y * (1 << kShift))));
      }
      cv::fillConvexPoly(projected_mask, points.data(), 3, cv::Scalar(255), cv::LINE_8, kShift);
    }
    const cv::Moments a = cv::moments(rendered_mask, true);
    const cv::Moments b = cv::moments(projected_mask, true);
    REQUIRE(a.m00 > 0.05 * width * height);
    const cv::Point2d centroid_a(a.m10 / a.m00, a.m01 / a.m00);
    const cv::Point2d centroid_b(b.m10 / b.m00, b.m01 / b.m00);
    const double intersection = cv::countNonZero(rendered_mask & projected_mask);
    const double union_ = cv::countNonZero(rendered_mask | projected_mask);
    std::printf("camera %d: silhouette centroid off by %.3f px, IoU %.4f\n", index,
                cv::norm(centroid_a - centroid_b), intersection / union_);
    CHECK(cv::norm(centroid_a - centroid_b) < 0.5);
    CHECK(intersection / union_ > 0.98);
    // The head's centroid (above the chin) projects inside the rendered head.
    cv::Point3f head_centre(0, 0, 0);
    int above_chin = 0;
    for (const cv::Point3f& v : renderer.HeadVertices()) {
      if (v.y > -0.13F) {
        head_centre += v;
        ++above_chin;
      }
    }
    head_centre *= 1.0F / static_cast<float>(above_chin);
    const auto centre = Project(camera, in, pose, {head_centre})[0];
    REQUIRE(centre.x >= 0);
    REQUIRE(centre.y >= 0);
    CHECK(rendered_mask.at<std::uint8_t>(cvRound(centre.y), cvRound(centre.x)) == 255);
    // And the head is in the middle part of the frame.
    CHECK(std::abs(centre.x - in.cx) < width / 4.0);
    CHECK(std::abs(centre.y - in.cy) < height / 4.0);
  }
}

std::string ExifText(ExifData* data, ExifIfd ifd, ExifTag tag) {
  ExifEntry* entry = exif_content_get_entry(data->ifd[ifd], tag);
  if (entry == nullptr) return "<missing>";
  char value[256] = {};
  exif_entry_get_value(entry, value, sizeof(value));
  return value;
}

TEST_CASE("JPEGs are deterministic for a seed and carry the camera's EXIF", "[integration]") {
  const Layout& layout = Head24();
  const Renderer& renderer = SharedRenderer();
  const CameraTruth& camera = layout.truth.cameras[4];
  Exposure exposure;
  exposure.width = 320;
  exposure.height = 240;
  exposure.serial = camera.serial;
  exposure.iso = 200;
  exposure.shutter_s = 1.0 / 160;
  exposure.aperture_f = 11;
  // 2026-11-28 04:00:00.123456789 UTC as the camera's clock.
  exposure.true_time_ns = 5'000'123'456'789;
  exposure.clock_offset_ns = 1'795'838'400'000'000'000 - 5'000'000'000'000;
  const auto a = renderer.RenderJpeg(camera, exposure, SceneState{}, 42);
  const auto b = renderer.RenderJpeg(camera, exposure, SceneState{}, 42);
  const auto c = renderer.RenderJpeg(camera, exposure, SceneState{}, 43);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  CHECK(*a == *b);
  CHECK(*a != *c);  // other noise

  const cv::Mat decoded = cv::imdecode(*a, cv::IMREAD_COLOR);
  REQUIRE(decoded.cols == 320);
  REQUIRE(decoded.rows == 240);

  ExifData* exif = exif_data_new_from_data(a->data(), static_cast<unsigned>(a->size()));
  REQUIRE(exif != nullptr);
  CHECK(ExifText(exif, EXIF_IFD_0, EXIF_TAG_MAKE) == "Canon");
  CHECK(ExifText(exif, EXIF_IFD_0, EXIF_TAG_MODEL) == "Canon EOS 2000D");
  CHECK(ExifText(exif, EXIF_IFD_EXIF, EXIF_TAG_BODY_SERIAL_NUMBER) == camera.serial);
  CHECK(ExifText(exif, EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_ORIGINAL) == "2026:11:28 04:00:00");
  CHECK(ExifText(exif, EXIF_IFD_EXIF, EXIF_TAG_SUB_SEC_TIME_ORIGINAL) == "123456");
  CHECK(ExifText(exif, EXIF_IFD_EXIF, EXIF_TAG_EXPOSURE_TIME) == "1/160 sec.");
  CHECK(ExifText(exif, EXIF_IFD_EXIF, EXIF_TAG_FNUMBER) == "f/11.0");
  CHECK(ExifText(exif, EXIF_IFD_EXIF, EXIF_TAG_ISO_SPEED_RATINGS) == "200");
  char focal[32];
  std::snprintf(focal, sizeof(focal), "%.1f mm", std::round(camera.focal_length_mm * 100) / 100);
  CHECK(ExifText(exif, EXIF_IFD_EXIF, EXIF_TAG_FOCAL_LENGTH) == focal);
  exif_data_unref(exif);

  // Another camera, 1.5 s later: serial and time change, the rest does not.
  const CameraTruth& other = layout.truth.cameras[9];
  Exposure later = exposure;
  later.serial = other.serial;
  later.true_time_ns += 1'500'000'000;
  const auto d = renderer.RenderJpeg(other, later, SceneState{}, 42);
  REQUIRE(d.ok());
  exif = exif_data_new_from_data(d->data(), static_cast<unsigned>(d->size()));
  REQUIRE(exif != nullptr);
  CHECK(ExifText(exif, EXIF_IFD_EXIF, EXIF_TAG_BODY_SERIAL_NUMBER) == other.serial);
  CHECK(ExifText(exif, EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_ORIGINAL) == "2026:11:28 04:00:01");
  CHECK(ExifText(exif, EXIF_IFD_EXIF, EXIF_TAG_SUB_SEC_TIME_ORIGINAL) == "623456");
  CHECK(ExifText(exif, EXIF_IFD_EXIF, EXIF_TAG_ISO_SPEED_RATINGS) == "200");
  exif_data_unref(exif);
}

double MeanLevel(const cv::Mat& image) {
  const cv::Scalar mean = cv::mean(image);
  return (mean[0] + mean[1] + mean[2]) / 3;
}

TEST_CASE("exposure follows ISO, shutter and aperture, and noise grows with ISO", "[integration]") {
  const Layout& layout = Head24();
  const Renderer& renderer = SharedRenderer();
  const CameraTruth& camera = layout.truth.cameras[1];
  Exposure base;
  base.width = 160;
  base.height = 120;
  auto render = [&](const Exposure& exposure) {
    auto image = renderer.RenderImage(camera, exposure, SceneState{}, 9);
    REQUIRE(image.ok());
    return MeanLevel(*image);
  };
  const double reference = render(base);
  Exposure brighter = base;
  brighter.iso = 200;
  CHECK(render(brighter) > reference * 1.15);
  brighter = base;
  brighter.shutter_s = 1.0 / 60;
  CHECK(render(brighter) > reference * 1.15);
  brighter = base;
  brighter.aperture_f = 5.6;
  CHECK(render(brighter) > reference * 1.15);
  Exposure darker = base;
  darker.iso = 100;
  darker.shutter_s = 1.0 / 500;
  CHECK(render(darker) < reference * 0.7);
  // The same exposure value reached with +2 stops ISO and -2 stops shutter looks the same but
  // noisier.
  Exposure noisy = base;
  noisy.iso = 400;
  noisy.shutter_s = 1.0 / 500;
  CHECK(render(noisy) == Approx(reference).epsilon(0.03));
  SceneState empty;
  empty.mode = SceneState::Mode::kEmpty;
  auto flat = renderer.RenderImage(camera, base, empty, 9);
  auto flat_noisy = renderer.RenderImage(camera, noisy, empty, 9);
  REQUIRE(flat.ok());
  REQUIRE(flat_noisy.ok());
  cv::Scalar mean;
  cv::Scalar low;
  cv::Scalar high;
  cv::meanStdDev((*flat)(cv::Rect(60, 40, 40, 40)), mean, low);
  cv::meanStdDev((*flat_noisy)(cv::Rect(60, 40, 40, 40)), mean, high);
  CHECK(high[1] > 1.5 * low[1]);
  // White balance: a warmer setting than the lights makes the picture bluer.
  Exposure warm = base;
  warm.white_balance_k = 3200;
  auto blue = renderer.RenderImage(camera, warm, empty, 9);
  REQUIRE(blue.ok());
  const cv::Scalar tint = cv::mean(*blue);
  CHECK(tint[0] > tint[2] + 10);  // B > R
}

TEST_CASE("the ColorChecker shows its published colours in the right places", "[integration]") {
  const Layout& layout = Head24();
  const Renderer& renderer = SharedRenderer();
  // The chart facing +z (front): the first ColorChecker pose; look from the camera facing it.
  int chart_pose = -1;
  for (size_t i = 0; i < layout.truth.calibration.poses.size(); ++i) {
    if (layout.truth.calibration.poses[i].kind == layout::TargetKind::kColorChecker) {
      chart_pose = static_cast<int>(i);
      break;
    }
  }
  REQUIRE(chart_pose >= 0);
  const auto& target = layout.truth.calibration.poses[static_cast<size_t>(chart_pose)];
  const double w = layout.truth.calibration.colorchecker_width_m;
  const double h = w * 216.0 / 279.0;
  // Patch centres in the chart frame (x right, y down, patch 1 top left).
  std::vector<cv::Point3f> centres;
  const double pitch = w / 6.2;
  for (int i = 0; i < 24; ++i) {
    const int row = i / 6;
    const int column = i % 6;
    const double x = (w - 6 * pitch) / 2 + (column + 0.5) * pitch;
    const double y_from_top = (h - 4 * pitch) / 2 + (row + 0.5) * pitch;
    centres.emplace_back(static_cast<float>(x), static_cast<float>(y_from_top), 0.0F);
  }
  const int camera_index = BestCameraFor(chart_pose, centres);
  REQUIRE(camera_index >= 0);
  const CameraTruth& camera = layout.truth.cameras[static_cast<size_t>(camera_index)];
  Exposure exposure;
  exposure.width = 640;
  exposure.height = 480;
  SceneState scene;
  scene.mode = SceneState::Mode::kCalibration;
  scene.board_pose = chart_pose;
  auto image = renderer.RenderImage(camera, exposure, scene, 1);
  REQUIRE(image.ok());
  const auto points = Project(camera, camera.intrinsics.Scaled(640, 480),
                              CameraPose(camera, target.R, target.t), centres);
  std::vector<cv::Vec3b> patch(24);
  for (int i = 0; i < 24; ++i) {
    patch[static_cast<size_t>(i)] = image->at<cv::Vec3b>(cvRound(points[static_cast<size_t>(i)].y),
                                                         cvRound(points[static_cast<size_t>(i)].x));
  }
  // BGR. 15 red, 14 green, 13 blue, 16 yellow, 19 white .. 24 black (1-based in the chart).
  CHECK(patch[14][2] > patch[14][1] + 40);
  CHECK(patch[13][1] > patch[13][2] + 30);
  CHECK(patch[12][0] > patch[12][2] + 40);
  CHECK(patch[15][2] > patch[15][0] + 60);
  for (int i = 18; i < 23; ++i) {
    CHECK(patch[static_cast<size_t>(i)][1] > patch[static_cast<size_t>(i) + 1][1]);
    // Neutral patches stay neutral.
    CHECK(std::abs(patch[static_cast<size_t>(i)][0] - patch[static_cast<size_t>(i)][2]) < 12);
  }
}

TEST_CASE("the head scan is found from the repository and a bad hint is refused", "[unit]") {
  const auto found = FindHeadData();
  REQUIRE(found.ok());
  CHECK(std::filesystem::exists(*found / "head.obj"));
  twinrig::testing::TempDir dir;
  const auto bad = FindHeadData(dir.path());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().where == dir.path().string());
}

TEST_CASE("the renderer refuses bad input with a clear error", "[integration]") {
  const Layout& layout = Head24();
  twinrig::testing::TempDir dir;
  auto missing = Renderer::Create(dir.path(), layout.truth);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().where.find("head.obj") != std::string::npos);

  // A damaged mesh names the line.
  std::filesystem::copy(HeadFolder() / "Map-COL.jpg", dir / "Map-COL.jpg");
  REQUIRE(
      WriteFileAtomic(dir / "head.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/1 9/1\n").ok());
  auto damaged = Renderer::Create(dir.path(), layout.truth);
  REQUIRE_FALSE(damaged.ok());
  CHECK(damaged.error().what.find("line 5") != std::string::npos);

  // A texture that is not an image.
  REQUIRE(
      WriteFileAtomic(dir / "head.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/1 3/1\n").ok());
  REQUIRE(WriteFileAtomic(dir / "Map-COL.jpg", "not a jpeg").ok());
  auto texture = Renderer::Create(dir.path(), layout.truth);
  REQUIRE_FALSE(texture.ok());
  CHECK(texture.error().where.find("Map-COL.jpg") != std::string::npos);

  const CameraTruth& camera = layout.truth.cameras[0];
  Exposure bad;
  bad.iso = 3;
  bad.jpeg_quality = 0;
  auto image = SharedRenderer().RenderImage(camera, bad, SceneState{}, 1);
  REQUIRE_FALSE(image.ok());
  CHECK(image.error().what.find("iso") != std::string::npos);
  CHECK(image.error().what.find("jpeg_quality") != std::string::npos);

  SceneState scene;
  scene.mode = SceneState::Mode::kCalibration;
  scene.board_pose = 999;
  Exposure small;
  small.width = 64;
  small.height = 48;
  image = SharedRenderer().RenderImage(camera, small, scene, 1);
  REQUIRE_FALSE(image.ok());
  CHECK(image.error().where == camera.serial);

  RendererOptions options;
  options.supersamples = 3;
  auto bad_options = Renderer::Create(HeadFolder(), layout.truth, options);
  REQUIRE_FALSE(bad_options.ok());
  CHECK(bad_options.error().what.find("supersamples") != std::string::npos);
}

TEST_CASE("coverage is the subject's silhouette and rendering does not depend on threads",
          "[integration]") {
  const Layout& layout = Head24();
  const CameraTruth& camera = layout.truth.cameras[12];
  auto coverage = SharedRenderer().RenderCoverage(camera, 160, 120, SceneState{});
  REQUIRE(coverage.ok());
  double low = 0;
  double high = 0;
  cv::minMaxLoc(*coverage, &low, &high);
  CHECK(low == 0);
  CHECK(high == 1);
  const double fraction = cv::sum(*coverage)[0] / (160 * 120);
  CHECK(fraction > 0.1);
  CHECK(fraction < 0.8);
  SceneState empty;
  empty.mode = SceneState::Mode::kEmpty;
  auto none = SharedRenderer().RenderCoverage(camera, 160, 120, empty);
  REQUIRE(none.ok());
  CHECK(cv::countNonZero(*none) == 0);

  RendererOptions single;
  single.threads = 1;
  auto one_thread = Renderer::Create(HeadFolder(), layout.truth, single);
  REQUIRE(one_thread.ok());
  Exposure exposure;
  exposure.width = 160;
  exposure.height = 120;
  auto a = (*one_thread)->RenderImage(camera, exposure, SceneState{}, 77);
  auto b = SharedRenderer().RenderImage(camera, exposure, SceneState{}, 77);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(cv::norm(*a, *b, cv::NORM_INF) == 0);
}

}  // namespace
}  // namespace twinrig::sim::render
