#include "host/review/server.h"

#include <sys/socket.h>

#include <atomic>
#include <utility>  // before Boost.Asio 1.74, whose awaitable.hpp needs std::exchange

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "host/review/api.h"
#include "host/review/jobs.h"
#include "host/review/router.h"
#include "host/review/tls.h"
#include "util/files.h"
#include "util/install_layout.h"
#include "util/logging.h"

namespace twinrig::review {
namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// True for 127.0.0.0/8 and ::1 (a station reachable only from this computer).
bool IsLoopback(const asio::ip::address& address) {
  return address.is_loopback() ||
         (address.is_v6() && address.to_v6().is_v4_mapped() &&
          asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback());
}

}  // namespace

Result<tcp::endpoint> ParseListen(const std::string& listen);

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
  for (auto& p : limits.Validate()) problems.push_back("limits: " + p);
  if (tls.enabled && tls.cert.empty() != tls.key.empty()) {
    problems.push_back("--tls-cert and --tls-key go together");
  }
  if (auto endpoint = ParseListen(listen); !endpoint.ok()) {
    problems.push_back(endpoint.error().what + " (" + listen + ")");
  } else if (!IsLoopback(endpoint->address()) && !tls.enabled) {
    problems.push_back(
        "--listen " + listen +
        " is reachable from other computers, and PINs, tokens and passphrases would cross the "
        "network in clear: add --tls (the station makes a certificate and prints its fingerprint "
        "for the tablets to check) or --tls-cert/--tls-key, or listen on 127.0.0.1");
  }
  return problems;
}

Result<tcp::endpoint> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos)
    return MakeError("--listen needs ADDR:PORT", listen, "e.g. 127.0.0.1:8440");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  const std::string digits = listen.substr(colon + 1);
  const bool numeric =
      !digits.empty() && digits.size() <= 5 &&
      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  const int port = numeric ? std::stoi(digits) : -1;
  if (ec || port < 0 || port > 65535) {
    return MakeError("--listen is not ADDR:PORT", listen, "e.g. 127.0.0.1:8440");
  }
  return tcp::endpoint{address, static_cast<unsigned short>(port)};
}

fs::path DefaultWebRoot() {
  if (const char* env = std::getenv("TWINRIG_WEB"); env != nullptr && *env != '\0') return env;
  return DataDir() / "web";
}

std::vector<std::string> ConnectionLimits::Validate() const {
  std::vector<std::string> problems;
  for (const auto& [name, value] :
       std::vector<std::pair<const char*, std::chrono::milliseconds>>{{"handshake", handshake},
                                                                      {"header", header},
                                                                      {"idle", idle},
                                                                      {"body", body},
                                                                      {"write", write},
                                                                      {"ws_idle", ws_idle}}) {
    if (value.count() < 100) problems.push_back(std::string(name) + " timeout: at least 100 ms");
  }
  if (max_per_address < 2) problems.push_back("max_per_address: at least 2");
  if (max_connections < max_per_address) {
    problems.push_back("max_connections: at least max_per_address");
  }
  return problems;
}

// What the broadcast sees of a WebSocket connection.
struct WsClient {
  Principal who;
  virtual ~WsClient() = default;
  virtual void Push(std::string message) = 0;
};

// The I/O runs on a few threads, every connection on its own strand and with a deadline on each
// step; what a request asks for (SQLite, Argon2id, files) runs on the handler pool, so neither a
// slow client nor a slow request holds up anyone else.
struct ReviewServer::Impl {
  ReviewOptions options;
  std::function<void(const std::string&)> notice;
  std::unique_ptr<Access> access;
  std::unique_ptr<JobRunner> jobs;
  std::unique_ptr<Api> api;
  std::unique_ptr<Router> router;
  std::shared_ptr<ssl::context> tls;
  TlsIdentity tls_identity;
  std::atomic<bool> stopping{false};

  // Connection counts, per address and in all; a Slot holds one for as long as it lives.
  std::mutex mu;
  std::map<std::string, int> per_address;
  int connections = 0;
  std::set<std::shared_ptr<WsClient>> ws_clients;

  asio::thread_pool handlers{4};
  // Last of the members the connections use: its destruction destroys their pending handlers.
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer prune_timer{io};
  std::vector<std::thread> io_threads;

  void Accept();
  void PruneSoon();
  void Broadcast(const nlohmann::json& event);
};

