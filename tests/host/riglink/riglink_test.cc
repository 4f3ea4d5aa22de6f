// riglink against real sim nodes (twinrig-node-sim processes) over loopback UDP, with injected
// delay, jitter, loss, duplication and reordering; line edges are received on a real socket the
// way a virtual camera's remote port receives them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

#include "host/riglink/riglink.h"
#include "rig/boards/sim/sim_node.h"
#include "sim/wire/remote_port.h"
#include "tests/test_support.h"

namespace twinrig::riglink {
namespace {

using namespace std::chrono_literals;
using rig::sim::SimNodeOptions;
using rig::sim::SimNodeProcess;

// Receives LineEdge datagrams like a camera's remote port.
class EdgeListener {
 public:
  EdgeListener() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.3.1", &address.sin_addr);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    socklen_t length = sizeof(address);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    timeval timeout{0, 50'000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    thread_ = std::thread([this] {
      while (!stop_) {
        std::uint8_t buffer[64];
        const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
        if (n <= 0) continue;
        auto edge = sim::wire::Decode({buffer, static_cast<std::size_t>(n)});
        std::lock_guard lock(mutex_);
        if (edge) {
          edges_.push_back(*edge);
        } else {
          ++bad_;
        }
      }
    });
  }
  ~EdgeListener() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  EdgeListener(const EdgeListener&) = delete;
  EdgeListener& operator=(const EdgeListener&) = delete;
  [[nodiscard]] std::string address() const { return "127.0.3.1:" + std::to_string(port_); }
  std::vector<sim::wire::LineEdge> Edges() {
    std::lock_guard lock(mutex_);
    return edges_;
  }
  int bad() {
    std::lock_guard lock(mutex_);
    return bad_;
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<sim::wire::LineEdge> edges_;
  int bad_ = 0;
};

// Ports that do not collide with a running virtual studio or another test binary.
std::uint16_t TestPort() { return static_cast<std::uint16_t>(20000 + (getpid() % 20000)); }

struct NodeSpec {
  std::int64_t offset_ns = 0;
  double drift_ppm = 0;
  std::uint32_t tick_rate = 1'000'000;
};

struct Studio {
  Studio(const std::vector<NodeSpec>& specs, const rig::sim::NetConditions& net, int ports = 4) {
    for (std::size_t i = 0; i < specs.size(); ++i) {
      SimNodeOptions o;
      o.node_id = static_cast<std::uint16_t>(i + 1);
      o.bind_address = "127.0.2." + std::to_string(200 + i);
      o.udp_port = TestPort();
      o.port_count = static_cast<std::uint8_t>(ports);
      o.clock.offset_ns = specs[i].offset_ns;
      o.clock.drift_ppm = specs[i].drift_ppm;
      o.clock.tick_rate_hz = specs[i].tick_rate;
      o.net = net;
      o.seed = 11 + i;
      o.max_seconds = 120;  // never outlives a broken test by long
      o.reboot_ms = 50;
      for (int p = 0; p < ports; ++p) o.wiring.emplace_back(p, listener.address());
      o.truth_log = dir / ("node" + std::to_string(i + 1) + ".jsonl");
      auto process = SimNodeProcess::Start(TWINRIG_NODE_SIM_BINARY, o);
      REQUIRE(process.ok());
      nodes.push_back(std::move(process.value()));
      endpoints.push_back({o.bind_address, o.udp_port});
    }
    std::this_thread::sleep_for(200ms);  // let the processes bind
    RigLinkOptions options;
    auto created = RigLink::Create(options);
    REQUIRE(created.ok());
    link = std::move(created.value());
  }
  testing::TempDir dir;
  EdgeListener listener;
  std::vector<SimNodeProcess> nodes;
  std::vector<NodeEndpoint> endpoints;
  std::unique_ptr<RigLink> link;
};

rig::sim::NetConditions StudioNetwork() {
  rig::sim::NetConditions net;
  net.delay_us = 200;
  net.jitter_us = 150;
  net.loss = 0.01;
  return net;
}

