// Camera workers against virtual PTP/IP cameras, through the real libgphoto2.
#include <catch2/catch.hpp>

#include <mutex>

#include "host/camera/camera_worker.h"
#include "sim/camera/camera_farm.h"
#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::camera {
namespace {

struct Studio {
  explicit Studio(const std::string& base, int count) {
    sim::camera::StudioAddressing addressing;
    addressing.base_address = base;
    addressing.synthetic_jpeg_bytes = std::size_t{256} * 1024;
    auto configs = sim::camera::MakeCameraConfigs(count, addressing);
    REQUIRE(configs.ok());
    farm = std::make_unique<sim::camera::CameraFarm>(*configs);
    farm->OnExposure([this](const sim::camera::ExposureRecord& record) {
      std::lock_guard lock(mutex);
      records.push_back(record);
    });
    REQUIRE(farm->Start().ok());
  }
  std::string Sha256Of(const std::string& serial) {
    std::lock_guard lock(mutex);
    for (auto it = records.rbegin(); it != records.rend(); ++it) {
      if (it->serial == serial) return it->sha256;
    }
    return {};
  }
  std::unique_ptr<sim::camera::CameraFarm> farm;
  std::mutex mutex;
  std::vector<sim::camera::ExposureRecord> records;
};

WorkerOptions TestOptions(const testing::TempDir& dir) {
  WorkerOptions options;
  options.worker_binary = TWINRIG_CAMERA_WORKER_BINARY;
  options.home = dir / "home";
  options.log_file = dir / "worker.log";
  options.connect_deadline = std::chrono::seconds(10);
  options.capture_deadline = std::chrono::seconds(3);
  return options;
}

TEST_CASE("a camera worker identifies, sets, captures, downloads and deletes", "[integration]") {
  testing::TempDir dir;
  Studio studio("127.0.40.2", 1);
  CameraClient camera(studio.farm->GphotoPort(0), TestOptions(dir));

  auto id = camera.Connect();
  REQUIRE(id.ok());
  CHECK(id->serial == studio.farm->config(0).serial);

  auto settings = camera.Settings();
  REQUIRE(settings.ok());
  REQUIRE(settings->count("iso") == 1);
  REQUIRE(camera.Apply("iso", "400").ok());
  CHECK(camera.Settings()->at("iso") == "400");
  auto refused = camera.Apply("iso", "123456");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().what.find("does not offer") != std::string::npos);

  auto file = camera.Capture();
  REQUIRE(file.ok());
  auto got = camera.Download(*file, dir / "frame.jpg");
  INFO((got.ok() ? std::string() : got.error().Describe()));
  REQUIRE(got.ok());
  CHECK(got->size == std::uint64_t{256} * 1024);
  CHECK(got->sha256 == studio.Sha256Of(id->serial));
  CHECK(*Sha256File(dir / "frame.jpg") == got->sha256);
  CHECK_FALSE(std::filesystem::exists(dir / "frame.jpg.part"));
  REQUIRE(camera.Delete(*file).ok());
  CHECK(studio.farm->Stats(0).images_on_card == 0);
}

TEST_CASE("a hung camera is stopped at its deadline and reconnects afterwards", "[integration]") {
  testing::TempDir dir;
  Studio studio("127.0.41.2", 1);
  CameraClient camera(studio.farm->GphotoPort(0), TestOptions(dir));
  REQUIRE(camera.Connect().ok());

  // No events after InitiateCapture: libgphoto2 2.5.30 would wait forever inside gp_camera_capture.
  REQUIRE(studio.farm->SetFault(0, sim::camera::Fault{.no_events = true}).ok());
  auto start = std::chrono::steady_clock::now();
  auto hung = camera.Capture();
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(hung.ok());
  CHECK(took < std::chrono::seconds(6));
  CHECK(hung.error().what.find("did not answer capture") != std::string::npos);
  CHECK(hung.error().where.find(studio.farm->config(0).serial) != std::string::npos);
  CHECK_FALSE(hung.error().todo.empty());

  REQUIRE(studio.farm->SetFault(0, sim::camera::Fault{}).ok());
  auto again = camera.Capture();
  REQUIRE(again.ok());
  CHECK(camera.restarts() == 1);
}

TEST_CASE("a dropped link reopens the camera inside the same worker", "[integration]") {
  testing::TempDir dir;
  Studio studio("127.0.43.2", 1);
  CameraClient camera(studio.farm->GphotoPort(0), TestOptions(dir));
  REQUIRE(camera.Connect().ok());
  const pid_t pid = camera.worker_pid();
  REQUIRE(studio.farm->SetFault(0, sim::camera::Fault{.drop_connection = true}).ok());
  auto dropped = camera.Storage();
  REQUIRE_FALSE(dropped.ok());
  CHECK(camera.last_failure() == FailureKind::kConnection);
  REQUIRE(studio.farm->SetFault(0, sim::camera::Fault{}).ok());
  auto log = [&] {
    auto text = ReadFileText(dir / "worker.log");
    return text.ok() ? text->substr(0, 6000) : std::string("none");
  };
  for (int i = 0; i < 3; ++i) {
    auto storage = camera.Storage();
    INFO("call " << i << ": " << (storage.ok() ? std::string("ok") : storage.error().Describe())
                 << "; worker log: " << log());
    REQUIRE(storage.ok());
  }
  CHECK(camera.worker_pid() == pid);
  CHECK(camera.reopens() == 1);
  CHECK(camera.restarts() == 0);
}

TEST_CASE("a camera that is not there fails fast with what to do", "[integration]") {
  testing::TempDir dir;
  CameraClient camera("ptpip:127.0.42.250", TestOptions(dir));
  auto start = std::chrono::steady_clock::now();
  auto id = camera.Connect();
  REQUIRE_FALSE(id.ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(id.error().where.find("127.0.42.250") != std::string::npos);
  CHECK_FALSE(id.error().todo.empty());
}

TEST_CASE("summary text gives the camera's identity", "[unit]") {
  auto id = ParseSummary(
      "Manufacturer: Canon\nModel: Canon EOS 2000D\n  Version: 1.0.0\n  Serial Number: TWR00007\n");
  CHECK(id.manufacturer == "Canon");
  CHECK(id.model == "Canon EOS 2000D");
  CHECK(id.firmware == "1.0.0");
  CHECK(id.serial == "TWR00007");
}

}  // namespace
}  // namespace twinrig::camera
