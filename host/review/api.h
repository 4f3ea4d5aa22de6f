// The station's JSON API, transport-free: the server turns each HTTP request into an ApiRequest
// and writes the ApiResponse back, so the routes are testable without sockets. Quick reads and the
// consent steps are library calls (host/usecases, store/, host/session, consent/); long operations
// are `twinrig` subcommands run by the JobRunner.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "host/review/auth.h"
#include "host/review/jobs.h"
#include "host/review/server.h"

namespace twinrig::review {

struct ApiRequest {
  std::string method;  // GET, POST, …
  std::string target;  // path and query
  std::string body;
  std::string client;  // remote IP address
  std::string cookie;  // the Cookie header
  std::string authorization;
  bool tls = false;  // arrived over TLS: the cookies are then __Host- prefixed and Secure
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// JSON text of `value`; bytes that are not UTF-8 (a client's path, a job's output) become U+FFFD
// instead of throwing.
std::string DumpJson(const nlohmann::json& value);

// The token a request carries (cookie twinrig_token, __Host-twinrig_token under TLS, or
// Authorization: Bearer), or empty.
std::string TokenOf(const ApiRequest& request);
// The value of cookie `name` in a Cookie header, or empty.
std::string CookieValue(std::string_view header, std::string_view name);
// The token cookie's name: `__Host-` prefixed under TLS (the browser then keeps it to this host,
// path / and HTTPS).
std::string TokenCookieName(bool tls);

// One camera line of `twinrig preflight` output, as the dashboard shows it.
struct CameraReadiness {
  std::string serial;
  std::string port;
  std::string state;  // ok, FIX, MISSING
  std::string battery;
  long free_frames = 0;
  std::map<std::string, std::string> settings;
  bool settings_match = true;
  std::vector<std::string> problems;  // to-fix lines that name this camera
};
struct NodeReadiness {
  std::string endpoint;
  bool online = false;
  double sync_error_us = -1;
};
struct PreflightView {
  bool ran = false;
  bool ready = false;
  std::string at;
  std::map<std::string, CameraReadiness> cameras;
  std::vector<NodeReadiness> nodes;
  std::vector<std::string> to_fix;
};
// Reads what `twinrig preflight --json` prints (host/session/preflight.cc PreflightJson): the
// first line that is a JSON object with cameras; a view that did not run when there is none.
PreflightView ParsePreflightOutput(const std::vector<std::string>& lines);

class Api {
 public:
  Api(ReviewOptions options, Access& access, JobRunner& jobs,
      std::function<void(const std::string&)> notice);

  ApiResponse Handle(const ApiRequest& request);
  // Called with every job event (to keep the preflight view current).
  void OnJobEvent(const nlohmann::json& event);

 private:
  struct Route;
  ApiResponse Login(const ApiRequest& request);
  ApiResponse Studio();
  ApiResponse NewSession(const nlohmann::json& body);
  ApiResponse SessionStatus(const Principal& who, const std::string& session);
  ApiResponse IssuePin(const std::string& session);
  ApiResponse StartJob(const std::string& session, const std::string& kind,
                       const nlohmann::json& body);
  ApiResponse ConsentText(const std::string& session);
  ApiResponse SignConsent(const std::string& session, const nlohmann::json& body);
  ApiResponse SubjectSign(const std::string& session, const nlohmann::json& body);
  ApiResponse Review(const std::string& session, const nlohmann::json& body);
  ApiResponse RevokeGrant(const std::string& session, const nlohmann::json& body);
  ApiResponse Seal(const std::string& session, const nlohmann::json& body);
  ApiResponse Countersign(const std::string& session, const nlohmann::json& body);
  ApiResponse ProposeGrants(const std::string& session, const nlohmann::json& body);
  ApiResponse ExportTwin(const std::string& session, const nlohmann::json& body);
  ApiResponse SessionFile(const std::string& session, const std::filesystem::path& relative);

  ReviewOptions options_;
  Access& access_;
  JobRunner& jobs_;
  std::function<void(const std::string&)> notice_;
  std::mutex consent_mu_;  // one consent chain change at a time
  mutable std::mutex view_mu_;
  PreflightView preflight_;
};

}  // namespace twinrig::review
