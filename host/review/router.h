// The station's request router, transport-free: one parsed HTTP request in, one response out (or
// the go-ahead for a WebSocket). The server (server.cc) does the sockets, timeouts and TLS; the
// fuzz target (host/review/fuzz) drives this same code with arbitrary bytes.
//   gate (host/review/gate.h) → /api/ws upgrade (token) → /api/… (host/review/api.h) → web/dist
#pragma once

#include <boost/beast/http.hpp>
#include <optional>
#include <string>

#include "host/review/api.h"
#include "host/review/auth.h"
#include "host/review/gate.h"

namespace twinrig::review {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

void ApplyLimits(http::request_parser<http::string_body>& parser, const RequestLimits& limits);

// A short response of the station's own for errors before routing (400, 408, 413, 431, 503).
HttpResponse PlainResponse(http::status status, const std::string& text);

struct Routed {
  HttpResponse response;               // to write, unless `websocket` is set
  std::optional<Principal> websocket;  // open a WebSocket for this principal
  std::string token;                   // the token that opened it (checked while it lives)
};

class Router {
 public:
  Router(const ReviewOptions& options, Api& api, Access& access, SiteIdentity site);
  Routed Route(const HttpRequest& request, const std::string& client) const;

 private:
  HttpResponse Static(const HttpRequest& request) const;
  const ReviewOptions& options_;
  Api& api_;
  Access& access_;
  SiteIdentity site_;
};

}  // namespace twinrig::review
