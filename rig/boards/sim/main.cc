// twinrig-node-sim: one simulated trigger node (the firmware on the sim board) as a process.
#include <CLI/CLI.hpp>

#include <iostream>

#include "rig/boards/sim/sim_node.h"

int main(int argc, char** argv) {
  using twinrig::rig::sim::SimNodeOptions;
  SimNodeOptions o;
  std::vector<std::string> wires;
  CLI::App app{"twinrig-node-sim — a simulated trigger node (firmware on the sim board)"};
  app.add_option("--bind", o.bind_address, "loopback address to listen on (default 127.0.2.1)");
  app.add_option("--udp-port", o.udp_port, "UDP port (default 15800)");
  app.add_option("--node-id", o.node_id, "node id 1..65534");
  app.add_option("--ports", o.port_count, "trigger outputs (1..16)");
  app.add_option("--tick-rate", o.clock.tick_rate_hz, "node clock ticks per second");
  app.add_option("--offset-ns", o.clock.offset_ns, "node clock offset from true time (ns)");
  app.add_option("--drift-ppm", o.clock.drift_ppm, "node clock drift (ppm)");
  app.add_option("--tick-base", o.clock.tick_base, "added to every tick (wrap tests)");
  app.add_option("--delay-us", o.net.delay_us, "injected one-way delay (us)");
  app.add_option("--jitter-us", o.net.jitter_us, "injected jitter, uniform +- (us)");
  app.add_option("--loss", o.net.loss, "loss probability");
  app.add_option("--duplicate", o.net.duplicate, "duplication probability");
  app.add_option("--reorder", o.net.reorder, "reordering probability");
  app.add_option("--reorder-extra-us", o.net.reorder_extra_us, "hold-back of reordered datagrams");
  app.add_option("--seed", o.seed, "seed of the injected conditions");
  app.add_option("--wire", wires, "PORT=IP:PORT of a camera's remote port (repeatable)");
  app.add_option("--truth-log", o.truth_log, "JSON lines of every line edge");
  app.add_option("--config-file", o.config_file, "persistent configuration file");
  app.add_option("--min-lead-us", o.min_lead_us, "shortest accepted fire-at lead");
  app.add_option("--max-late-us", o.max_late_us, "timer lateness that is a missed deadline");
  app.add_option("--reboot-ms", o.reboot_ms, "silence while rebooting");
  app.add_flag("--watchdog-reset", o.watchdog_reset, "boot as if reset by the watchdog");
  app.add_option("--max-seconds", o.max_seconds, "stop after this long (0: until SIGTERM)");
  CLI11_PARSE(app, argc, argv);
  for (const std::string& wire : wires) {
    const auto equals = wire.find('=');
    int port = -1;
    try {
      port = equals == std::string::npos ? -1 : std::stoi(wire.substr(0, equals));
    } catch (const std::exception&) {
      port = -1;
    }
    if (port < 0) {
      std::cerr << "error: --wire " << wire << ": expected PORT=IP:PORT\n";
      return 2;
    }
    o.wiring.emplace_back(port, wire.substr(equals + 1));
  }
  const twinrig::Status status = twinrig::rig::sim::RunSimNode(o);
  if (!status.ok()) {
    std::cerr << "error: " << status.error().Describe() << "\n";
    return 1;
  }
  return 0;
}
