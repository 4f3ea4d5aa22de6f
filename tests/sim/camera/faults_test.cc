// Injected faults and what libgphoto2 (CLI and C API) sees of each. libgphoto2 2.5.30 waits
// forever after DeviceBusy or without events, so those runs are under `timeout -s KILL`.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

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
using testing::RunGphoto2;

constexpr int kKilledByTimeout = 128 + 9;

// `timeout -s KILL` kills the command and, through its process group, itself.
bool KilledAtDeadline(const SubprocessResult& run) {
  return run.signal == 9 || run.exit_code == kKilledByTimeout;
}

struct Studio {
  explicit Studio(const std::string& base, std::size_t image_bytes = 200'000,
                  const FarmOptions& options = {})
      : source(image_bytes) {
    StudioAddressing addressing;
    addressing.base_address = base;
    addressing.serial_prefix = "FLT";
    addressing.synthetic_jpeg_bytes = image_bytes;
    auto configs = MakeCameraConfigs(1, addressing);
    REQUIRE(configs.ok());
    farm = std::make_unique<CameraFarm>(*configs, options);
    farm->SetImageSource(source.Source());
    farm->OnExposure(log.Callback());
    REQUIRE(farm->Start().ok());
  }
  SubprocessResult Gphoto(std::vector<std::string> args, int seconds = 60) {
    std::vector<std::string> all{"--port", farm->GphotoPort(0), "--camera", "PTP/IP Camera"};
    all.insert(all.end(), args.begin(), args.end());
    return RunGphoto2(home.path().string(), all, seconds);
  }
  twinrig::testing::TempDir home;
  RecordingSource source;
  RecordLog log;
  std::unique_ptr<CameraFarm> farm;
};

TEST_CASE("DeviceBusy on InitiateCapture leaves gphoto2 waiting until it is killed",
          "[integration]") {
  Studio studio("127.42.4.2");
  Fault busy;
  busy.busy_on_capture = true;
  REQUIRE(studio.farm->SetFault("FLT00001", busy).ok());
  auto run = studio.Gphoto({"--capture-image-and-download"}, 3);
  INFO(run.output);
  CHECK(KilledAtDeadline(run));
  CameraStats stats = studio.farm->Stats(0);
  CHECK(stats.busy_refusals == 1);
  CHECK(stats.exposures == 0);

  // Cleared, the same camera captures again.
  REQUIRE(studio.farm->SetFault(0, Fault{}).ok());
  auto file = studio.home / "after.jpg";
  auto again = studio.Gphoto({"--capture-image-and-download", "--filename", file.string()});
  CHECK(again.exit_code == 0);
  CHECK(std::filesystem::exists(file));
}

TEST_CASE("without events gphoto2 never finishes a capture although the camera took it",
          "[integration]") {
  Studio studio("127.42.5.2");
  Fault silent;
  silent.no_events = true;
  REQUIRE(studio.farm->SetFault(0, silent).ok());
  auto run = studio.Gphoto({"--capture-image-and-download"}, 3);
  INFO(run.output);
  CHECK(KilledAtDeadline(run));
  REQUIRE(studio.log.Wait(1, 2000));
  CHECK(studio.log.Records().at(0).stored);
  CameraStats stats = studio.farm->Stats(0);
  CHECK(stats.exposures == 1);
  CHECK(stats.events_suppressed == 2);
  CHECK(stats.events_sent == 0);
  CHECK(stats.images_on_card == 1);  // never downloaded, never deleted
}

TEST_CASE("a dropped connection is an I/O error for libgphoto2, quickly", "[integration]") {
  Studio studio("127.42.6.2");
  twinrig::testing::TempDir home;
  setenv("HOME", home.path().c_str(), 1);
  GphotoCamera camera;
  REQUIRE(camera.Open(studio.farm->GphotoPort(0)) == GP_OK);
  Fault drop;
  drop.drop_connection = true;
  REQUIRE(studio.farm->SetFault(0, drop).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  auto summary = camera.Summary();
  CHECK_FALSE(summary.ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));

  // New connections are dropped too, while the fault holds.
  auto run = studio.Gphoto({"--summary"}, 20);
  INFO(run.output);
  CHECK(run.exit_code != 0);
  CHECK_FALSE(KilledAtDeadline(run));
  CHECK(run.output.find("FLT00001") == std::string::npos);
  CHECK(studio.farm->Stats(0).dropped_connections >= 3);  // command + event, then the new one

  REQUIRE(studio.farm->SetFault(0, Fault{}).ok());
  auto healed = studio.Gphoto({"--summary"});
  CHECK(healed.output.find("FLT00001") != std::string::npos);
}

TEST_CASE("InitFail refuses the session: gphoto2 reports an error and gets no summary",
          "[integration]") {
  Studio studio("127.42.7.2");
  Fault refuse;
  refuse.refuse_session = true;
  REQUIRE(studio.farm->SetFault(0, refuse).ok());
  auto run = studio.Gphoto({"--summary"}, 20);
  INFO(run.output);
  CHECK(run.exit_code != 0);
  CHECK_FALSE(KilledAtDeadline(run));
  CHECK(run.output.find("Unspecified error") != std::string::npos);
  CHECK(run.output.find("FLT00001") == std::string::npos);
  CHECK(studio.farm->Stats(0).refused_sessions >= 1);
  CHECK(studio.farm->Stats(0).connections == 0);
}

