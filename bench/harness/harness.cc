#include "bench/harness/harness.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string_view>

namespace twinrig::bench {

double Timing::Median() const { return Percentile(seconds, 50.0); }

double Timing::Min() const {
  return seconds.empty() ? 0.0 : *std::min_element(seconds.begin(), seconds.end());
}

Timing Measure(const std::function<void()>& work, int repeats, int warmups) {
  for (int i = 0; i < warmups; ++i) work();
  Timing timing;
  for (int i = 0; i < repeats; ++i) {
    Stopwatch watch;
    work();
    timing.seconds.push_back(watch.Seconds());
  }
  return timing;
}

std::pair<Timing, Timing> MeasurePair(const std::function<void()>& candidate,
                                      const std::function<void()>& baseline, int repeats) {
  candidate();
  baseline();
  Timing a, b;
  for (int i = 0; i < repeats; ++i) {
    Stopwatch wa;
    candidate();
    a.seconds.push_back(wa.Seconds());
    Stopwatch wb;
    baseline();
    b.seconds.push_back(wb.Seconds());
  }
  return {a, b};
}

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

double Percentile(std::vector<double> values, double percent) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  double rank = std::clamp(percent, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  auto low = static_cast<size_t>(rank);
  size_t high = std::min(low + 1, values.size() - 1);
  double fraction = rank - static_cast<double>(low);
  return values[low] + (values[high] - values[low]) * fraction;
}

ResultLine& ResultLine::Add(const std::string& key, double value, int precision) {
  std::ostringstream s;
  s.precision(precision);
  s << std::fixed << value;
  fields_.emplace_back(key, s.str());
  return *this;
}

ResultLine& ResultLine::Add(const std::string& key, const std::string& value) {
  fields_.emplace_back(key, value);
  return *this;
}

std::string ResultLine::Text() const {
  std::string text = "RESULT " + name_;
  for (const auto& [k, v] : fields_) text += " " + k + "=" + v;
  return text;
}

void ResultLine::Print() const { std::cout << Text() << std::endl; }

bool QuickMode(int argc, char** argv) { return HasFlag(argc, argv, "--quick"); }

bool HasFlag(int argc, char** argv, std::string_view flag) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == flag) return true;
  }
  return false;
}

const char* FlagValue(int argc, char** argv, std::string_view flag) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == flag) return argv[i + 1];
  }
  return nullptr;
}

}  // namespace twinrig::bench
