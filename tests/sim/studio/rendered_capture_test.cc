// Rendering virtual cameras driven by the real libgphoto2: the gphoto2 command line gets a rendered
// JPEG with the camera's EXIF, and 48 cameras capturing at once through the C API each see the
// head from where their true lens is.
#include <catch2/catch.hpp>

#include <libexif/exif-data.h>

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "sim/camera/camera_farm.h"
#include "sim/layout/layout.h"
#include "sim/render/renderer.h"
#include "sim/studio/rendering_source.h"
#include "tests/sim/camera/camera_test_support.h"
#include "tests/test_support.h"
#include "util/files.h"
#include "util/jpeg.h"

namespace twinrig::sim::studio {
namespace {

// The centre of the head scan's bounding box, in the scan's own frame (sim/data/head/SOURCES.md).
constexpr layout::Vec3 kHeadCentre{0.0055, -0.0945, -0.084};

std::filesystem::path HeadFolder() { return testing::SourceDir() / "sim/data/head"; }

// One EXIF tag as libexif prints it ("" when absent).
std::string ExifText(ExifData* data, ExifTag tag) {
  ExifEntry* entry = exif_data_get_entry(data, tag);
  if (entry == nullptr) return "";
  char text[256];
  exif_entry_get_value(entry, text, sizeof(text));
  return text;
}

// A farm whose cameras are the layout's first `count` cameras, rendering through their true lenses.
struct RenderingFarm {
  RenderingFarm(const layout::Layout& layout, int count, const std::string& base_address, int width,
                int height) {
    camera::StudioAddressing addressing;
    addressing.base_address = base_address;
    auto configs = camera::MakeCameraConfigs(count, addressing);
    REQUIRE(configs.ok());
    for (int i = 0; i < count; ++i) {
      auto& config = (*configs)[i];
      config.serial = layout.truth.cameras[i].serial;
      config.manufacturer = "Canon";
      config.model = layout.rig.cameras[i].model;
    }
    auto created = render::Renderer::Create(HeadFolder(), layout.truth);
    REQUIRE(created.ok());
    renderer = std::move(created).value();
    farm = std::make_unique<camera::CameraFarm>(*configs);
    farm->SetImageSource(RenderingImageSource(*renderer, layout.truth, width, height,
                                              [] { return render::SceneState{}; }));
    farm->OnExposure(log.Callback());
    REQUIRE(farm->Start().ok());
  }
  std::unique_ptr<render::Renderer> renderer;
  std::unique_ptr<camera::CameraFarm> farm;
  camera::testing::RecordLog log;
};

layout::Layout MakeLayout(const std::string& kind) {
  layout::LayoutOptions options;
  options.kind = kind;
  options.seed = 7;
  auto made = layout::GenerateLayout(options);
  REQUIRE(made.ok());
  return std::move(made).value();
}

TEST_CASE("the gphoto2 CLI captures a rendered JPEG that carries the camera's EXIF",
          "[integration]") {
  const layout::Layout layout = MakeLayout("head24");
  RenderingFarm studio(layout, 1, "127.0.46.2", 320, 240);
  const std::string serial = layout.truth.cameras[0].serial;
  testing::TempDir home;
  const std::vector<std::string> port{"--port", studio.farm->GphotoPort(0), "--camera",
                                      "PTP/IP Camera"};
  auto gphoto = [&](std::vector<std::string> args) {
    args.insert(args.begin(), port.begin(), port.end());
    auto result = camera::testing::RunGphoto2(home.path().string(), args);
    INFO(result.output);
    CHECK_FALSE(result.timed_out);
    CHECK(result.exit_code == 0);
    return result;
  };

  auto summary = gphoto({"--summary"});
  CHECK(summary.output.find("Serial Number: " + serial) != std::string::npos);
  gphoto({"--set-config", "iso=400", "--set-config", "shutterspeed=1/250"});
  const std::time_t before = std::time(nullptr);
  const auto file = home / "rendered.jpg";
  gphoto({"--capture-image-and-download", "--filename", file.string()});
  REQUIRE(studio.log.Wait(1, 5000));
  const auto record = studio.log.Records().at(0);
  CHECK(record.settings.iso == 400);

  auto bytes = ReadFileBytes(file);
  REQUIRE(bytes.ok());
  CHECK(CheckJpegStructure(*bytes).ok());
  CHECK(Sha256Hex(*bytes) == record.sha256);
  cv::Mat image = cv::imdecode(*bytes, cv::IMREAD_COLOR);
  REQUIRE(image.cols == 320);
  REQUIRE(image.rows == 240);
  // Rendered, not a flat or synthetic frame: the head fills part of the view.
  cv::Scalar mean, stddev;
  cv::meanStdDev(image, mean, stddev);
  CHECK(stddev[1] > 10);

  ExifData* exif = exif_data_new_from_data(bytes->data(), static_cast<unsigned>(bytes->size()));
  REQUIRE(exif != nullptr);
  CHECK(ExifText(exif, EXIF_TAG_MAKE) == "Canon");
  CHECK(ExifText(exif, EXIF_TAG_MODEL) == layout.rig.cameras[0].model);
  CHECK(ExifText(exif, EXIF_TAG_BODY_SERIAL_NUMBER) == serial);
  // The camera's calendar time of the true exposure, with sub-seconds.
  const std::string taken = ExifText(exif, EXIF_TAG_DATE_TIME_ORIGINAL);
  std::tm tm{};
  REQUIRE(strptime(taken.c_str(), "%Y:%m:%d %H:%M:%S", &tm) != nullptr);
  const std::time_t taken_s = timegm(&tm);
  CHECK(taken_s >= before - 1);
  CHECK(taken_s <= before + 30);
  CHECK(ExifText(exif, EXIF_TAG_SUB_SEC_TIME_ORIGINAL).size() == 6);
  const double focal_mm = std::stod(ExifText(exif, EXIF_TAG_FOCAL_LENGTH));
  CHECK(focal_mm == Approx(layout.truth.cameras[0].focal_length_mm).margin(0.1));
  CHECK(ExifText(exif, EXIF_TAG_ISO_SPEED_RATINGS) == "400");
  exif_data_unref(exif);
}

TEST_CASE("48 rendering cameras capture at once and each sees the head where its true lens puts it",
          "[integration]") {
  testing::TempDir home;
  setenv("HOME", home.path().c_str(), 1);  // libgphoto2 keeps its settings (host GUID) there
  constexpr int kCameras = 48;
  constexpr int kWidth = 160;
  constexpr int kHeight = 120;
  const layout::Layout layout = MakeLayout("body160");
  RenderingFarm studio(layout, kCameras, "127.0.47.2", kWidth, kHeight);

  // Every camera on its own libgphoto2 handle, all at once; bounded, since libgphoto2 can block.
  std::vector<std::vector<std::uint8_t>> images(kCameras);
  std::vector<std::string> errors(kCameras);
  std::mutex mutex;
  std::condition_variable cv;
  int done = 0;
  std::vector<std::thread> threads;
  threads.reserve(kCameras);
  for (int i = 0; i < kCameras; ++i) {
    threads.emplace_back([&, i] {
      camera::testing::GphotoCamera gphoto;
      const int open = gphoto.Open(studio.farm->GphotoPort(i));
      if (open < 0) {
        errors[i] = "open failed: " + std::to_string(open);
      } else {
        auto image = gphoto.CaptureAndDownload();
        if (image.ok()) {
          images[i] = std::move(image).value();
        } else {
          errors[i] = image.error().Describe();
        }
      }
      std::lock_guard lock(mutex);
      ++done;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    if (!cv.wait_for(lock, std::chrono::seconds(150), [&] { return done == kCameras; })) {
      FAIL_CHECK("libgphoto2 calls still running after 150 s");
      std::fflush(nullptr);
      std::_Exit(3);
    }
  }
  for (auto& t : threads) t.join();

  const layout::Vec3 centre = layout::Apply(layout.truth.subject_R, kHeadCentre);
  int in_view = 0;
  for (int i = 0; i < kCameras; ++i) {
    const auto& cam = layout.truth.cameras[i];
    INFO("camera " << cam.serial << ": " << errors[i]);
    REQUIRE(errors[i].empty());
    cv::Mat image = cv::imdecode(images[i], cv::IMREAD_COLOR);
    REQUIRE(image.cols == kWidth);
    // Where the camera's true lens puts the head centre.
    const auto k = cam.intrinsics.Scaled(kWidth, kHeight);
    const cv::Mat K = (cv::Mat_<double>(3, 3) << k.fx, 0, k.cx, 0, k.fy, k.cy, 0, 0, 1);
    const cv::Mat D = (cv::Mat_<double>(1, 5) << k.k1, k.k2, k.p1, k.p2, k.k3);
    const cv::Mat R = (cv::Mat_<double>(3, 3) << cam.R[0], cam.R[1], cam.R[2], cam.R[3], cam.R[4],
                       cam.R[5], cam.R[6], cam.R[7], cam.R[8]);
    cv::Mat rvec;
    cv::Rodrigues(R, rvec);
    const cv::Mat tvec = (cv::Mat_<double>(3, 1) << cam.t[0], cam.t[1], cam.t[2]);
    const std::vector<cv::Point3d> world = {{centre[0] + layout.truth.subject_t[0],
                                             centre[1] + layout.truth.subject_t[1],
                                             centre[2] + layout.truth.subject_t[2]}};
    std::vector<cv::Point2d> projected;
    cv::projectPoints(world, rvec, tvec, K, D, projected);
    // The subject: pixels that differ clearly from the backdrop (the image's corner colour).
    const cv::Vec3b backdrop = image.at<cv::Vec3b>(2, 2);
    double sx = 0, sy = 0, n = 0;
    for (int y = 0; y < image.rows; ++y) {
      for (int x = 0; x < image.cols; ++x) {
        const cv::Vec3b p = image.at<cv::Vec3b>(y, x);
        if (std::abs(p[0] - backdrop[0]) + std::abs(p[1] - backdrop[1]) +
                std::abs(p[2] - backdrop[2]) >
            60) {
          sx += x;
          sy += y;
          ++n;
        }
      }
    }
    // body160's columns aim some cameras at the legs of a full-body volume: the head is out of
    // their view, and their image must show nothing but backdrop.
    const bool head_in_view = projected[0].x > 20 && projected[0].x < kWidth - 20 &&
                              projected[0].y > 20 && projected[0].y < kHeight - 20;
    if (!head_in_view) {
      CHECK(n < 0.2 * kWidth * kHeight);
      continue;
    }
    ++in_view;
    REQUIRE(n > 20);
    INFO("subject centroid (" << sx / n << ", " << sy / n << "), projected head centre ("
                              << projected[0].x << ", " << projected[0].y << ")");
    // The silhouette's centroid is not the projected 3D centre exactly (perspective, shoulders):
    // a tenth of the image is a wrong viewpoint's worth of error many times over at this size.
    CHECK(std::abs(sx / n - projected[0].x) < 16);
    CHECK(std::abs(sy / n - projected[0].y) < 16);
  }
  CHECK(in_view >= 12);
}

}  // namespace
}  // namespace twinrig::sim::studio
