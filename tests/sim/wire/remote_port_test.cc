#include <catch2/catch.hpp>

#include "sim/wire/remote_port.h"

namespace twinrig::sim::wire {
namespace {

TEST_CASE("remote-port edges survive the wire and junk is refused", "[unit]") {
  LineEdge edge{Line::kShutter, true, 1'234'567'890'123, 42, 7, 3};
  auto bytes = Encode(edge);
  auto back = Decode(bytes);
  REQUIRE(back.has_value());
  CHECK(back->line == Line::kShutter);
  CHECK(back->closed);
  CHECK(back->true_time_ns == 1'234'567'890'123);
  CHECK(back->capture_id == 42);
  CHECK(back->node_id == 7);
  CHECK(back->node_port == 3);

  CHECK_FALSE(Decode(std::span(bytes.data(), bytes.size() - 1)).has_value());
  auto bad = bytes;
  bad[0] ^= 1;
  CHECK_FALSE(Decode(bad).has_value());
  bad = bytes;
  bad[5] = 9;  // no such line
  CHECK_FALSE(Decode(bad).has_value());
}

}  // namespace
}  // namespace twinrig::sim::wire
