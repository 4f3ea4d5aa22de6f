#include "host/review/router.h"

#include <boost/beast/websocket/rfc6455.hpp>

#include "host/review/static_files.h"
#include "util/files.h"

namespace twinrig::review {
namespace websocket = boost::beast::websocket;

void ApplyLimits(http::request_parser<http::string_body>& parser, const RequestLimits& limits) {
  parser.header_limit(limits.header_bytes);
  parser.body_limit(limits.body_bytes);
}

HttpResponse PlainResponse(http::status status, const std::string& text) {
  HttpResponse res{status, 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(false);
  res.body() = text + "\n";
  res.prepare_payload();
  return res;
}

namespace {

void SecurityHeaders(HttpResponse& res, bool tls) {
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Content-Security-Policy",
          std::string("default-src 'self'; img-src 'self' blob: data:; connect-src 'self' ") +
              (tls ? "wss:" : "ws:") +
              " blob: data:; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; "
              "frame-ancestors 'none'");
  if (tls) res.set("Strict-Transport-Security", "max-age=31536000");
}

HttpResponse JsonError(http::status status, unsigned version, const std::string& what,
                       const std::string& todo) {
  HttpResponse res{status, version};
  res.set(http::field::content_type, "application/json");
  res.body() = DumpJson(
      nlohmann::json{{"error", {{"what", what}, {"where", "review station"}, {"todo", todo}}}});
  return res;
}

}  // namespace

Router::Router(const ReviewOptions& options, Api& api, Access& access, SiteIdentity site)
    : options_(options), api_(api), access_(access), site_(std::move(site)) {}

HttpResponse Router::Static(const HttpRequest& request) const {
  auto plain = [&](http::status status, const char* text) {
    HttpResponse res = PlainResponse(status, text);
    res.version(request.version());
    return res;
  };
  const StaticLookup found = ResolveStatic(options_.web_root, std::string(request.target()));
  if (found.status == 400) return plain(http::status::bad_request, "bad path");
  if (found.status != 200) return plain(http::status::not_found, "not found");
  auto bytes = ReadFileText(found.file);
  if (!bytes.ok()) return plain(http::status::not_found, "not found");
  HttpResponse res{http::status::ok, request.version()};
  res.set(http::field::content_type, MimeType(found.file));
  res.set(http::field::cache_control, "no-cache");
  res.body() = std::move(*bytes);
  return res;
}

Routed Router::Route(const HttpRequest& request, const std::string& client) const {
  Routed out;
  const std::string target(request.target());
  const bool upgrade = websocket::is_upgrade(request);
  GateRequest gate;
  gate.method = std::string(request.method_string());
  gate.target = target;
  gate.host = std::string(request[http::field::host]);
  gate.origin = std::string(request[http::field::origin]);
  gate.sec_fetch_site = std::string(request["Sec-Fetch-Site"]);
  gate.content_type = std::string(request[http::field::content_type]);
  gate.upgrade = upgrade;
  const GateVerdict verdict = CheckGate(gate, site_);
  const bool is_api = target.rfind("/api/", 0) == 0 || target == "/api";

  ApiRequest req;
  req.method = gate.method;
  req.target = target;
  req.client = client;
  req.cookie = std::string(request[http::field::cookie]);
  req.authorization = std::string(request[http::field::authorization]);
  req.tls = site_.tls;

  HttpResponse& res = out.response;
  if (verdict.status != 0) {
    res = JsonError(static_cast<http::status>(verdict.status), request.version(), verdict.what,
                    verdict.todo);
    res.keep_alive(false);  // a refused client gets no second try on this connection
  } else if (upgrade) {
    const std::string token = TokenOf(req);
    const auto who = access_.Lookup(token);
    if (target == "/api/ws" && who) {
      out.websocket = who;
      out.token = token;
      return out;
    }
    res = who ? JsonError(http::status::not_found, request.version(), "no WebSocket here",
                          "use /api/ws")
              : JsonError(http::status::unauthorized, request.version(), "not signed in",
                          "enter your PIN");
    res.keep_alive(false);
  } else if (is_api) {
    req.body = request.body();
    ApiResponse api = api_.Handle(req);
    res = HttpResponse{static_cast<http::status>(api.status), request.version()};
    res.set(http::field::content_type, api.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [k, v] : api.headers) res.insert(k, v);
    res.body() = std::move(api.body);
    res.keep_alive(request.keep_alive());
  } else if (request.method() == http::verb::get || request.method() == http::verb::head) {
    res = Static(request);
    res.keep_alive(request.keep_alive());
  } else {
    res = PlainResponse(http::status::method_not_allowed, "method not allowed");
    res.version(request.version());
    res.keep_alive(request.keep_alive());
  }
  SecurityHeaders(res, site_.tls);
  res.prepare_payload();
  if (request.method() == http::verb::head) {
    // HEAD: the headers of a GET, Content-Length included, and no body.
    const auto length = res.body().size();
    res.body().clear();
    res.content_length(length);
  }
  return out;
}

}  // namespace twinrig::review