namespace {

// One connection's place in the counts, given back when the connection ends.
class Slot {
 public:
  Slot(ReviewServer::Impl& impl, std::string address) : impl_(impl), address_(std::move(address)) {}
  ~Slot() {
    std::lock_guard lock(impl_.mu);
    --impl_.connections;
    if (--impl_.per_address[address_] <= 0) impl_.per_address.erase(address_);
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  [[nodiscard]] const std::string& address() const { return address_; }

 private:
  ReviewServer::Impl& impl_;
  std::string address_;
};

template <class Stream>
void ShutdownStream(Stream& stream, const std::shared_ptr<void>& keep) {
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    (void)keep;
  } else {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    stream.async_shutdown([keep](beast::error_code) {});
  }
}

}  // namespace

namespace {

template <class Stream>
class WsSession : public WsClient, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  WsSession(ReviewServer::Impl& impl, Stream&& stream, std::shared_ptr<Slot> slot,
            const Principal& who_in, std::string token)
      : impl_(impl),
        ws_(std::move(stream)),
        slot_(std::move(slot)),
        token_(std::move(token)),
        check_(ws_.get_executor()) {
    who = who_in;
  }

  void Start(HttpRequest request) {
    beast::get_lowest_layer(ws_).expires_never();  // the WebSocket's own timeouts take over
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = impl_.options.limits.handshake;
    timeouts.idle_timeout = impl_.options.limits.ws_idle;  // a ping at half of it
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.read_message_max(4096);  // clients only close and pong
    ws_.text(true);
    ws_.async_accept(request, [self = this->shared_from_this()](beast::error_code ec) {
      if (!ec) self->OnAccepted();
    });
  }

  void Push(std::string message) override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), m = std::move(message)] {
      if (self->closing_) return;
      self->queue_.push_back(m);
      while (self->queue_.size() > 1000) self->queue_.pop_front();  // a stuck reader loses news
      if (!self->writing_) self->WriteNext();
    });
  }

 private:
  void OnAccepted() {
    {
      std::lock_guard lock(impl_.mu);
      impl_.ws_clients.insert(this->shared_from_this());
    }
    queue_.push_back(R"({"type":"hello"})");
    WriteNext();
    Read();
    Check();
  }

  void Read() {
    ws_.async_read(incoming_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->End();
      self->incoming_.consume(self->incoming_.size());
      self->Read();
    });
  }

  // Every second: a token that was logged out, revoked or expired closes the socket.
  void Check() {
    check_.expires_after(std::chrono::seconds(1));
    check_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closing_) return;
      if (self->impl_.stopping || !self->impl_.access->Lookup(self->token_)) {
        self->Close(self->impl_.stopping ? websocket::close_code::going_away
                                         : websocket::close_code::policy_error);
        return;
      }
      self->Check();
    });
  }

  void WriteNext() {
    if (queue_.empty() || closing_) {
      writing_ = false;
      if (close_pending_) Close(close_code_);
      return;
    }
    writing_ = true;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    ws_.async_write(asio::buffer(current_),
                    [self = this->shared_from_this()](beast::error_code ec, size_t) {
                      if (ec) {
                        self->writing_ = false;
                        return self->End();
                      }
                      self->WriteNext();
                    });
  }

  void Close(websocket::close_code code) {
    if (closing_) return;
    if (writing_) {  // one write at a time: the close follows the frame being written
      close_pending_ = true;
      close_code_ = code;
      return;
    }
    closing_ = true;
    ws_.async_close(code, [self = this->shared_from_this()](beast::error_code) { self->End(); });
  }

  void End() {
    closing_ = true;
    check_.cancel();
    std::lock_guard lock(impl_.mu);
    impl_.ws_clients.erase(this->shared_from_this());
  }

  ReviewServer::Impl& impl_;
  websocket::stream<Stream> ws_;
  std::shared_ptr<Slot> slot_;
  std::string token_;
  asio::steady_timer check_;
  beast::flat_buffer incoming_;
  std::deque<std::string> queue_;
  std::string current_;
  bool writing_ = false;
  bool closing_ = false;
  bool close_pending_ = false;
  websocket::close_code close_code_ = websocket::close_code::normal;
};

