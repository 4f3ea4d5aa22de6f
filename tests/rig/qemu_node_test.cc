// The trigger-node firmware image on the emulated board (QEMU mps2-an385), driven by the host's
// unchanged riglink over the emulated Ethernet: discovery, clock sync, configure, arm, fire at one
// instant, status; the watchdog; a storm of bad frames.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "host/riglink/riglink.h"
#include "sim/studio/qemu_node.h"

namespace {

using namespace std::chrono_literals;
using twinrig::riglink::HostNowNs;
using twinrig::riglink::NodeEndpoint;
using twinrig::riglink::PortSetting;
using twinrig::riglink::RigLink;
using twinrig::riglink::RigLinkOptions;
using twinrig::sim::studio::DefaultFirmwareImage;
using twinrig::sim::studio::QemuNode;
using twinrig::sim::studio::QemuNodeOptions;

// A loopback address and ports of their own per test case, so that cases may run in parallel.
QemuNodeOptions NodeOptions(int instance) {
  QemuNodeOptions options;
  options.firmware = DefaultFirmwareImage();
  options.node_id = static_cast<std::uint16_t>(instance);
  options.ports = 8;
  options.host_address = "127.0.5." + std::to_string(instance);
  options.udp_port = 15800;
  // Kept for a failed run: what the firmware said on its console.
  options.console_log = std::filesystem::temp_directory_path() /
                        ("twinrig-qemu-node-" + std::to_string(instance) + ".log");
  std::filesystem::remove(options.console_log);
  return options;
}

std::unique_ptr<QemuNode> Boot(const QemuNodeOptions& options) {
  auto node = QemuNode::Start(options);
  if (!node.ok()) FAIL(node.error().Describe());
  REQUIRE((*node)->WaitForBoots(1, 10s));
  return std::move(*node);
}

std::unique_ptr<RigLink> Link() {
  RigLinkOptions options;
  auto link = RigLink::Create(options);
  REQUIRE(link.ok());
  return std::move(*link);
}

}  // namespace