// Shutter-close edges of `capture`: their error against the scheduled instant plus each port's
// trim.
std::vector<double> ShutterErrorsUs(const std::vector<sim::wire::LineEdge>& edges,
                                    std::uint32_t capture, std::int64_t instant_ns,
                                    const std::function<std::int32_t(int, int)>& trim_us) {
  std::vector<double> errors;
  for (const auto& edge : edges) {
    if (edge.capture_id != capture || edge.line != sim::wire::Line::kShutter || !edge.closed) {
      continue;
    }
    const std::int64_t expected = instant_ns + trim_us(edge.node_id, edge.node_port) * 1000LL;
    errors.push_back(static_cast<double>(edge.true_time_ns - expected) / 1e3);
  }
  return errors;
}

TEST_CASE("endpoints parse and bad ones are refused with what to do", "[unit]") {
  auto list = ParseEndpointList("127.0.2.1:15800,127.0.2.2");
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[1].port == protocol::kNodeUdpPort);
  CHECK_FALSE(ParseEndpoint("127.0.2.1:0").ok());
  CHECK_FALSE(ParseEndpoint("node-a:15800").ok());
  auto empty = ParseEndpointList(",");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().todo.find("--nodes") != std::string::npos);
  RigLinkOptions bad;
  bad.bind_address = "10.0.0.1";
  CHECK_FALSE(RigLink::Create(bad).ok());
}

