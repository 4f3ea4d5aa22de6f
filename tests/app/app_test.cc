// Runs the built `twinrig` binary as a technician would.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "store/catalog.h"
#include "tests/test_support.h"
#include "util/subprocess.h"

namespace twinrig {
namespace {

SubprocessResult Twinrig(const std::vector<std::string>& args,
                         const std::filesystem::path& working_directory = {}) {
  std::vector<std::string> argv = {testing::TwinrigBinary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  SubprocessOptions options;
  options.working_directory = working_directory;
  auto r = RunSubprocess(argv, options);
  REQUIRE(r.ok());
  return *r;
}

TEST_CASE("twinrig --version and --help", "[integration]") {
  auto version = Twinrig({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.output.find("twinrig 0.") != std::string::npos);
  auto help = Twinrig({"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.output.find("doctor") != std::string::npos);
  CHECK(help.output.find("--studio") != std::string::npos);
  auto bad = Twinrig({"no-such-command"});
  CHECK(bad.exit_code != 0);
}

TEST_CASE("twinrig doctor prints a report and exits 0 on this host", "[integration]") {
  testing::TempDir dir;
  auto r = Twinrig({"--studio", (dir / "studio").string(), "doctor"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("libgphoto2") != std::string::npos);
  CHECK(r.output.find("WARN  colmap CUDA") != std::string::npos);
  CHECK(r.output.find(" FAIL") != std::string::npos);  // the summary counts FAILs
}

TEST_CASE("twinrig studio creates the catalog and refuses a corrupt one", "[integration]") {
  testing::TempDir dir;
  auto studio = (dir / "studio").string();
  auto created = Twinrig({"--studio", studio, "studio"});
  CHECK(created.exit_code == 0);
  CHECK(created.output.find("(created)") != std::string::npos);
  {
    std::ofstream corrupt(store::Catalog::DatabasePath(studio), std::ios::trunc);
    corrupt << "garbage";
  }
  auto refused = Twinrig({"--studio", studio, "studio"});
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("what to do:") != std::string::npos);
}

TEST_CASE("Studio paths are taken relative to where the command was started", "[integration]") {
  testing::TempDir dir;
  const std::filesystem::path work = dir / "working dir";
  std::filesystem::create_directories(work);
  SECTION("the default ./studio") {
    CHECK(Twinrig({"studio"}, work).exit_code == 0);
    CHECK(std::filesystem::exists(work / "studio" / "studio.db"));
  }
  SECTION("a relative --studio with a space") {
    CHECK(Twinrig({"--studio", "my studio", "studio"}, work).exit_code == 0);
    CHECK(std::filesystem::exists(work / "my studio" / "studio.db"));
  }
  SECTION("a relative path with .. and an absolute one name the same studio") {
    std::filesystem::create_directories(work / "sub");
    CHECK(Twinrig({"--studio", "../shared studio", "studio"}, work / "sub").exit_code == 0);
    auto again = Twinrig({"--studio", (work / "shared studio").string(), "studio"});
    CHECK(again.exit_code == 0);
    CHECK(again.output.find("(created)") == std::string::npos);
  }
}

// The service's way of starting the station: `twinrig review --config /etc/twinrig/review.toml`.
TEST_CASE("twinrig review reads its settings file; the command line wins over it",
          "[integration]") {
  testing::TempDir dir;
  const auto etc = dir / "etc";
  std::filesystem::create_directories(etc);
  const auto demo_data = std::filesystem::path(TWINRIG_SOURCE_DIR) / "scripts" / "demo-data";
  std::filesystem::copy_file(demo_data / "consent-text.txt", etc / "consent-text.txt");
  std::filesystem::copy_file(demo_data / "terms.json", etc / "terms.json");
  // Relative paths in the file are taken from its folder, not from where the station starts.
  std::ofstream(etc / "review.toml") << "listen = \"127.0.173.9:18441\"\n"
                                     << "consent-text = \"consent-text.txt\"\n"
                                     << "text-version = \"1.0\"\n"
                                     << "terms = \"terms.json\"\n"
                                     << "technician = \"tech1\"\n";
  auto station = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{testing::TwinrigBinary().string(),
                                  "--studio",
                                  (dir / "studio").string(),
                                  "review",
                                  "--config",
                                  (etc / "review.toml").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    SubprocessOptions options;
    options.working_directory = dir.path();
    options.timeout = std::chrono::seconds(8);  // it serves until stopped: the deadline stops it
    auto r = RunSubprocess(argv, options);
    REQUIRE(r.ok());
    return *r;
  };
  SECTION("from the file") {
    const auto r = station({});
    INFO(r.output);
    CHECK(r.output.find("review station on http://127.0.173.9:18441/") != std::string::npos);
  }
  SECTION("--listen on the command line wins") {
    const auto r = station({"--listen", "127.0.173.10:18442"});
    INFO(r.output);
    CHECK(r.output.find("review station on http://127.0.173.10:18442/") != std::string::npos);
  }
  SECTION("an unknown setting is named") {
    std::ofstream(etc / "review.toml", std::ios::app) << "listne = \"127.0.0.1:1\"\n";
    const auto r = station({});
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("unknown setting 'listne'") != std::string::npos);
  }
}

}  // namespace
}  // namespace twinrig
