#include "rig/boards/sim/sim_clock.h"

#include <time.h>

#include <cmath>

#include "util/clock.h"

namespace twinrig::rig::sim {

std::vector<std::string> SimClockOptions::Validate() const {
  std::vector<std::string> problems;
  if (tick_rate_hz < 1000 || tick_rate_hz > 1'000'000'000) {
    problems.push_back("tick rate must be 1 kHz .. 1 GHz");
  }
  if (drift_ppm < -1000 || drift_ppm > 1000) problems.push_back("drift must be within +-1000 ppm");
  if (offset_ns < -3'600'000'000'000LL || offset_ns > 3'600'000'000'000LL) {
    problems.push_back("clock offset must be within +-1 h");
  }
  return problems;
}

SimClock::SimClock(const SimClockOptions& options)
    : options_(options),
      ticks_per_ns_((1.0L + static_cast<long double>(options.drift_ppm) * 1e-6L) *
                    static_cast<long double>(options.tick_rate_hz) / 1e9L) {}

std::uint64_t SimClock::TickAt(std::int64_t true_ns) const {
  const long double local = static_cast<long double>(true_ns + options_.offset_ns);
  const auto count = static_cast<std::int64_t>(std::floor(local * ticks_per_ns_));
  return options_.tick_base + static_cast<std::uint64_t>(count);
}

std::int64_t SimClock::TrueAt(std::uint64_t tick) const {
  const auto count = static_cast<std::int64_t>(tick - options_.tick_base);
  auto t = static_cast<std::int64_t>(
      std::ceil(static_cast<long double>(count) / ticks_per_ns_ - options_.offset_ns));
  // Rounding of the long double division can leave t a nanosecond or so off the first instant at
  // which the counter reads `tick`; settle it exactly (a handful of steps at most).
  auto before = [&](std::int64_t at) { return static_cast<std::int64_t>(TickAt(at) - tick) < 0; };
  for (int i = 0; i < 64 && !before(t - 1); ++i) --t;
  for (int i = 0; i < 64 && before(t); ++i) ++t;
  return t;
}

std::int64_t TrueNowNs() { return MonotonicNowNs(); }

}  // namespace twinrig::rig::sim
