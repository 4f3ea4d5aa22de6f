// The fixture of the capture tests: a studio folder with a rig file for a farm of virtual PTP/IP
// cameras (driven by the real libgphoto2), and a session on it.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "host/session/capture.h"
#include "host/session/session.h"
#include "sim/camera/camera_farm.h"
#include "sim/layout/layout.h"
#include "store/catalog.h"
#include "tests/test_support.h"

namespace twinrig::session::testing_support {

// A studio folder with a rig file for a farm of virtual cameras, and a session on it.
struct Fixture {
  Fixture(const std::string& base_address, int cameras,
          std::size_t image_bytes = std::size_t{256} * 1024) {
    sim::camera::StudioAddressing addressing;
    addressing.base_address = base_address;
    addressing.synthetic_jpeg_bytes = image_bytes;
    auto configs = sim::camera::MakeCameraConfigs(cameras, addressing);
    REQUIRE(configs.ok());
    farm = std::make_unique<sim::camera::CameraFarm>(*configs);
    farm->OnExposure([this](const sim::camera::ExposureRecord& record) {
      std::lock_guard lock(mutex);
      records.push_back(record);
    });
    REQUIRE(farm->Start().ok());

    sim::layout::Rig rig;
    rig.name = "test";
    rig.nodes.push_back({1, "127.0.2.1", 15800, 8});
    for (int k = 0; k < cameras; ++k) {
      sim::layout::CameraSpec spec;
      spec.serial = farm->config(k).serial;
      spec.model = farm->config(k).model;
      spec.address = farm->config(k).address;
      spec.node_id = 1;
      spec.node_port = k % 8;
      spec.position = {std::cos(k * 1.0), 0.0, std::sin(k * 1.0)};
      rig.cameras.push_back(spec);
    }
    if (cameras > 8) rig.nodes[0].ports = cameras;
    std::filesystem::create_directories(studio() / "rigs" / "test");
    REQUIRE(sim::layout::WriteRigFile(studio() / "rigs" / "test" / "rig.toml", rig).ok());
    auto catalog = store::Catalog::Open(studio());
    REQUIRE(catalog.ok());
    // Board takes: these tests are about the cameras and the journal, not about consent (the
    // consent gate of subject sessions has its own tests).
    auto created = CreateSession(*catalog, SessionKind::kCalibration, "", "test");
    REQUIRE(created.ok());
    session = *created;
  }

  [[nodiscard]] std::filesystem::path studio() const { return dir.path() / "studio"; }

  CaptureOptions Options() const {
    CaptureOptions options;
    options.software_trigger = true;
    options.worker.home = dir.path() / "home";
    options.worker.worker_binary = testing::TwinrigBinary().parent_path() / "twinrig-camera-worker";
    options.worker.capture_deadline = std::chrono::seconds(3);
    options.worker.download_deadline = std::chrono::seconds(4);
    return options;
  }

  // The hash the camera produced for its exposure number `sequence`.
  std::string Produced(const std::string& serial, std::uint64_t sequence) {
    std::lock_guard lock(mutex);
    for (const auto& r : records) {
      if (r.serial == serial && r.sequence == sequence) return r.sha256;
    }
    return "none";
  }

  // Every file under images/, as "serial/take-N.jpg".
  std::vector<std::string> FilesOnStation() const {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(session.folder / "images")) {
      if (e.is_regular_file()) {
        files.push_back(e.path().parent_path().filename().string() + "/" +
                        e.path().filename().string());
      }
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  testing::TempDir dir;
  std::unique_ptr<sim::camera::CameraFarm> farm;
  std::mutex mutex;
  std::vector<sim::camera::ExposureRecord> records;
  SessionInfo session;
};

}  // namespace twinrig::session::testing_support
