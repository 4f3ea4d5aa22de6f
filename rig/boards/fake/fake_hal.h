// The fake board for unit tests: a clock the test moves by hand, lines and datagrams it can
// inspect, and an in-memory persistent configuration.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rig/hal.h"

namespace twinrig::rig::fake {

struct LineChange {
  std::uint8_t port = 0;
  Line line = Line::kShutter;
  bool closed = false;
  std::uint64_t tick = 0;
  std::uint32_t capture_id = 0;
};

struct SentDatagram {
  std::vector<std::uint8_t> bytes;
  Peer to;
  std::size_t tx_stamp_offset = 0;
};

class FakeHal : public Hal {
 public:
  explicit FakeHal(std::uint32_t tick_rate_hz = 1'000'000, std::uint64_t start_tick = 0)
      : tick_rate_hz_(tick_rate_hz), now_(start_tick) {}

  std::uint64_t Now() override { return now_; }
  std::uint32_t TickRateHz() override { return tick_rate_hz_; }
  void SetLine(std::uint8_t port, Line line, bool closed, std::uint64_t tick,
               std::uint32_t capture_id) override;
  void Send(const std::uint8_t* data, std::size_t size, const Peer& to,
            std::size_t tx_stamp_offset) override;
  void KickWatchdog() override { ++watchdog_kicks; }
  bool ResetByWatchdog() override { return reset_by_watchdog; }
  std::size_t LoadConfig(std::uint8_t* data, std::size_t capacity) override;
  bool SaveConfig(const std::uint8_t* data, std::size_t size) override;
  const char* BoardName() override { return "fake"; }
  std::uint64_t Entropy() override { return ++entropy_; }
  void RequestReboot() override { ++reboot_requests; }

  void Advance(std::uint64_t ticks) { now_ += ticks; }
  void Set(std::uint64_t tick) { now_ = tick; }

  // What the node did, in order.
  std::vector<LineChange> lines;
  std::vector<SentDatagram> sent;
  std::vector<std::uint8_t> stored_config;
  int watchdog_kicks = 0;
  int reboot_requests = 0;
  bool reset_by_watchdog = false;

 private:
  std::uint32_t tick_rate_hz_;
  std::uint64_t now_;
  std::uint64_t entropy_ = 0x5eed0000;
};

}  // namespace twinrig::rig::fake
