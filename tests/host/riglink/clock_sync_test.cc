#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "host/riglink/clock_sync.h"

namespace twinrig::riglink {
namespace {

// A node clock (offset, drift, rate) seen through a network with the given one-way delays.
struct Model {
  double rate = 1e6;
  double offset_ns = 0.4e9;
  double drift_ppm = -80;
  std::uint64_t base = ~std::uint64_t{0} - 3'000'000;  // wraps during the test
  [[nodiscard]] std::uint64_t Tick(double host_ns) const {
    return base + static_cast<std::uint64_t>(
                      std::floor((host_ns + offset_ns) * (1 + drift_ppm * 1e-6) * rate / 1e9));
  }
};

TEST_CASE("clock sync recovers offset and drift through jitter, outliers and wrap", "[unit]") {
  Model node;
  node.rate = GENERATE(1e6, 1e7, 25e6);
  ClockSync sync(static_cast<std::uint32_t>(node.rate));
  std::mt19937_64 random(3);
  std::uniform_real_distribution<double> jitter(-150e3, 150e3);
  std::uniform_real_distribution<double> unit(0, 1);
  double host = 1e12;
  for (int i = 0; i < 200; ++i) {
    host += 50e6;
    double out = 200e3 + jitter(random);
    double back = 200e3 + jitter(random);
    if (unit(random) < 0.05) back += 5e6;  // a host that was descheduled
    const double processing = 30e3;
    SyncSample s;
    s.host_send_ns = static_cast<std::int64_t>(host);
    s.node_rx_tick = node.Tick(host + out);
    s.node_tx_tick = node.Tick(host + out + processing);
    s.host_receive_ns = static_cast<std::int64_t>(host + out + processing + back);
    sync.Add(s);
  }
  REQUIRE(sync.ready());
  const SyncQuality& q = sync.quality();
  CHECK(std::fabs(q.drift_ppm - node.drift_ppm) < 5);
  CHECK(q.min_rtt_us > 100);
  CHECK(q.min_rtt_us < 200);
  // Conversions 200 ms ahead of the last exchange.
  const double future = host + 200e6;
  const std::uint64_t expected = node.Tick(future);
  const std::uint64_t got = sync.HostToTick(static_cast<std::int64_t>(future));
  const double error_us =
      static_cast<double>(static_cast<std::int64_t>(got - expected)) / (node.rate / 1e6);
  INFO("error " << error_us << " us, estimated " << q.est_error_us);
  CHECK(std::fabs(error_us) < 20);
  CHECK(std::fabs(static_cast<double>(sync.TickToHost(got)) - future) < 2e3);
}

TEST_CASE("clock sync is not ready before enough exchanges and resets cleanly", "[unit]") {
  ClockSync sync(1'000'000);
  CHECK_FALSE(sync.ready());
  sync.Add({1000, 5, 6, 900});  // receive before send: ignored
  CHECK(sync.quality().samples == 0);
  for (int i = 0; i < 200; ++i) {
    sync.Add({i * 1'000'000LL, static_cast<std::uint64_t>(i * 1000 + 100),
              static_cast<std::uint64_t>(i * 1000 + 101), i * 1'000'000LL + 200'000});
  }
  CHECK(sync.ready());
  sync.Reset(25'000'000);
  CHECK_FALSE(sync.ready());
  CHECK(sync.quality().samples == 0);
}

TEST_CASE("clock sync options are validated", "[unit]") {
  ClockSyncOptions options;
  options.window = 2;
  options.keep_fraction = 0;
  CHECK(options.Validate().size() >= 2);
  CHECK(ClockSyncOptions{}.Validate().empty());
}

}  // namespace
}  // namespace twinrig::riglink