TEST_CASE("riglink syncs sim nodes through a bad network and fires them at one instant",
          "[integration]") {
  Studio studio({{800'000'000, 100, 1'000'000},
                 {-950'000'000, -100, 25'000'000},
                 {123'456'789, 37, 1'000'000}},
                StudioNetwork());
  RigLink& link = *studio.link;
  REQUIRE(link.Connect(studio.endpoints, 2s).ok());
  const Status synced = link.WaitForSync(15s, 10.0);
  INFO((synced.ok() ? "" : synced.error().Describe()));
  REQUIRE(synced.ok());

  const auto reports = link.Report();
  for (const NodeReport& report : reports) {
    CHECK(report.identified);
    CHECK(report.online);
    CHECK(report.board == "sim");
    CHECK(report.schema_matches);
    CHECK(report.port_count == 4);
  }
  CHECK(std::fabs(reports[0].sync.drift_ppm - 100) < 15);
  CHECK(std::fabs(reports[1].sync.drift_ppm + 100) < 15);
  // The node's clock reads (t + offset)(1 + drift) at true time t.
  const double t = static_cast<double>(HostNowNs());
  const double expected_ms = (-950e6 + -100e-6 * (t - 950e6)) / 1e6;
  CHECK(std::fabs(reports[1].sync.offset_ms - expected_ms) < 1);

  // Port 1 of every node is trimmed -2 ms (a slower camera), port 2 has focus lead.
  auto trim = [](int /*node*/, int port) { return port == 1 ? -2000 : 0; };
  for (std::size_t n = 0; n < studio.endpoints.size(); ++n) {
    REQUIRE(link.ConfigurePorts(n, {{0, true, 0, 30'000, 0},
                                    {1, true, 0, 30'000, -2000},
                                    {2, true, 20'000, 30'000, 0},
                                    {3, true, 0, 30'000, 0}})
                .ok());
  }
  REQUIRE(link.Arm(true).ok());

  std::vector<double> errors;
  for (std::uint32_t capture = 1; capture <= 3; ++capture) {
    const std::int64_t instant = HostNowNs() + 150'000'000;
    auto ticket = link.ScheduleCapture(capture, instant);
    REQUIRE(ticket.ok());
    for (const NodeFire& fire : ticket->nodes) {
      INFO((fire.error ? fire.error->Describe() : ""));
      CHECK(fire.scheduled);
    }
    auto unconfirmed = link.ConfirmCapture(*ticket, 2s);
    REQUIRE(unconfirmed.ok());
    CHECK(unconfirmed->empty());
    std::this_thread::sleep_for(100ms);
    const auto these = ShutterErrorsUs(studio.listener.Edges(), capture, instant, trim);
    CHECK(these.size() == 12);  // 3 nodes x 4 ports
    errors.insert(errors.end(), these.begin(), these.end());
  }
  double worst = 0;
  for (double e : errors) worst = std::max(worst, std::fabs(e));
  INFO("worst shutter error " << worst << " us over " << errors.size() << " edges");
  CHECK(worst < 50);
  CHECK(studio.listener.bad() == 0);

  // Focus of port 2 closed 20 ms before its shutter; every line is open again at the end.
  int focus = 0;
  for (const auto& edge : studio.listener.Edges()) {
    if (edge.line == sim::wire::Line::kFocus && edge.closed) ++focus;
  }
  CHECK(focus == 9);

  // Each node reports its fires, and a fire-at in the past is refused, not executed late.
  auto status = link.GetStatus(0);
  REQUIRE(status.ok());
  CHECK(status->counters.fires_done == 12);
  auto late = link.ScheduleCapture(99, HostNowNs() - 1'000'000);
  REQUIRE(late.ok());
  for (const NodeFire& fire : late->nodes) {
    CHECK_FALSE(fire.scheduled);
    REQUIRE(fire.error.has_value());
    CHECK(fire.error->what.find("FireInPast") != std::string::npos);
  }
  std::this_thread::sleep_for(50ms);
  for (const auto& edge : studio.listener.Edges()) CHECK(edge.capture_id != 99);
}

TEST_CASE("riglink survives a node reboot and reports a silent node", "[integration]") {
  Studio studio({{200'000'000, 50, 1'000'000}, {-300'000'000, -20, 1'000'000}}, StudioNetwork(), 2);
  RigLink& link = *studio.link;
  REQUIRE(link.Connect(studio.endpoints, 2s).ok());
  REQUIRE(link.WaitForSync(15s, 20.0).ok());
  REQUIRE(link.ConfigurePorts(0, {{0, true, 0, 10'000, 500}}).ok());
  REQUIRE(link.Arm(true).ok());
  const std::uint64_t first_boot = link.Report()[0].boot_id;

  // Power glitch on node 1: new boot id, configuration and arm state lost on the node.
  REQUIRE(studio.nodes[0].Signal(SIGUSR1));
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 100 && link.Report()[0].boot_id == first_boot; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  const NodeReport after = link.Report()[0];
  CHECK(after.boot_id != first_boot);
  CHECK(after.reboots_seen >= 1);
  REQUIRE(link.WaitForSync(15s, 20.0).ok());
  auto status = link.GetStatus(0);
  REQUIRE(status.ok());
  CHECK(status->armed);  // riglink re-armed it

  // Node 2 goes silent (stopped, not dead): the capture is scheduled on node 1 and reported
  // missing on node 2.
  REQUIRE(studio.nodes[1].Signal(SIGSTOP));
  const std::int64_t instant = HostNowNs() + 150'000'000;
  auto ticket = link.ScheduleCapture(5, instant);
  REQUIRE(ticket.ok());
  CHECK(ticket->nodes[0].scheduled);
  CHECK_FALSE(ticket->nodes[1].scheduled);
  REQUIRE(ticket->nodes[1].error.has_value());
  CHECK(ticket->nodes[1].error->todo.find("cable") != std::string::npos);
  std::this_thread::sleep_for(1600ms);
  CHECK_FALSE(link.Report()[1].online);
  CHECK(link.Report()[0].online);
  auto unconfirmed = link.ConfirmCapture(*ticket, 2s);
  REQUIRE(unconfirmed.ok());
  CHECK(unconfirmed->empty());
  const auto errors = ShutterErrorsUs(studio.listener.Edges(), 5, instant,
                                      [](int, int port) { return port == 0 ? 500 : 0; });
  REQUIRE(errors.size() == 2);
  CHECK(std::fabs(errors[0]) < 50);
  studio.nodes[1].Signal(SIGCONT);
}

TEST_CASE("commands get through loss, duplication and reordering and the node counts the damage",
          "[integration]") {
  rig::sim::NetConditions net;
  net.delay_us = 300;
  net.jitter_us = 100;
  net.loss = 0.15;
  net.duplicate = 0.2;
  net.reorder = 0.2;
  net.reorder_extra_us = 60000;  // longer than a retransmission and a sync interval
  Studio studio({{0, 0, 1'000'000}}, net, 2);
  RigLinkOptions options;
  RigLink& link = *studio.link;
  REQUIRE(link.Connect(studio.endpoints, 3s).ok());
  for (int i = 0; i < 20; ++i) {
    REQUIRE(link.Arm(i % 2 == 0).ok());
  }
  std::this_thread::sleep_for(1s);
  auto status = link.GetStatus(0);
  REQUIRE(status.ok());
  CHECK(status->counters.duplicated > 0);
  CHECK(status->counters.out_of_order > 0);
  CHECK(link.Report()[0].retransmissions > 0);
  CHECK(link.Report()[0].dropped_frames > 0);  // duplicated replies
}

}  // namespace
}  // namespace twinrig::riglink
