// Done-when of the trigger nodes: sim nodes wired to virtual cameras (sim/camera), a capture
// scheduled through riglink, and every camera exposing at the common instant in true time — the
// host trims each port by its camera's shutter lag so that the exposures, not the edges, coincide.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <mutex>
#include <thread>

#include "host/riglink/riglink.h"
#include "rig/boards/sim/sim_node.h"
#include "sim/camera/camera_farm.h"
#include "tests/test_support.h"

namespace twinrig::riglink {
namespace {

using namespace std::chrono_literals;

TEST_CASE("a capture through riglink exposes every wired virtual camera at one instant",
          "[integration]") {
  constexpr int kNodes = 2;
  constexpr int kPorts = 4;
  sim::camera::StudioAddressing addressing;
  addressing.base_address = "127.0.9.2";
  addressing.synthetic_jpeg_bytes = 64 << 10;
  auto configs = sim::camera::MakeCameraConfigs(kNodes * kPorts, addressing);
  REQUIRE(configs.ok());
  sim::camera::CameraFarm farm(*configs);
  std::mutex mutex;
  std::vector<sim::camera::ExposureRecord> exposures;
  farm.OnExposure([&](const sim::camera::ExposureRecord& record) {
    std::lock_guard lock(mutex);
    exposures.push_back(record);
  });
  REQUIRE(farm.Start().ok());

  rig::sim::NetConditions net;
  net.delay_us = 200;
  net.jitter_us = 150;
  net.loss = 0.01;
  testing::TempDir dir;
  std::vector<rig::sim::SimNodeProcess> nodes;
  std::vector<NodeEndpoint> endpoints;
  const auto udp_port = static_cast<std::uint16_t>(20000 + (getpid() + 7) % 20000);
  for (int n = 0; n < kNodes; ++n) {
    rig::sim::SimNodeOptions o;
    o.node_id = static_cast<std::uint16_t>(n + 1);
    o.bind_address = "127.0.8." + std::to_string(n + 1);
    o.udp_port = udp_port;
    o.port_count = kPorts;
    o.clock.offset_ns = n == 0 ? 700'000'000 : -400'000'000;
    o.clock.drift_ppm = n == 0 ? 80 : -60;
    o.net = net;
    o.seed = 3 + static_cast<std::uint64_t>(n);
    o.max_seconds = 120;
    o.truth_log = dir / ("node" + std::to_string(n + 1) + ".jsonl");
    for (int p = 0; p < kPorts; ++p) {
      const auto& camera =
          (*configs)[static_cast<std::size_t>(n) * kPorts + static_cast<std::size_t>(p)];
      o.wiring.emplace_back(p, camera.address + ":" + std::to_string(camera.remote_port));
    }
    auto process = rig::sim::SimNodeProcess::Start(TWINRIG_NODE_SIM_BINARY, o);
    REQUIRE(process.ok());
    nodes.push_back(std::move(process.value()));
    endpoints.push_back({o.bind_address, o.udp_port});
  }
  std::this_thread::sleep_for(200ms);

  auto link = RigLink::Create();
  REQUIRE(link.ok());
  REQUIRE((*link)->Connect(endpoints, 2s).ok());
  REQUIRE((*link)->WaitForSync(20s, 15.0).ok());
  for (int n = 0; n < kNodes; ++n) {
    std::vector<PortSetting> ports;
    for (int p = 0; p < kPorts; ++p) {
      const auto& camera =
          (*configs)[static_cast<std::size_t>(n) * kPorts + static_cast<std::size_t>(p)];
      // The shutter edge leads by the camera's lag, so that the exposure lands on the instant.
      ports.push_back({static_cast<std::uint8_t>(p), true, 0, 30'000,
                       -static_cast<std::int32_t>(camera.shutter_lag_ns / 1000)});
    }
    REQUIRE((*link)->ConfigurePorts(static_cast<std::size_t>(n), ports).ok());
  }
  REQUIRE((*link)->Arm(true).ok());

  const std::int64_t instant = HostNowNs() + 300'000'000;
  auto ticket = (*link)->ScheduleCapture(1, instant);
  REQUIRE(ticket.ok());
  REQUIRE(ticket->all_scheduled());
  auto unconfirmed = (*link)->ConfirmCapture(*ticket, 3s);
  REQUIRE(unconfirmed.ok());
  CHECK(unconfirmed->empty());

  // Exposures are recorded once their images exist.
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard lock(mutex);
      if (exposures.size() >= std::size_t{kNodes} * kPorts) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  farm.Stop();
  std::lock_guard lock(mutex);
  REQUIRE(exposures.size() == std::size_t{kNodes} * kPorts);
  double worst_us = 0;
  for (const auto& record : exposures) {
    INFO(record.serial << " " << record.error);
    CHECK(record.trigger == "remote");
    CHECK(record.capture_id == 1);
    CHECK(record.stored);
    CHECK(record.bytes > 0);
    // The camera's own lag, not the node, decides within the ns-to-us rounding of the trim.
    const double error_us = static_cast<double>(record.true_time_ns - instant) / 1e3;
    worst_us = std::max(worst_us, std::fabs(error_us));
  }
  INFO("worst exposure error " << worst_us << " us");
  CHECK(worst_us < 50);
}

}  // namespace
}  // namespace twinrig::riglink
