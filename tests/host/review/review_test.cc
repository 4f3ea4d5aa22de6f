// The review station's access rules and static-file resolution, without sockets.
#include <sstream>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "host/review/api.h"
#include "host/review/auth.h"
#include "host/review/static_files.h"
#include "host/session/preflight.h"
#include "tests/test_support.h"

namespace twinrig::review {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST_CASE("PINs are random digits and tokens are 256 random bits", "[unit]") {
  std::set<std::string> pins;
  for (int i = 0; i < 200; ++i) {
    const std::string pin = RandomPin(6);
    REQUIRE(pin.size() == 6);
    REQUIRE(pin.find_first_not_of("0123456789") == std::string::npos);
    pins.insert(pin);
  }
  CHECK(pins.size() > 190);  // 200 draws from a million collide rarely
  const std::string token = RandomToken();
  CHECK(token.size() == 64);
  CHECK(token != RandomToken());
  CHECK(ConstantTimeEquals("123456", "123456"));
  CHECK_FALSE(ConstantTimeEquals("123456", "123457"));
  CHECK_FALSE(ConstantTimeEquals("123456", "1234567"));
}

TEST_CASE("Technician and subject PINs buy tokens for their role and session", "[unit]") {
  Access access(AccessOptions{});
  const std::string subject_pin = access.IssueSubjectPin("S-1");
  CHECK(subject_pin != access.technician_pin());

  auto tech = access.Login(access.technician_pin(), "127.0.0.1");
  REQUIRE(tech.kind == LoginOutcome::Kind::kOk);
  auto who = access.Lookup(tech.token);
  REQUIRE(who);
  CHECK(who->role == Role::kTechnician);

  auto subject = access.Login(subject_pin, "127.0.0.1");
  REQUIRE(subject.kind == LoginOutcome::Kind::kOk);
  who = access.Lookup(subject.token);
  REQUIRE(who);
  CHECK(who->role == Role::kSubject);
  CHECK(who->session_id == "S-1");

  CHECK_FALSE(access.Lookup(""));
  CHECK_FALSE(access.Lookup(std::string(64, '0')));
  access.RevokeSession("S-1");
  CHECK_FALSE(access.Lookup(subject.token));
  CHECK(access.Login(subject_pin, "127.0.0.2").kind == LoginOutcome::Kind::kWrongPin);
  CHECK(access.Lookup(tech.token));
  access.Logout(tech.token);
  CHECK_FALSE(access.Lookup(tech.token));
}

TEST_CASE("Wrong PINs make one client wait, longer each time, and not the others", "[unit]") {
  AccessOptions options;
  options.max_failures = 5;
  options.backoff = std::chrono::seconds(30);
  Access access(options);
  const auto t0 = Access::Clock::now();
  for (int i = 0; i < 4; ++i) {
    CHECK(access.Login("000000", "10.0.0.9", {}, t0 + std::chrono::seconds(i)).kind ==
          LoginOutcome::Kind::kWrongPin);
  }
  auto fifth = access.Login("000000", "10.0.0.9", {}, t0 + std::chrono::seconds(4));
  CHECK(fifth.kind == LoginOutcome::Kind::kWrongPin);
  CHECK(fifth.retry_after_s == 30);
  // Even the right PIN is refused while the address waits.
  auto locked =
      access.Login(access.technician_pin(), "10.0.0.9", {}, t0 + std::chrono::seconds(10));
  CHECK(locked.kind == LoginOutcome::Kind::kRateLimited);
  CHECK(locked.retry_after_s == 24);
  // Another address is not affected.
  CHECK(access.Login(access.technician_pin(), "10.0.0.8", {}, t0 + std::chrono::seconds(10)).kind ==
        LoginOutcome::Kind::kOk);
  // After the wait one more wrong PIN doubles it.
  auto sixth = access.Login("000000", "10.0.0.9", {}, t0 + std::chrono::seconds(35));
  CHECK(sixth.kind == LoginOutcome::Kind::kWrongPin);
  CHECK(sixth.retry_after_s == 60);
  CHECK(access.Login(access.technician_pin(), "10.0.0.9", {}, t0 + std::chrono::seconds(96)).kind ==
        LoginOutcome::Kind::kOk);
}

TEST_CASE("A stranger's wrong PINs do not lock out the technician's tablet", "[unit]") {
  AccessOptions options;
  options.max_failures = 3;
  options.station_max_failures = 10;
  Access access(options);
  auto t = Access::Clock::now();
  // The tablet signed in once: it has its device cookie.
  auto tablet = access.Login(access.technician_pin(), "192.168.1.20", {}, t);
  REQUIRE(tablet.kind == LoginOutcome::Kind::kOk);
  REQUIRE(tablet.device.size() == 64);
  // Strangers on the same address, and on many others, type wrong PINs until they must wait.
  for (int i = 0; i < 12; ++i) {
    t += std::chrono::milliseconds(100);
    access.Login("000000", "192.168.1.20", {}, t);
    access.Login("000000", "192.168.1." + std::to_string(100 + i), {}, t);
  }
  CHECK(access.Login(access.technician_pin(), "192.168.1.20", {}, t).kind ==
        LoginOutcome::Kind::kRateLimited);
  // Every client without a device cookie shares the station-wide budget, which is spent.
  CHECK(access.Login(access.technician_pin(), "192.168.1.99", {}, t).kind ==
        LoginOutcome::Kind::kRateLimited);
  // The tablet is its own identity: the right PIN works.
  CHECK(access.Login(access.technician_pin(), "192.168.1.20", tablet.device, t).kind ==
        LoginOutcome::Kind::kOk);
  // A made-up device cookie is no identity: it counts as the address.
  CHECK(access.Login(access.technician_pin(), "192.168.1.20", std::string(64, 'a'), t).kind ==
        LoginOutcome::Kind::kRateLimited);
}

TEST_CASE("Subject PINs expire unused; expired tokens are pruned", "[unit]") {
  AccessOptions options;
  options.subject_pin_lifetime = std::chrono::seconds(15 * 60);
  options.token_lifetime = std::chrono::seconds(60);
  Access access(options);
  const auto t0 = Access::Clock::now();
  const std::string unused = access.IssueSubjectPin("S-1", t0);
  const std::string used = access.IssueSubjectPin("S-2", t0);
  const auto minute = std::chrono::seconds(60);
  // Using a PIN keeps it alive for another 15 minutes.
  REQUIRE(access.Login(used, "10.0.0.1", {}, t0 + 10 * minute).kind == LoginOutcome::Kind::kOk);
  CHECK(access.Login(unused, "10.0.0.1", {}, t0 + 16 * minute).kind ==
        LoginOutcome::Kind::kWrongPin);
  const auto later = access.Login(used, "10.0.0.1", {}, t0 + 20 * minute);
  CHECK(later.kind == LoginOutcome::Kind::kOk);
  CHECK(access.token_count() == 1);  // the 10-minute token expired and was pruned at this login
  CHECK(access.Lookup(later.token, t0 + 20 * minute + std::chrono::seconds(30)));
  CHECK_FALSE(access.Lookup(later.token, t0 + 22 * minute));
  access.Prune(t0 + 22 * minute);
  CHECK(access.token_count() == 0);
  CHECK(access.Login(used, "10.0.0.1", {}, t0 + 36 * minute).kind == LoginOutcome::Kind::kWrongPin);
}

TEST_CASE("Access options are validated", "[unit]") {
  AccessOptions options;
  CHECK(options.Validate().empty());
  options.technician_pin = "12ab56";
  options.pin_digits = 4;
  options.backoff = std::chrono::seconds(0);
  CHECK(options.Validate().size() == 3);
}

TEST_CASE("Static files resolve only inside the web root", "[unit]") {
  TempDir dir;
  const fs::path root = dir / "dist";
  Write(root / "index.html", "<html>");
  Write(root / "app.js", "js");
  Write(root / "sub" / "index.html", "sub");
  Write(dir / "secret.txt", "secret");
  fs::create_symlink(dir / "secret.txt", root / "leak.txt");
  fs::create_symlink(root / "app.js", root / "alias.js");

  CHECK(ResolveStatic(root, "/").status == 200);
  CHECK(ResolveStatic(root, "/").file.filename() == "index.html");
  CHECK(ResolveStatic(root, "/app.js?v=1").status == 200);
  CHECK(ResolveStatic(root, "/sub/").file == fs::canonical(root / "sub" / "index.html"));
  CHECK(ResolveStatic(root, "/alias.js").status == 200);  // a link that stays inside
  CHECK(ResolveStatic(root, "/missing.js").status == 404);

  for (const char* hostile :
       {"/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "//etc/passwd", "/.%2e/secret.txt",
        "/sub/./app.js", "/app.js%00.html", "/..\\secret.txt", "/%5c..%5csecret.txt", "/%zz", "/%2",
        "secret.txt", ""}) {
    INFO(hostile);
    CHECK(ResolveStatic(root, hostile).status == 400);
  }
  // Absolute paths only ever name files under the root: /etc/passwd is root/etc/passwd.
  CHECK(ResolveStatic(root, "/etc/passwd").status == 404);
  CHECK(ResolveStatic(root, "/%2Fetc%2Fpasswd").status == 400);
  CHECK(ResolveStatic(root, "/leak.txt").status == 404);  // symlink out of the root
}

TEST_CASE("Percent-decoding and safe segments", "[unit]") {
  CHECK(PercentDecode("a%20b%2F") == std::optional<std::string>("a b/"));
  CHECK_FALSE(PercentDecode("%"));
  CHECK_FALSE(PercentDecode("%g0"));
  CHECK(SafeSegment("S-20261128-0001"));
  CHECK(SafeSegment("take-0001.jpg"));
  CHECK_FALSE(SafeSegment(".."));
  CHECK_FALSE(SafeSegment(".hidden"));
  CHECK_FALSE(SafeSegment("a/b"));
  CHECK_FALSE(SafeSegment(""));
  CHECK(MimeType("twin.glb") == "model/gltf-binary");
}

TEST_CASE("The preflight report becomes camera tiles and node sync", "[unit]") {
  session::PreflightReport report;
  session::CameraCheck ok;
  ok.serial = "TR000001";
  ok.port = "ptpip:127.0.0.2";
  ok.present = true;
  ok.battery = "85%";
  ok.free_frames = 3000;
  // Real cameras name settings with spaces ("Large Fine JPEG"): the JSON keeps them whole.
  ok.settings = {{"f-number", "5.6"}, {"imagequality", "Large Fine JPEG"}};
  session::CameraCheck low = ok;
  low.serial = "TR000002";
  low.port = "ptpip:127.0.0.3";
  low.battery = "12%";
  low.settings["f-number"] = "8";
  low.problems = {"TR000002: battery 12% (below 30%): charge it"};
  session::CameraCheck missing;
  missing.serial = "TR000003";
  missing.port = "ptpip:127.0.0.4";
  missing.problems = {"TR000003: not found at ptpip:127.0.0.4: check the cable"};
  report.cameras = {ok, low, missing};
  session::NodeCheck online;
  online.endpoint = "127.0.2.1:15800";
  online.online = true;
  online.sync_error_us = 3.2;
  session::NodeCheck offline;
  offline.endpoint = "127.0.2.2:15800";
  report.nodes = {online, offline};
  report.to_fix = {low.problems[0], missing.problems[0]};
  // What the job prints: the table on stderr and the JSON line, in one stream.
  std::vector<std::string> lines = {"preflight of rig head24"};
  std::istringstream table(session::FormatPreflight(report));
  for (std::string line; std::getline(table, line);) lines.push_back(line);
  lines.push_back(session::PreflightJson(report));

  const PreflightView view = ParsePreflightOutput(lines);
  CHECK(view.ran);
  REQUIRE(view.cameras.size() == 3);
  CHECK_FALSE(view.ready);
  CHECK(view.cameras.at("TR000001").state == "ok");
  CHECK(view.cameras.at("TR000001").battery == "85%");
  CHECK(view.cameras.at("TR000001").free_frames == 3000);
  CHECK(view.cameras.at("TR000001").settings.at("imagequality") == "Large Fine JPEG");
  CHECK(view.cameras.at("TR000002").state == "FIX");
  CHECK(view.cameras.at("TR000002").settings.at("f-number") == "8");
  CHECK(view.cameras.at("TR000003").state == "MISSING");
  CHECK(view.cameras.at("TR000003").battery == "-");
  CHECK(view.cameras.at("TR000002").problems.size() == 1);
  REQUIRE(view.nodes.size() == 2);
  CHECK(view.nodes[0].online);
  CHECK(view.nodes[0].sync_error_us == Approx(3.2));
  CHECK_FALSE(view.nodes[1].online);
  CHECK(view.to_fix.size() == 2);
  // Two cameras only: neither value of f-number is a majority against the other; with a third
  // camera agreeing with TR000001 the odd one out is flagged.
  session::CameraCheck third = ok;
  third.serial = "TR000004";
  report.cameras.push_back(third);
  const PreflightView view2 = ParsePreflightOutput({session::PreflightJson(report)});
  CHECK(view2.cameras.at("TR000001").settings_match);
  CHECK_FALSE(view2.cameras.at("TR000002").settings_match);
  report.to_fix.clear();
  CHECK(ParsePreflightOutput({session::PreflightJson(report)}).ready);
  // Output without a report (the preflight could not run) is no view.
  CHECK_FALSE(ParsePreflightOutput({"error: no rig", "{not json", "{\"other\": 1}"}).ran);
}

TEST_CASE("Tokens come from the cookie or a bearer header", "[unit]") {
  ApiRequest r;
  r.cookie = "a=b; twinrig_token=abc; c=d";
  CHECK(TokenOf(r) == "abc");
  r.cookie = "twinrig_tokenx=abc";
  CHECK(TokenOf(r).empty());
  r.authorization = "Bearer xyz";
  CHECK(TokenOf(r) == "xyz");
}

}  // namespace
}  // namespace twinrig::review
