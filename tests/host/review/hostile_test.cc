// The review station against hostile clients, on loopback and bounded in time: idle and slowloris
// floods beyond the per-address cap, oversized and malformed requests, foreign Origin and Host,
// wrong content types, token replay, WebSockets without a token or from another site, TLS.
// Clients from 127.0.0.2… play other machines than the technician's tablet (127.0.0.1).
#include <chrono>
#include <thread>

#include "tests/host/review/station_fixture.h"

namespace twinrig::review {
namespace {
using namespace twinrig::review::testing;  // NOLINT(google-build-using-namespace)
namespace websocket = beast::websocket;
using Ms = std::chrono::milliseconds;

// True when the station closed `socket` within `wait` (what it sent before is ignored).
bool ClosedWithin(tcp::socket& socket, Ms wait) {
  socket.non_blocking(true);
  char chunk[512];
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    beast::error_code ec;
    socket.read_some(asio::buffer(chunk), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(Ms(10));
      continue;
    }
    if (ec) return true;
  }
  return false;
}

TEST_CASE("Hostile clients: 200 idle and slow connections do not hold up a signed-in request",
          "[integration]") {
  Station station;
  const std::string cookie = CookieOf(station.Login(station.server->technician_pin()));
  REQUIRE_FALSE(cookie.empty());
  asio::io_context io;
  std::vector<tcp::socket> held;
  // 200 connections from seven other addresses, under the cap of 32 each: half never send a byte,
  // half send a header one line at a time and stop.
  for (int i = 0; i < 200; ++i) {
    held.push_back(Connect(io, station.port, "127.0.0." + std::to_string(2 + i % 7)));
    if (i % 2 == 1) {
      asio::write(held.back(), asio::buffer(std::string("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")));
    }
  }
  // And a flood beyond the cap from one more address: only 32 of its 80 stay.
  std::vector<tcp::socket> flood;
  flood.reserve(80);
  for (int i = 0; i < 80; ++i) flood.push_back(Connect(io, station.port, "127.0.0.20"));
  std::this_thread::sleep_for(Ms(300));
  int refused = 0;
  for (auto& s : flood) refused += ClosedWithin(s, Ms(5)) ? 1 : 0;
  CHECK(refused == 80 - 32);

  for (const char* target : {"/api/me", "/api/studio"}) {
    INFO(target);
    const auto start = std::chrono::steady_clock::now();
    const Reply r = Fetch(station.port, http::verb::get, target, {}, cookie);
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(r.status == 200);
    CHECK(took < std::chrono::seconds(1));
  }
  // The held connections are still open (their deadline is 10 s): they did not get served away.
  int still_open = 0;
  for (auto& s : held) still_open += ClosedWithin(s, Ms(1)) ? 0 : 1;
  CHECK(still_open == 200);
}

TEST_CASE("Hostile clients: idle, slowloris and slow-body connections are cut off at deadlines",
          "[integration]") {
  Station station({}, [](ReviewOptions& o) {
    o.limits.header = Ms(600);
    o.limits.idle = Ms(600);
    o.limits.body = Ms(600);
  });
  asio::io_context io;
  const auto start = std::chrono::steady_clock::now();
  tcp::socket idle = Connect(io, station.port);
  tcp::socket slowloris = Connect(io, station.port);
  tcp::socket slow_body = Connect(io, station.port);
  asio::write(slow_body, asio::buffer(std::string(
                             "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                             "application/json\r\nContent-Length: 100\r\n\r\n{")));
  // The slowloris keeps sending a header byte every 100 ms: a per-read timeout would never fire.
  const std::string header = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaa";
  bool cut = false;
  for (size_t i = 0; i < header.size() && !cut; ++i) {
    beast::error_code ec;
    asio::write(slowloris, asio::buffer(header.data() + i, 1), ec);
    cut = ec.failed() || ClosedWithin(slowloris, Ms(100));
  }
  CHECK(cut);
  CHECK(ClosedWithin(idle, Ms(1000)));
  CHECK(ClosedWithin(slow_body, Ms(1000)));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("Hostile clients: oversized and malformed requests get a clean 431, 413 or 400",
          "[integration]") {
  Station station;
  const std::string big_header =
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(20 << 10, 'a') + "\r\n\r\n";
  CHECK(StatusOf(Raw(station.port, big_header)) == 431);
  const std::string big_body =
      "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: 2000000\r\n\r\n{}";
  CHECK(StatusOf(Raw(station.port, big_body)) == 413);
  const std::string bad_chunk = std::string("POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\n") +
                                "Transfer-Encoding: chunked\r\n\r\nzz\r\n";
  const std::string malformed[] = {
      "GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Field: x\r\n\r\n", bad_chunk};
  for (const std::string& bad : malformed) {
    INFO(bad);
    CHECK(StatusOf(Raw(station.port, bad)) == 400);
  }
  // The station is still there for everyone else.
  CHECK(Fetch(station.port, http::verb::get, "/").status == 200);
}

TEST_CASE("Hostile clients: foreign Origin or Host gets 403, a non-JSON body 415",
          "[integration]") {
  Station station;
  const std::string pin = station.server->technician_pin();
  const std::string body = nlohmann::json{{"pin", pin}}.dump();
  const std::string own = "http://127.0.0.1:" + std::to_string(station.port);
  auto login = [&](const std::map<std::string, std::string>& headers) {
    return Fetch(station.port, http::verb::post, "/api/login", body, {}, headers);
  };
  // The attack of the issue: a text/plain POST from another site.
  const Reply cross = login({{"Origin", "http://evil.example"}, {"Content-Type", "text/plain"}});
  CHECK(cross.status == 403);
  CHECK(cross.set_cookie.empty());
  CHECK(login({{"Origin", "null"}}).status == 403);
  CHECK(login({{"Sec-Fetch-Site", "cross-site"}}).status == 403);
  CHECK(login({{"Content-Type", "text/plain"}}).status == 415);
  CHECK(login({{"Content-Type", "application/x-www-form-urlencoded"}}).status == 415);
  CHECK(login({{"Content-Type", ""}}).status == 415);
  // DNS rebinding: the attacker's name in Host (and the matching Origin) is not this station.
  const std::string rebound = "evil.example:" + std::to_string(station.port);
  CHECK(login({{"Host", rebound}, {"Origin", "http://" + rebound}}).status == 403);
  CHECK(Fetch(station.port, http::verb::get, "/", {}, {}, {{"Host", rebound}}).status == 403);
  CHECK(Fetch(station.port, http::verb::get, "/", {}, {}, {{"Host", "127.0.0.1:1"}}).status == 403);
  CHECK(Fetch(station.port, http::verb::get, "/", {}, {}, {{"Host", ""}}).status == 400);
  // The station's own page, by address or as localhost.
  const Reply ok = login({{"Origin", own}, {"Sec-Fetch-Site", "same-origin"}});
  CHECK(ok.status == 200);
  CHECK_FALSE(CookieOf(ok).empty());
  const std::string local = "localhost:" + std::to_string(station.port);
  CHECK(login({{"Host", local}, {"Origin", "http://" + local}}).status == 200);
}

TEST_CASE("Hostile clients: WebSockets need a token and the own Origin, and close at logout",
          "[integration]") {
  Station station;
  const std::string host = "127.0.0.1:" + std::to_string(station.port);
  struct Ws {
    asio::io_context io;
    std::unique_ptr<websocket::stream<tcp::socket>> ws;
    int status = 0;  // of the handshake's answer
  };
  auto open = [&](Ws& c, const std::string& cookie, const std::string& origin) {
    c.ws = std::make_unique<websocket::stream<tcp::socket>>(Connect(c.io, station.port));
    c.ws->set_option(websocket::stream_base::decorator([=](websocket::request_type& req) {
      if (!cookie.empty()) req.set(http::field::cookie, cookie);
      if (!origin.empty()) req.set(http::field::origin, origin);
    }));
    websocket::response_type res;
    beast::error_code ec;
    c.ws->handshake(res, host, "/api/ws", ec);
    c.status = static_cast<int>(res.result_int());
  };
  const Reply login = station.Login(station.server->technician_pin());
  const std::string cookie = CookieOf(login);
  const std::map<std::string, std::string> upgrade = {
      {"Upgrade", "websocket"},
      {"Connection", "Upgrade"},
      {"Sec-WebSocket-Version", "13"},
      {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
      {"Origin", "http://" + host}};
  CHECK(Fetch(station.port, http::verb::get, "/api/ws", {}, {}, upgrade).status == 401);
  auto foreign = upgrade;
  foreign["Origin"] = "http://evil.example";
  CHECK(Fetch(station.port, http::verb::get, "/api/ws", {}, cookie, foreign).status == 403);
  Ws own;
  open(own, cookie, "http://" + host);
  REQUIRE(own.status == 101);
  beast::flat_buffer buffer;
  own.ws->read(buffer);
  CHECK(beast::buffers_to_string(buffer.data()) == R"({"type":"hello"})");
  // Logout: the open socket is closed within the station's one-second check.
  REQUIRE(Fetch(station.port, http::verb::post, "/api/logout", "{}", cookie).status == 200);
  const auto start = std::chrono::steady_clock::now();
  beast::error_code ec;
  own.ws->next_layer().non_blocking(false);
  buffer.consume(buffer.size());
  while (!ec && std::chrono::steady_clock::now() - start < std::chrono::seconds(3)) {
    own.ws->read(buffer, ec);
    buffer.consume(buffer.size());
  }
  CHECK(ec == websocket::error::closed);
  CHECK(own.ws->reason().code == websocket::close_code::policy_error);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("Hostile clients: wrong PINs from one client do not lock out the technician's tablet",
          "[integration]") {
  Station station;
  const std::string pin = station.server->technician_pin();
  const std::string wrong = pin == "000000" ? "111111" : "000000";
  // The tablet signed in earlier and keeps its device cookie across sign-outs.
  const Reply first = station.Login(pin);
  const std::string device = CookieNamed(first, "twinrig_device");
  REQUIRE_FALSE(device.empty());
  // A stranger on the same address types wrong PINs until made to wait.
  int limited = 0;
  for (int i = 0; i < 8; ++i) limited += station.Login(wrong).status == 429 ? 1 : 0;
  CHECK(limited >= 3);
  CHECK(station.Login(pin).status == 429);
  // The tablet is not the stranger: the right PIN gets in, from the same address.
  const Reply tablet = station.Login(pin, device);
  CHECK(tablet.status == 200);
  // And a machine at another address is not the stranger either.
  CHECK(station.Login(pin, {}, "127.0.0.2").status == 200);
}

TEST_CASE("Hostile clients: a non-loopback address needs TLS", "[unit]") {
  ReviewOptions options;
  options.listen = "0.0.0.0:8440";
  bool named = false;
  for (const auto& p : options.Validate()) {
    named = named || (p.find("--listen 0.0.0.0:8440") != std::string::npos &&
                      p.find("--tls") != std::string::npos);
  }
  CHECK(named);
  options.tls.enabled = true;
  for (const auto& p : options.Validate()) CHECK(p.find("--listen") == std::string::npos);
  options.tls.enabled = false;
  options.listen = "127.0.0.5:8440";
  for (const auto& p : options.Validate()) CHECK(p.find("--listen") == std::string::npos);
}

TEST_CASE("Review station over TLS: its own pinned certificate, __Host- cookies, no plain HTTP",
          "[integration]") {
  Station station({}, [](ReviewOptions& o) { o.tls.enabled = true; });
  REQUIRE(station.server->tls());
  CHECK(station.server->certificate_fingerprint().size() == 32 * 3 - 1);
  const fs::path cert = station.dir / "studio" / "review" / "tls" / "cert.pem";
  REQUIRE(fs::exists(cert));
  CHECK((fs::status(station.dir / "studio" / "review" / "tls" / "key.pem").permissions() &
         fs::perms::others_read) == fs::perms::none);
  // A client that trusts exactly this certificate (what a tablet pinning it does).
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(cert.string());
  ctx.set_verify_mode(asio::ssl::verify_peer);
  auto fetch = [&](http::verb method, const std::string& target, const std::string& body,
                   const std::string& cookie) {
    asio::io_context io;
    beast::ssl_stream<tcp::socket> tls(Connect(io, station.port), ctx);
    tls.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
    tls.handshake(asio::ssl::stream_base::client);
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(station.port));
    req.set(http::field::origin, "https://127.0.0.1:" + std::to_string(station.port));
    if (!cookie.empty()) req.set(http::field::cookie, cookie);
    if (method == http::verb::post) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::write(tls, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(tls, buffer, res);
    return res;
  };
  const auto login = fetch(http::verb::post, "/api/login",
                           nlohmann::json{{"pin", station.server->technician_pin()}}.dump(), {});
  REQUIRE(login.result_int() == 200);
  const std::string set_cookie(login[http::field::set_cookie]);
  CHECK(set_cookie.rfind("__Host-twinrig_token=", 0) == 0);
  CHECK(set_cookie.find("; Secure") != std::string::npos);
  CHECK(std::string(login["Strict-Transport-Security"]).find("max-age") != std::string::npos);
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  CHECK(fetch(http::verb::get, "/api/me", {}, cookie).result_int() == 200);
  // The plain-HTTP cookie name means nothing here.
  CHECK(fetch(http::verb::get, "/api/me", {}, cookie.substr(std::string("__Host-").size()))
            .result_int() == 401);
  // Plain HTTP on the TLS port gets no answer.
  CHECK(StatusOf(Raw(station.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", Ms(1000))) == 0);
  // The same certificate next time: the fingerprint the tablets pinned stays.
  const std::string fingerprint = station.server->certificate_fingerprint();
  station.server->Stop();
  Station again(station.dir / "studio", [](ReviewOptions& o) { o.tls.enabled = true; });
  CHECK(again.server->certificate_fingerprint() == fingerprint);
}

}  // namespace
}  // namespace twinrig::review
