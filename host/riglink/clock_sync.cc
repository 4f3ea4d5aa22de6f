#include "host/riglink/clock_sync.h"

#include <algorithm>
#include <cmath>

namespace twinrig::riglink {

namespace {

// One exchange as the rate fit sees it: its midpoints on both clocks and its round trip.
struct Point {
  double host;  // ns since the reference host time
  double node;  // ticks since the reference tick
  double rtt_ns;
};

// A straight line node = intercept + slope * (host - center).
struct Line {
  double center = 0;
  double intercept = 0;
  double slope = 0;
  [[nodiscard]] double ResidualNs(const Point& p, double ns_per_tick) const {
    return (p.node - (intercept + slope * (p.host - center))) * ns_per_tick;
  }
};

// Least squares through `set`. With too short a time span the slope is noise: the nominal rate.
Line FitLine(const std::vector<Point>& set, double ns_per_tick) {
  double mean_h = 0;
  double mean_n = 0;
  for (const Point& p : set) {
    mean_h += p.host;
    mean_n += p.node;
  }
  mean_h /= static_cast<double>(set.size());
  mean_n /= static_cast<double>(set.size());
  double sxx = 0;
  double sxy = 0;
  for (const Point& p : set) {
    sxx += (p.host - mean_h) * (p.host - mean_h);
    sxy += (p.host - mean_h) * (p.node - mean_n);
  }
  return {mean_h, mean_n,
          sxx > 1e12 * static_cast<double>(set.size()) ? sxy / sxx : 1.0 / ns_per_tick};
}

// Minimum-delay filtering: the exchanges with the shortest round trips (`rtts` sorted).
std::vector<Point> ShortestRoundTrips(const std::vector<Point>& points,
                                      const std::vector<double>& rtts, double keep_fraction) {
  const std::size_t keep = std::max<std::size_t>(
      std::min<std::size_t>(points.size(), 4),
      static_cast<std::size_t>(std::ceil(static_cast<double>(points.size()) * keep_fraction)));
  const double rtt_cut = rtts[std::min(keep, rtts.size()) - 1];
  std::vector<Point> used;
  for (const Point& p : points) {
    if (p.rtt_ns <= rtt_cut) used.push_back(p);
  }
  return used;
}

// The line through `used`, refitted without the residuals beyond `outlier_mads` median absolute
// deviations (then `used` holds the exchanges kept).
Line FitWithoutOutliers(std::vector<Point>& used, double ns_per_tick, double outlier_mads) {
  Line line = FitLine(used, ns_per_tick);
  if (used.size() < 6) return line;
  std::vector<double> abs_residuals;
  abs_residuals.reserve(used.size());
  for (const Point& p : used) abs_residuals.push_back(std::fabs(line.ResidualNs(p, ns_per_tick)));
  std::vector<double> sorted = abs_residuals;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2),
                   sorted.end());
  const double mad = std::max(sorted[sorted.size() / 2], 500.0);  // floor: half a microsecond
  std::vector<Point> kept;
  for (std::size_t i = 0; i < used.size(); ++i) {
    if (abs_residuals[i] <= outlier_mads * mad) kept.push_back(used[i]);
  }
  if (kept.size() >= 4 && kept.size() < used.size()) {
    used = std::move(kept);
    line = FitLine(used, ns_per_tick);
  }
  return line;
}

}  // namespace

std::vector<std::string> ClockSyncOptions::Validate() const {
  std::vector<std::string> problems;
  if (window < 8) problems.push_back("sync window must keep at least 8 exchanges");
  if (keep_fraction <= 0 || keep_fraction > 1)
    problems.push_back("keep fraction must be in (0, 1]");
  if (envelope < 1 || envelope > window) problems.push_back("envelope must be 1 .. window");
  if (min_samples < 3 || min_samples > window) {
    problems.push_back("minimum samples must be 3 .. window");
  }
  if (outlier_mads <= 0) problems.push_back("outlier threshold must be positive");
  return problems;
}

ClockSync::ClockSync(std::uint32_t nominal_tick_rate_hz, ClockSyncOptions options)
    : nominal_rate_(nominal_tick_rate_hz == 0 ? 1 : nominal_tick_rate_hz), options_(options) {}

