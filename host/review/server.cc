#include "host/review/server.h"

#include <sys/socket.h>

#include <atomic>
#include <utility>  // before Boost.Asio 1.74, whose awaitable.hpp needs std::exchange

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <set>
#include <thread>

#include "host/review/api.h"
#include "host/review/jobs.h"
#include "host/review/static_files.h"
#include "util/files.h"
#include "util/install_layout.h"
#include "util/logging.h"

namespace twinrig::review {
namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::vector<std::string> ReviewOptions::Validate() const {
  std::vector<std::string> problems = access.Validate();
  if (studio.empty()) problems.push_back("studio: a folder is needed");
  if (!fs::is_regular_file(web_root / "index.html")) {
    problems.push_back("web: no built front end at " + web_root.string() +
                       " (run scripts/setup, which builds web/)");
  }
  if (twinrig_binary.empty()) problems.push_back("twinrig_binary: needed for long operations");
  if (!fs::is_regular_file(consent_text)) {
    problems.push_back("consent text: no file " + consent_text.string());
  }
  if (text_version.empty()) problems.push_back("text version: needed");
  if (!fs::is_regular_file(terms)) problems.push_back("terms: no file " + terms.string());
  if (technician.empty()) problems.push_back("technician: the witness's id is needed");
  if (kdf != "moderate" && kdf != "interactive") problems.push_back("kdf: moderate or interactive");
  if (max_connections < 4) problems.push_back("max_connections: at least 4");
  return problems;
}

fs::path DefaultWebRoot() {
  if (const char* env = std::getenv("TWINRIG_WEB"); env != nullptr && *env != '\0') return env;
  return DataDir() / "web";
}

// One thread per connection: a station has a handful of clients, and blocking calls (Argon2id,
// SQLite) then never hold up anyone else. WebSocket clients only receive: their thread sends what
// the broadcast queue holds, so one thread owns each stream.
struct ReviewServer::Impl {
  ReviewOptions options;
  std::function<void(const std::string&)> notice;
  std::unique_ptr<Access> access;
  std::unique_ptr<JobRunner> jobs;
  std::unique_ptr<Api> api;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread accept_thread;
  std::atomic<bool> stopping{false};

  std::mutex mu;
  std::condition_variable cv;
  std::set<int> open_fds;  // every connection's socket, to unblock reads at Stop
  int connections = 0;

  struct WsClient {
    Principal who;
    std::deque<std::string> queue;
  };
  std::set<WsClient*> ws_clients;

  void AcceptLoop();
  void Serve(tcp::socket socket);
  void ServeWebSocket(tcp::socket& socket, const http::request<http::string_body>& request,
                      const Principal& who);
  void Broadcast(const nlohmann::json& event);
  http::response<http::string_body> Static(const http::request<http::string_body>& request);
};

namespace {
http::response<http::string_body> Plain(http::status status, unsigned version,
                                        const std::string& text) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = text;
  return res;
}

void SecurityHeaders(http::response<http::string_body>& res) {
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Content-Security-Policy",
          "default-src 'self'; img-src 'self' blob: data:; connect-src 'self' ws: blob: data:; "
          "style-src 'self' 'unsafe-inline'; worker-src 'self' blob:");
}
}  // namespace

void ReviewServer::Impl::AcceptLoop() {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket{io};
    acceptor.accept(socket, ec);
    if (stopping) break;
    if (ec) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    {
      std::lock_guard lock(mu);
      if (connections >= options.max_connections) {
        socket.close(ec);  // a station has a handful of clients; more is abuse
        continue;
      }
      ++connections;
      open_fds.insert(socket.native_handle());
    }
    std::thread([this, s = std::move(socket)]() mutable {
      const int fd = s.native_handle();
      try {
        Serve(std::move(s));
      } catch (const std::exception& e) {
        Log().Warn("review connection: {}", e.what());
      }
      std::lock_guard lock(mu);
      open_fds.erase(fd);
      --connections;
      cv.notify_all();
    }).detach();
  }
}

