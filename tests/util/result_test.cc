#include <catch2/catch.hpp>

#include "util/check.h"
#include "util/result.h"

namespace twinrig {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return MakeError("odd number " + std::to_string(x), "input", "give an even one");
  return x / 2;
}

Status HalfTwice(int x, int* out) {
  auto a = Half(x);
  if (!a.ok()) return a.error();
  auto b = Half(*a);
  if (!b.ok()) return b.error();
  *out = *b;
  return OkStatus();
}

TEST_CASE("Result carries a value or an error that says what to do", "[unit]") {
  REQUIRE(Half(8).ok());
  CHECK(*Half(8) == 4);
  auto bad = Half(3);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().Describe() == "input: odd number 3 (give an even one)");
  int out = 0;
  CHECK(HalfTwice(8, &out).ok());
  CHECK(out == 2);
  CHECK(HalfTwice(6, &out).error().what == "odd number 3");
}

TEST_CASE("a broken invariant throws with file, line and context", "[unit]") {
  int index = 5;
  try {
    TWINRIG_CHECK_LT(index, 3) << "camera table";
    FAIL("no throw");
  } catch (const CheckFailure& e) {
    std::string text = e.what();
    CHECK(text.find("result_test.cc") != std::string::npos);
    CHECK(text.find("index = 5") != std::string::npos);
    CHECK(text.find("camera table") != std::string::npos);
  }
  CHECK_NOTHROW([] { TWINRIG_CHECK(1 + 1 == 2) << "never built"; }());
}

}  // namespace
}  // namespace twinrig
