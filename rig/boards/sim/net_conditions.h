// Network conditions injected in the sim board's datagram layer, in both directions: one-way delay
// with jitter, loss, duplication and reordering. Clock sync has to filter them out exactly as it
// would on a busy studio switch.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace twinrig::rig::sim {

struct NetConditions {
  double delay_us = 0;             // mean one-way delay
  double jitter_us = 0;            // delay varies uniformly within +-jitter_us (never below 0)
  double loss = 0;                 // probability a datagram is lost
  double duplicate = 0;            // probability a datagram arrives twice
  double reorder = 0;              // probability a datagram is held back behind later ones
  double reorder_extra_us = 1000;  // how long a reordered datagram is held back
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// The fate of one datagram: how many copies arrive and after which delays.
struct Fate {
  int copies = 1;  // 0: lost
  std::int64_t delay_ns[2] = {0, 0};
};

class NetShaper {
 public:
  NetShaper(const NetConditions& conditions, std::uint64_t seed);
  Fate Next();

 private:
  std::int64_t OneDelayNs();
  NetConditions conditions_;
  std::mt19937_64 random_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
};

}  // namespace twinrig::rig::sim
