// The review station over real HTTP on loopback: every /api/ route but the PIN login answers 401
// without a token, wrong PINs are rate-limited with Retry-After, a subject sees only their own
// session, static files never leave the web root, the WebSocket needs a token too, and a rejected
// twin is destroyed with its capture.
#include "tests/consent/consent_fixture.h"
#include "tests/host/review/station_fixture.h"

namespace twinrig::review {
namespace {
using namespace twinrig::review::testing;  // NOLINT(google-build-using-namespace)

TEST_CASE("Review station: every API route but login needs a token", "[integration]") {
  Station station;
  CHECK(station.server->address().rfind("127.0.0.1:", 0) == 0);
  for (const char* target : {"/api/me", "/api/studio", "/api/jobs", "/api/sessions/S-1",
                             "/api/sessions/S-1/images/TR000001/take-0001.jpg", "/api/nothing",
                             "/api/sessions/S-1/twin/preview/twin.glb", "/api/"}) {
    INFO(target);
    const Reply r = Fetch(station.port, http::verb::get, target);
    CHECK(r.status == 401);
    CHECK(r.json()["error"]["what"] == "not signed in");
  }
  CHECK(Fetch(station.port, http::verb::post, "/api/sessions", "{}").status == 401);
  CHECK(Fetch(station.port, http::verb::post, "/api/sessions/S-1/capture", "{}").status == 401);
  CHECK(Fetch(station.port, http::verb::get, "/api/me", {}, "twinrig_token=" + std::string(64, 'a'))
            .status == 401);
  // Static files need no token; the page then asks for a PIN.
  CHECK(Fetch(station.port, http::verb::get, "/").status == 200);

  const Reply login = station.Login(station.server->technician_pin());
  REQUIRE(login.status == 200);
  CHECK(login.set_cookie.find("HttpOnly") != std::string::npos);
  CHECK(login.set_cookie.find("SameSite=Strict") != std::string::npos);
  const std::string cookie = CookieOf(login);
  const Reply me = Fetch(station.port, http::verb::get, "/api/me", {}, cookie);
  REQUIRE(me.status == 200);
  CHECK(me.json()["role"] == "technician");
  const Reply studio = Fetch(station.port, http::verb::get, "/api/studio", {}, cookie);
  CHECK(studio.status == 200);
  CHECK(studio.json()["subjects"].is_array());
  CHECK(Fetch(station.port, http::verb::get, "/api/nothing", {}, cookie).status == 404);
  CHECK(Fetch(station.port, http::verb::post, "/api/logout", "{}", cookie).status == 200);
  // The token is dead at once, as a cookie or replayed as a bearer token.
  CHECK(Fetch(station.port, http::verb::get, "/api/me", {}, cookie).status == 401);
  CHECK(Fetch(station.port, http::verb::get, "/api/me", {}, {},
              {{"Authorization", "Bearer " + cookie.substr(cookie.find('=') + 1)}})
            .status == 401);
}

TEST_CASE("Review station: wrong PINs are refused, then rate-limited", "[integration]") {
  Station station;
  const std::string wrong = station.server->technician_pin() == "000000" ? "111111" : "000000";
  for (int i = 0; i < 5; ++i) {
    const Reply r = station.Login(wrong);
    CHECK(r.status == 401);
    CHECK(r.json()["error"]["what"] == "wrong PIN");
  }
  const Reply limited = station.Login(wrong);
  CHECK(limited.status == 429);
  CHECK(std::stoi(limited.retry_after) >= 1);
  CHECK(std::stoi(limited.retry_after) <= 30);
  // The right PIN is refused too while this client is made to wait.
  CHECK(station.Login(station.server->technician_pin()).status == 429);
  CHECK(station.Login("").status == 429);
}

TEST_CASE("Review station: a subject sees only their own session", "[integration]") {
  Station station;
  const std::string pin = station.server->access().IssueSubjectPin("S-20260101-0001");
  const Reply login = station.Login(pin);
  REQUIRE(login.status == 200);
  CHECK(login.json()["role"] == "subject");
  const std::string cookie = CookieOf(login);
  for (const char* target :
       {"/api/sessions/S-20260101-0002", "/api/sessions/S-20260101-0002/consent-text",
        "/api/sessions/S-20260101-0002/twin/preview/twin.glb",
        "/api/sessions/S-20260101-0002/images/TR000001/take-0001.jpg"}) {
    INFO(target);
    CHECK(Fetch(station.port, http::verb::get, target, {}, cookie).status == 403);
  }
  CHECK(Fetch(station.port, http::verb::get, "/api/studio", {}, cookie).status == 403);
  CHECK(Fetch(station.port, http::verb::get, "/api/jobs", {}, cookie).status == 403);
  CHECK(Fetch(station.port, http::verb::post, "/api/sessions/S-20260101-0001/capture", {}, cookie)
            .status == 403);
  CHECK(Fetch(station.port, http::verb::post, "/api/sessions/S-20260101-0001/export", "{}", cookie)
            .status == 403);
  // Their own session's consent text is theirs to read.
  const Reply text = Fetch(station.port, http::verb::get,
                           "/api/sessions/S-20260101-0001/consent-text", {}, cookie);
  REQUIRE(text.status == 200);
  CHECK(text.json()["text"] == "I agree.");
  CHECK(text.json()["version"] == "t-1");
  // Files of a session only through safe names.
  for (const char* target :
       {"/api/sessions/S-20260101-0001/images/..%2f..%2f/take-0001.jpg",
        "/api/sessions/S-20260101-0001/images/../../../../etc/passwd",
        "/api/sessions/S-20260101-0001/twin/preview/..", "/api/sessions/../images/x/y"}) {
    INFO(target);
    const int status = Fetch(station.port, http::verb::get, target, {}, cookie).status;
    CHECK((status == 400 || status == 403 || status == 404));
  }
  // A technician may not sign for the subject.
  const std::string tech = CookieOf(station.Login(station.server->technician_pin()));
  CHECK(Fetch(station.port, http::verb::post, "/api/sessions/S-20260101-0001/consent", "{}", tech)
            .status == 403);
}

// A consented, sealed capture with a preview twin, ready for the model's review.
fs::path CaptureWithTwin(twinrig::consent::testing::Studio& s, const std::string& session) {
  namespace cs = twinrig::consent;
  s.NewConsent(session, {"subject", "technician", "studio"});
  REQUIRE(cs::SealCapture(s.catalog, session, "tech1", s.CaptureFiles(session, 3),
                          s.SessionDir(session))
              .ok());
  s.SignAs(session, "technician");
  s.SignAs(session, "studio");
  fs::path folder = s.SessionDir(session);
  fs::create_directories(folder / "twin" / "preview");
  REQUIRE(
      WriteFileAtomic(folder / "twin" / "preview" / "twin.glb", cs::testing::TriangleGlb()).ok());
  Write(folder / "reconstruction" / "preview" / "images" / "CAM0.jpg", "a copy of the capture");
  return folder;
}

TEST_CASE("Review station: images and twin bytes are served only under standing consent",
          "[integration]") {
  namespace cs = twinrig::consent;
  cs::testing::Studio s;
  const std::string session = "S-20260101-0001";
  const fs::path folder = CaptureWithTwin(s, session);
  Station station(s.root);
  const std::string model =
      CookieOf(station.Login(station.server->access().IssueSubjectPin(session)));
  const std::string twin = "/api/sessions/" + session + "/twin/preview/twin.glb";
  const std::string image = "/api/sessions/" + session + "/images/CAM0/0001.jpg";
  CHECK(Fetch(station.port, http::verb::get, twin, {}, model).status == 200);
  CHECK(Fetch(station.port, http::verb::get, image, {}, model).status == 200);
  // As found: after a revocation the station still served them, unaudited.
  REQUIRE(cs::Revoke(s.catalog, session, {}, false, "withdrawn").ok());
  s.SignAs(session, "subject");
  for (const auto& target : {twin, image}) {
    const Reply refused = Fetch(station.port, http::verb::get, target, {}, model);
    INFO(refused.body);
    CHECK(refused.status == 403);
    CHECK(refused.body.find("revoked") != std::string::npos);
  }
  // The revocation moved out of the folder: refused as truncation, not served.
  for (const auto& entry : fs::directory_iterator(folder / "consent")) {
    if (entry.path().filename().string().find("-revocation.") != std::string::npos) {
      fs::rename(entry.path(), s.dir / entry.path().filename());
    }
  }
  const Reply cut = Fetch(station.port, http::verb::get, twin, {}, model);
  CHECK(cut.status == 403);
  CHECK(cut.body.find("truncated") != std::string::npos);
  CHECK(s.Tamper().AuditCount("processing.gate") == 5);
}

TEST_CASE("Review station: a rejected twin goes with its capture, and the studio records it",
          "[integration]") {
  namespace cs = twinrig::consent;
  cs::testing::Studio s;
  const std::string session = "S-20260101-0001";
  const fs::path folder = CaptureWithTwin(s, session);
  Station station(s.root);
  const std::string subject_pin = station.server->access().IssueSubjectPin(session);
  const std::string model = CookieOf(station.Login(subject_pin));
  const std::string target = "/api/sessions/" + session + "/review";
  // A wrong passphrase changes nothing.
  const Reply wrong =
      Fetch(station.port, http::verb::post, target,
            nlohmann::json{{"approve", false}, {"passphrase", "not mine"}}.dump(), model);
  CHECK(wrong.status == 403);
  CHECK(fs::exists(folder / "twin" / "preview" / "twin.glb"));
  // The model says no: images, twin and the reconstruction's copies go at once.
  const Reply rejected =
      Fetch(station.port, http::verb::post, target,
            nlohmann::json{
                {"approve", false}, {"passphrase", cs::testing::kSubjectPass}, {"note", "not me"}}
                .dump(),
            model);
  INFO(rejected.body);
  REQUIRE(rejected.status == 200);
  CHECK(rejected.json()["type"] == "twin_rejection");
  CHECK(rejected.json()["files_destroyed"].get<int>() >= 5);
  for (const char* part : {"images", "twin", "reconstruction"}) {
    INFO(part);
    CHECK_FALSE(fs::exists(folder / part));
  }
  CHECK(fs::exists(folder / "consent"));  // the record of what was done stays
  // The person's part is over: their token and PIN end with the review.
  const Reply again = Fetch(
      station.port, http::verb::post, target,
      nlohmann::json{{"approve", true}, {"passphrase", cs::testing::kSubjectPass}}.dump(), model);
  INFO(again.body);
  CHECK(again.status == 401);
  CHECK(station.Login(subject_pin, {}, "127.0.0.2").status == 401);
  // The studio countersigns the rejection, and the destruction is recorded and signed.
  const std::string tech = CookieOf(station.Login(station.server->technician_pin()));
  const Reply countersigned =
      Fetch(station.port, http::verb::post, "/api/sessions/" + session + "/countersign",
            nlohmann::json{{"studio_passphrase", cs::testing::kStudioPass}}.dump(), tech);
  INFO(countersigned.body);
  REQUIRE(countersigned.status == 200);
  CHECK(countersigned.json().contains("destruction"));
  auto chain = cs::Chain::ForSession(s.catalog, session);
  REQUIRE(chain.ok());
  CHECK(chain->state().destroyed);
  CHECK_FALSE(chain->state().twin_approved);
  CHECK(chain->records().back().type == "destruction");
  CHECK(chain->records().back().MissingRoles().empty());
}

TEST_CASE("Review station: no capture before a READY preflight, no seal over a missing frame",
          "[integration]") {
  namespace cs = twinrig::consent;
  cs::testing::Studio s;
  const std::string session = "S-20260101-0001";
  s.NewConsent(session, {"subject", "technician", "studio"});
  const fs::path folder = s.SessionDir(session);
  Station station(s.root);
  const std::string tech = CookieOf(station.Login(station.server->technician_pin()));
  const std::string seal = "/api/sessions/" + session + "/seal";
  const std::string body = nlohmann::json{{"technician_passphrase", cs::testing::kTechPass},
                                          {"studio_passphrase", cs::testing::kStudioPass}}
                               .dump();
  const Reply nothing = Fetch(station.port, http::verb::post, seal, body, tech);
  CHECK(nothing.status == 409);
  CHECK(nothing.json()["error"]["what"] == "nothing captured yet");
  // Take 1 planned two cameras; only A delivered.
  fs::create_directories(folder);
  {
    std::ofstream journal(folder / "journal.jsonl");
    journal << R"({"event":"take_started","take":1,"cameras":["TRA","TRB"],"at":1})"
            << "\n"
            << R"({"event":"verified","take":1,"camera":"TRA","path":"images/TRA/take-0001.jpg",)"
            << R"("size":3,"sha256":"x","at":2})"
            << "\n"
            << R"({"event":"take_closed","take":1,"at":3})"
            << "\n";
  }
  const Reply hole = Fetch(station.port, http::verb::post, seal, body, tech);
  INFO(hole.body);
  CHECK(hole.status == 409);
  CHECK(hole.json()["error"]["what"] == "take 1 lacks the frames of TRB");
  CHECK(hole.json()["error"]["todo"].get<std::string>().find("seal without them") !=
        std::string::npos);
  // Accepted as missing with a reason: the seal goes on, and a wrong passphrase says whose it
  // was, in words, without the key file's path.
  {
    std::ofstream journal(folder / "journal.jsonl", std::ios::app);
    journal
        << R"({"event":"accepted_missing","take":1,"camera":"TRB","reason":"lens broke","at":4})"
        << "\n";
  }
  const Reply wrong = Fetch(
      station.port, http::verb::post, seal,
      nlohmann::json{{"technician_passphrase", "not it"}, {"studio_passphrase", "x"}}.dump(), tech);
  INFO(wrong.body);
  CHECK(wrong.status == 403);
  CHECK(wrong.json()["error"]["what"] == "wrong passphrase");
  CHECK(wrong.json()["error"]["where"] == "the technician's passphrase");
  CHECK(wrong.body.find(s.root.string()) == std::string::npos);
  CHECK(wrong.body.find("passphrase file") == std::string::npos);
  // No capture before a preflight found the rig READY.
  const Reply capture =
      Fetch(station.port, http::verb::post, "/api/sessions/" + session + "/capture", "{}", tech);
  CHECK(capture.status == 409);
  CHECK(capture.json()["error"]["what"] == "no preflight yet");
  // The fixes a failed capture offers need a reason for what they leave out.
  const std::string without = "/api/sessions/" + session + "/accept-missing";
  CHECK(Fetch(station.port, http::verb::post, without, R"({"cameras":["TRB"]})", tech).status ==
        400);
  CHECK(Fetch(station.port, http::verb::post, without,
              R"({"cameras":["../x"],"reason":"lens broke"})", tech)
            .status == 400);
}

TEST_CASE("Review station: an approved twin ends the subject PIN, not the sitting",
          "[integration]") {
  namespace cs = twinrig::consent;
  cs::testing::Studio s;
  const std::string session = "S-20260101-0001";
  CaptureWithTwin(s, session);
  Station station(s.root);
  const std::string subject_pin = station.server->access().IssueSubjectPin(session);
  const std::string model = CookieOf(station.Login(subject_pin));
  const Reply approved = Fetch(
      station.port, http::verb::post, "/api/sessions/" + session + "/review",
      nlohmann::json{{"approve", true}, {"passphrase", cs::testing::kSubjectPass}}.dump(), model);
  INFO(approved.body);
  REQUIRE(approved.status == 200);
  CHECK(approved.json()["type"] == "twin_approval");
  // The PIN signs no one in any more; the model's open page still works (grants to sign).
  CHECK(station.Login(subject_pin, {}, "127.0.0.2").status == 401);
  CHECK(
      Fetch(station.port, http::verb::get, "/api/sessions/" + session + "/consent-text", {}, model)
          .status == 200);
}

TEST_CASE("Review station: static files never leave the web root", "[integration]") {
  Station station;
  CHECK(Fetch(station.port, http::verb::get, "/app.js").status == 200);
  CHECK(Fetch(station.port, http::verb::get, "/app.js").body == "console.log(1)");
  for (const char* target : {"/../outside.txt", "/%2e%2e/outside.txt", "/%2E%2E%2Foutside.txt",
                             "//outside.txt", "/..%5coutside.txt"}) {
    INFO(target);
    const Reply r = Fetch(station.port, http::verb::get, target);
    CHECK(r.status == 400);
    CHECK(r.body.find("secret") == std::string::npos);
  }
  for (const char* target : {"/link.txt", "/etc/passwd", "/outside.txt"}) {
    INFO(target);
    const Reply r = Fetch(station.port, http::verb::get, target);
    CHECK(r.status == 404);
    CHECK(r.body.find("secret") == std::string::npos);
  }
}

TEST_CASE("Review station: the WebSocket needs a token", "[integration]") {
  Station station;
  namespace websocket = beast::websocket;
  auto open = [&](const std::string& cookie) {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(
        {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(station.port)});
    websocket::stream<tcp::socket> ws(std::move(socket));
    ws.set_option(websocket::stream_base::decorator([cookie](websocket::request_type& req) {
      if (!cookie.empty()) req.set(http::field::cookie, cookie);
    }));
    beast::error_code ec;
    ws.handshake("127.0.0.1:" + std::to_string(station.port), "/api/ws", ec);
    if (ec) return std::string("refused");
    beast::flat_buffer buffer;
    ws.read(buffer, ec);
    if (ec) return std::string("read failed");
    std::string first = beast::buffers_to_string(buffer.data());
    ws.close(websocket::close_code::normal, ec);
    return first;
  };
  CHECK(open("") == "refused");
  const std::string cookie = CookieOf(station.Login(station.server->technician_pin()));
  CHECK(open(cookie) == R"({"type":"hello"})");
}

TEST_CASE("Review station: a wrong option stops it before it listens", "[unit]") {
  ReviewOptions options;
  options.listen = "127.0.0.1:0";
  auto started = ReviewServer::Start(options);
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().what.find("web") != std::string::npos);
  CHECK(started.error().what.find("technician") != std::string::npos);
}

}  // namespace
}  // namespace twinrig::review
