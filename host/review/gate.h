// What the station checks before any route sees a request, so a web page on another site (or one
// that rebinds its DNS name to the station's address) cannot act with the browser's cookie:
//   Host     an IP address literal, `localhost` or a name the station was given, with its port;
//            anything else is 403 (DNS rebinding sends the attacker's name)
//   Origin   on every state-changing request and WebSocket upgrade, when present, the station's own
//            (scheme://Host); a foreign one, or `null`, is 403. Browsers always send it there;
//            a client without one (curl, a script) is no browser and carries no ambient cookie.
//            Sec-Fetch-Site, when present, must not say cross-site or same-site either.
//   Content-Type  application/json on every state-changing API request (415 otherwise): a form or
//            text/plain POST is what another site can send without asking first.
#pragma once

#include <string>
#include <vector>

namespace twinrig::review {

// How the station is reached: its scheme, port and any host names besides IP literals/localhost.
struct SiteIdentity {
  bool tls = false;
  int port = 0;
  std::vector<std::string> host_names;  // lower case
};

struct GateRequest {
  std::string method;  // GET, POST, …
  std::string target;
  std::string host;
  std::string origin;
  std::string sec_fetch_site;
  std::string content_type;
  bool upgrade = false;  // a WebSocket upgrade
};

struct GateVerdict {
  int status = 0;  // 0: let it through; else 400, 403 or 415
  std::string what;
  std::string todo;
};

GateVerdict CheckGate(const GateRequest& request, const SiteIdentity& site);

// True for the methods that may change state (everything but GET, HEAD, OPTIONS).
bool ChangesState(const std::string& method);

}  // namespace twinrig::review
