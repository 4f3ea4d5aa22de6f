// One trigger node as the real firmware image (rig/boards/mps2_an385) on an emulated Cortex-M3:
// qemu-system-arm -M mps2-an385, no root and no tap device.
//
//   network  QEMU user networking: the node is 10.0.2.15 inside, the host reaches it at
//            <host_address>:<udp_port> (hostfwd, UDP), so the station's riglink talks to it as to
//            a board on its LAN. Optionally a second port of the same emulated hub carries raw
//            Ethernet frames over UDP on loopback (tests inject frames that no socket could send).
//   identity node id, port count and address are written into the board's provisioning block by
//            QEMU's generic loader (mps2_hal.h: Provisioning), as a factory would.
//   lines    the firmware reports every line change with its tick on UART0 (console.h), which is
//            this process's pipe from QEMU's serial port; each edge reaches `on_edge` as it
//            arrives, with the host instant of the tick its pin moved at (ConsoleClock: the node
//            is asked for its tick ten times a second).
//   time     real time by default; with icount_shift >= 0 every instruction takes 2^shift ns of
//            virtual time (deterministic), held back to the host clock (align) so the host's clock
//            sync still sees a 25 MHz node.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "util/result.h"

namespace twinrig::sim::studio {

struct QemuNodeOptions {
  std::filesystem::path firmware;  // the ELF image (twinrig-node-mps2.elf)
  std::uint16_t node_id = 1;
  int ports = 8;
  std::string host_address = "127.0.2.1";  // loopback address where the host reaches the node
  std::uint16_t udp_port = 15800;
  int icount_shift = -1;              // < 0: virtual time follows the host clock
  std::uint16_t raw_frame_port = 0;   // > 0: QEMU takes raw frames on this UDP port of 127.0.0.1
                                      // and sends the hub's frames to raw_frame_port + 1
  std::filesystem::path console_log;  // empty: not kept on disk
  std::vector<std::string> Validate() const;
};

// The node's tick as this host's clock (CLOCK_MONOTONIC), learned from its console. A line that
// carries tick t and arrives at host instant h says that the node's clock read t no later than h.
// The emulated timer runs on QEMU's virtual clock, which without icount is the host clock plus a
// constant, so host(t) = 40 ns x t + offset, and the smallest h - 40 ns x t among recent lines is
// the offset plus the console's fastest delivery (tens of microseconds: UART, pipe, this thread).
// Recent, not all since boot: under icount, align lets the offset creep.
class ConsoleClock {
 public:
  static constexpr std::int64_t kNsPerTick = 40;  // the 25 MHz timer
  static constexpr std::size_t kWindow = 64;      // lines (6.4 s of tick reports)
  // The node booted again: its ticks start over.
  void Reset() { offsets_.clear(); }
  void Add(std::uint64_t tick, std::int64_t arrived_ns);
  // The host instant of `tick`; nullopt before the first line with a tick.
  [[nodiscard]] std::optional<std::int64_t> HostNs(std::uint64_t tick) const;

 private:
  std::deque<std::int64_t> offsets_;  // h - 40 ns x t of the most recent lines
};

// One line change as the firmware reported it.
struct ConsoleEdge {
  std::uint8_t port = 0;
  bool shutter = true;  // false: focus
  bool closed = false;
  std::uint64_t tick = 0;  // the scheduled switching tick
  std::uint32_t capture_id = 0;
  std::uint64_t late_ticks = 0;  // ticks between the scheduled tick and the pin really moving
  std::int64_t host_ns = 0;      // CLOCK_MONOTONIC when the report arrived
  // CLOCK_MONOTONIC of the tick the pin moved at (tick + late_ticks) by the node's ConsoleClock;
  // host_ns when the node has not yet reported a tick.
  std::int64_t moved_ns = 0;
};

class QemuNode {
 public:
  using EdgeHandler = std::function<void(const ConsoleEdge&)>;
  // Starts QEMU; returns once the process runs (the firmware's boot line follows within ms).
  static Result<std::unique_ptr<QemuNode>> Start(const QemuNodeOptions& options,
                                                 EdgeHandler on_edge = {});
  ~QemuNode();
  QemuNode(const QemuNode&) = delete;
  QemuNode& operator=(const QemuNode&) = delete;

  // Stops QEMU (SIGTERM, then SIGKILL after a second).
  void Stop();
  [[nodiscard]] bool running() const;
  [[nodiscard]] pid_t pid() const { return pid_; }

  // Types one debug command character on the node's service UART.
  Status SendCommand(char command);
  // Waits until the node has printed `count` boot lines (B …) in all; false on timeout.
  bool WaitForBoots(int count, std::chrono::milliseconds timeout);
  // Waits for a counters line (N …) newer than the call; the map of its name=value pairs.
  Result<std::map<std::string, std::uint64_t>> FreshCounters(std::chrono::milliseconds timeout);
  [[nodiscard]] int boots() const;
  [[nodiscard]] bool last_boot_by_watchdog() const;
  // The GPIO output register the last boot reported (0: every line released).
  [[nodiscard]] std::uint32_t lines_at_last_boot() const;
  // Edges reported since the last boot line.
  [[nodiscard]] std::size_t edges_before_last_boot() const;
  [[nodiscard]] std::vector<ConsoleEdge> edges() const;
  [[nodiscard]] std::vector<std::string> console() const;
  [[nodiscard]] const QemuNodeOptions& options() const { return options_; }

 private:
  QemuNode(QemuNodeOptions options, EdgeHandler on_edge);
  void ReadConsole();
  void HandleLine(const std::string& line);

  QemuNodeOptions options_;
  EdgeHandler on_edge_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::thread reader_;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> console_;
  std::vector<ConsoleEdge> edges_;
  int boots_ = 0;
  bool last_boot_by_watchdog_ = false;
  std::uint32_t lines_at_last_boot_ = 0;
  std::size_t edges_before_last_boot_ = 0;
  int counter_lines_ = 0;
  std::map<std::string, std::uint64_t> counters_;
  ConsoleClock clock_;
  bool exited_ = false;
};

// The emulator (qemu-system-arm on PATH) or an Error that says how to install it.
Result<std::filesystem::path> FindQemu();
// The firmware image the developer build makes (build/<preset>/firmware/...), or next to `twinrig`.
std::filesystem::path DefaultFirmwareImage();

}  // namespace twinrig::sim::studio
