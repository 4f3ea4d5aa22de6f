#include <catch2/catch.hpp>

#include "util/subprocess.h"

namespace twinrig {
namespace {

TEST_CASE("a subprocess's output and exit code are captured", "[unit]") {
  auto r = RunSubprocess({"sh", "-c", "echo out; echo err >&2; exit 3"});
  REQUIRE(r.ok());
  CHECK(r->exit_code == 3);
  CHECK_FALSE(r->succeeded());
  CHECK(r->output.find("out") != std::string::npos);
  CHECK(r->output.find("err") != std::string::npos);
  CHECK(r->DescribeEnd() == "exited with code 3");
}

TEST_CASE("a hung subprocess is killed at its deadline", "[unit]") {
  SubprocessOptions options;
  options.timeout = std::chrono::milliseconds(300);
  // The shell ignores SIGTERM, like a gphoto2 stuck in a capture loop; SIGKILL still ends it.
  auto r = RunSubprocess({"sh", "-c", "trap '' TERM; sleep 30"}, options);
  REQUIRE(r.ok());
  CHECK(r->timed_out);
  CHECK(r->elapsed < std::chrono::seconds(5));
  CHECK(r->DescribeEnd().find("timed out") != std::string::npos);
}

TEST_CASE("a crash is reported with its signal", "[unit]") {
  auto r = RunSubprocess({"sh", "-c", "kill -SEGV $$"});
  REQUIRE(r.ok());
  CHECK(r->signal == 11);
  CHECK(r->DescribeEnd().find("signal 11") != std::string::npos);
}

TEST_CASE("a missing program is an error, not a crash", "[unit]") {
  auto r = RunSubprocess({"twinrig-no-such-program"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().where == "twinrig-no-such-program");
  CHECK_FALSE(ProgramExists("twinrig-no-such-program"));
  CHECK(ProgramExists("sh"));
}

}  // namespace
}  // namespace twinrig

namespace twinrig {
namespace {

TEST_CASE("a program that closes its output and hangs is still killed", "[unit]") {
  SubprocessOptions options;
  options.timeout = std::chrono::milliseconds(300);
  auto r = RunSubprocess({"sh", "-c", "exec >&- 2>&-; sleep 30"}, options);
  REQUIRE(r.ok());
  CHECK(r->timed_out);
  CHECK(r->elapsed < std::chrono::seconds(5));
}

}  // namespace
}  // namespace twinrig