TEST_CASE("a full card shows no free space, refuses captures and keeps no remote shot",
          "[integration]") {
  Studio studio("127.42.8.2");
  Fault full;
  full.card_full = true;
  REQUIRE(studio.farm->SetFault(0, full).ok());
  auto info = studio.Gphoto({"--storage-info"});
  INFO(info.output);
  CHECK(info.output.find("free=0") != std::string::npos);
  auto run = studio.Gphoto({"--capture-image-and-download"}, 3);
  INFO(run.output);
  // libgphoto2 2.5.30 ignores the StoreFull answer like DeviceBusy and waits for events.
  CHECK(KilledAtDeadline(run));
  CHECK(studio.farm->Stats(0).store_full_refusals == 1);
  CHECK(studio.farm->Stats(0).exposures == 0);

  wire::LineEdge edge{wire::Line::kShutter, true, testing::MonotonicNs(), 5, 1, 1};
  testing::SendEdge(studio.farm->config(0).address, studio.farm->config(0).remote_port, edge);
  REQUIRE(studio.log.Wait(1, 2000));
  const ExposureRecord record = studio.log.Records().at(0);
  CHECK_FALSE(record.stored);
  CHECK(record.error.find("card full") != std::string::npos);
  CHECK(studio.farm->Stats(0).images_on_card == 0);
}

TEST_CASE("a corrupted transfer arrives at full size with different bytes", "[integration]") {
  Studio studio("127.42.9.2");
  Fault corrupt;
  corrupt.corrupt_transfer = true;
  REQUIRE(studio.farm->SetFault(0, corrupt).ok());
  auto file = studio.home / "corrupt.jpg";
  auto run = studio.Gphoto({"--capture-image-and-download", "--filename", file.string()});
  INFO(run.output);
  CHECK(run.exit_code == 0);
  REQUIRE(studio.log.Wait(1, 2000));
  const ExposureRecord record = studio.log.Records().at(0);
  auto bytes = ReadFileBytes(file);
  REQUIRE(bytes.ok());
  CHECK(bytes->size() == record.bytes);
  CHECK(Sha256Hex(*bytes) != record.sha256);
  CHECK(*bytes != studio.source.Get(record.serial, record.sequence));
}

TEST_CASE("slow transfers are paced, and a low battery shows in the config", "[integration]") {
  Studio studio("127.42.10.2", 400'000);
  Fault slow;
  slow.transfer_bytes_per_s = 2'000'000;
  slow.battery_level = 7;
  REQUIRE(studio.farm->SetFault(0, slow).ok());
  auto battery = studio.Gphoto({"--get-config", "batterylevel"});
  INFO(battery.output);
  CHECK(battery.output.find("Current: 7%") != std::string::npos);

  auto file = studio.home / "slow.jpg";
  const auto start = std::chrono::steady_clock::now();
  auto run = studio.Gphoto({"--capture-image-and-download", "--filename", file.string()});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK(seconds >= 0.2);  // 400 kB at 2 MB/s
  REQUIRE(studio.log.Wait(1, 2000));
  auto bytes = ReadFileBytes(file);
  REQUIRE(bytes.ok());
  CHECK(*bytes == studio.source.Get("FLT00001", 1));
}

TEST_CASE("malformed packets close only that connection and the camera keeps serving",
          "[integration]") {
  FarmOptions options;
  options.handshake_timeout = std::chrono::milliseconds(300);
  Studio studio("127.42.11.2", 200'000, options);
  auto send_raw = [&](const std::vector<std::uint8_t>& bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(studio.farm->config(0).port);
    inet_pton(AF_INET, studio.farm->config(0).address.c_str(), &to.sin_addr);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    CHECK(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(bytes.size()));
    std::array<std::uint8_t, 64> buffer{};
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    ::close(fd);
    return got;
  };
  // A 2 GiB length, a length below the header, and an operation before any handshake.
  CHECK(send_raw({0, 0, 0, 0x80, 1, 0, 0, 0}) == 0);
  CHECK(send_raw({4, 0, 0, 0, 1, 0, 0, 0}) == 0);
  CHECK(send_raw({0x12, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 1, 0x10, 0, 0, 0, 0}) == 0);
  CHECK(studio.farm->Stats(0).malformed_packets == 3);
  // A peer that never says hello is closed after the handshake timeout.
  const auto start = std::chrono::steady_clock::now();
  CHECK(send_raw({}) == 0);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  // Junk on the remote port is counted and ignored.
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(studio.farm->config(0).remote_port);
  inet_pton(AF_INET, studio.farm->config(0).address.c_str(), &to.sin_addr);
  const std::array<std::uint8_t, 5> junk{1, 2, 3, 4, 5};
  ::sendto(fd, junk.data(), junk.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  ::close(fd);
  auto summary = studio.Gphoto({"--summary"});
  CHECK(summary.output.find("FLT00001") != std::string::npos);
  CHECK(studio.farm->Stats(0).remote_rejected == 1);
}

}  // namespace
}  // namespace twinrig::sim::camera
