// The HAL of the MPS2 AN385 board (CMSDK peripherals, as QEMU's mps2-an385 emulates them):
//   clock    CMSDK APB timer 0, 25 MHz down-counter, extended to 64 bits in software;
//            the scheduler's compare is polled against it from the main loop
//   lines    CMSDK GPIO 0: port p drives focus on bit 2p and shutter on bit 2p+1
//   watchdog CMSDK watchdog (its interrupt is the NMI; the reset cause is kept in .noinit RAM)
//   config   a .noinit RAM block (survives warm resets; the board has no writable flash)
//   network  LAN9118 — NOT WRITTEN YET: Send drops the datagram and nothing is received. The
//            driver and its minimal ARP/IPv4/UDP layer come with booting on QEMU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rig/hal.h"

namespace twinrig::rig::mps2 {

inline constexpr std::uint32_t kTickRateHz = 25'000'000;

class Mps2Hal : public Hal {
 public:
  void Init();
  std::uint64_t Now() override;
  std::uint32_t TickRateHz() override { return kTickRateHz; }
  void SetLine(std::uint8_t port, Line line, bool closed, std::uint64_t tick,
               std::uint32_t capture_id) override;
  void Send(const std::uint8_t* data, std::size_t size, const Peer& to,
            std::size_t tx_stamp_offset) override;
  void KickWatchdog() override;
  bool ResetByWatchdog() override;
  std::size_t LoadConfig(std::uint8_t* data, std::size_t capacity) override;
  bool SaveConfig(const std::uint8_t* data, std::size_t size) override;
  const char* BoardName() override { return "mps2-an385"; }
  std::uint64_t Entropy() override;
  void RequestReboot() override { reboot_requested_ = true; }

  // Main loop helpers.
  bool Receive(std::uint8_t* data, std::size_t capacity, std::size_t* size, Peer* from,
               std::uint64_t* rx_tick);
  [[nodiscard]] bool reboot_requested() const { return reboot_requested_; }
  [[noreturn]] static void SystemReset();

 private:
  std::uint32_t last_count_ = 0;
  std::uint64_t ticks_ = 0;
  bool reboot_requested_ = false;
};

}  // namespace twinrig::rig::mps2