http::response<http::string_body> ReviewServer::Impl::Static(
    const http::request<http::string_body>& request) {
  const StaticLookup found = ResolveStatic(options.web_root, std::string(request.target()));
  if (found.status == 400) return Plain(http::status::bad_request, request.version(), "bad path");
  if (found.status != 200) return Plain(http::status::not_found, request.version(), "not found");
  auto bytes = ReadFileText(found.file);
  if (!bytes.ok()) return Plain(http::status::not_found, request.version(), "not found");
  http::response<http::string_body> res{http::status::ok, request.version()};
  res.set(http::field::content_type, MimeType(found.file));
  res.set(http::field::cache_control, "no-cache");
  res.body() = std::move(*bytes);
  return res;
}

void ReviewServer::Impl::Serve(tcp::socket socket) {
  beast::error_code ec;
  const std::string client = socket.remote_endpoint(ec).address().to_string();
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    parser.header_limit(16 << 10);
    http::read(socket, buffer, parser, ec);
    if (ec || stopping) break;
    http::request<http::string_body> request = parser.release();
    const std::string target(request.target());
    const bool is_api = target.rfind("/api/", 0) == 0 || target == "/api";

    if (websocket::is_upgrade(request)) {
      ApiRequest probe;
      probe.cookie = std::string(request[http::field::cookie]);
      probe.authorization = std::string(request[http::field::authorization]);
      const auto who = access->Lookup(TokenOf(probe));
      if (target == "/api/ws" && who) {
        ServeWebSocket(socket, request, *who);
        return;
      }
      auto res = Plain(who ? http::status::not_found : http::status::unauthorized,
                       request.version(), who ? "not found" : "not signed in");
      res.prepare_payload();
      http::write(socket, res, ec);
      break;
    }

    http::response<http::string_body> res;
    if (is_api) {
      ApiRequest req;
      req.method = std::string(request.method_string());
      req.target = target;
      req.body = request.body();
      req.client = client;
      req.cookie = std::string(request[http::field::cookie]);
      req.authorization = std::string(request[http::field::authorization]);
      ApiResponse out = api->Handle(req);
      res = http::response<http::string_body>{static_cast<http::status>(out.status),
                                              request.version()};
      res.set(http::field::content_type, out.content_type);
      res.set(http::field::cache_control, "no-store");
      for (const auto& [k, v] : out.headers) res.insert(k, v);
      res.body() = std::move(out.body);
    } else if (request.method() == http::verb::get || request.method() == http::verb::head) {
      res = Static(request);
    } else {
      res = Plain(http::status::method_not_allowed, request.version(), "method not allowed");
    }
    SecurityHeaders(res);
    res.keep_alive(request.keep_alive());
    res.prepare_payload();
    if (request.method() == http::verb::head) {
      http::response<http::empty_body> head{res.result(), res.version()};
      for (const auto& field : res) head.set(field.name_string(), field.value());
      http::write(socket, head, ec);
    } else {
      http::write(socket, res, ec);
    }
    if (ec || !res.keep_alive()) break;
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
}

void ReviewServer::Impl::ServeWebSocket(tcp::socket& socket,
                                        const http::request<http::string_body>& request,
                                        const Principal& who) {
  websocket::stream<tcp::socket&> ws(socket);
  beast::error_code ec;
  ws.accept(request, ec);
  if (ec) return;
  WsClient client{who, {}};
  {
    std::lock_guard lock(mu);
    ws_clients.insert(&client);
  }
  ws.text(true);
  ws.write(asio::buffer(std::string(R"({"type":"hello"})")), ec);
  int idle_ticks = 0;
  while (!ec && !stopping) {
    std::string message;
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, std::chrono::milliseconds(250),
                  [&] { return stopping || !client.queue.empty(); });
      if (stopping) break;
      if (!client.queue.empty()) {
        message = std::move(client.queue.front());
        client.queue.pop_front();
      }
    }
    // What the client sends (a close, a pong) is read on this same thread, only when it has
    // arrived, so one thread owns the stream and a close is answered.
    if (socket.available(ec) > 0 && !ec) {
      beast::flat_buffer incoming;
      ws.read(incoming, ec);
      if (ec) break;
    }
    if (!message.empty()) {
      ws.write(asio::buffer(message), ec);
      idle_ticks = 0;
    } else if (++idle_ticks >= 60) {
      ws.ping({}, ec);  // every 15 s of quiet: finds clients that went away
      idle_ticks = 0;
    }
  }
  {
    std::lock_guard lock(mu);
    ws_clients.erase(&client);
  }
  ws.close(websocket::close_code::going_away, ec);
}

