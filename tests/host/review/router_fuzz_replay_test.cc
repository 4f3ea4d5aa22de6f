// The router's fuzz target (host/review/fuzz) on its seeds and simple mutations of them, in the
// default build under ASan/UBSan: what scripts/fuzz-review explores for hours starts clean here.
#include <catch2/catch.hpp>

#include "host/review/fuzz/router_fuzz_target.h"

namespace twinrig::review::fuzz {
namespace {

int Run(const std::string& bytes) {
  return FuzzRouterOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

TEST_CASE("The request router's fuzz target survives its seeds, cut and bit-flipped", "[unit]") {
  const auto seeds = SeedInputs();
  REQUIRE(seeds.size() >= 20);
  std::uint32_t state = 12345;
  for (const auto& seed : seeds) {
    INFO(seed);
    CHECK(Run(seed) == 0);
    for (size_t cut = 0; cut < seed.size(); cut += 16) CHECK(Run(seed.substr(0, cut)) == 0);
    for (int flip = 0; flip < 20; ++flip) {
      std::string mutated = seed;
      state = state * 1664525u + 1013904223u;  // a fixed LCG: the same mutations every run
      const auto bit = static_cast<unsigned char>(1u << ((state >> 8) % 8));
      auto& byte = mutated[state % mutated.size()];
      byte = static_cast<char>(static_cast<unsigned char>(byte) ^ bit);
      CHECK(Run(mutated) == 0);
    }
  }
}

}  // namespace
}  // namespace twinrig::review::fuzz
