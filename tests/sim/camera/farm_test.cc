// The farm itself: addressing, configuration errors, a 200-camera studio on a fixed thread pool.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "sim/camera/camera_farm.h"
#include "tests/sim/camera/camera_test_support.h"
#include "tests/test_support.h"

namespace twinrig::sim::camera {
namespace {

std::size_t ThreadCount() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

TEST_CASE("studio addressing gives each camera its own loopback address and serial", "[unit]") {
  auto configs = MakeCameraConfigs(300, {});
  REQUIRE(configs.ok());
  CHECK((*configs)[0].address == "127.0.0.2");
  CHECK((*configs)[0].serial == "TWR00001");
  CHECK((*configs)[253].address == "127.0.0.255");
  CHECK((*configs)[254].address == "127.0.1.0");
  CHECK((*configs)[299].serial == "TWR00300");
  for (const auto& c : *configs) {
    CHECK(c.shutter_lag_ns >= 59'500'000);
    CHECK(c.shutter_lag_ns <= 60'500'000);
    CHECK(c.Validate().empty());
  }
  CHECK((*configs)[0].shutter_lag_ns != (*configs)[1].shutter_lag_ns);

  CHECK_FALSE(MakeCameraConfigs(10, {.base_address = "127.255.255.250"}).ok());
  CHECK_FALSE(MakeCameraConfigs(1, {.base_address = "camera.local"}).ok());

  CameraConfig bad;
  bad.address = "10.0.0.1";
  bad.battery_level = 101;
  CHECK(bad.Validate().size() == 3);  // no serial, not loopback, battery
}

TEST_CASE("the farm refuses bad configs and busy addresses with the camera named", "[unit]") {
  auto configs = MakeCameraConfigs(2, {.base_address = "127.42.13.2"});
  REQUIRE(configs.ok());
  auto twins = *configs;
  twins[1].serial = twins[0].serial;
  CameraFarm duplicate(twins);
  auto status = duplicate.Start();
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().what.find("serial is used twice") != std::string::npos);

  CameraFarm first(*configs);
  REQUIRE(first.Start().ok());
  CameraFarm second(*configs);
  status = second.Start();
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().where == "TWR00001");
  CHECK(status.error().what.find("127.42.13.2:15740") != std::string::npos);

  CHECK_FALSE(first.SetFault("NOPE", Fault{}).ok());
  CHECK_FALSE(first.SetFault(2, Fault{}).ok());
  CHECK(first.SetFault(1, Fault{}).ok());
  CHECK(first.GphotoPort(0) == "ptpip:127.42.13.2");
}

TEST_CASE("200 virtual cameras run on a fixed thread pool and each answers as itself",
          "[integration]") {
  twinrig::testing::TempDir home;
  setenv("HOME", home.path().c_str(), 1);
  auto configs = MakeCameraConfigs(200, {.base_address = "127.42.14.2", .serial_prefix = "BIG"});
  REQUIRE(configs.ok());
  FarmOptions options;
  options.io_threads = 2;
  options.image_threads = 2;
  CameraFarm farm(*configs, options);
  const std::size_t before = ThreadCount();
  REQUIRE(farm.Start().ok());
  CHECK(ThreadCount() - before == 5);  // 2 io + 1 shutter + 2 image workers
  for (std::size_t index : {0UL, 99UL, 199UL}) {
    testing::GphotoCamera camera;
    REQUIRE(camera.Open(farm.GphotoPort(index)) == GP_OK);
    auto summary = camera.Summary();
    REQUIRE(summary.ok());
    CHECK(summary->find("Serial Number: " + farm.config(index).serial) != std::string::npos);
  }
  CHECK(farm.config(199).address == "127.42.14.201");
}

TEST_CASE("a studio on another port is reached with libgphoto2's cmd and event port syntax",
          "[integration]") {
  twinrig::testing::TempDir home;
  setenv("HOME", home.path().c_str(), 1);
  auto configs = MakeCameraConfigs(
      2,
      {.base_address = "127.42.15.2", .port = 15750, .remote_port = 15751, .serial_prefix = "PRT"});
  REQUIRE(configs.ok());
  CameraFarm farm(*configs);
  REQUIRE(farm.Start().ok());
  CHECK(farm.GphotoPort(1) == "ptpip:127.42.15.3:15750:15750");
  testing::GphotoCamera camera;
  REQUIRE(camera.Open(farm.GphotoPort(1)) == GP_OK);
  auto summary = camera.Summary();
  REQUIRE(summary.ok());
  CHECK(summary->find("Serial Number: PRT00002") != std::string::npos);
}

TEST_CASE("200 cameras fired for the same instant all expose at edge + their own lag",
          "[integration]") {
  auto configs = MakeCameraConfigs(200, {.base_address = "127.42.16.2",
                                         .serial_prefix = "SYN",
                                         .synthetic_jpeg_bytes = std::size_t{16} * 1024});
  REQUIRE(configs.ok());
  // Before the farm, which calls into it from its threads until it is gone.
  testing::RecordLog log;
  CameraFarm farm(*configs);
  farm.OnExposure(log.Callback());
  REQUIRE(farm.Start().ok());
  // The node fires every output 50 ms from now in true time; the datagrams go out at once.
  const std::int64_t edge_ns = testing::MonotonicNs() + 50'000'000;
  for (std::size_t i = 0; i < farm.size(); ++i) {
    wire::LineEdge edge{wire::Line::kShutter,
                        true,
                        edge_ns,
                        99,
                        static_cast<std::uint16_t>(i / 8),
                        static_cast<std::uint8_t>(i % 8)};
    testing::SendEdge(farm.config(i).address, farm.config(i).remote_port, edge);
  }
  REQUIRE(log.Wait(farm.size(), 10'000));
  std::vector<double> lateness_ms;
  for (const auto& record : log.Records()) {
    auto index = farm.Find(record.serial);
    REQUIRE(index.ok());
    CHECK(record.stored);
    CHECK(record.capture_id == 99);
    CHECK(record.true_time_ns == edge_ns + farm.config(*index).shutter_lag_ns);
    CHECK(record.os_lateness_ns >= 0);
    lateness_ms.push_back(static_cast<double>(record.os_lateness_ns) / 1e6);
  }
  std::sort(lateness_ms.begin(), lateness_ms.end());
  // Informational: how late the simulation woke, which the truth log keeps apart from the truth.
  WARN("OS lateness over 200 simultaneous exposures: median "
       << lateness_ms[lateness_ms.size() / 2] << " ms, max " << lateness_ms.back() << " ms");
}

}  // namespace
}  // namespace twinrig::sim::camera
