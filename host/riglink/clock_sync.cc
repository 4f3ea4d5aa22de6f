#include "host/riglink/clock_sync.h"

#include <algorithm>
#include <cmath>

namespace twinrig::riglink {

std::vector<std::string> ClockSyncOptions::Validate() const {
  std::vector<std::string> problems;
  if (window < 8) problems.push_back("sync window must keep at least 8 exchanges");
  if (keep_fraction <= 0 || keep_fraction > 1)
    problems.push_back("keep fraction must be in (0, 1]");
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

void ClockSync::Fit() {
  struct Point {
    double host;  // ns since reference_host_
    double node;  // ticks since reference_tick_
    double rtt_ns;
  };
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

  // Minimum-delay filtering: the exchanges with the shortest round trips.
  const std::size_t keep = std::max<std::size_t>(
      std::min<std::size_t>(points.size(), 4),
      static_cast<std::size_t>(std::ceil(points.size() * options_.keep_fraction)));
  const double rtt_cut = rtts[std::min(keep, rtts.size()) - 1];
  std::vector<Point> used;
  for (const Point& p : points) {
    if (p.rtt_ns <= rtt_cut) used.push_back(p);
  }

  auto fit = [&](const std::vector<Point>& set, double* center, double* intercept, double* slope) {
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
    *center = mean_h;
    *intercept = mean_n;
    // With too short a time span the slope is noise: use the nominal rate.
    *slope = sxx > 1e12 * static_cast<double>(set.size()) ? sxy / sxx : 1.0 / ns_per_tick;
  };
  auto residual_ns = [&](const Point& p, double center, double intercept, double slope) {
    return (p.node - (intercept + slope * (p.host - center))) * ns_per_tick;
  };

  double center = 0;
  double intercept = 0;
  double slope = 0;
  fit(used, &center, &intercept, &slope);
  // Outlier rejection by median absolute deviation of the residuals.
  if (used.size() >= 6) {
    std::vector<double> abs_residuals;
    for (const Point& p : used)
      abs_residuals.push_back(std::fabs(residual_ns(p, center, intercept, slope)));
    std::vector<double> sorted = abs_residuals;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    const double mad = std::max(sorted[sorted.size() / 2], 500.0);  // floor: half a microsecond
    std::vector<Point> kept;
    for (std::size_t i = 0; i < used.size(); ++i) {
      if (abs_residuals[i] <= options_.outlier_mads * mad) kept.push_back(used[i]);
    }
    if (kept.size() >= 4 && kept.size() < used.size()) {
      used = std::move(kept);
      fit(used, &center, &intercept, &slope);
    }
  }
  double sum_sq = 0;
  for (const Point& p : used) {
    const double r = residual_ns(p, center, intercept, slope);
    sum_sq += r * r;
  }
  center_host_ = center;
  intercept_ = intercept;
  slope_ = slope;

  quality_.used = used.size();
  quality_.residual_us = std::sqrt(sum_sq / static_cast<double>(used.size())) / 1e3;
  quality_.drift_ppm = (slope_ * ns_per_tick - 1.0) * 1e6;
  const SyncSample& last = samples_.back();
  const std::int64_t last_host = last.host_send_ns;
  // Offset: node clock reading (in ns at the nominal rate) minus host clock, at the last exchange.
  quality_.offset_ms =
      (static_cast<double>(HostToTick(last_host)) * ns_per_tick - static_cast<double>(last_host)) /
      1e6;
  // The error of a conversion: the fit's standard error, never below half a tick, plus half the
  // spread of round trips the fit had to accept (asymmetry can hide in it).
  const double spread_us = (rtt_cut - rtts.front()) / 1e3;
  quality_.est_error_us = std::max(
      0.5 * ns_per_tick / 1e3,
      quality_.residual_us / std::sqrt(static_cast<double>(used.size())) + spread_us / 4.0);
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
