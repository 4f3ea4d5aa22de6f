#include "host/review/fuzz/router_fuzz_target.h"

#include <stdlib.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "host/review/api.h"
#include "host/review/jobs.h"
#include "host/review/router.h"
#include "store/catalog.h"
#include "util/check.h"

namespace twinrig::review::fuzz {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSession = "S-20260101-0001";
constexpr const char* kMarker = "@SUBJECT@";

// One station for the whole run: a scratch studio, a web root and the consent files.
struct Fixture {
  fs::path dir;
  ReviewOptions options;
  std::unique_ptr<Access> access;
  std::unique_ptr<JobRunner> jobs;
  std::unique_ptr<Api> api;
  std::unique_ptr<Router> router;
  std::string subject_token;

  Fixture() {
    std::string pattern = (fs::temp_directory_path() / "twinrig-review-fuzz-XXXXXX").string();
    TWINRIG_CHECK(mkdtemp(pattern.data()) != nullptr) << "cannot make a scratch folder";
    dir = pattern;
    fs::create_directories(dir / "studio");
    fs::create_directories(dir / "web");
    TWINRIG_CHECK(store::Catalog::Open(dir / "studio").ok()) << "cannot open a catalog";
    std::ofstream(dir / "web" / "index.html") << "<!doctype html><title>station</title>";
    std::ofstream(dir / "consent.txt") << "I agree.";
    std::ofstream(dir / "terms.json") << "{}";
    options.studio = dir / "studio";
    options.web_root = dir / "web";
    options.twinrig_binary = "/bin/false";  // no route reachable here starts a job
    options.consent_text = dir / "consent.txt";
    options.text_version = "t-1";
    options.terms = dir / "terms.json";
    options.technician = "tech1";
    access = std::make_unique<Access>(options.access);
    jobs = std::make_unique<JobRunner>(options.twinrig_binary, options.studio.string(),
                                       options.job_timeout);
    api = std::make_unique<Api>(options, *access, *jobs, nullptr);
    router = std::make_unique<Router>(options, *api, *access, SiteIdentity{false, 8440, {}});
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  // A subject token that is valid now (the input may have logged the last one out).
  const std::string& SubjectToken() {
    if (!access->Lookup(subject_token)) {
      const std::string pin = access->IssueSubjectPin(kSession);
      subject_token = access->Login(pin, "10.99.99.99").token;
    }
    return subject_token;
  }
};

Fixture& TheFixture() {
  static Fixture fixture;
  return fixture;
}

}  // namespace

int FuzzRouterOneInput(const std::uint8_t* data, std::size_t size) {
  Fixture& f = TheFixture();
  std::string bytes(reinterpret_cast<const char*>(data), size);
  for (size_t at = bytes.find(kMarker); at != std::string::npos; at = bytes.find(kMarker, at)) {
    bytes.replace(at, std::string(kMarker).size(), f.SubjectToken());
  }
  if (bytes.empty()) return 0;
  boost::beast::flat_buffer buffer;
  auto in = buffer.prepare(bytes.size());
  std::memcpy(in.data(), bytes.data(), bytes.size());
  buffer.commit(bytes.size());
  // Requests one after another on the connection, as the server reads them.
  for (int request = 0; request < 8 && buffer.size() > 0; ++request) {
    http::request_parser<http::string_body> parser;
    ApplyLimits(parser, f.options.request_limits);
    parser.eager(true);
    boost::beast::error_code ec;
    while (!parser.is_done() && buffer.size() > 0) {
      const size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        if (used == 0) break;
        continue;
      }
      if (ec) break;
    }
    if (!parser.is_done()) {
      parser.put_eof(ec);
      if (!parser.is_done()) break;  // the server answers 400/413/431 or waits: nothing to route
    }
    const Routed routed = f.router->Route(parser.get(), "127.0.0.1");
    TWINRIG_CHECK(routed.websocket || routed.response.result_int() >= 200)
        << "the router answered nothing";
    if (!routed.websocket && !routed.response.keep_alive()) break;
  }
  return 0;
}

std::vector<std::string> SeedInputs() {
  const std::string host = "Host: 127.0.0.1:8440\r\n";
  const std::string json = "Content-Type: application/json\r\n";
  auto post = [&](const std::string& target, const std::string& body,
                  const std::string& extra = {}) {
    return "POST " + target + " HTTP/1.1\r\n" + host + json + extra +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  auto get = [&](const std::string& target, const std::string& extra = {}) {
    return "GET " + target + " HTTP/1.1\r\n" + host + extra + "\r\n";
  };
  const std::string subject = std::string("Cookie: twinrig_token=") + kMarker + "\r\n";
  const std::string session = std::string("/api/sessions/") + kSession;
  return {
      get("/"),
      get("/index.html") + get("/app.js"),
      "HEAD / HTTP/1.1\r\n" + host + "\r\n",
      get("/%2e%2e/etc/passwd"),
      post("/api/login", R"({"pin":"123456"})"),
      post("/api/login", R"({"pin":"123456"})", "Origin: http://evil.example\r\n"),
      std::string("POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:8440\r\n") +
          "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
      get("/api/me", subject),
      get("/api/me", std::string("Authorization: Bearer ") + kMarker + "\r\n"),
      get(session, subject),
      get(session + "/consent-text", subject),
      get(session + "/images/TR000001/take-0001.jpg", subject),
      get(session + "/twin/preview/twin.glb", subject),
      post(session + "/consent", R"({"passphrase":"x","name":"A"})", subject),
      post(session + "/sign", R"({"passphrase":"x"})", subject),
      post(session + "/review", R"({"approve":true,"passphrase":"x"})", subject),
      post(session + "/revoke", R"({"grant_id":"g1","passphrase":"x"})", subject),
      post(session + "/capture", "{}", subject),
      post("/api/logout", "{}", subject) + get("/api/me", subject),
      get("/api/ws", subject + "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
                               "dGhlIHNhbXBsZSBub25jZQ==\r\n"),
      std::string("POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:8440\r\n") +
          "Content-Type: application/json\r\nTransfer-Encoding: "
          "chunked\r\n\r\n5\r\n{\"pi\"\r\n0\r\n\r\n",
      get("/", "Host: evil.example\r\n"),
      "GET / HTTP/1.0\r\n\r\n",
  };
}

}  // namespace twinrig::review::fuzz