void ClockSync::Reset(std::uint32_t nominal_tick_rate_hz) {
  nominal_rate_ = nominal_tick_rate_hz == 0 ? 1 : nominal_tick_rate_hz;
  samples_.clear();
  have_reference_ = false;
  quality_ = SyncQuality{};
}

void ClockSync::Add(const SyncSample& sample) {
  if (sample.host_receive_ns < sample.host_send_ns) return;
  if (static_cast<std::int64_t>(sample.node_tx_tick - sample.node_rx_tick) < 0) return;
  if (!have_reference_) {
    have_reference_ = true;
    reference_tick_ = sample.node_rx_tick;
    reference_host_ = sample.host_send_ns;
  }
  samples_.push_back(sample);
  while (samples_.size() > options_.window) samples_.pop_front();
  Fit();
}

ClockSync::Bounds ClockSync::BoundsOf(std::size_t from, std::size_t to, double rate) const {
  Bounds b;
  for (std::size_t i = from; i < to; ++i) {
    const SyncSample& s = samples_[i];
    const double t0 = static_cast<double>(s.host_send_ns - reference_host_);
    const double t3 = static_cast<double>(s.host_receive_ns - reference_host_);
    const double t1 =
        static_cast<double>(static_cast<std::int64_t>(s.node_rx_tick - reference_tick_));
    const double t2 =
        static_cast<double>(static_cast<std::int64_t>(s.node_tx_tick - reference_tick_));
    b.upper.push_back(t1 + 1 - rate * t0);  // +1: a counter reads the floor of its clock
    b.lower.push_back(t2 - rate * t3);
    b.center += (t0 + t3) / 2;
  }
  b.center /= static_cast<double>(to - from);
  std::sort(b.upper.begin(), b.upper.end());
  std::sort(b.lower.begin(), b.lower.end(), std::greater<>());
  return b;
}

void ClockSync::Fit() {
  const double ns_per_tick = 1e9 / nominal_rate_;
  std::vector<Point> points;
  points.reserve(samples_.size());
  for (const SyncSample& s : samples_) {
    const double node_mid =
        (static_cast<double>(static_cast<std::int64_t>(s.node_rx_tick - reference_tick_)) +
         static_cast<double>(static_cast<std::int64_t>(s.node_tx_tick - reference_tick_))) /
        2.0;
    const double host_mid = static_cast<double>(s.host_send_ns - reference_host_) +
                            static_cast<double>(s.host_receive_ns - s.host_send_ns) / 2.0;
    const double node_busy_ns =
        static_cast<double>(static_cast<std::int64_t>(s.node_tx_tick - s.node_rx_tick)) *
        ns_per_tick;
    const double rtt = static_cast<double>(s.host_receive_ns - s.host_send_ns) - node_busy_ns;
    points.push_back({host_mid, node_mid, rtt});
  }
  quality_.samples = points.size();
  if (points.empty()) return;

  std::vector<double> rtts;
  rtts.reserve(points.size());
  for (const Point& p : points) rtts.push_back(p.rtt_ns);
  std::sort(rtts.begin(), rtts.end());
  quality_.min_rtt_us = rtts.front() / 1e3;
  quality_.median_rtt_us = rtts[rtts.size() / 2] / 1e3;

  std::vector<Point> used = ShortestRoundTrips(points, rtts, options_.keep_fraction);
  const Line line = FitWithoutOutliers(used, ns_per_tick, options_.outlier_mads);
  double sum_sq = 0;
  double sxx = 0;
  for (const Point& p : used) {
    const double r = line.ResidualNs(p, ns_per_tick);
    sum_sq += r * r;
    sxx += (p.host - line.center) * (p.host - line.center);
  }
  const double residual_var_ticks =
      sum_sq / static_cast<double>(used.size()) / (ns_per_tick * ns_per_tick);
  slope_stderr_ = sxx > 0 ? std::sqrt(residual_var_ticks / sxx) : 0;
  slope_ = RefinedRate(line.slope);
  quality_.used = used.size();
  quality_.residual_us = std::sqrt(sum_sq / static_cast<double>(used.size())) / 1e3;
  FitOffset(ns_per_tick);
}

