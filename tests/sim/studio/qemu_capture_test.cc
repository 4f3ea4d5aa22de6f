// A consented capture on the virtual studio whose trigger nodes are the firmware image on QEMU
// (`twinrig sim up --layout head24 --nodes qemu`): 3 emulated mps2-an385 boards fire all 24 virtual
// cameras through their GPIO path, and every frame lands verified. Commands as a technician types
// them. The rig file that `sim up --nodes qemu` writes asks for the clock sync emulated nodes can
// hold on a loaded host ([trigger] max_sync_error_us, sim/studio/studio.cc); the station checks
// the nodes against it, as it checks a real rig against its own.
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/test_support.h"
#include "util/subprocess.h"

namespace twinrig::sim::studio {
namespace {

SubprocessResult Twinrig(const std::filesystem::path& studio, std::vector<std::string> args) {
  args.insert(args.begin(), {testing::TwinrigBinary().string(), "--studio", studio.string()});
  SubprocessOptions options;
  options.timeout = std::chrono::seconds(240);
  auto r = RunSubprocess(args, options);
  REQUIRE(r.ok());
  return *r;
}

std::string FirstWord(const std::string& text, const std::string& prefix) {
  const auto at = text.find(prefix);
  if (at == std::string::npos) return {};
  return text.substr(at, text.find_first_of(" \n", at) - at);
}

}  // namespace

TEST_CASE("sim up --nodes qemu: a consented capture fires 24 cameras through 3 QEMU nodes",
          "[integration]") {
  testing::TempDir dir;
  const auto studio = dir / "studio";
  const auto data = std::filesystem::path(TWINRIG_SOURCE_DIR) / "scripts" / "demo-data";
  auto pass = [&](const std::string& who) {
    const auto file = dir / (who + ".pass");
    std::ofstream(file) << "a long passphrase for the " << who << "\n";
    return file.string();
  };

  auto up = Twinrig(
      studio, {"sim", "up", "--layout", "head24", "--nodes", "qemu", "--camera-base-address",
               "127.0.91.2", "--node-base-address", "127.0.92.1", "--synthetic-bytes", "20000"});
  INFO(up.output);
  REQUIRE(up.exit_code == 0);
  CHECK(up.output.find("mps2-an385 (QEMU)") != std::string::npos);
  // The rig file says what sync its emulated nodes can hold; the capture below is checked
  // against it.
  std::ifstream rig_file(studio / "rigs" / "head24" / "rig.toml");
  const std::string rig_text((std::istreambuf_iterator<char>(rig_file)),
                             std::istreambuf_iterator<char>());
  CHECK(rig_text.find("[trigger]\nmax_sync_error_us = 250") != std::string::npos);

  auto status = Twinrig(studio, {"rig", "status"});
  INFO(status.output);
  CHECK(status.output.find("mps2-an385") != std::string::npos);

  REQUIRE(Twinrig(studio,
                  {"keys", "init", "--name", "qemu studio", "--passphrase-file", pass("studio")})
              .exit_code == 0);
  REQUIRE(
      Twinrig(studio, {"keys", "add-technician", "tech1", "--passphrase-file", pass("technician")})
          .exit_code == 0);
  const std::string subject =
      FirstWord(Twinrig(studio, {"subject", "add", "--name", "Ada Example"}).output, "SUB-");
  REQUIRE_FALSE(subject.empty());
  const auto session_out = Twinrig(studio, {"session", "new", "--subject", subject}).output;
  const std::string session = session_out.substr(0, session_out.find('\n'));
  REQUIRE(Twinrig(studio, {"consent", "new", "--subject", subject, "--session", session,
                           "--technician", "tech1", "--text", (data / "consent-text.txt").string(),
                           "--text-version", "demo-1.0", "--terms", (data / "terms.json").string(),
                           "--subject-passphrase-file", pass("subject")})
              .exit_code == 0);
  for (const std::string role : {"subject", "technician", "studio"}) {
    REQUIRE(Twinrig(studio, {"consent", "sign", "--session", session, "--role", role,
                             "--passphrase-file", pass(role)})
                .exit_code == 0);
  }

  auto capture = Twinrig(studio, {"capture", "--session", session, "--capture-timeout", "120"});
  INFO(capture.output);
  CHECK(capture.exit_code == 0);
  CHECK(capture.output.find("24/24 fired, 24/24 verified") != std::string::npos);

  // The cameras were fired by the nodes' lines: each node reported 8 shutter closes.
  for (int node = 1; node <= 3; ++node) {
    std::ifstream console(studio / "sim" / "nodes" /
                          ("node-" + std::to_string(node) + "-console.log"));
    int closes = 0;
    std::string line;
    for (int guard = 0; guard < 100000 && std::getline(console, line); ++guard) {
      if (line.rfind("L ", 0) == 0 && line.find(" S 1 ") != std::string::npos) ++closes;
    }
    CHECK(closes == 8);
  }
  CHECK(Twinrig(studio, {"sim", "down"}).exit_code == 0);
}

}  // namespace twinrig::sim::studio
