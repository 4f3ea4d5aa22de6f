#include <catch2/catch.hpp>

#include <cmath>

#include "rig/boards/sim/net_conditions.h"
#include "rig/boards/sim/sim_clock.h"

namespace twinrig::rig::sim {
namespace {

TEST_CASE("the sim clock follows its offset and drift model", "[unit]") {
  SimClockOptions options;
  options.tick_rate_hz = 1'000'000;
  options.offset_ns = 250'000'000;  // 250 ms ahead
  options.drift_ppm = 100;
  SimClock clock(options);
  const std::int64_t t = 3'600'000'000'000;  // one hour
  const double expected = (static_cast<double>(t) + 250e6) * (1 + 100e-6) * 1e6 / 1e9;
  CHECK(std::fabs(static_cast<double>(clock.TickAt(t)) - expected) <= 1.0);
}

TEST_CASE("the true time of a tick is the first instant the counter reads it", "[unit]") {
  for (double drift : {-100.0, 0.0, 37.5, 100.0}) {
    for (std::uint32_t rate : {1'000'000U, 25'000'000U, 32'768U}) {
      SimClockOptions options;
      options.tick_rate_hz = rate;
      options.offset_ns = -700'000'000;
      options.drift_ppm = drift;
      options.tick_base = ~std::uint64_t{0} - 1000;  // wraps in the range below
      SimClock clock(options);
      for (std::int64_t t = 86'400'000'000'000; t < 86'400'000'000'000 + 5'000'000; t += 777'777) {
        const std::uint64_t tick = clock.TickAt(t) + 3;
        const std::int64_t at = clock.TrueAt(tick);
        INFO("drift " << drift << " rate " << rate);
        CHECK(clock.TickAt(at) == tick);
        CHECK(clock.TickAt(at - 1) == tick - 1);
      }
    }
  }
}

TEST_CASE("clock and network options are validated", "[unit]") {
  SimClockOptions clock;
  clock.tick_rate_hz = 10;
  clock.drift_ppm = 5000;
  CHECK(clock.Validate().size() == 2);
  NetConditions net;
  net.loss = 1.5;
  net.delay_us = -1;
  CHECK(net.Validate().size() == 2);
}

TEST_CASE("injected conditions produce the asked loss, duplication and delay spread", "[unit]") {
  NetConditions net;
  net.delay_us = 200;
  net.jitter_us = 150;
  net.loss = 0.01;
  net.duplicate = 0.02;
  NetShaper shaper(net, 7);
  int lost = 0;
  int duplicated = 0;
  std::int64_t lowest = 1'000'000;
  std::int64_t highest = 0;
  for (int i = 0; i < 100000; ++i) {
    const Fate fate = shaper.Next();
    if (fate.copies == 0) ++lost;
    if (fate.copies == 2) ++duplicated;
    for (int c = 0; c < fate.copies; ++c) {
      lowest = std::min(lowest, fate.delay_ns[c]);
      highest = std::max(highest, fate.delay_ns[c]);
    }
  }
  CHECK(lost > 800);
  CHECK(lost < 1200);
  CHECK(duplicated > 1600);
  CHECK(duplicated < 2400);
  CHECK(lowest >= 50'000);
  CHECK(lowest < 52'000);
  CHECK(highest <= 350'000);
  CHECK(highest > 348'000);
}

}  // namespace
}  // namespace twinrig::rig::sim
