// The simulated node's local clock against true time (CLOCK_MONOTONIC ns on this machine):
//
//   node_tick(t) = tick_base + floor((t + offset_ns) * (1 + drift_ppm * 1e-6) * tick_rate_hz / 1e9)
//
// modulo 2^64. The true time of tick T is the first nanosecond at which the counter reads T, i.e.
// when a hardware timer compare on T would have switched its output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace twinrig::rig::sim {

struct SimClockOptions {
  std::uint32_t tick_rate_hz = 1'000'000;  // ticks per second (nominal)
  std::int64_t offset_ns = 0;              // node clock ahead of true time by this much
  double drift_ppm = 0.0;                  // node clock runs fast by this many parts per million
  std::uint64_t tick_base = 0;             // added to every tick (tests the counter's wrap)
  [[nodiscard]] std::vector<std::string> Validate() const;
};

class SimClock {
 public:
  explicit SimClock(const SimClockOptions& options);
  [[nodiscard]] std::uint64_t TickAt(std::int64_t true_ns) const;
  [[nodiscard]] std::int64_t TrueAt(std::uint64_t tick) const;
  [[nodiscard]] const SimClockOptions& options() const { return options_; }

 private:
  SimClockOptions options_;
  long double ticks_per_ns_;
};

// CLOCK_MONOTONIC in nanoseconds: true time in the virtual studio.
std::int64_t TrueNowNs();

}  // namespace twinrig::rig::sim