void ReviewServer::Impl::Broadcast(const nlohmann::json& event) {
  const std::string text = event.dump();
  const std::string session = event.contains("job") && event["job"].is_object()
                                  ? event["job"].value("session", "")
                                  : event.value("session", "");
  std::lock_guard lock(mu);
  for (WsClient* client : ws_clients) {
    // A subject hears only that their session changed, never the technician's job output.
    if (client->who.role == Role::kSubject) {
      if (event.value("event", "") != "ended" || client->who.session_id != session) continue;
      client->queue.push_back(nlohmann::json{{"type", "state"}, {"session", session}}.dump());
    } else {
      client->queue.push_back(text);
    }
    while (client->queue.size() > 1000) client->queue.pop_front();
  }
  cv.notify_all();
}

Result<std::unique_ptr<ReviewServer>> ReviewServer::Start(
    const ReviewOptions& options, std::function<void(const std::string&)> notice) {
  if (auto problems = options.Validate(); !problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    return MakeError("the review station cannot start: " + all, "twinrig review",
                     "fix the options named");
  }
  const size_t colon = options.listen.rfind(':');
  if (colon == std::string::npos) {
    return MakeError("--listen needs ADDR:PORT", options.listen, "e.g. 127.0.0.1:8440");
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.listen.substr(0, colon), ec);
  int port = -1;
  try {
    port = std::stoi(options.listen.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (ec || port < 0 || port > 65535) {
    return MakeError("--listen is not ADDR:PORT", options.listen, "e.g. 127.0.0.1:8440");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->notice = std::move(notice);
  impl->access = std::make_unique<Access>(options.access);
  impl->jobs = std::make_unique<JobRunner>(options.twinrig_binary, options.studio.string(),
                                           options.job_timeout);
  impl->api = std::make_unique<Api>(options, *impl->access, *impl->jobs, impl->notice);
  Impl* raw = impl.get();
  impl->jobs->SetListener([raw](const nlohmann::json& event) {
    raw->api->OnJobEvent(event);
    raw->Broadcast(event);
  });
  const tcp::endpoint endpoint{address, static_cast<unsigned short>(port)};
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError("cannot listen on " + options.listen + ": " + ec.message(), options.listen,
                     "choose another --listen address or stop what uses it");
  }
  impl->accept_thread = std::thread([raw] { raw->AcceptLoop(); });
  return std::unique_ptr<ReviewServer>(new ReviewServer(std::move(impl)));
}

ReviewServer::ReviewServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ReviewServer::~ReviewServer() { Stop(); }

std::string ReviewServer::address() const {
  beast::error_code ec;
  const auto ep = impl_->acceptor.local_endpoint(ec);
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

int ReviewServer::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

const std::string& ReviewServer::technician_pin() const { return impl_->access->technician_pin(); }

Access& ReviewServer::access() { return *impl_->access; }

void ReviewServer::Stop() {
  if (impl_->stopping.exchange(true)) return;
  beast::error_code ec;
  // Unblock accept(): shut the listening socket down, then close it once the loop has left.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  impl_->acceptor.close(ec);
  impl_->jobs->Stop();
  std::unique_lock lock(impl_->mu);
  for (int fd : impl_->open_fds) ::shutdown(fd, SHUT_RDWR);
  impl_->cv.notify_all();
  impl_->cv.wait_for(lock, std::chrono::seconds(10), [&] { return impl_->connections == 0; });
}

}  // namespace twinrig::review