template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  HttpSession(ReviewServer::Impl& impl, Stream&& stream, std::shared_ptr<Slot> slot)
      : impl_(impl), stream_(std::move(stream)), slot_(std::move(slot)) {}

  void Start() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      ReadHeader();
    } else {
      beast::get_lowest_layer(stream_).expires_after(impl_.options.limits.handshake);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec) self->ReadHeader();
                              });
    }
  }

 private:
  const ConnectionLimits& limits() const { return impl_.options.limits; }

  void ReadHeader() {
    parser_.emplace();
    ApplyLimits(*parser_, impl_.options.request_limits);
    // One deadline for the wait and the whole header: a header sent a byte at a time ends too.
    beast::get_lowest_layer(stream_).expires_after(first_ ? limits().header : limits().idle);
    first_ = false;
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return Refuse(ec);
    beast::get_lowest_layer(stream_).expires_after(limits().body);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec2, size_t) { self->OnRequest(ec2); });
  }

  // A request that could not be read: a clean status where there is one to give, then close.
  void Refuse(beast::error_code ec) {
    const RequestLimits& sizes = impl_.options.request_limits;
    if (ec == http::error::header_limit) {
      return WriteAndClose(PlainResponse(
          http::status::request_header_fields_too_large,
          "request header too large (" + std::to_string(sizes.header_bytes) + " bytes at most)"));
    }
    if (ec == http::error::body_limit) {
      return WriteAndClose(PlainResponse(
          http::status::payload_too_large,
          "request body too large (" + std::to_string(sizes.body_bytes) + " bytes at most)"));
    }
    if (ec == beast::error::timeout) {
      if (buffer_.size() == 0 && !parser_->got_some()) return Close();  // idle: just close
      return WriteAndClose(PlainResponse(http::status::request_timeout, "request too slow"));
    }
    const bool http_error =
        ec.category() == http::make_error_code(http::error::bad_method).category();
    if (http_error && ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return WriteAndClose(PlainResponse(http::status::bad_request, "malformed HTTP request"));
    }
    Close();  // the client went away
  }

  void OnRequest(beast::error_code ec) {
    if (ec) return Refuse(ec);
    beast::get_lowest_layer(stream_).expires_never();  // the handler's time is not the client's
    auto request = std::make_shared<HttpRequest>(parser_->release());
    asio::post(impl_.handlers, [self = this->shared_from_this(), request] {
      auto routed =
          std::make_shared<Routed>(self->impl_.router->Route(*request, self->slot_->address()));
      asio::post(self->stream_.get_executor(),
                 [self, request, routed] { self->Respond(*request, std::move(*routed)); });
    });
  }

  void Respond(HttpRequest& request, Routed routed) {
    if (impl_.stopping) return;
    if (routed.websocket) {
      auto ws = std::make_shared<WsSession<Stream>>(impl_, std::move(stream_), slot_,
                                                    *routed.websocket, routed.token);
      ws->Start(std::move(request));
      return;
    }
    response_ = std::make_shared<HttpResponse>(std::move(routed.response));
    beast::get_lowest_layer(stream_).expires_after(limits().write);
    http::async_write(stream_, *response_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return;
                        if (!self->response_->keep_alive()) return self->Close();
                        self->ReadHeader();
                      });
  }

  void WriteAndClose(HttpResponse response) {
    response_ = std::make_shared<HttpResponse>(std::move(response));
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    http::async_write(
        stream_, *response_,
        [self = this->shared_from_this()](beast::error_code, size_t) { self->Close(); });
  }

  void Close() { ShutdownStream(stream_, this->shared_from_this()); }

  ReviewServer::Impl& impl_;
  Stream stream_;
  std::shared_ptr<Slot> slot_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpResponse> response_;
  bool first_ = true;
};

}  // namespace

void ReviewServer::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping || !acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors or the like: wait a moment rather than spin.
      auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(50));
      timer->async_wait([this, timer](beast::error_code) { Accept(); });
      return;
    }
    beast::error_code ignored;
    const std::string address = socket.remote_endpoint(ignored).address().to_string();
    bool admitted = false;
    {
      std::lock_guard lock(mu);
      if (connections < options.limits.max_connections &&
          per_address[address] < options.limits.max_per_address) {
        ++connections;
        ++per_address[address];
        admitted = true;
      } else if (per_address[address] == 0) {
        per_address.erase(address);
      }
    }
    if (!admitted) {
      // Over the cap: a short answer if the socket takes it at once, never a wait for this client.
      static const std::string kBusy =
          "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n"
          "Connection: close\r\n\r\n";
      socket.non_blocking(true, ignored);
      if (!tls) ::send(socket.native_handle(), kBusy.data(), kBusy.size(), MSG_NOSIGNAL);
      socket.close(ignored);
    } else {
      auto slot = std::make_shared<Slot>(*this, address);
      beast::tcp_stream stream(std::move(socket));
      if (tls) {
        std::make_shared<HttpSession<beast::ssl_stream<beast::tcp_stream>>>(
            *this, beast::ssl_stream<beast::tcp_stream>(std::move(stream), *tls), std::move(slot))
            ->Start();
      } else {
        std::make_shared<HttpSession<beast::tcp_stream>>(*this, std::move(stream), std::move(slot))
            ->Start();
      }
    }
    Accept();
  });
}

