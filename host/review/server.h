// The review station: a Boost.Beast HTTP + WebSocket server for the technician's dashboard and the
// model's view. `twinrig review` runs it; tests start it on port 0.
//   GET  /…              the built front end (web/dist), nothing outside it
//   /api/…               the JSON API (host/review/api.h); every route but POST /api/login needs a
//                        token (cookie `twinrig_token`, or `Authorization: Bearer`), else 401
//   GET  /api/ws         WebSocket: job output and state changes, pushed as JSON text frames
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/review/auth.h"
#include "util/result.h"

namespace twinrig::review {

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
  int max_connections = 64;
  AccessOptions access;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// Where the front end was built when no --web is given: $TWINRIG_WEB, else the source tree's
// web/dist that scripts/setup builds.
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
  Access& access();
  // Stops accepting, closes every connection, stops a running job; idempotent.
  void Stop();

  struct Impl;

 private:
  explicit ReviewServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace twinrig::review
