// bench/trigger-sync --qemu: the firmware image on 3 emulated mps2-an385 boards (QEMU, 8 ports
// each), driven by the host's riglink over the emulated Ethernet: clock sync, then F fires at
// common instants. For every shutter line: how late the pin moved against its scheduled tick,
// counted in the node's own 25 MHz ticks (the firmware reports both on its console), and the sync
// error the host estimates for each node. Measured under deterministic time (-icount: every
// instruction 2^shift ns of virtual time, held to the host clock) and, in the same run as the
// baseline, with virtual time following the host clock (no icount).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include "bench/harness/harness.h"
#include "host/riglink/riglink.h"
#include "sim/studio/qemu_node.h"

namespace twinrig::bench {
namespace {

using namespace std::chrono_literals;

struct Figures {
  std::vector<double> fire_late_us;  // per shutter close: pin moved minus scheduled tick
  // The same for the first and the last port of each fire: the firmware writes the lines of one
  // instant one after another, so the difference is its cost per port, apart from the host.
  std::vector<double> first_port_late_us;
  std::vector<double> last_port_late_us;
  std::vector<double> sync_err_us;  // per node and fire: the host's estimated sync error
  std::size_t lines_fired = 0;      // shutter closes at exactly the scheduled tick's capture
  std::size_t wrong_tick = 0;       // closes whose reported tick is not the scheduled one
  int refused = 0;
  std::uint64_t stack_used = 0;  // the deepest stack any node reached (painted at reset)
};

constexpr std::uint32_t kTicksPerUs = 25;

// --console-dir DIR: keep each node's console (every edge with its tick and lateness) there.
std::filesystem::path g_console_dir;

Result<Figures> RunNodes(int nodes, int ports, int fires, int icount_shift, int instance) {
  std::vector<std::unique_ptr<sim::studio::QemuNode>> qemu;
  std::vector<riglink::NodeEndpoint> endpoints;
  for (int n = 0; n < nodes; ++n) {
    sim::studio::QemuNodeOptions options;
    options.firmware = sim::studio::DefaultFirmwareImage();
    options.node_id = static_cast<std::uint16_t>(n + 1);
    options.ports = ports;
    options.host_address = "127.0.4." + std::to_string(instance * 16 + n + 1);
    options.icount_shift = icount_shift;
    if (!g_console_dir.empty()) {
      options.console_log = g_console_dir / ("run" + std::to_string(instance) + "-node" +
                                             std::to_string(n + 1) + ".log");
    }
    auto node = sim::studio::QemuNode::Start(options);
    if (!node.ok()) return node.error();
    if (!(*node)->WaitForBoots(1, 20s))
      return MakeError("a QEMU node did not boot", options.host_address);
    endpoints.push_back({options.host_address, options.udp_port});
    qemu.push_back(std::move(*node));
  }
  auto link = riglink::RigLink::Create();
  if (!link.ok()) return link.error();
  TWINRIG_RETURN_IF_ERROR((*link)->Connect(endpoints, 5s));
  // Under icount the node's clock is virtual time, which follows the host clock only loosely
  // (align holds it back, it never catches up exactly): the sync does not reach 100 us, so that run
  // only needs a ready sync and reports the error it has.
  const double max_error_us = icount_shift >= 0 ? 1e6 : 100.0;
  TWINRIG_RETURN_IF_ERROR((*link)->WaitForSync(30s, max_error_us));
  std::vector<riglink::PortSetting> settings;
  settings.reserve(static_cast<std::size_t>(ports));
  for (int p = 0; p < ports; ++p)
    settings.push_back({static_cast<std::uint8_t>(p), true, 0, 5'000, 0});
  for (int n = 0; n < nodes; ++n)
    TWINRIG_RETURN_IF_ERROR((*link)->ConfigurePorts(static_cast<std::size_t>(n), settings));
  TWINRIG_RETURN_IF_ERROR((*link)->Arm(true));

  Figures figures;
  // capture id -> scheduled tick on each node
  std::map<std::uint32_t, std::vector<std::uint64_t>> scheduled;
  for (int k = 0; k < fires; ++k) {
    const auto capture = static_cast<std::uint32_t>(k + 1);
    auto ticket = (*link)->ScheduleCapture(capture, riglink::HostNowNs() + 200'000'000);
    if (!ticket.ok()) return ticket.error();
    std::vector<std::uint64_t> ticks;
    for (const auto& node : ticket->nodes) {
      if (!node.scheduled) ++figures.refused;
      ticks.push_back(node.scheduled ? node.fire_tick : 0);
    }
    scheduled[capture] = ticks;
    for (const auto& report : (*link)->Report())
      figures.sync_err_us.push_back(report.sync.est_error_us);
    std::this_thread::sleep_for(30ms);
    if ((k + 1) % 50 == 0) std::fprintf(stderr, "  %d/%d fires\n", k + 1, fires);
  }
  std::this_thread::sleep_for(600ms);
  (void)(*link)->Arm(false);
  std::this_thread::sleep_for(200ms);

  for (int n = 0; n < nodes; ++n) {
    for (const auto& edge : qemu[static_cast<std::size_t>(n)]->edges()) {
      if (!edge.shutter || !edge.closed) continue;
      const auto it = scheduled.find(edge.capture_id);
      if (it == scheduled.end()) continue;
      ++figures.lines_fired;
      if (edge.tick != it->second[static_cast<std::size_t>(n)]) ++figures.wrong_tick;
      const double late_us = static_cast<double>(edge.late_ticks) / kTicksPerUs;
      figures.fire_late_us.push_back(late_us);
      if (edge.port == 0) figures.first_port_late_us.push_back(late_us);
      if (edge.port == ports - 1) figures.last_port_late_us.push_back(late_us);
    }
  }
  for (auto& node : qemu) {
    auto counters = node->FreshCounters(2s);
    if (counters.ok()) figures.stack_used = std::max(figures.stack_used, (*counters)["stack_used"]);
    node->Stop();
  }
  return figures;
}

int Run(int argc, char** argv) {
  const bool quick = QuickMode(argc, argv);
  const int nodes = 3;
  const int ports = 8;
  int fires = quick ? 50 : 200;
  if (const char* f = FlagValue(argc, argv, "--fires")) fires = std::max(1, std::atoi(f));
  if (const char* dir = FlagValue(argc, argv, "--console-dir")) g_console_dir = dir;
  int shift = 5;
  if (const char* s = FlagValue(argc, argv, "--icount-shift")) shift = std::atoi(s);
  auto qemu = sim::studio::FindQemu();
  if (!qemu.ok()) {
    std::cerr << "trigger-sync --qemu: " << qemu.error().Describe() << "\n";
    return 1;
  }

  std::printf("trigger-sync --qemu: %d QEMU mps2-an385 nodes x %d ports, %d fires\n", nodes, ports,
              fires);
  auto deterministic = RunNodes(nodes, ports, fires, shift, 0);
  if (!deterministic.ok()) {
    std::cerr << "trigger-sync --qemu (icount): " << deterministic.error().Describe() << "\n";
    return 1;
  }
  auto realtime = RunNodes(nodes, ports, fires, -1, 1);
  if (!realtime.ok()) {
    std::cerr << "trigger-sync --qemu (real time): " << realtime.error().Describe() << "\n";
    return 1;
  }

  auto row = [](const char* name, const Figures& f) {
    std::printf("%-34s %10.2f %10.2f %10.2f %10.2f %10.2f %8zu\n", name,
                Percentile(f.fire_late_us, 50), Percentile(f.fire_late_us, 99),
                Percentile(f.fire_late_us, 100), Percentile(f.sync_err_us, 50),
                Percentile(f.sync_err_us, 99), f.lines_fired);
  };
  std::printf("\n%-34s %10s %10s %10s %10s %10s %8s\n", "(us)", "late p50", "late p99", "late max",
              "sync p50", "sync p99", "lines");
  const std::string icount_name = "icount shift=" + std::to_string(shift) + " (deterministic)";
  row(icount_name.c_str(), *deterministic);
  row("real time (baseline)", *realtime);
  const std::size_t expected = static_cast<std::size_t>(nodes) * ports * fires;
  std::printf(
      "lines fired %zu of %zu (icount), %zu of %zu (real time); wrong tick %zu/%zu; "
      "refused %d/%d\n",
      deterministic->lines_fired, expected, realtime->lines_fired, expected,
      deterministic->wrong_tick, realtime->wrong_tick, deterministic->refused, realtime->refused);
  if (deterministic->fire_late_us.empty()) {
    std::cerr << "trigger-sync --qemu: no line fired\n";
    return 1;
  }
  ResultLine("trigger-sync-qemu")
      .Add("nodes", nodes, 0)
      .Add("ports", ports, 0)
      .Add("fires", fires, 0)
      .Add("icount_shift", shift, 0)
      .Add("fire_late_p99_us", Percentile(deterministic->fire_late_us, 99), 2)
      .Add("fire_late_max_us", Percentile(deterministic->fire_late_us, 100), 2)
      .Add("first_port_late_p50_us", Percentile(deterministic->first_port_late_us, 50), 2)
      .Add("last_port_late_p50_us", Percentile(deterministic->last_port_late_us, 50), 2)
      .Add("sync_err_p99_us", Percentile(deterministic->sync_err_us, 99), 2)
      .Add("lines_fired", static_cast<double>(deterministic->lines_fired), 0)
      .Add("lines_expected", static_cast<double>(expected), 0)
      .Add("realtime_fire_late_p99_us", Percentile(realtime->fire_late_us, 99), 2)
      .Add("realtime_sync_err_p99_us", Percentile(realtime->sync_err_us, 99), 2)
      .Add("realtime_lines_fired", static_cast<double>(realtime->lines_fired), 0)
      .Add("stack_high_water_bytes",
           static_cast<double>(std::max(deterministic->stack_used, realtime->stack_used)), 0)
      .Print();
  return 0;
}

}  // namespace
}  // namespace twinrig::bench

int main(int argc, char** argv) { return twinrig::bench::Run(argc, argv); }