TEST_CASE("A console clock maps node ticks to the host instant of the fastest report", "[unit]") {
  twinrig::sim::studio::ConsoleClock clock;
  CHECK_FALSE(clock.HostNs(0).has_value());
  // The node's tick 1000 is host instant 5'000'000 ns (offset 4'960'000); reports arrive 30, 12
  // and 400 us after the tick they carry.
  clock.Add(1000, 5'000'000 + 30'000);
  clock.Add(26'000, 6'000'000 + 12'000);
  clock.Add(51'000, 7'000'000 + 400'000);
  REQUIRE(clock.HostNs(1000).has_value());
  CHECK(*clock.HostNs(1000) == 5'000'000 + 12'000);    // only as late as the fastest report
  CHECK(*clock.HostNs(76'000) == 8'000'000 + 12'000);  // 25 MHz: 40 ns a tick
  // The window forgets old reports (under icount the offset creeps).
  for (std::size_t i = 0; i < twinrig::sim::studio::ConsoleClock::kWindow; ++i)
    clock.Add(100'000 + i, 4'000'000 + 40 * static_cast<std::int64_t>(100'000 + i) + 50'000);
  CHECK(*clock.HostNs(0) == 4'000'000 + 50'000);
  clock.Reset();  // a reboot: its ticks start over
  CHECK_FALSE(clock.HostNs(0).has_value());
}

TEST_CASE("A QEMU node: discovery, clock sync, configure, arm, fire and status over riglink",
          "[integration]") {
  auto node = Boot(NodeOptions(1));
  auto link = Link();
  const NodeEndpoint endpoint{node->options().host_address, node->options().udp_port};
  const twinrig::Status connected = link->Connect({endpoint}, 5s);
  INFO((connected.ok() ? std::string() : connected.error().Describe()));
  REQUIRE(connected.ok());
  const auto report = link->Report().at(0);
  CHECK(report.board == "mps2-an385");
  CHECK(report.node_id == 1);
  CHECK(report.tick_rate_hz == 25'000'000U);
  CHECK(report.port_count == 8);
  CHECK(report.schema_matches);

  const twinrig::Status synced = link->WaitForSync(20s, 200.0);
  INFO((synced.ok() ? std::string() : synced.error().Describe()));
  REQUIRE(synced.ok());

  std::vector<PortSetting> ports;
  for (std::uint8_t p = 0; p < 8; ++p) ports.push_back({p, true, 0, 20'000, 0});
  REQUIRE(link->ConfigurePorts(0, ports).ok());
  REQUIRE(link->Arm(true).ok());
  const std::int64_t instant = HostNowNs() + 300'000'000;
  auto ticket = link->ScheduleCapture(7, instant);
  REQUIRE(ticket.ok());
  REQUIRE(ticket->all_scheduled());
  auto unconfirmed = link->ConfirmCapture(*ticket, 5s);
  REQUIRE(unconfirmed.ok());
  CHECK(unconfirmed->empty());

  auto status = link->GetStatus(0);
  REQUIRE(status.ok());
  CHECK(status->armed);
  CHECK(status->fault == twinrig::protocol::fb::Fault::None);
  CHECK(status->counters.fires_done == 8);  // one per port
  for (const auto& port : status->ports) {
    CHECK(port.last_capture_id == 7);
    CHECK(port.last_fire_tick == ticket->nodes.at(0).fire_tick);
  }

  // The lines really moved: every shutter closed at the scheduled tick and opened again, as the
  // firmware's GPIO path reported them on its console.
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  std::vector<twinrig::sim::studio::ConsoleEdge> edges;
  while (std::chrono::steady_clock::now() < deadline) {
    edges = node->edges();
    if (edges.size() >= 16) break;
    std::this_thread::sleep_for(20ms);
  }
  int closed = 0;
  int opened = 0;
  for (const auto& edge : edges) {
    CHECK(edge.shutter);
    CHECK(edge.capture_id == 7);
    if (edge.closed) {
      ++closed;
      CHECK(edge.tick == ticket->nodes.at(0).fire_tick);
      // Without icount QEMU's virtual time is the host's clock, so a loaded host delays the pin;
      // bench/trigger-sync --qemu measures this under deterministic time.
      CHECK(edge.late_ticks < 1'250'000U);  // 50 ms
      // The host instant of the pin's tick, by the console's clock (ConsoleClock), is the
      // scheduled instant plus the lateness, give or take the sync error (200 us here) and the
      // console's fastest delivery; never after the report arrived.
      const std::int64_t expected = instant + static_cast<std::int64_t>(edge.late_ticks) * 40;
      INFO("pin moved " << (edge.moved_ns - expected) / 1000 << " us after the instant + late, "
                        << "reported " << (edge.host_ns - edge.moved_ns) / 1000 << " us later");
      CHECK(edge.moved_ns <= edge.host_ns);
      CHECK(edge.moved_ns > expected - 1'000'000);
      CHECK(edge.moved_ns < expected + 5'000'000);
    } else {
      ++opened;
    }
  }
  CHECK(closed == 8);
  CHECK(opened == 8);

  // The stack high-water mark, measured on the target, stays well inside the 8 KB the image
  // reserves (mps2_an385.ld).
  auto counters = node->FreshCounters(2s);
  REQUIRE(counters.ok());
  INFO("stack used " << (*counters)["stack_used"] << " bytes");
  CHECK((*counters)["stack_used"] > 0);
  CHECK((*counters)["stack_used"] < 6144U);
}

TEST_CASE("A QEMU node's watchdog resets a stalled main loop into the safe state",
          "[integration]") {
  auto node = Boot(NodeOptions(2));
  auto link = Link();
  const NodeEndpoint endpoint{node->options().host_address, node->options().udp_port};
  REQUIRE(link->Connect({endpoint}, 5s).ok());
  REQUIRE(link->WaitForSync(20s, 200.0).ok());
  // Long pulses that the stall interrupts: every line is closed when the loop stops.
  std::vector<PortSetting> ports;
  for (std::uint8_t p = 0; p < 8; ++p) ports.push_back({p, true, 0, 1'500'000, 0});
  REQUIRE(link->ConfigurePorts(0, ports).ok());
  REQUIRE(link->Arm(true).ok());
  auto ticket = link->ScheduleCapture(3, HostNowNs() + 100'000'000);
  REQUIRE(ticket.ok());
  REQUIRE(ticket->all_scheduled());
  const std::uint64_t first_boot = link->Report().at(0).boot_id;
  std::this_thread::sleep_for(300ms);

  REQUIRE(node->SendCommand('W').ok());  // debug service command: stall the main loop
  REQUIRE(node->WaitForBoots(2, 10s));   // 2 s to the NMI, 2 s to the reset (qemu_node.cc)
  CHECK(node->last_boot_by_watchdog());

  // The host sees a new boot id, a node that is not armed, and the latched Watchdog fault.
  twinrig::Result<twinrig::riglink::NodeStatus> status = twinrig::MakeError("not asked yet");
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    status = link->GetStatus(0);
    if (status.ok() && link->Report().at(0).boot_id != first_boot) break;
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(status.ok());
  CHECK(link->Report().at(0).boot_id != first_boot);
  CHECK(link->Report().at(0).reboots_seen >= 1);
  CHECK_FALSE(status->armed);
  CHECK(status->fault == twinrig::protocol::fb::Fault::Watchdog);
  // No line left closed: all eight had closed, none opened before the stall, and the board came
  // back with its GPIO outputs released (the reset, not a late edge, opened them).
  const auto edges = node->edges();
  REQUIRE(node->edges_before_last_boot() == 8);
  for (std::size_t i = 0; i < 8; ++i) CHECK(edges[i].closed);
  CHECK(edges.size() == 8);
  CHECK(node->lines_at_last_boot() == 0);
  REQUIRE(link->ClearFault(0).ok());
  status = link->GetStatus(0);
  REQUIRE(status.ok());
  CHECK(status->fault == twinrig::protocol::fb::Fault::None);
}

namespace {

// A socket on the emulated hub's raw-frame port: what it sends arrives at the node's MAC as an
// Ethernet frame.
class RawWire {
 public:
  explicit RawWire(std::uint16_t qemu_port) {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    local.sin_port = htons(static_cast<std::uint16_t>(qemu_port + 1));
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local)) == 0);
    to_ = local;
    to_.sin_port = htons(qemu_port);
  }
  ~RawWire() { close(fd_); }
  void Send(const std::vector<std::uint8_t>& frame) {
    sendto(fd_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to_), sizeof(to_));
  }

 private:
  int fd_ = -1;
  sockaddr_in to_{};
};

std::vector<std::uint8_t> Ipv4UdpFrame(std::mt19937& random, std::size_t payload) {
  // To the node's default MAC (QEMU's first NIC) and address, a header that is right until the
  // caller breaks it.
  std::vector<std::uint8_t> f = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0, 0, 0, 0, 9, 0x08, 0};
  const std::size_t total = 20 + 8 + payload;
  std::uint8_t ip[20] = {0x45,
                         0,
                         static_cast<std::uint8_t>(total >> 8),
                         static_cast<std::uint8_t>(total),
                         0,
                         1,
                         0x40,
                         0,
                         64,
                         17,
                         0,
                         0,
                         10,
                         0,
                         2,
                         9,
                         10,
                         0,
                         2,
                         15};
  std::uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (ip[i] << 8) | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  ip[10] = static_cast<std::uint8_t>(~sum >> 8);
  ip[11] = static_cast<std::uint8_t>(~sum);
  f.insert(f.end(), ip, ip + 20);
  const std::size_t udp_len = 8 + payload;
  const std::uint8_t udp[8] = {0x9c,
                               0x40,
                               0x3d,
                               0xb8,
                               static_cast<std::uint8_t>(udp_len >> 8),
                               static_cast<std::uint8_t>(udp_len),
                               0,
                               0};
  f.insert(f.end(), udp, udp + 8);
  for (std::size_t i = 0; i < payload; ++i) f.push_back(static_cast<std::uint8_t>(random()));
  return f;
}

}  // namespace

TEST_CASE("A storm of bad frames leaves a QEMU node answering, every drop counted",
          "[integration]") {
  QemuNodeOptions options = NodeOptions(3);
  options.raw_frame_port = 24000 + static_cast<std::uint16_t>(getpid() % 1000) * 2;
  auto node = Boot(options);
  RawWire wire(options.raw_frame_port);
  std::mt19937 random(16);

  int sent = 0;
  for (int round = 0; round < 40; ++round) {
    // Random bytes (mostly foreign MACs), truncated headers, oversized frames, a bad IP checksum,
    // a bad UDP length, fragments, and an ARP flood for other addresses.
    std::vector<std::uint8_t> junk(14 + random() % 200);
    for (auto& b : junk) b = static_cast<std::uint8_t>(random());
    wire.Send(junk);
    auto frame = Ipv4UdpFrame(random, 64);
    wire.Send(std::vector<std::uint8_t>(frame.begin(), frame.begin() + 14 + 10));  // truncated
    wire.Send(Ipv4UdpFrame(random, 1600));                                         // oversized
    auto bad_sum = frame;
    bad_sum[14 + 10] ^= 0x5A;
    wire.Send(bad_sum);
    auto bad_len = frame;
    bad_len[14 + 20 + 4] = 0x7F;
    wire.Send(bad_len);
    auto fragment = frame;
    fragment[14 + 6] = 0x20;  // more fragments (checksum now wrong too: either way dropped)
    wire.Send(fragment);
    // ARP requests for the node's own address are answered, whatever the flood.
    std::vector<std::uint8_t> ask = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0, 0, 0, 1,
                                     2,    0x08, 0x06, 0,    1,    0x08, 0,    6, 4, 0, 1,
                                     0x02, 0,    0,    0,    1,    2,    10,   0, 2, 9, 0,
                                     0,    0,    0,    0,    0,    10,   0,    2, 15};
    ask.resize(60, 0);
    wire.Send(ask);
    for (int k = 0; k < 5; ++k) {
      std::vector<std::uint8_t> arp = {0xFF, 0xFF,
                                       0xFF, 0xFF,
                                       0xFF, 0xFF,
                                       0x02, 0,
                                       0,    0,
                                       1,    2,
                                       0x08, 0x06,
                                       0,    1,
                                       0x08, 0,
                                       6,    4,
                                       0,    1,
                                       0x02, 0,
                                       0,    0,
                                       1,    2,
                                       10,   0,
                                       2,    static_cast<std::uint8_t>(100 + k),
                                       0,    0,
                                       0,    0,
                                       0,    0,
                                       10,   0,
                                       2,    static_cast<std::uint8_t>(20 + k)};
      arp.resize(60, 0);
      wire.Send(arp);
    }
    sent += 12;
    std::this_thread::sleep_for(5ms);
  }

  // Still answering riglink.
  auto link = Link();
  const NodeEndpoint endpoint{options.host_address, options.udp_port};
  const twinrig::Status connected = link->Connect({endpoint}, 5s);
  INFO((connected.ok() ? std::string() : connected.error().Describe()));
  REQUIRE(connected.ok());
  auto status = link->GetStatus(0);
  REQUIRE(status.ok());
  CHECK(status->fault == twinrig::protocol::fb::Fault::None);

  auto counters = node->FreshCounters(2s);
  REQUIRE(counters.ok());
  auto& c = *counters;
  INFO("sent " << sent << " bad frames");
  CHECK(c["runt"] >= 40);
  CHECK(c["bad_ip"] >= 40);
  CHECK(c["bad_udp"] >= 40);
  CHECK(c["foreign"] >= 200);  // ARP for other addresses
  CHECK(c["rx_too_long"] + c["oversized"] + c["rx_errors"] >= 40);
  CHECK(c["arp_answered"] >= 40);
  CHECK(c["frames_in"] + c["rx_too_long"] + c["rx_errors"] >= 400);
}
