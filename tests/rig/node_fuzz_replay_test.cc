#include <catch2/catch.hpp>

#include <random>

#include "rig/fuzz/node_fuzz_target.h"

namespace twinrig::rig::fuzz {
namespace {

TEST_CASE("the fuzz seeds and their random mutations never crash the node", "[unit]") {
  const auto seeds = SeedInputs();
  REQUIRE(seeds.size() >= 8);
  for (const auto& seed : seeds) CHECK(FuzzNodeOneInput(seed.data(), seed.size()) == 0);
  // A small deterministic mutation run in the default suite (ASan + UBSan); the libFuzzer target
  // (fuzz preset, scripts/fuzz-node) does millions.
  std::mt19937 random(1);
  for (int round = 0; round < 4000; ++round) {
    auto input = seeds[random() % seeds.size()];
    const int flips = 1 + static_cast<int>(random() % 8);
    for (int f = 0; f < flips && !input.empty(); ++f) {
      switch (random() % 3) {
        case 0:
          input[random() % input.size()] = static_cast<std::uint8_t>(random());
          break;
        case 1:
          input.resize(random() % (input.size() + 1));
          break;
        default:
          input.insert(input.begin() + static_cast<long>(random() % (input.size() + 1)),
                       static_cast<std::uint8_t>(random()));
          break;
      }
    }
    CHECK(FuzzNodeOneInput(input.data(), input.size()) == 0);
  }
}

}  // namespace
}  // namespace twinrig::rig::fuzz
