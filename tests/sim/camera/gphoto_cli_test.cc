// The real gphoto2 command line against one virtual camera: summary, settings, capture, listing.
#include <catch2/catch.hpp>

#include <thread>

#include "sim/camera/camera_farm.h"
#include "sim/camera/synthetic_jpeg.h"
#include "tests/sim/camera/camera_test_support.h"
#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::sim::camera {
namespace {

using testing::RecordingSource;
using testing::RecordLog;
using testing::RunGphoto2;

TEST_CASE("the gphoto2 CLI reads, configures, captures from and lists a virtual camera",
          "[integration]") {
  StudioAddressing addressing;
  addressing.base_address = "127.42.1.2";
  addressing.serial_prefix = "CLI";
  addressing.synthetic_jpeg_bytes = 300'000;
  auto configs = MakeCameraConfigs(1, addressing);
  REQUIRE(configs.ok());
  (*configs)[0].manufacturer = "Twinrig Optics";
  (*configs)[0].model = "TR-1 Virtual";
  (*configs)[0].firmware_version = "2.3.4";
  // Before the farm, which calls into it from its threads until it is gone.
  RecordLog log;
  CameraFarm farm(*configs);
  RecordingSource source(addressing.synthetic_jpeg_bytes);
  farm.SetImageSource(source.Source());
  farm.OnExposure(log.Callback());
  REQUIRE(farm.Start().ok());
  twinrig::testing::TempDir home;
  const std::vector<std::string> port{"--port", farm.GphotoPort(0), "--camera", "PTP/IP Camera"};
  auto gphoto = [&](std::vector<std::string> args) {
    args.insert(args.begin(), port.begin(), port.end());
    auto result = RunGphoto2(home.path().string(), args);
    INFO(result.output);
    CHECK_FALSE(result.timed_out);
    CHECK(result.signal == 0);
    return result;
  };

  auto summary = gphoto({"--summary"});
  INFO(summary.output);
  CHECK(summary.exit_code == 0);
  CHECK(summary.output.find("CLI00001") != std::string::npos);
  CHECK(summary.output.find("Twinrig Optics") != std::string::npos);
  CHECK(summary.output.find("TR-1 Virtual") != std::string::npos);
  CHECK(summary.output.find("2.3.4") != std::string::npos);

  auto set = gphoto({"--set-config", "iso=400", "--set-config", "shutterspeed=1/250"});
  CHECK(set.exit_code == 0);
  auto iso = gphoto({"--get-config", "iso"});
  INFO(iso.output);
  CHECK(iso.output.find("Current: 400") != std::string::npos);
  auto shutter = gphoto({"--get-config", "shutterspeed"});
  INFO(shutter.output);
  // The generic PTP driver shows ExposureTime (0.1 ms units) in seconds: 1/250 s = 40.
  CHECK(shutter.output.find("Current: 0.0040s") != std::string::npos);

  const auto file = home / "captured.jpg";
  auto capture = gphoto({"--capture-image-and-download", "--filename", file.string()});
  CHECK(capture.exit_code == 0);
  REQUIRE(log.Wait(1, 5000));
  const ExposureRecord record = log.Records().at(0);
  CHECK(record.stored);
  CHECK(record.trigger == "ptp");
  CHECK(record.settings.iso == 400);
  CHECK(record.settings.shutter_s == Approx(1.0 / 250));
  auto downloaded = ReadFileBytes(file);
  REQUIRE(downloaded.ok());
  CHECK(*downloaded == source.Get("CLI00001", record.sequence));
  CHECK(downloaded->size() == addressing.synthetic_jpeg_bytes);
  CHECK(CheckJpegStructure(*downloaded).ok());
  CHECK(Sha256Hex(*downloaded) == record.sha256);
  // gphoto2 deleted the image on the camera after downloading it.
  CHECK(farm.Stats(0).images_on_card == 0);

  // A shot fired through the remote port stays on the card and shows in the listing.
  wire::LineEdge edge;
  edge.line = wire::Line::kShutter;
  edge.closed = true;
  edge.true_time_ns = testing::MonotonicNs();
  edge.capture_id = 7;
  testing::SendEdge(farm.config(0).address, farm.config(0).remote_port, edge);
  REQUIRE(log.Wait(2, 5000));
  const ExposureRecord remote = log.Records().at(1);
  REQUIRE(remote.stored);
  auto list = gphoto({"--list-files"});
  CHECK(list.output.find("/DCIM/100TWRIG") != std::string::npos);
  CHECK(list.output.find(remote.filename) != std::string::npos);
}

}  // namespace
}  // namespace twinrig::sim::camera
