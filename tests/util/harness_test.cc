#include <catch2/catch.hpp>

#include "bench/harness/harness.h"

namespace twinrig::bench {
namespace {

TEST_CASE("benchmark harness: percentiles, RESULT line, peak memory", "[unit]") {
  CHECK(Percentile({1, 2, 3, 4, 5}, 50) == Approx(3));
  CHECK(Percentile({5, 1, 4, 2, 3}, 100) == Approx(5));
  CHECK(Percentile({0, 10}, 99) == Approx(9.9));
  CHECK(ResultLine("demo").Add("ratio", 1.5, 2).Add("layout", "head24").Text() ==
        "RESULT demo ratio=1.50 layout=head24");
  CHECK(PeakRssMb() > 1.0);
  int calls = 0;
  auto timing = Measure([&] { ++calls; }, 3, 1);
  CHECK(calls == 4);
  CHECK(timing.seconds.size() == 3);
  char a0[] = "bench", a1[] = "--quick";
  char* argv[] = {a0, a1};
  CHECK(QuickMode(2, argv));
  CHECK_FALSE(QuickMode(1, argv));
  char b1[] = "--keep", b2[] = "--poses", b3[] = "80";
  char* more[] = {a0, b1, b2, b3};
  CHECK(HasFlag(4, more, "--keep"));
  CHECK_FALSE(HasFlag(4, more, "--quick"));
  REQUIRE(FlagValue(4, more, "--poses") != nullptr);
  CHECK(std::string(FlagValue(4, more, "--poses")) == "80");
  CHECK(FlagValue(3, more, "--poses") == nullptr);  // no value after it
  CHECK(FlagValue(4, more, "--board") == nullptr);
}

}  // namespace
}  // namespace twinrig::bench
