#include <catch2/catch.hpp>

#include "util/options.h"

namespace twinrig {
namespace {

struct ExampleOptions {
  int threads = 2;
  double scale = 0.5;
  std::vector<std::string> Validate() const {
    std::vector<std::string> problems;
    if (threads < 1) problems.push_back("threads must be at least 1");
    if (scale <= 0 || scale > 1) problems.push_back("scale must be in (0, 1]");
    return problems;
  }
};

TEST_CASE("Options validation lists every problem at once", "[unit]") {
  ExampleOptions options;
  CHECK(ValidateOptions(options, "example options").ok());
  options.threads = 0;
  options.scale = 2;
  Status status = ValidateOptions(options, "example options");
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().what ==
        "invalid example options: threads must be at least 1; scale must be in (0, 1]");
}

}  // namespace
}  // namespace twinrig
