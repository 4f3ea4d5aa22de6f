#include "rig/boards/sim/net_conditions.h"

#include <algorithm>

namespace twinrig::rig::sim {

std::vector<std::string> NetConditions::Validate() const {
  std::vector<std::string> problems;
  if (delay_us < 0 || delay_us > 1e6) problems.push_back("delay must be 0 .. 1 s");
  if (jitter_us < 0 || jitter_us > 1e6) problems.push_back("jitter must be 0 .. 1 s");
  for (const auto& [name, p] : {std::pair{"loss", loss}, std::pair{"duplicate", duplicate},
                                std::pair{"reorder", reorder}}) {
    if (p < 0 || p > 1) problems.push_back(std::string(name) + " must be a probability 0 .. 1");
  }
  if (reorder_extra_us < 0 || reorder_extra_us > 1e6) {
    problems.push_back("reorder hold-back must be 0 .. 1 s");
  }
  return problems;
}

NetShaper::NetShaper(const NetConditions& conditions, std::uint64_t seed)
    : conditions_(conditions), random_(seed) {}

std::int64_t NetShaper::OneDelayNs() {
  double us = conditions_.delay_us;
  if (conditions_.jitter_us > 0) us += (unit_(random_) * 2 - 1) * conditions_.jitter_us;
  if (conditions_.reorder > 0 && unit_(random_) < conditions_.reorder) {
    us += conditions_.reorder_extra_us;
  }
  return static_cast<std::int64_t>(std::max(0.0, us) * 1000.0);
}

Fate NetShaper::Next() {
  Fate fate;
  if (conditions_.loss > 0 && unit_(random_) < conditions_.loss) {
    fate.copies = 0;
    return fate;
  }
  fate.delay_ns[0] = OneDelayNs();
  if (conditions_.duplicate > 0 && unit_(random_) < conditions_.duplicate) {
    fate.copies = 2;
    fate.delay_ns[1] = OneDelayNs();
  }
  return fate;
}

}  // namespace twinrig::rig::sim
