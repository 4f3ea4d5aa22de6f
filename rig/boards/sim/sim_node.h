// The sim board: the trigger-node firmware (rig/node.h) as a POSIX process, the embedded default of
// the virtual studio. It owns a UDP socket on a loopback address, a simulated local clock
// (sim_clock.h), injected network conditions in both directions (net_conditions.h) and the trigger
// lines, each wired to a virtual camera's remote port (sim/wire/remote_port.h).
//
// Time runs as on hardware: every datagram is stamped with the node tick of its simulated arrival
// on the wire (the kernel's receive timestamp plus the injected delay), and every line edge happens
// at the true time of its timer-compare tick. The process itself wakes up late by whatever the OS
// scheduler makes it; that lateness is recorded beside each edge (os_late_ns) and never changes an
// edge's true time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "rig/boards/sim/net_conditions.h"
#include "rig/boards/sim/sim_clock.h"
#include "util/result.h"

namespace twinrig::rig::sim {

// Node N of the virtual studio listens on 127.0.2.N:15800 by default.
std::string DefaultNodeAddress(int node_id);

struct SimNodeOptions {
  std::string bind_address = "127.0.2.1";  // loopback only (127.0.0.0/8)
  std::uint16_t udp_port = 15800;
  std::uint16_t node_id = 1;
  std::uint8_t port_count = 8;
  SimClockOptions clock;
  NetConditions net;
  std::uint64_t seed = 1;  // of the injected network conditions
  // port -> camera remote-port address "IP:PORT" (ports not listed drive nothing).
  std::vector<std::pair<int, std::string>> wiring;
  std::filesystem::path truth_log;    // JSON line per edge; empty: none
  std::filesystem::path config_file;  // the node's persistent configuration; empty: in memory
  std::uint32_t min_lead_us = 2000;   // see rig::NodeConfig
  std::uint32_t max_late_us = 200;
  std::uint32_t reboot_ms = 100;  // silence while rebooting
  bool watchdog_reset = false;    // boot as if the watchdog had reset the node
  double max_seconds = 0;         // stop after this long (0: run until SIGTERM)
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// The command line of twinrig-node-sim for `options` (without the program name), so that a
// launcher (`twinrig sim up`, tests, benchmarks) can start nodes from a list of options.
std::vector<std::string> ToArgs(const SimNodeOptions& options);

// Runs the node until SIGTERM/SIGINT or max_seconds. SIGUSR1 reboots it (a power glitch: new boot
// id, no answer); SIGUSR2 resets it through its watchdog (latches the Watchdog fault).
Status RunSimNode(const SimNodeOptions& options);

// A twinrig-node-sim child process, stopped (SIGTERM, then SIGKILL) when destroyed.
class SimNodeProcess {
 public:
  SimNodeProcess() = default;
  SimNodeProcess(const SimNodeProcess&) = delete;
  SimNodeProcess& operator=(const SimNodeProcess&) = delete;
  SimNodeProcess(SimNodeProcess&& other) noexcept;
  SimNodeProcess& operator=(SimNodeProcess&& other) noexcept;
  ~SimNodeProcess();

  static Result<SimNodeProcess> Start(const std::filesystem::path& binary,
                                      const SimNodeOptions& options);
  [[nodiscard]] int pid() const { return pid_; }
  bool Signal(int signal) const;
  void Stop();

 private:
  int pid_ = -1;
};

}  // namespace twinrig::rig::sim
