#include "host/review/gate.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>

namespace twinrig::review {
namespace {

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string Trim(const std::string& text) {
  const size_t a = text.find_first_not_of(" \t");
  if (a == std::string::npos) return {};
  const size_t b = text.find_last_not_of(" \t");
  return text.substr(a, b - a + 1);
}

bool IsIpLiteral(const std::string& name) {
  boost::system::error_code ec;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    const auto v6 = boost::asio::ip::make_address_v6(name.substr(1, name.size() - 2), ec);
    return !ec && v6.scope_id() == 0;
  }
  boost::asio::ip::make_address_v4(name, ec);
  return !ec;
}

// Host header → name and port; false when it is not NAME[:PORT] with a decimal port.
bool SplitHost(const std::string& host, std::string& name, int& port) {
  const size_t bracket = host.rfind(']');
  const size_t colon = host.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    const std::string digits = host.substr(colon + 1);
    if (digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    port = std::stoi(digits);
    name = host.substr(0, colon);
  } else {
    port = -1;
    name = host;
  }
  return !name.empty();
}

}  // namespace

bool ChangesState(const std::string& method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

GateVerdict CheckGate(const GateRequest& request, const SiteIdentity& site) {
  const std::string host = Lower(Trim(request.host));
  std::string name;
  int port = -1;
  if (host.empty() || !SplitHost(host, name, port)) {
    return {400, "the request has no usable Host header", "send Host: ADDRESS:PORT"};
  }
  const int default_port = site.tls ? 443 : 80;
  const bool port_ok = port == site.port || (port == -1 && site.port == default_port);
  const bool name_ok =
      IsIpLiteral(name) || name == "localhost" ||
      std::find(site.host_names.begin(), site.host_names.end(), name) != site.host_names.end();
  if (!name_ok || !port_ok) {
    return {403, "this station does not answer to the host name " + host,
            "open the station by its IP address (or a name given with --host-name)"};
  }
  if (ChangesState(request.method) || request.upgrade) {
    const std::string origin = Lower(Trim(request.origin));
    const std::string own = std::string(site.tls ? "https://" : "http://") + host;
    if (!origin.empty() && origin != own) {
      return {403, "cross-site request refused (Origin " + origin + ")",
              "use the station's own page at " + own};
    }
    const std::string fetch_site = Lower(Trim(request.sec_fetch_site));
    if (fetch_site == "cross-site" || fetch_site == "same-site") {
      return {403, "cross-site request refused (Sec-Fetch-Site " + fetch_site + ")",
              "use the station's own page at " + own};
    }
  }
  const bool api = request.target.rfind("/api/", 0) == 0 || request.target == "/api";
  if (api && ChangesState(request.method)) {
    const std::string type = Lower(Trim(request.content_type.substr(
        0, std::min(request.content_type.size(), request.content_type.find(';')))));
    if (type != "application/json") {
      return {415,
              "the station's API takes application/json, not " +
                  (type.empty() ? std::string("a body without a Content-Type") : type),
              "send Content-Type: application/json"};
    }
  }
  return {};
}

}  // namespace twinrig::review
