// A review station on loopback for tests, and the clients that talk to it: plain requests as a
// browser would send them, raw bytes, and connections from other loopback addresses (127.0.0.x)
// so that tests can play several client machines.
#pragma once

#include <utility>  // before Boost.Asio 1.74, whose awaitable.hpp needs std::exchange

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "host/review/server.h"
#include "store/catalog.h"
#include "tests/test_support.h"

namespace twinrig::review::testing {
namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

inline void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

struct Reply {
  int status = 0;
  std::string body;
  std::string set_cookie;  // every Set-Cookie, joined with "\n"
  std::string retry_after;
  [[nodiscard]] nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// A socket connected to the station from `source` (a 127.0.0.x address).
inline tcp::socket Connect(asio::io_context& io, int port,
                           const std::string& source = "127.0.0.1") {
  tcp::socket socket(io);
  socket.open(tcp::v4());
  socket.bind({asio::ip::make_address(source), 0});
  socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  return socket;
}

// One request on a fresh connection, as the station's own page sends it (Host, and JSON for every
// POST); `headers` add or replace fields. `target` is sent as is.
inline Reply Fetch(int port, http::verb method, const std::string& target,
                   const std::string& body = {}, const std::string& cookie = {},
                   const std::map<std::string, std::string>& headers = {},
                   const std::string& source = "127.0.0.1") {
  asio::io_context io;
  tcp::socket socket = Connect(io, port, source);
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  if (!cookie.empty()) req.set(http::field::cookie, cookie);
  if (method == http::verb::post) req.set(http::field::content_type, "application/json");
  req.body() = body;
  for (const auto& [k, v] : headers) {
    if (v.empty()) {
      req.erase(k);
    } else {
      req.set(k, v);
    }
  }
  req.keep_alive(false);
  req.prepare_payload();
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(socket, buffer, res, ec);
  Reply reply;
  if (ec) return reply;  // status 0: no answer
  reply.status = static_cast<int>(res.result_int());
  reply.body = res.body();
  for (const auto& field : res) {
    if (field.name() != http::field::set_cookie) continue;
    if (!reply.set_cookie.empty()) reply.set_cookie += "\n";
    reply.set_cookie += std::string(field.value());
  }
  reply.retry_after = std::string(res["Retry-After"]);
  return reply;
}

// The value to send back for cookie `name` ("name=value"), from a reply's Set-Cookie lines.
inline std::string CookieNamed(const Reply& reply, const std::string& name) {
  std::istringstream lines(reply.set_cookie);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + "=", 0) == 0) return line.substr(0, line.find(';'));
  }
  return {};
}
inline std::string CookieOf(const Reply& reply) { return CookieNamed(reply, "twinrig_token"); }

// Bytes written as they are; what comes back before the station closes (or `wait` passes).
inline std::string Raw(int port, const std::string& bytes,
                       std::chrono::milliseconds wait = std::chrono::milliseconds(3000)) {
  asio::io_context io;
  tcp::socket socket = Connect(io, port);
  beast::error_code ec;
  asio::write(socket, asio::buffer(bytes), ec);
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  socket.non_blocking(true);
  char chunk[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    const size_t n = socket.read_some(asio::buffer(chunk), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (ec) break;
    got.append(chunk, n);
  }
  return got;
}

// The status code of a raw HTTP answer, 0 for none.
inline int StatusOf(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return 0;
  return std::stoi(raw.substr(9, 3));
}

struct Station {
  twinrig::testing::TempDir dir;
  std::unique_ptr<ReviewServer> server;
  int port = 0;
  // A station over a new studio, or over `existing` (a studio a test has prepared); `tweak`
  // changes options before it starts.
  explicit Station(const fs::path& existing = {},
                   const std::function<void(ReviewOptions&)>& tweak = {}) {
    const fs::path studio = existing.empty() ? dir / "studio" : existing;
    fs::create_directories(studio);
    REQUIRE(store::Catalog::Open(studio).ok());
    Write(dir / "web" / "index.html", "<!doctype html><title>station</title>");
    Write(dir / "web" / "app.js", "console.log(1)");
    Write(dir / "outside.txt", "secret");
    fs::create_symlink(dir / "outside.txt", dir / "web" / "link.txt");
    Write(dir / "consent.txt", "I agree.");
    Write(dir / "terms.json", "{}");
    ReviewOptions options;
    options.listen = "127.0.0.1:0";
    options.studio = studio;
    options.web_root = dir / "web";
    options.twinrig_binary = twinrig::testing::TwinrigBinary().string();
    options.consent_text = dir / "consent.txt";
    options.text_version = "t-1";
    options.terms = dir / "terms.json";
    options.technician = "tech1";
    if (tweak) tweak(options);
    auto started = ReviewServer::Start(options);
    INFO((started.ok() ? std::string() : started.error().what));
    REQUIRE(started.ok());
    server = std::move(*started);
    port = server->port();
  }
  Reply Login(const std::string& pin, const std::string& cookie = {},
              const std::string& source = "127.0.0.1") {
    return Fetch(port, http::verb::post, "/api/login", nlohmann::json{{"pin", pin}}.dump(), cookie,
                 {}, source);
  }
};

}  // namespace twinrig::review::testing
