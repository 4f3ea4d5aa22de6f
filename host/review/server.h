// The review station: a Boost.Beast HTTP + WebSocket server for the technician's dashboard and the
// model's view. `twinrig review` runs it; tests start it on port 0.
//   GET  /…              the built front end (web/dist), nothing outside it
//   /api/…               the JSON API (host/review/api.h); every route but POST /api/login needs a
//                        token (cookie `twinrig_token`, or `Authorization: Bearer`), else 401
//   GET  /api/ws         WebSocket: job output and state changes, pushed as JSON text frames
// Every request first passes the gate (host/review/gate.h: own Host, own Origin, JSON bodies).
// Under attack it keeps serving: every connection has deadlines (TLS handshake, headers, body,
// idle keep-alive, writes, WebSocket pings), each client address may hold only so many
// connections, and the work behind a request runs on a pool, off the threads that do the I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/review/auth.h"
#include "util/result.h"

namespace twinrig::review {

// Deadlines and caps of the station's connections.
struct ConnectionLimits {
  std::chrono::milliseconds handshake{10'000};  // TLS handshake
  std::chrono::milliseconds header{10'000};     // a request's whole header, from its first byte
  std::chrono::milliseconds idle{30'000};       // between requests of a kept-alive connection
  std::chrono::milliseconds body{30'000};       // a request's whole body
  std::chrono::milliseconds write{60'000};      // a whole response
  std::chrono::milliseconds ws_idle{30'000};    // a WebSocket that answers no ping for this long
  int max_connections = 512;                    // all clients together
  int max_per_address = 32;                     // one client address
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// Size limits of a request (the server and the fuzz target apply the same).
struct RequestLimits {
  std::uint32_t header_bytes = 16 << 10;  // more: 431
  std::uint64_t body_bytes = 1 << 20;     // more: 413
};

// HTTPS: a certificate and key of the studio's, or one the station makes for itself (kept in
// <studio>/review/tls/ so its fingerprint, which tablets pin, survives restarts).
struct TlsOptions {
  bool enabled = false;
  std::filesystem::path cert;  // PEM; empty with `enabled`: the station's self-signed one
  std::filesystem::path key;   // PEM
};

struct ReviewOptions {
  std::string listen = "127.0.0.1:8440";  // ADDR:PORT; port 0 picks a free one
  std::filesystem::path studio;
  std::filesystem::path web_root;      // the built front end (index.html …)
  std::string twinrig_binary;          // what long operations run (the station's own binary)
  std::filesystem::path consent_text;  // the exact text the model reads and signs
  std::string text_version;
  std::filesystem::path terms;   // consent terms JSON (as `twinrig consent new --terms`)
  std::string technician;        // the witnessing technician's id
  std::string kdf = "moderate";  // Argon2id cost of a new subject key
  std::chrono::seconds job_timeout{3600};
  ConnectionLimits limits;
  RequestLimits request_limits;
  TlsOptions tls;
  std::vector<std::string> host_names;  // names tablets use besides IP addresses and localhost
  AccessOptions access;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// Where the front end is when no --web is given: $TWINRIG_WEB, else <data dir>/web (the installed
// share/twinrig/web, or the build tree's link to web/dist).
std::filesystem::path DefaultWebRoot();

class ReviewServer {
 public:
  // Binds and starts serving on background threads. `notice` receives lines for the station's
  // terminal (subject PINs as they are issued).
  static Result<std::unique_ptr<ReviewServer>> Start(
      const ReviewOptions& options, std::function<void(const std::string&)> notice = {});
  ~ReviewServer();
  ReviewServer(const ReviewServer&) = delete;
  ReviewServer& operator=(const ReviewServer&) = delete;

  [[nodiscard]] std::string address() const;  // "127.0.0.1:8440"
  [[nodiscard]] int port() const;
  [[nodiscard]] const std::string& technician_pin() const;
  [[nodiscard]] bool tls() const;
  // Under TLS: the certificate's SHA-256 fingerprint (AB:CD:…) and the base64 SHA-256 of its
  // public key (what a browser pins with --ignore-certificate-errors-spki-list); else empty.
  [[nodiscard]] const std::string& certificate_fingerprint() const;
  [[nodiscard]] const std::string& public_key_pin() const;
  Access& access();
  // Stops accepting, closes every connection, stops a running job; idempotent.
  void Stop();

  struct Impl;

 private:
  explicit ReviewServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace twinrig::review
