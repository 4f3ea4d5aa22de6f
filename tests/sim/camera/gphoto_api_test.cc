// The libgphoto2 C API against the farm: many cameras at once, and remote-port exposures at the
// true time.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sim/camera/camera_farm.h"
#include "sim/camera/synthetic_jpeg.h"
#include "tests/sim/camera/camera_test_support.h"
#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::sim::camera {
namespace {

using testing::GphotoCamera;
using testing::RecordingSource;
using testing::RecordLog;

// Runs `jobs` on one thread each; libgphoto2 can block forever, so past the deadline the test
// fails and the process ends rather than hang.
void RunBounded(std::vector<std::function<void()>> jobs, int seconds) {
  std::mutex mutex;
  std::condition_variable cv;
  std::size_t done = 0;
  std::vector<std::thread> threads;
  threads.reserve(jobs.size());
  for (auto& job : jobs) {
    threads.emplace_back([&, job] {
      job();
      std::lock_guard lock(mutex);
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mutex);
  if (!cv.wait_for(lock, std::chrono::seconds(seconds), [&] { return done == jobs.size(); })) {
    FAIL_CHECK("libgphoto2 calls still running after " << seconds << " s");
    std::fflush(nullptr);
    std::_Exit(3);
  }
  lock.unlock();
  for (auto& t : threads) t.join();
}

TEST_CASE("48 virtual cameras connect and capture at once through libgphoto2", "[integration]") {
  twinrig::testing::TempDir home;
  setenv("HOME", home.path().c_str(), 1);  // libgphoto2 keeps its settings (host GUID) there
  constexpr int kCameras = 48;
  StudioAddressing addressing;
  addressing.base_address = "127.42.2.2";
  addressing.serial_prefix = "API";
  addressing.synthetic_jpeg_bytes = std::size_t{512} * 1024;
  auto configs = MakeCameraConfigs(kCameras, addressing);
  REQUIRE(configs.ok());
  // Before the farm, which calls into it from its threads until it is gone.
  RecordLog log;
  CameraFarm farm(*configs);
  RecordingSource source(addressing.synthetic_jpeg_bytes);
  farm.SetImageSource(source.Source());
  farm.OnExposure(log.Callback());
  REQUIRE(farm.Start().ok());

  struct Outcome {
    int open = 1;
    std::string summary;
    std::string error;
    std::vector<std::uint8_t> image;
  };
  std::vector<Outcome> outcomes(kCameras);
  std::vector<std::function<void()>> jobs;
  jobs.reserve(kCameras);
  for (int i = 0; i < kCameras; ++i) {
    jobs.emplace_back([&, i] {
      Outcome& out = outcomes[i];
      GphotoCamera camera;
      out.open = camera.Open(farm.GphotoPort(i));
      if (out.open < GP_OK) return;
      auto summary = camera.Summary();
      if (summary.ok()) out.summary = *summary;
      auto image = camera.CaptureAndDownload();
      if (image.ok()) {
        out.image = std::move(image).value();
      } else {
        out.error = image.error().Describe();
      }
    });
  }
  RunBounded(std::move(jobs), 120);

  REQUIRE(log.Wait(kCameras, 5000));
  std::map<std::string, ExposureRecord> by_serial;
  for (const auto& r : log.Records()) by_serial[r.serial] = r;
  for (int i = 0; i < kCameras; ++i) {
    const std::string serial = farm.config(i).serial;
    INFO(serial << " " << outcomes[i].error);
    CHECK(outcomes[i].open == GP_OK);
    CHECK(outcomes[i].summary.find("Serial Number: " + serial) != std::string::npos);
    REQUIRE(by_serial.count(serial) == 1);
    const ExposureRecord& record = by_serial[serial];
    CHECK(record.stored);
    CHECK(outcomes[i].image.size() == addressing.synthetic_jpeg_bytes);
    CHECK(Sha256Hex(outcomes[i].image) == record.sha256);
    CHECK(outcomes[i].image == source.Get(serial, record.sequence));
    CHECK(farm.Stats(i).images_on_card == 0);  // downloaded and deleted
  }
}

TEST_CASE("a remote-port shutter edge exposes at edge + lag and the host downloads the image",
          "[integration]") {
  twinrig::testing::TempDir home;
  setenv("HOME", home.path().c_str(), 1);
  StudioAddressing addressing;
  addressing.base_address = "127.42.3.2";
  addressing.serial_prefix = "RMT";
  addressing.synthetic_jpeg_bytes = 200'000;
  auto configs = MakeCameraConfigs(1, addressing);
  REQUIRE(configs.ok());
  (*configs)[0].shutter_lag_ns = 60'000'000;
  const auto truth_path = home / "truth.jsonl";
  FarmOptions options;
  options.truth_log = truth_path;
  // Before the farm, which calls into it from its threads until it is gone.
  RecordLog log;
  CameraFarm farm(*configs, options);
  RecordingSource source(addressing.synthetic_jpeg_bytes);
  farm.SetImageSource(source.Source());
  farm.OnExposure(log.Callback());
  REQUIRE(farm.Start().ok());

  GphotoCamera camera;
  REQUIRE(camera.Open(farm.GphotoPort(0)) == GP_OK);

  // The node's edge happened 5 ms ago in true time (the datagram is "late", as on a busy host).
  wire::LineEdge focus{wire::Line::kFocus, true, testing::MonotonicNs(), 11, 3, 2};
  testing::SendEdge(farm.config(0).address, farm.config(0).remote_port, focus);
  wire::LineEdge shutter{wire::Line::kShutter, true, testing::MonotonicNs() - 5'000'000, 11, 3, 2};
  testing::SendEdge(farm.config(0).address, farm.config(0).remote_port, shutter);

  std::string folder;
  std::string name;
  std::vector<int> events;  // event types seen, or the error that ended the wait
  RunBounded({[&] {
               // gp_camera_wait_for_event sometimes returns a timeout well before its 100 ms: wait
               // against a wall-clock deadline, not a count of calls.
               const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
               while (name.empty() && std::chrono::steady_clock::now() < deadline) {
                 CameraEventType type;
                 void* data = nullptr;
                 const int rc =
                     gp_camera_wait_for_event(camera.get(), 100, &type, &data, camera.context());
                 events.push_back(rc < GP_OK ? rc : static_cast<int>(type));
                 if (rc < GP_OK) break;
                 if (type == GP_EVENT_FILE_ADDED) {
                   auto* path = static_cast<CameraFilePath*>(data);
                   folder = path->folder;
                   name = path->name;
                 }
                 free(data);  // NOLINT(cppcoreguidelines-no-malloc): libgphoto2 mallocs it
               }
             }},
             30);
  REQUIRE(log.Wait(1, 2000));
  const ExposureRecord record = log.Records().at(0);
  CHECK(record.trigger == "remote");
  CHECK(record.capture_id == 11);
  CHECK(record.edge_time_ns == shutter.true_time_ns);
  CHECK(record.shutter_lag_ns == 60'000'000);
  const std::int64_t expected = shutter.true_time_ns + 60'000'000;
  CHECK(std::abs(record.true_time_ns - expected) < 1'000'000);
  // The OS lateness is measured, not folded into the true time.
  CHECK(record.os_wake_ns >= expected);
  CHECK(record.os_lateness_ns == record.os_wake_ns - record.true_time_ns);
  CHECK(record.os_lateness_ns < 50'000'000);

  INFO("events: " << fmt::format("{}", fmt::join(events, ",")) << " camera sent "
                  << farm.Stats(0).events_sent << " events, stored " << farm.Stats(0).images_stored
                  << ", record stored " << record.stored << ", error " << record.error);
  REQUIRE_FALSE(name.empty());
  CHECK(name == record.filename);
  CHECK(folder == "/store_00010001/DCIM/100TWRIG");
  auto bytes = camera.Download(folder, name);
  REQUIRE(bytes.ok());
  CHECK(*bytes == source.Get(record.serial, record.sequence));
  CHECK(CheckJpegStructure(*bytes).ok());

  // The truth log has the same exposure as one JSON line.
  auto truth = ReadFileText(truth_path);
  REQUIRE(truth.ok());
  CHECK(truth->find("\"true_time_ns\":" + std::to_string(record.true_time_ns)) !=
        std::string::npos);
  CHECK(truth->find("\"serial\":\"RMT00001\"") != std::string::npos);

  // A focus lead requirement refuses a shutter edge without focus, and records why.
  auto strict_configs =
      MakeCameraConfigs(1, {.base_address = "127.42.3.20", .serial_prefix = "FOC"});
  REQUIRE(strict_configs.ok());
  (*strict_configs)[0].focus_lead_ns = 100'000'000;
  CameraFarm strict(*strict_configs);
  RecordLog strict_log;
  strict.OnExposure(strict_log.Callback());
  REQUIRE(strict.Start().ok());
  wire::LineEdge early_focus{wire::Line::kFocus, true, testing::MonotonicNs(), 1, 1, 1};
  testing::SendEdge("127.42.3.20", wire::kRemotePortUdp, early_focus);
  wire::LineEdge too_soon{
      wire::Line::kShutter, true, early_focus.true_time_ns + 1'000'000, 1, 1, 1};
  testing::SendEdge("127.42.3.20", wire::kRemotePortUdp, too_soon);
  REQUIRE(strict_log.Wait(1, 2000));
  CHECK_FALSE(strict_log.Records().at(0).stored);
  CHECK(strict_log.Records().at(0).error.find("focus") != std::string::npos);
  wire::LineEdge open{wire::Line::kShutter, false, too_soon.true_time_ns + 1'000'000, 1, 1, 1};
  testing::SendEdge("127.42.3.20", wire::kRemotePortUdp, open);
  wire::LineEdge held{wire::Line::kShutter, true, early_focus.true_time_ns + 150'000'000, 2, 1, 1};
  testing::SendEdge("127.42.3.20", wire::kRemotePortUdp, held);
  REQUIRE(strict_log.Wait(2, 3000));
  CHECK(strict_log.Records().at(1).stored);
  CHECK(strict_log.Records().at(1).capture_id == 2);
}

}  // namespace
}  // namespace twinrig::sim::camera
