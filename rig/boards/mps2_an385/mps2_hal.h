// The HAL of the MPS2 AN385 board (CMSDK peripherals and the LAN9118, as QEMU's mps2-an385
// emulates them):
//   clock    CMSDK APB timer 0, 25 MHz down-counter, extended to 64 bits in software;
//            the scheduler's compare is checked by the main loop, which sleeps (WFI) until 5 ms
//            before the next deadline (CMSDK timer 1, IRQ 9), a received frame (IRQ 13) or 20 ms,
//            and polls the last 5 ms
//   lines    CMSDK GPIO 0: port p drives focus on bit 2p and shutter on bit 2p+1; every change is
//            also reported with its tick on the debug console (console.h)
//   network  LAN9118 (lan9118.h) under rig/net_stack.h (Ethernet, ARP, IPv4, UDP, ICMP); its
//            interrupt stamps a frame's arrival
//   watchdog CMSDK watchdog (its interrupt is the NMI; the reset cause is kept in .noinit RAM)
//   config   a .noinit RAM block (survives warm resets; the board has no writable flash)
//   identity the provisioning block (Provisioning below) at a fixed RAM address: node id, port
//            count and IPv4 settings, written by the board's loader (QEMU: -device loader)
#pragma once

#include <cstddef>
#include <cstdint>

#include "protocol/frame.h"
#include "rig/boards/mps2_an385/console.h"
#include "rig/boards/mps2_an385/lan9118.h"
#include "rig/hal.h"
#include "rig/net_stack.h"

namespace twinrig::rig::mps2 {

inline constexpr std::uint32_t kTickRateHz = 25'000'000;

// What makes one node different from another, at 0x203FFF00 (see mps2_an385.ld), little-endian
// 32-bit words. Without the magic the node uses the defaults: node id 1, 8 ports, 10.0.2.15/24,
// gateway 10.0.2.2, UDP port 15800 (QEMU user networking's guest address and host).
struct Provisioning {
  static constexpr std::uint32_t kMagic = 0x4E525754;  // "TWRN"
  std::uint32_t magic;
  // Node id in bits 0..15, port count in bits 16..23; bit 24 enables the console's debug
  // commands (console.h: test benches and the virtual studio, never a studio's boards).
  std::uint32_t node_id_and_ports;
  std::uint32_t address;  // IPv4, host order (10.0.2.15 = 0x0A00020F)
  std::uint32_t netmask;
  std::uint32_t gateway;
  // Random bits the provisioner writes at each power-up (a real board has its unique id and ADC
  // noise): under QEMU's deterministic time the timer phase alone would repeat the boot id.
  std::uint32_t entropy;
  // Milliseconds from the last kick to the watchdog's NMI (the reset follows as long again);
  // outside 100..5000 (0: not provisioned), 500. An emulated board's timer is the host's clock,
  // which keeps running while a loaded host leaves the emulator unscheduled: it gets longer.
  std::uint32_t watchdog_ms;
};
inline constexpr std::uintptr_t kProvisioningAddress = 0x203FFF00U;

class Mps2Hal : public Hal, public FrameSink {
 public:
  Mps2Hal();
  // Brings up the timer, lines, console, Ethernet and watchdog. Returns false without a LAN9118.
  bool Init();
  std::uint64_t Now() override;
  std::uint32_t TickRateHz() override { return kTickRateHz; }
  void SetLine(std::uint8_t port, Line line, bool closed, std::uint64_t tick,
               std::uint32_t capture_id) override;
  void Send(const std::uint8_t* data, std::size_t size, const Peer& to,
            std::size_t tx_stamp_offset) override;
  void KickWatchdog() override;
  bool ResetByWatchdog() override;  // valid after Init()
  std::size_t LoadConfig(std::uint8_t* data, std::size_t capacity) override;
  bool SaveConfig(const std::uint8_t* data, std::size_t size) override;
  const char* BoardName() override { return "mps2-an385"; }
  std::uint64_t Entropy() override;
  void RequestReboot() override { reboot_requested_ = true; }
  void Transmit(const std::uint8_t* frame, std::size_t size) override;

  // The node's identity from the provisioning block (or the defaults).
  [[nodiscard]] std::uint16_t node_id() const { return node_id_; }
  [[nodiscard]] std::uint8_t port_count() const { return port_count_; }

  // Main loop helpers.
  // One datagram for the node, stamped with the tick of the first poll that saw its frame.
  bool Receive(std::uint8_t* data, std::size_t capacity, std::size_t* size, Peer* from,
               std::uint64_t* rx_tick);
  // Console output, debug commands and the periodic report of network counters and stack use.
  void Service(std::uint64_t boot_id);
  // Sleeps until a frame arrives, 5 ms before `deadline` (when given) or at most 20 ms (the
  // watchdog needs a kick every 500 ms or as provisioned); returns at once when there is work.
  void Idle(bool has_deadline, std::uint64_t deadline);
  [[nodiscard]] bool reboot_requested() const { return reboot_requested_; }
  [[noreturn]] static void SystemReset();

 private:
  void ReportCounters();
  void ReportEdges();

  // Line changes waiting for the console (SetLine runs on the fire path; formatting does not).
  struct EdgeRecord {
    std::uint64_t tick;   // scheduled
    std::uint64_t moved;  // when the GPIO register was written
    std::uint32_t capture_id;
    std::uint8_t port;
    bool shutter;
    bool closed;
  };
  static constexpr std::size_t kEdgeLog = 128;
  EdgeRecord edge_log_[kEdgeLog] = {};
  std::size_t edge_head_ = 0;
  std::size_t edge_count_ = 0;
  std::uint32_t edge_drops_ = 0;

  std::uint64_t TickOfCount(std::uint32_t count) const;

  std::uint32_t last_count_ = 0;
  std::uint64_t ticks_ = 0;
  bool reboot_requested_ = false;
  bool watchdog_reset_ = false;      // read once in Init()
  std::uint32_t watchdog_load_ = 0;  // ticks to the NMI (Provisioning::watchdog_ms)
  bool booted_reported_ = false;
  std::uint16_t node_id_ = 1;
  std::uint32_t provisioned_entropy_ = 0;
  std::uint8_t port_count_ = 8;
  bool debug_commands_ = false;
  std::uint64_t last_report_tick_ = 0;
  std::uint32_t last_report_hash_ = 0;
  Console console_;
  Lan9118 nic_;
  NetStack stack_;
  std::uint8_t rx_frame_[kMaxFrame] = {};
  std::uint8_t tx_frame_[kMaxFrame] = {};
};

// Bytes of the stack never touched since boot (painted at reset, see startup.cc).
std::size_t StackUnused();
std::size_t StackSize();

}  // namespace twinrig::rig::mps2