double ClockSync::RefinedRate(double slope) {
  // Refine the rate with the bounds themselves: a rate error tilts them, so the offsets bounded in
  // the older and the newer half of the window differ by (rate error) x (time between the halves).
  // Only the sharpest exchanges matter, so outliers and one-sided jitter cannot pull it.
  const std::size_t n = samples_.size();
  if (n < 2 * options_.min_samples / 3 || n < 16) return slope;
  for (int iteration = 0; iteration < 3; ++iteration) {
    const Bounds older = BoundsOf(0, n / 2, slope);
    const Bounds newer = BoundsOf(n / 2, n, slope);
    const double span = newer.center - older.center;
    if (span < 1e9) break;  // under a second apart: the regression's rate is as good
    const double correction = (newer.middle() - older.middle()) / span;
    slope += correction;
    const double half_gap =
        std::hypot(older.upper[1] - older.upper[0], older.lower[0] - older.lower[1]) / 2 +
        std::hypot(newer.upper[1] - newer.upper[0], newer.lower[0] - newer.lower[1]) / 2;
    slope_stderr_ = half_gap / span;
  }
  return slope;
}

void ClockSync::FitOffset(double ns_per_tick) {
  // The offset from the recent exchanges.
  const std::size_t n = samples_.size();
  const std::size_t recent = std::min(options_.envelope, n);
  const Bounds latest = BoundsOf(n - recent, n, slope_);
  const std::vector<double>& upper = latest.upper;
  const std::vector<double>& lower = latest.lower;
  const double recent_center = latest.center;
  const double high = upper.front();
  const double low = lower.front();
  center_host_ = 0;
  intercept_ = (high + low) / 2;
  // How sharp each bound is: the gap to the runner-up.
  const double gap_high = upper.size() > 1 ? upper[1] - upper[0] : high - low;
  const double gap_low = lower.size() > 1 ? lower[0] - lower[1] : high - low;

  quality_.drift_ppm = (slope_ * ns_per_tick - 1.0) * 1e6;
  quality_.bound_us = std::max(0.0, (high - low) / 2) * ns_per_tick / 1e3;
  const std::int64_t last_host = samples_.back().host_send_ns;
  // Offset: the node clock's reading (in ns at the nominal rate) minus the host clock, now.
  quality_.offset_ms =
      (static_cast<double>(HostToTick(last_host)) * ns_per_tick - static_cast<double>(last_host)) /
      1e6;
  // Error of a conversion a fraction of a second ahead: the sharpness of the two bounds, the rate
  // error carried from the middle of the recent exchanges, and the tick itself.
  const double ahead_ns = static_cast<double>(last_host - reference_host_) + 0.2e9 - recent_center;
  const double bound_error_ticks = 0.5 * std::hypot(gap_high, gap_low);
  const double rate_error_ticks = slope_stderr_ * std::max(0.0, ahead_ns);
  // Crossed bounds (high < low) mean the rate is off or a clock jumped: count the overlap too.
  const double crossed_ticks = std::max(0.0, (low - high) / 2);
  quality_.est_error_us =
      (std::hypot(bound_error_ticks, rate_error_ticks) + crossed_ticks + 0.5) * ns_per_tick / 1e3;
  quality_.ready = samples_.size() >= options_.min_samples;
}

std::uint64_t ClockSync::HostToTick(std::int64_t host_ns) const {
  const double host = static_cast<double>(host_ns - reference_host_);
  const double ticks = intercept_ + slope_ * (host - center_host_);
  return reference_tick_ +
         static_cast<std::uint64_t>(static_cast<std::int64_t>(std::llround(ticks)));
}

std::int64_t ClockSync::TickToHost(std::uint64_t tick) const {
  const double ticks = static_cast<double>(static_cast<std::int64_t>(tick - reference_tick_));
  const double host = center_host_ + (ticks - intercept_) / slope_;
  return reference_host_ + std::llround(host);
}

}  // namespace twinrig::riglink