// Expired tokens, PINs and failure counts go once a minute even when nobody logs in.
void ReviewServer::Impl::PruneSoon() {
  prune_timer.expires_after(std::chrono::seconds(60));
  prune_timer.async_wait([this](beast::error_code ec) {
    if (ec || stopping) return;
    access->Prune(Access::Clock::now());
    PruneSoon();
  });
}

void ReviewServer::Impl::Broadcast(const nlohmann::json& event) {
  const std::string text = DumpJson(event);
  const std::string session = event.contains("job") && event["job"].is_object()
                                  ? event["job"].value("session", "")
                                  : event.value("session", "");
  std::lock_guard lock(mu);
  for (const auto& client : ws_clients) {
    // A subject hears only that their session changed, never the technician's job output.
    if (client->who.role == Role::kSubject) {
      if (event.value("event", "") != "ended" || client->who.session_id != session) continue;
      client->Push(nlohmann::json{{"type", "state"}, {"session", session}}.dump());
    } else {
      client->Push(text);
    }
  }
}

Result<std::unique_ptr<ReviewServer>> ReviewServer::Start(
    const ReviewOptions& options, std::function<void(const std::string&)> notice) {
  if (auto problems = options.Validate(); !problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    return MakeError("the review station cannot start: " + all, "twinrig review",
                     "fix the options named");
  }
  auto listen = ParseListen(options.listen);
  if (!listen.ok()) return listen.error();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->notice = std::move(notice);
  if (options.tls.enabled) {
    std::vector<std::string> names = options.host_names;
    names.push_back(listen->address().to_string());
    auto identity = options.tls.cert.empty()
                        ? EnsureSelfSigned(options.studio / "review" / "tls", names)
                        : LoadTlsIdentity(options.tls.cert, options.tls.key);
    if (!identity.ok()) return identity.error();
    auto context = MakeServerContext(*identity);
    if (!context.ok()) return context.error();
    impl->tls_identity = *identity;
    impl->tls = *context;
  }
  impl->access = std::make_unique<Access>(options.access);
  impl->jobs = std::make_unique<JobRunner>(options.twinrig_binary, options.studio.string(),
                                           options.job_timeout);
  impl->api = std::make_unique<Api>(options, *impl->access, *impl->jobs, impl->notice);
  Impl* raw = impl.get();
  impl->jobs->SetListener([raw](const nlohmann::json& event) {
    raw->api->OnJobEvent(event);
    raw->Broadcast(event);
  });
  beast::error_code ec;
  const tcp::endpoint& endpoint = *listen;
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError("cannot listen on " + options.listen + ": " + ec.message(), options.listen,
                     "choose another --listen address or stop what uses it");
  }
  SiteIdentity site;
  site.tls = options.tls.enabled;
  site.port = impl->acceptor.local_endpoint(ec).port();
  for (const auto& name : options.host_names) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    site.host_names.push_back(lower);
  }
  impl->router = std::make_unique<Router>(impl->options, *impl->api, *impl->access, site);
  impl->Accept();
  impl->PruneSoon();
  for (int i = 0; i < 2; ++i) impl->io_threads.emplace_back([raw] { raw->io.run(); });
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

bool ReviewServer::tls() const { return impl_->tls != nullptr; }

const std::string& ReviewServer::certificate_fingerprint() const {
  return impl_->tls_identity.fingerprint;
}

const std::string& ReviewServer::public_key_pin() const {
  return impl_->tls_identity.public_key_pin;
}

Access& ReviewServer::access() { return *impl_->access; }

void ReviewServer::Stop() {
  if (impl_->stopping.exchange(true)) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->prune_timer.cancel();
  });
  impl_->jobs->Stop();
  impl_->handlers.join();  // the requests being handled finish; their answers are not sent
  // WebSockets see `stopping` within a second and close with "going away".
  for (int i = 0; i < 30; ++i) {
    {
      std::lock_guard lock(impl_->mu);
      if (impl_->ws_clients.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  impl_->io.stop();
  for (auto& t : impl_->io_threads) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(impl_->mu);
  impl_->ws_clients.clear();
}

}  // namespace twinrig::review
