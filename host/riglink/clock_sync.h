// Clock sync of one node against the host (Klipper's clocksync regression, with the filtering a
// busy network needs): each exchange gives host send/receive times (t0, t3, host clock =
// CLOCK_MONOTONIC ns) and the node's receive/transmit ticks (t1, t2). Under symmetric delay the
// node instant (t1 + t2) / 2 corresponds to the host instant (t0 + t3) / 2; delay asymmetry is the
// error, and it is smallest in the exchanges with the shortest round trip. So the estimator
//   1. keeps a window of recent exchanges,
//   2. keeps the fraction with the smallest round-trip times (minimum-delay filtering),
//   3. fits node ticks against host time by least squares (offset and drift),
//   4. drops points whose residual exceeds a few median absolute deviations and fits again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace twinrig::riglink {

struct SyncSample {
  std::int64_t host_send_ns = 0;     // t0
  std::uint64_t node_rx_tick = 0;    // t1
  std::uint64_t node_tx_tick = 0;    // t2
  std::int64_t host_receive_ns = 0;  // t3
};

struct ClockSyncOptions {
  std::size_t window = 160;      // exchanges kept
  double keep_fraction = 0.25;   // of the window, lowest round trip first
  std::size_t min_samples = 12;  // before the estimate is usable
  double outlier_mads = 3.0;     // residual beyond this many MADs is dropped
  [[nodiscard]] std::vector<std::string> Validate() const;
};

struct SyncQuality {
  bool ready = false;
  std::size_t samples = 0;  // in the window
  std::size_t used = 0;     // after filtering
  double offset_ms = 0;     // node clock - host clock at the last exchange, in ms
  double drift_ppm = 0;     // node clock rate against nominal, parts per million
  double min_rtt_us = 0;    // shortest round trip in the window
  double median_rtt_us = 0;
  double residual_us = 0;   // RMS residual of the fit (how well the model explains the data)
  double est_error_us = 0;  // estimated error of a host->tick conversion now
};

class ClockSync {
 public:
  explicit ClockSync(std::uint32_t nominal_tick_rate_hz, ClockSyncOptions options = {});

  void Reset(std::uint32_t nominal_tick_rate_hz);
  // Adds an exchange and refits. Exchanges with impossible times (t3 < t0) are ignored.
  void Add(const SyncSample& sample);

  [[nodiscard]] bool ready() const { return quality_.ready; }
  [[nodiscard]] const SyncQuality& quality() const { return quality_; }
  // The node tick at host instant `host_ns`; only meaningful when ready().
  [[nodiscard]] std::uint64_t HostToTick(std::int64_t host_ns) const;
  // The host instant of node tick `tick`.
  [[nodiscard]] std::int64_t TickToHost(std::uint64_t tick) const;

 private:
  void Fit();

  std::uint32_t nominal_rate_;
  ClockSyncOptions options_;
  std::deque<SyncSample> samples_;
  bool have_reference_ = false;
  std::uint64_t reference_tick_ = 0;  // node ticks are fitted relative to this (wrap-safe)
  std::int64_t reference_host_ = 0;
  // Fitted model: node_ticks_since_reference = intercept_ + slope_ * (host_ns - center_host_)
  double center_host_ = 0;
  double intercept_ = 0;
  double slope_ = 0;  // ticks per host ns
  SyncQuality quality_;
};

}  // namespace twinrig::riglink
