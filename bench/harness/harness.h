// The small harness every benchmark in bench/ shares: wall-clock timing, repeated measurement with
// a median, the ratio against a baseline measured in the same run (the machine is shared, so only
// same-run ratios mean anything), peak resident memory, and the closing `RESULT` line.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace twinrig::bench {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  [[nodiscard]] double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

struct Timing {
  std::vector<double> seconds;  // each repetition
  [[nodiscard]] double Median() const;
  [[nodiscard]] double Min() const;
};

// Runs `work` `repeats` times (after `warmups` untimed runs) and returns the timings.
Timing Measure(const std::function<void()>& work, int repeats, int warmups = 1);

// Runs the candidate and its baseline interleaved (A B A B …), so drift in the machine's load hits
// both alike. Returns {candidate, baseline}.
std::pair<Timing, Timing> MeasurePair(const std::function<void()>& candidate,
                                      const std::function<void()>& baseline, int repeats);

// Peak resident set size of this process so far, in MiB (getrusage).
double PeakRssMb();

// Percentile (0..100) of `values` by linear interpolation; values need not be sorted.
double Percentile(std::vector<double> values, double percent);

// The last line a benchmark prints: `RESULT <name> key=value key=value …`.
class ResultLine {
 public:
  explicit ResultLine(std::string name) : name_(std::move(name)) {}
  ResultLine& Add(const std::string& key, double value, int precision = 3);
  ResultLine& Add(const std::string& key, const std::string& value);
  [[nodiscard]] std::string Text() const;
  void Print() const;  // to stdout, flushed

 private:
  std::string name_;
  std::vector<std::pair<std::string, std::string>> fields_;
};

// True when the command line has --quick (the small case, under a minute).
bool QuickMode(int argc, char** argv);
// True when the command line has `flag` ("--keep").
bool HasFlag(int argc, char** argv, std::string_view flag);
// The argument after `flag` ("--poses 80" gives "80"); nullptr when the flag is not given.
const char* FlagValue(int argc, char** argv, std::string_view flag);

}  // namespace twinrig::bench
