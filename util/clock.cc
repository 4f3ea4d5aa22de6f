#include "util/clock.h"

#include <time.h>

#include <cstdint>
#include <ctime>

namespace twinrig {
namespace {
std::int64_t Read(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

std::int64_t MonotonicNowNs() { return Read(CLOCK_MONOTONIC); }
std::int64_t RealtimeNowNs() { return Read(CLOCK_REALTIME); }

std::int64_t RealtimeMinusMonotonicNs() {
  std::int64_t best = 0;
  std::int64_t best_span = INT64_MAX;
  for (int i = 0; i < 5; ++i) {
    const std::int64_t before = MonotonicNowNs();
    const std::int64_t realtime = RealtimeNowNs();
    const std::int64_t after = MonotonicNowNs();
    if (after - before < best_span) {
      best_span = after - before;
      best = realtime - (before + (after - before) / 2);
    }
    if (best_span < 2000) break;
  }
  return best;
}

std::string UtcIsoNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace twinrig
