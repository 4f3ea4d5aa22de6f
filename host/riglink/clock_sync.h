// Clock sync of one node against the host (after Klipper's clocksync, with the filtering a busy
// network needs). Each exchange gives the host's send and receive times (t0, t3; host clock =
// CLOCK_MONOTONIC ns) and the node's receive and transmit ticks (t1, t2), and two hard facts: the
// request reached the node after t0, and the reply left it before t3. The estimator
//   1. keeps a window of recent exchanges;
//   2. fits the rate (drift) by least squares on the midpoints of the exchanges with the shortest
//      round trips (minimum-delay filtering), dropping residuals beyond a few median absolute
//      deviations (outliers: a descheduled host, a queue in a switch);
//   3. with that rate, bounds the offset from above by the fastest request (min over t1 - rate*t0)
//      and from below by the fastest reply (max over t2 - rate*t3) among the recent exchanges, and
//      takes the middle. Each direction's fastest datagram is chosen on its own, so jitter in one
//      direction does not spoil the other; the error is half the difference of the two minimum
//      one-way delays, not half the jitter.
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
  std::size_t window = 500;       // exchanges kept for the rate fit (10 s at 50 Hz)
  std::size_t envelope = 150;     // most recent exchanges that bound the offset (3 s)
  double keep_fraction = 0.5;     // of the window for the rate fit, lowest round trip first
  std::size_t min_samples = 150;  // before the estimate is usable (3 s: the rate needs a span)
  double outlier_mads = 3.0;      // residual beyond this many MADs is dropped
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
  double residual_us = 0;   // RMS residual of the rate fit
  double bound_us = 0;      // hard bound: half the width of the feasible offset interval
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
  // The one-way bounds of exchanges [from, to) with rate `rate`:
  //   t1 - rate * t0 >= intercept  (the request arrived after it was sent)
  //   t2 - rate * t3 <= intercept  (the reply left before it arrived)
  struct Bounds {
    std::vector<double> upper;  // ascending: front is the sharpest
    std::vector<double> lower;  // descending: front is the sharpest
    double center = 0;          // mean host time of the exchanges
    [[nodiscard]] double middle() const { return (upper.front() + lower.front()) / 2; }
  };
  [[nodiscard]] Bounds BoundsOf(std::size_t from, std::size_t to, double rate) const;
  // Refits the model to the window: the rate (least squares, then refined by the bounds), then
  // the offset from the recent exchanges' bounds, and the quality figures.
  void Fit();
  double RefinedRate(double slope);
  void FitOffset(double ns_per_tick);

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
  double slope_stderr_ = 0;
  SyncQuality quality_;
};

}  // namespace twinrig::riglink
