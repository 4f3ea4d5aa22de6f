// Clocks shared by the station, the trigger nodes and the virtual studio. Host and true time are
// CLOCK_MONOTONIC in nanoseconds; kernel receive timestamps and EXIF dates need CLOCK_REALTIME.
#pragma once

#include <cstdint>
#include <string>

namespace twinrig {

std::int64_t MonotonicNowNs();
std::int64_t RealtimeNowNs();
// CLOCK_REALTIME - CLOCK_MONOTONIC, read between two monotonic reads close together (up to five
// tries, keeping the tightest), so that a preemption between the reads does not skew it.
std::int64_t RealtimeMinusMonotonicNs();
// The wall-clock time in UTC, to the second: "2026-11-28T12:34:56Z".
std::string UtcIsoNow();

}  // namespace twinrig
