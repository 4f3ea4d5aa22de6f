#include "host/review/api.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "consent/audit.h"
#include "consent/gates.h"
#include "consent/keys.h"
#include "consent/records.h"
#include "consent/vault.h"
#include "host/review/static_files.h"
#include "host/session/journal.h"
#include "host/session/session.h"
#include "host/studio/rig_file.h"
#include "host/studio/studio_paths.h"
#include "host/usecases/consent.h"
#include "host/usecases/studio.h"
#include "store/catalog.h"
#include "util/clock.h"
#include "util/files.h"
#include "util/logging.h"
#include "util/subprocess.h"

namespace twinrig::review {
namespace fs = std::filesystem;
namespace cs = twinrig::consent;
using nlohmann::json;

namespace {

std::string DeviceCookieName(bool tls) { return tls ? "__Host-twinrig_device" : "twinrig_device"; }

// Attributes of the station's cookies: scripts never see them, other sites never send them, and
// under TLS they travel over HTTPS only.
std::string CookieAttributes(bool tls) {
  return std::string("; Path=/; HttpOnly; SameSite=Strict") + (tls ? "; Secure" : "");
}

ApiResponse Json(int status, const json& body) {
  return {status, "application/json", DumpJson(body), {}};
}

// What a browser is told: the station's file paths (a key file, the catalog) stay in its log, and
// a wrong passphrase is said in words for the person at the screen, not for a passphrase file.
ApiResponse Fail(int status, const Error& error) {
  std::string where = error.where;
  std::string todo = error.todo;
  if (where.find('/') != std::string::npos && fs::path(where).is_absolute()) {
    Log().Warn("{} ({})", error.what, where);
    where.clear();
  }
  if (error.what.rfind("wrong passphrase", 0) == 0) {
    return Json(status, {{"error",
                          {{"what", "wrong passphrase"},
                           {"where", where},
                           {"todo",
                            "type it again (letters and case exactly as chosen); nobody can "
                            "recover a forgotten one"}}}});
  }
  return Json(status, {{"error", {{"what", error.what}, {"where", where}, {"todo", todo}}}});
}

ApiResponse Fail(int status, const std::string& what, const std::string& where = {},
                 const std::string& todo = {}) {
  return Fail(status, MakeError(what, where, todo));
}

// A key that did not open, said for the screen: whose passphrase it was.
Error KeyError(Error error, const std::string& whose) {
  error.where = whose;
  return error;
}

// Errors from the consent library are the person's to fix (wrong passphrase, nothing to sign …).
ApiResponse Refused(const Error& error) { return Fail(422, error); }

// A use case's failure as the HTTP status that says what kind it is.
ApiResponse Fail(const usecases::Failure& failure) {
  switch (failure.why) {
    case usecases::Why::kBadRequest:
      return Fail(400, failure.error);
    case usecases::Why::kDenied:
      return Fail(403, failure.error);
    case usecases::Why::kNotFound:
      return Fail(404, failure.error);
    case usecases::Why::kConflict:
      return Fail(409, failure.error);
    case usecases::Why::kRefused:
      return Fail(422, failure.error);
    case usecases::Why::kInternal:
      break;
  }
  return Fail(500, failure.error);
}

std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string Str(const json& body, const char* key) {
  if (!body.is_object() || !body.contains(key) || !body[key].is_string()) return {};
  return body[key].get<std::string>();
}

// Reads the journal without creating it (Journal::Open would), tolerating a torn last line.
session::JournalState ReadJournal(const fs::path& file) {
  session::JournalState state;
  auto text = ReadFileText(file);
  if (!text.ok()) return state;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json event = json::parse(line, nullptr, false);
    if (event.is_discarded() || !event.is_object()) continue;
    session::Journal::Apply(state, event);
  }
  return state;
}

Result<store::Catalog> OpenCatalog(const fs::path& studio) { return store::Catalog::Open(studio); }

std::string Summary(const cs::StoredRecord& rec) {
  if (rec.type == "grant" || rec.type == "amendment") {
    std::string s;
    for (const auto& g : rec.body.value("grants", json::array())) {
      if (!s.empty()) s += "; ";
      s += g.value("grant_id", "") + ": " + g["licensee"].value("name", "") + ", " +
           g.value("purpose", "") + " (" + g.value("not_before", "") + " to " +
           g.value("not_after", "") + ")";
    }
    return s;
  }
  if (rec.type == "twin_approval" || rec.type == "twin_rejection")
    return rec.body.value("note", "");
  if (rec.type == "revocation") return rec.body.value("reason", "");
  return {};
}

// The dashboard's camera tiles: readiness from the last preflight, each take's frame, the newest
// thumbnail; the images they link to are added to `images`.
// Where each camera stands (the rig file's planned position): the tiles and the rig map are laid
// out by it. A rig file that cannot be read leaves the tiles by serial.
std::map<std::string, studio::Vec3> RigPositions(const fs::path& studio_folder,
                                                 const std::string& rig_name) {
  std::map<std::string, studio::Vec3> positions;
  auto rig = studio::ReadRigFile(studio::StudioPaths(studio_folder).RigFile(rig_name));
  if (rig.ok()) {
    for (const auto& spec : rig->cameras) positions[spec.serial] = spec.position;
  }
  return positions;
}

json CameraTiles(const session::SessionInfo& info, const std::string& base,
                 const session::JournalState& journal, const PreflightView& preflight,
                 const std::map<std::string, studio::Vec3>& positions, bool capturing,
                 json& images) {
  const int last_take = journal.LastTake();
  json cameras = json::array();
  for (const auto& cam : info.cameras) {
    json c = {{"serial", cam.serial}, {"address", cam.address}, {"node", cam.node_id}};
    if (auto p = positions.find(cam.serial); p != positions.end()) c["position"] = p->second;
    auto it = preflight.cameras.find(cam.serial);
    if (it != preflight.cameras.end()) {
      const CameraReadiness& r = it->second;
      c["state"] = r.state == "ok" ? "ready" : (r.state == "MISSING" ? "missing" : "fix");
      c["connected"] = r.state != "MISSING";
      c["battery"] = r.battery;
      c["free_frames"] = r.free_frames;
      c["settings_match"] = r.settings_match;
      c["settings"] = r.settings;
      c["problems"] = r.problems;
    } else {
      c["state"] = "unknown";
    }
    json takes = json::array();
    std::string thumbnail;
    for (const auto& [n, take] : journal.takes) {
      if (std::find(take.cameras.begin(), take.cameras.end(), cam.serial) == take.cameras.end()) {
        continue;
      }
      auto f = take.frames.find(cam.serial);
      const bool fired = f != take.frames.end() && f->second.fired();
      const bool verified = f != take.frames.end() && f->second.verified();
      takes.push_back({{"take", n},
                       {"fired", fired},
                       {"downloaded", verified},
                       {"verified", verified},
                       {"closed", take.closed},
                       {"error", f != take.frames.end() ? f->second.last_error : ""}});
      if (verified) {
        const fs::path rel = *f->second.path;
        if (fs::exists(info.folder / rel)) {
          thumbnail = base + "/images/" + cam.serial + "/" + rel.filename().string();
          images.push_back({{"serial", cam.serial}, {"take", n}, {"url", thumbnail}});
        }
      }
    }
    // A camera whose frame of the newest finished take is missing: the tile flashes.
    bool missed = false;
    if (last_take > 0) {
      const auto& take = journal.takes.at(last_take);
      const bool planned =
          std::find(take.cameras.begin(), take.cameras.end(), cam.serial) != take.cameras.end();
      auto f = take.frames.find(cam.serial);
      missed = planned && take.closed && (f == take.frames.end() || !f->second.verified());
      if (!capturing && planned && (f == take.frames.end() || !f->second.verified())) {
        missed = true;
      }
    }
    // A fault the preflight saw is stale once the camera delivered a verified frame of the newest
    // take: it works now.
    if (last_take > 0 && !missed && c["state"] != "ready" && c["state"] != "unknown" &&
        !takes.empty() && takes.back()["take"] == last_take && takes.back()["verified"] == true) {
      c["state"] = "ready";
      c["problems"] = json::array();
    }
    c["takes"] = takes;
    c["thumbnail"] = thumbnail;
    c["missed"] = missed;
    cameras.push_back(c);
  }
  return cameras;
}

// The session's consent chain as the dashboard shows it: records, state, grants.
json ConsentView(store::Catalog& catalog, const std::string& id) {
  json consent = {{"records", json::array()}};
  {
    auto chain = cs::Chain::ForSession(catalog, id);
    if (!chain.ok()) {
      consent["error"] = chain.error().Describe();
    } else {
      const cs::EffectiveState& s = chain->state();
      for (const auto& rec : chain->records()) {
        json missing = rec.MissingRoles();
        const bool complete =
            cs::AnyOneRoleSuffices(rec.type) ? !rec.signatures.empty() : rec.MissingRoles().empty();
        if (complete) missing = json::array();
        consent["records"].push_back({{"seq", rec.seq},
                                      {"type", rec.type},
                                      {"complete", complete},
                                      {"missing", missing},
                                      {"sha256", rec.sha256},
                                      {"summary", Summary(rec)}});
      }
      consent["consented"] = s.consent != nullptr && !chain->records().empty() &&
                             chain->records().front().MissingRoles().empty();
      consent["sealed"] = s.seal != nullptr;
      consent["twin"] =
          s.twin == nullptr ? "not reviewed" : (s.twin_approved ? "approved" : "rejected");
      consent["destroyed"] = s.destroyed;
      consent["all_revoked"] = s.all_revoked;
      consent["pending"] = s.pending;
      if (!chain->records().empty()) {
        const auto& newest = chain->records().back();
        consent["newest"] = {{"seq", newest.seq}, {"type", newest.type}};
        if (s.pending) consent["pending_record"] = newest.bytes;
      }
      json grants = json::array();
      for (const auto& [gid, g] : s.grants) {
        grants.push_back({{"grant_id", gid},
                          {"licensee", g.grant["licensee"].value("name", "")},
                          {"licensee_id", g.grant["licensee"].value("id", "")},
                          {"purpose", g.grant.value("purpose", "")},
                          {"media", g.grant.value("media", json::array())},
                          {"territory", g.grant.value("territory", json::array())},
                          {"not_before", g.grant.value("not_before", "")},
                          {"not_after", g.grant.value("not_after", "")},
                          {"revoked", s.all_revoked || s.revoked_grants.count(gid) > 0},
                          {"terms", g.grant}});  // pay and AI use, read as sentences
      }
      consent["grants"] = grants;
    }
  }
  return consent;
}

// One line per take: cameras planned, fired and verified.
json TakesSummary(const session::JournalState& journal) {
  json takes = json::array();
  for (const auto& [n, take] : journal.takes) {
    int fired = 0;
    int verified = 0;
    for (const auto& [serial, f] : take.frames) {
      fired += f.fired() ? 1 : 0;
      verified += f.verified() ? 1 : 0;
    }
    json accepted = json::array();
    for (const auto& [serial, f] : take.frames) {
      if (f.accepted_missing)
        accepted.push_back({{"serial", serial}, {"reason", *f.accepted_missing}});
    }
    takes.push_back({{"take", n},
                     {"cameras", take.cameras.size()},
                     {"fired", fired},
                     {"verified", verified},
                     {"closed", take.closed},
                     {"missing", take.Missing()},
                     {"accepted_missing", accepted}});
  }
  return takes;
}

// The reconstruction's stages in the order a run reports them (twinrig reconstruct prints a line
// per finished stage: "  <stage>  <s> s  (<elapsed> s)  <detail>").
const std::vector<std::string>& ReconstructStages() {
  static const std::vector<std::string> kStages = {
      "prepare", "features", "matches", "triangulation", "depth",
      "fusion",  "poisson",  "cleanup", "texture",       "export"};
  return kStages;
}

// What a long step has done, for both screens: its stage, percent and time left (-1: not known
// yet), and on failure the lines of its output that say what went wrong.
json JobActivity(const JobInfo& job, const session::JournalState& journal) {
  json a = {{"kind", job.kind},
            {"running", job.running},
            {"ok", job.succeeded()},
            {"exit_code", job.exit_code},
            {"seconds", job.Seconds()},
            {"stage", ""},
            {"percent", -1},
            {"seconds_left", -1},
            {"problems", json::array()}};
  double fraction = -1;
  if (job.kind == "capture" || job.kind == "resume" || job.kind == "retake") {
    // The newest take's frames: fired, then verified on the station.
    const int last = journal.LastTake();
    if (last > 0) {
      const auto& take = journal.takes.at(last);
      size_t fired = 0;
      size_t verified = 0;
      for (const auto& [serial, f] : take.frames) {
        fired += f.fired() ? 1 : 0;
        verified += f.settled() ? 1 : 0;
      }
      const size_t planned = std::max<size_t>(take.cameras.size(), 1);
      a["stage"] = verified == planned ? "verified"
                   : fired < planned   ? "firing and downloading"
                                       : "downloading and verifying";
      fraction = (static_cast<double>(fired) + static_cast<double>(verified)) /
                 (2.0 * static_cast<double>(planned));
    }
  }
  if (job.kind == "reconstruct") {
    const auto& stages = ReconstructStages();
    for (const auto& line : job.lines) {
      std::istringstream in(line);
      std::string word;
      in >> word;
      const auto it = std::find(stages.begin(), stages.end(), word);
      if (it == stages.end()) continue;
      const auto done = static_cast<size_t>(it - stages.begin()) + 1;
      fraction = static_cast<double>(done) / static_cast<double>(stages.size());
      a["stage"] = done < stages.size() ? stages[done] : "done";
    }
    if (a["stage"] == "") a["stage"] = stages.front();
  }
  if (fraction >= 0) {
    if (!job.running && job.succeeded()) fraction = 1;
    a["percent"] = std::lround(fraction * 100);
    if (job.running && fraction > 0.02) {
      a["seconds_left"] = std::lround(job.Seconds() * (1 - fraction) / fraction);
    }
  }
  if (!job.running && !job.succeeded()) {
    json problems = json::array();
    for (const auto& line : job.lines) {
      const bool says = line.rfind("error: ", 0) == 0 || line.rfind("STOPPED: ", 0) == 0 ||
                        line.rfind("  camera ", 0) == 0 || line.rfind("INCOMPLETE: ", 0) == 0;
      if (says && problems.size() < 12)
        problems.push_back(line.substr(line.find_first_not_of(' ')));
    }
    a["problems"] = problems;
  }
  return a;
}

}  // namespace

std::string DumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string CookieValue(std::string_view header, std::string_view name) {
  // Cookie: a=b; twinrig_token=…; c=d
  std::string_view c = header;
  while (!c.empty()) {
    size_t end = c.find(';');
    std::string_view part = c.substr(0, end);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name &&
        part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
    if (end == std::string_view::npos) break;
    c.remove_prefix(end + 1);
  }
  return {};
}

std::string TokenCookieName(bool tls) { return tls ? "__Host-twinrig_token" : "twinrig_token"; }

std::string TokenOf(const ApiRequest& request) {
  const std::string bearer = "Bearer ";
  if (request.authorization.rfind(bearer, 0) == 0)
    return request.authorization.substr(bearer.size());
  return CookieValue(request.cookie, TokenCookieName(request.tls));
}

PreflightView ParsePreflightOutput(const std::vector<std::string>& lines) {
  PreflightView view;
  json report;
  for (const auto& line : lines) {
    if (line.empty() || line.front() != '{') continue;
    report = json::parse(line, nullptr, false);
    if (report.is_object() && report.contains("cameras")) break;
    report = json();
  }
  if (!report.is_object()) return view;
  view.ran = true;
  view.at = UtcIsoNow();
  view.ready = report.value("ready", false);
  view.to_fix = report.value("to_fix", std::vector<std::string>{});
  for (const auto& c : report.value("cameras", json::array())) {
    CameraReadiness cam;
    cam.serial = c.value("serial", "");
    cam.port = c.value("port", "");
    cam.state = c.value("state", "");
    cam.battery = c.value("battery", "");
    if (cam.battery.empty()) cam.battery = "-";
    cam.free_frames = c.value("free_frames", 0L);
    cam.settings = c.value("settings", std::map<std::string, std::string>{});
    cam.problems = c.value("problems", std::vector<std::string>{});
    if (!cam.serial.empty()) view.cameras[cam.serial] = cam;
  }
  for (const auto& n : report.value("nodes", json::array())) {
    NodeReadiness node;
    node.endpoint = n.value("endpoint", "");
    node.online = n.value("online", false);
    node.sync_error_us = n.value("sync_error_us", -1.0);
    view.nodes.push_back(node);
  }
  // Settings match: each setting against the value most cameras have.
  std::map<std::string, std::map<std::string, int>> counts;
  for (const auto& [serial, cam] : view.cameras) {
    for (const auto& [k, v] : cam.settings) ++counts[k][v];
  }
  for (auto& [serial, cam] : view.cameras) {
    for (const auto& [k, v] : cam.settings) {
      const auto& c = counts[k];
      const auto best = std::max_element(
          c.begin(), c.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
      if (best != c.end() && best->first != v) cam.settings_match = false;
    }
  }
  return view;
}

Api::Api(ReviewOptions options, Access& access, JobRunner& jobs,
         std::function<void(const std::string&)> notice)
    : options_(std::move(options)), access_(access), jobs_(jobs), notice_(std::move(notice)) {}

void Api::OnJobEvent(const json& event) {
  if (event.value("event", "") != "ended") return;
  const json& job = event["job"];
  if (job.value("kind", "") != "preflight") return;
  for (const auto& info : jobs_.Recent()) {
    if (info.id != job.value("id", 0)) continue;
    PreflightView view =
        ParsePreflightOutput(std::vector<std::string>(info.lines.begin(), info.lines.end()));
    std::lock_guard lock(view_mu_);
    preflight_ = std::move(view);
  }
}

ApiResponse Api::Handle(const ApiRequest& request) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  if (path == "/api/login") {
    if (request.method != "POST") return Fail(405, "use POST");
    return Login(request);
  }
  // Everything else under /api/ needs a valid token, before anything about the route is said.
  const std::string token = TokenOf(request);
  const std::optional<Principal> who = access_.Lookup(token);
  if (!who) {
    return Fail(401, "not signed in", "review station", "enter your PIN");
  }
  json body = json::object();
  if (request.method == "POST" && !request.body.empty()) {
    body = json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return Fail(400, "the request body is not a JSON object");
    }
  }
  const bool tech = who->role == Role::kTechnician;
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  const auto seg = Segments(path);  // "api", …
  if (seg.size() == 2 && seg[1] == "logout" && post) {
    access_.Logout(token);
    ApiResponse r = Json(200, {{"ok", true}});
    r.headers.emplace_back("Set-Cookie", TokenCookieName(request.tls) + "=" +
                                             CookieAttributes(request.tls) + "; Max-Age=0");
    return r;
  }
  if (seg.size() == 2 && seg[1] == "me" && get) {
    return Json(200, {{"role", tech ? "technician" : "subject"}, {"session", who->session_id}});
  }
  if (seg.size() == 2 && seg[1] == "studio" && get) {
    if (!tech) return Fail(403, "for the technician only");
    return Studio();
  }
  if (seg.size() == 2 && seg[1] == "jobs" && get) {
    if (!tech) return Fail(403, "for the technician only");
    json list = json::array();
    for (const auto& job : jobs_.Recent()) list.push_back(job.ToJson(true));
    return Json(200, {{"jobs", list}});
  }
  if (seg.size() == 2 && seg[1] == "sessions" && post) {
    if (!tech) return Fail(403, "for the technician only");
    return NewSession(body);
  }
  if (seg.size() >= 3 && seg[1] == "sessions") {
    const std::string& id = seg[2];
    if (!SafeSegment(id)) return Fail(400, "malformed session id");
    // The person scanned sees their own session and nothing else.
    if (!tech && who->session_id != id) {
      return Fail(403, "this is not your session", id, "sign in with the PIN for your session");
    }
    if (seg.size() == 3 && get) return SessionStatus(*who, id);
    const std::string op = seg.size() >= 4 ? seg[3] : "";
    if (seg.size() == 6 && get && (op == "images" || op == "twin")) {
      if (!SafeSegment(seg[4]) || !SafeSegment(seg[5])) return Fail(400, "malformed file name");
      return SessionFile(id, fs::path(op) / seg[4] / seg[5]);
    }
    if (seg.size() == 4 && get && op == "consent-text") return ConsentText(id);
    if (seg.size() == 4 && post) {
      static const std::vector<std::string> kSubjectOps = {"consent", "sign", "review", "revoke"};
      static const std::vector<std::string> kTechOps = {
          "subject-pin", "preflight", "capture",     "resume", "retake", "accept-missing",
          "reconstruct", "seal",      "countersign", "grants", "export"};
      const bool subject_op =
          std::find(kSubjectOps.begin(), kSubjectOps.end(), op) != kSubjectOps.end();
      const bool tech_op = std::find(kTechOps.begin(), kTechOps.end(), op) != kTechOps.end();
      if (subject_op && tech) {
        return Fail(403, "only the person scanned can do this", id,
                    "hand the tablet to the model (their own PIN)");
      }
      if (tech_op && !tech) return Fail(403, "for the technician only");
      if (op == "consent") return SignConsent(id, body);
      if (op == "sign") return SubjectSign(id, body);
      if (op == "review") return Review(id, body);
      if (op == "revoke") return RevokeGrant(id, body);
      if (op == "subject-pin") return IssuePin(id);
      if (op == "preflight" || op == "capture" || op == "resume" || op == "retake" ||
          op == "accept-missing" || op == "reconstruct") {
        return StartJob(id, op, body);
      }
      if (op == "seal") return Seal(id, body);
      if (op == "countersign") return Countersign(id, body);
      if (op == "grants") return ProposeGrants(id, body);
      if (op == "export") return ExportTwin(id, body);
    }
  }
  return Fail(404, "no such API route: " + request.method + " " + path);
}

ApiResponse Api::Login(const ApiRequest& request) {
  json body = json::parse(request.body, nullptr, false);
  const std::string pin = body.is_object() ? Str(body, "pin") : "";
  const std::string device = CookieValue(request.cookie, DeviceCookieName(request.tls));
  LoginOutcome outcome = access_.Login(pin, request.client, device);
  if (outcome.kind == LoginOutcome::Kind::kRateLimited) {
    ApiResponse r = Fail(429, "too many wrong PINs from this device", request.client,
                         "wait " + std::to_string(outcome.retry_after_s) + " s, then try again");
    r.headers.emplace_back("Retry-After", std::to_string(outcome.retry_after_s));
    return r;
  }
  if (outcome.kind == LoginOutcome::Kind::kWrongPin) {
    Log().With("client", request.client).Warn("wrong PIN");
    ApiResponse r =
        Fail(401, "wrong PIN", "review station",
             outcome.retry_after_s > 0 ? "wait " + std::to_string(outcome.retry_after_s) +
                                             " s, then check the PIN shown on the station"
                                       : "check the PIN shown on the station");
    if (outcome.retry_after_s > 0) {
      r.headers.emplace_back("Retry-After", std::to_string(outcome.retry_after_s));
    }
    return r;
  }
  const bool tech = outcome.principal.role == Role::kTechnician;
  ApiResponse r = Json(
      200, {{"role", tech ? "technician" : "subject"}, {"session", outcome.principal.session_id}});
  r.headers.emplace_back("Set-Cookie", TokenCookieName(request.tls) + "=" + outcome.token +
                                           CookieAttributes(request.tls));
  // The device cookie makes this browser its own identity for the PIN throttle
  // (host/review/auth.h).
  r.headers.emplace_back("Set-Cookie", DeviceCookieName(request.tls) + "=" + outcome.device +
                                           CookieAttributes(request.tls) + "; Max-Age=" +
                                           std::to_string(options_.access.device_lifetime.count()));
  return r;
}

ApiResponse Api::Studio() {
  auto catalog = OpenCatalog(options_.studio);
  if (!catalog.ok()) return Fail(500, catalog.error());
  json subjects = json::array();
  json sessions = json::array();
  auto subject_rows = usecases::ListSubjects(*catalog);
  if (!subject_rows.ok()) return Fail(500, subject_rows.error());
  for (const auto& s : *subject_rows) subjects.push_back({{"id", s.id}, {"name", s.name}});
  auto session_rows = usecases::ListSessions(*catalog, 50);
  if (!session_rows.ok()) return Fail(500, session_rows.error());
  for (const auto& s : *session_rows) {
    sessions.push_back({{"id", s.id},
                        {"subject_id", s.subject_id},
                        {"rig", s.rig},
                        {"state", s.state},
                        {"created_at", s.created_at}});
  }
  auto name = catalog->StudioName();
  json preflight;
  {
    std::lock_guard lock(view_mu_);
    preflight = {{"ran", preflight_.ran}, {"ready", preflight_.ready}, {"at", preflight_.at}};
  }
  return Json(200, {{"studio", name.ok() ? *name : std::string("twinrig studio")},
                    {"technician", options_.technician},
                    {"text_version", options_.text_version},
                    {"subjects", subjects},
                    {"sessions", sessions},
                    {"preflight", preflight}});
}

ApiResponse Api::NewSession(const json& body) {
  const std::string subject = Str(body, "subject");
  if (!SafeSegment(subject)) {
    return Fail(400, "choose a subject", "", "add one with `twinrig subject add --name …`");
  }
  // The same subcommand a technician types, so the station and the CLI create sessions alike.
  SubprocessOptions opts;
  opts.timeout = std::chrono::seconds(60);
  auto run = RunSubprocess({options_.twinrig_binary, "--studio", options_.studio.string(),
                            "session", "new", "--subject", subject},
                           opts);
  if (!run.ok()) return Fail(500, run.error());
  if (!run->succeeded()) {
    return Fail(422, "`twinrig session new` " + run->DescribeEnd() + ": " + run->output, subject,
                "fix what it says, then try again");
  }
  std::istringstream in(run->output);
  std::string id;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && SafeSegment(line)) id = line;
  }
  if (id.empty()) return Fail(500, "`twinrig session new` printed no session id: " + run->output);
  Log().With("session", id).Info("session created for {}", subject);
  return Json(200, {{"session", id}});
}

ApiResponse Api::IssuePin(const std::string& session) {
  auto info = session::LoadSession(options_.studio, session);
  if (!info.ok()) return Fail(404, info.error());
  if (info->kind != session::SessionKind::kSubject) {
    return Fail(422, "a calibration session has no subject", session);
  }
  {
    // After a rejection the person's part is over: no new PIN reopens it.
    auto catalog = OpenCatalog(options_.studio);
    if (!catalog.ok()) return Fail(500, catalog.error());
    auto chain = cs::Chain::ForSession(*catalog, session);
    if (chain.ok()) {
      const auto& records = chain->records();
      if (std::any_of(records.begin(), records.end(),
                      [](const cs::StoredRecord& r) { return r.type == "twin_rejection"; })) {
        return Fail(409, "the twin was rejected: the subject has nothing left to do here", session);
      }
    }
  }
  const std::string pin = access_.IssueSubjectPin(session);
  if (notice_) notice_("subject PIN for session " + session + ": " + pin);
  return Json(200, {{"session", session}, {"pin", pin}});
}

ApiResponse Api::StartJob(const std::string& session, const std::string& kind, const json& body) {
  std::vector<std::string> args;
  // The fixes of an incomplete capture: finish the open takes, fire the missing cameras again, or
  // close the takes without some cameras for a reason that is recorded and sealed.
  if (kind == "resume") args = {"capture", "--session", session, "--resume"};
  if (kind == "retake") args = {"capture", "--session", session, "--retake-missing"};
  if (kind == "accept-missing") {
    const std::string reason = Str(body, "reason");
    const json cameras = body.value("cameras", json::array());
    if (reason.size() < 4 || !cameras.is_array() || cameras.empty()) {
      return Fail(400, "which cameras, and why?", session,
                  "name the cameras to seal without and say why their frames are missing");
    }
    args = {"capture", "--session", session, "--reason", reason};
    for (const auto& c : cameras) {
      if (!c.is_string() || !SafeSegment(c.get<std::string>())) {
        return Fail(400, "malformed camera serial", session);
      }
      args.push_back("--accept-missing");
      args.push_back(c.get<std::string>());
    }
  }
  if (kind == "capture") {
    // A capture starts only on a rig the newest preflight found ready: a camera that is not ready
    // now leaves a hole in a take the model has consented to once.
    PreflightView preflight;
    {
      std::lock_guard lock(view_mu_);
      preflight = preflight_;
    }
    if (!preflight.ran || !preflight.ready) {
      return Fail(409, preflight.ran ? "the preflight found the rig NOT READY" : "no preflight yet",
                  session, "fix what the preflight lists, run it again until it says READY");
    }
    args = {"capture", "--session", session};
  }
  auto info = session::LoadSession(options_.studio, session);
  if (!info.ok()) return Fail(404, info.error());
  if (kind == "preflight") args = {"preflight", "--rig", info->rig, "--takes", "1", "--json"};
  // On the studio's farm when farm.toml says so; --wait: the job ends with the twin either way.
  if (kind == "reconstruct") args = {"reconstruct", session, "--preview", "--wait"};
  auto job = jobs_.Start(kind, session, args);
  if (!job.ok()) return Fail(409, job.error());
  return Json(202, {{"job", job->ToJson(false)}});
}

ApiResponse Api::SessionStatus(const Principal& who, const std::string& id) {
  auto info = session::LoadSession(options_.studio, id);
  if (!info.ok()) return Fail(404, info.error());
  const session::JournalState journal = ReadJournal(info->folder / "journal.jsonl");
  PreflightView preflight;
  {
    std::lock_guard lock(view_mu_);
    preflight = preflight_;
  }
  const std::string base = "/api/sessions/" + id;
  const auto job = jobs_.Current();
  const bool capturing = job && job->running && job->session == id &&
                         (job->kind == "capture" || job->kind == "retake");
  json images = json::array();
  const json cameras = CameraTiles(*info, base, journal, preflight,
                                   RigPositions(options_.studio, info->rig), capturing, images);
  json nodes = json::array();
  for (const auto& n : preflight.nodes) {
    nodes.push_back(
        {{"endpoint", n.endpoint}, {"online", n.online}, {"sync_error_us", n.sync_error_us}});
  }
  auto catalog = OpenCatalog(options_.studio);
  if (!catalog.ok()) return Fail(500, catalog.error());
  const json consent = ConsentView(*catalog, id);
  json twin = json::object();
  for (const char* level : {"preview", "full"}) {
    const fs::path glb = info->folder / "twin" / level / "twin.glb";
    if (fs::exists(glb)) twin[level] = base + "/twin/" + level + "/twin.glb";
  }
  const json takes = TakesSummary(journal);
  json out = {{"id", id},
              {"subject_id", info->subject_id},
              {"rig", info->rig},
              {"created_at", info->created_at},
              {"cameras", cameras},
              {"nodes", nodes},
              {"takes", takes},
              {"images", images},
              {"consent", consent},
              {"twin", twin},
              {"manifest", fs::exists(info->folder / "manifest.json")},
              {"preflight",
               {{"ran", preflight.ran},
                {"ready", preflight.ready},
                {"at", preflight.at},
                {"to_fix", preflight.to_fix}}}};
  if (job && job->session == id) out["activity"] = JobActivity(*job, journal);
  if (who.role == Role::kTechnician && job) out["job"] = job->ToJson(true);
  return Json(200, out);
}

ApiResponse Api::ConsentText(const std::string& session) {
  auto text = ReadFileText(options_.consent_text);
  if (!text.ok()) return Fail(500, text.error());
  return Json(200, {{"session", session},
                    {"text", *text},
                    {"version", options_.text_version},
                    {"sha256", Sha256Hex(*text)}});
}

ApiResponse Api::SignConsent(const std::string& session, const json& body) {
  const std::string passphrase = Str(body, "passphrase");
  const std::string seen_sha = Str(body, "text_sha256");
  auto text = ReadFileText(options_.consent_text);
  if (!text.ok()) return Fail(500, text.error());
  // What is hashed into the record is exactly the text the model was shown.
  if (seen_sha != Sha256Hex(*text)) {
    return Fail(409, "the consent text changed since it was shown", session,
                "read the text again, then sign");
  }
  auto terms_text = ReadFileText(options_.terms);
  if (!terms_text.ok()) return Fail(500, terms_text.error());
  auto terms = cs::ParseStrict(*terms_text, options_.terms.string());
  if (!terms.ok()) return Fail(500, terms.error());
  auto info = session::LoadSession(options_.studio, session);
  if (!info.ok()) return Fail(404, info.error());
  if (info->subject_id.empty()) return Fail(422, "this session has no subject", session);

  std::lock_guard lock(consent_mu_);
  auto catalog = OpenCatalog(options_.studio);
  if (!catalog.ok()) return Fail(500, catalog.error());
  auto ring = cs::KeyRing::FromCatalog(*catalog);
  if (!ring.ok()) return Fail(500, ring.error());
  if (ring->FindOwner(cs::kRoleTechnician, options_.technician) == nullptr) {
    return Fail(500, "unknown technician " + options_.technician, "station",
                "start the station with --technician set to a technician with a key");
  }
  usecases::ConsentRequest request;
  request.subject_id = info->subject_id;
  request.session_id = session;
  request.technician = options_.technician;
  request.text = *text;
  request.text_version = options_.text_version;
  request.terms = *terms;
  request.kdf = options_.kdf;
  request.subject_passphrase = [&]() -> Result<std::string> { return passphrase; };
  request.subject_signs_now = true;
  auto opened = usecases::OpenConsent(*catalog, request);
  if (!opened.ok()) return Fail(opened.failure());
  const cs::StoredRecord& signed_rec = opened->record;
  Log().With("session", session).Info("consent signed by the subject");
  return Json(200, {{"record", signed_rec.record_id()},
                    {"sha256", signed_rec.sha256},
                    {"missing", signed_rec.MissingRoles()}});
}

ApiResponse Api::SubjectSign(const std::string& session, const json& body) {
  std::lock_guard lock(consent_mu_);
  auto catalog = OpenCatalog(options_.studio);
  if (!catalog.ok()) return Fail(500, catalog.error());
  auto chain = cs::Chain::ForSession(*catalog, session);
  if (!chain.ok()) return Fail(500, chain.error());
  if (chain->records().empty()) return Fail(409, "nothing to sign", session);
  if (!usecases::NewestWaitsFor(*chain, std::string(cs::kRoleSubject))) {
    return Fail(409, "the newest record does not wait for your signature", session);
  }
  const std::string passphrase = Str(body, "passphrase");
  auto signed_rec = usecases::Sign(*catalog, {session, std::string(cs::kRoleSubject), "",
                                              [&]() -> Result<std::string> { return passphrase; }});
  if (!signed_rec.ok()) return Fail(signed_rec.failure());
  const cs::StoredRecord& rec = signed_rec->record;
  return Json(200,
              {{"record", rec.record_id()}, {"type", rec.type}, {"missing", rec.MissingRoles()}});
}

ApiResponse Api::Review(const std::string& session, const json& body) {
  const bool approve = body.value("approve", false);
  std::string note = Str(body, "note");
  if (note.empty())
    note = approve ? "approved at the review station" : "rejected at the review station";
  const std::string passphrase = Str(body, "passphrase");
  std::lock_guard lock(consent_mu_);
  auto catalog = OpenCatalog(options_.studio);
  if (!catalog.ok()) return Fail(500, catalog.error());
  auto reviewed = usecases::ReviewTwin(
      *catalog, {session, approve, note, [&]() -> Result<std::string> { return passphrase; }});
  if (!reviewed.ok()) return Fail(reviewed.failure());
  const cs::StoredRecord& signed_rec = reviewed->record;
  const std::uintmax_t removed = reviewed->files_destroyed;
  if (!approve) Log().With("session", session).Warn("twin rejected: {} files destroyed", removed);
  // The PIN has done its work. After a rejection the person's part is over and their tokens end
  // too; after an approval this sitting may go on (grants to sign) until the token expires.
  if (approve) {
    access_.EndSubjectPin(session);
  } else {
    access_.RevokeSession(session);
  }
  return Json(200, {{"record", signed_rec.record_id()},
                    {"type", signed_rec.type},
                    {"sha256", signed_rec.sha256},
                    {"files_destroyed", removed},
                    {"missing", signed_rec.MissingRoles()}});
}

ApiResponse Api::RevokeGrant(const std::string& session, const json& body) {
  const std::string grant = Str(body, "grant_id");
  if (grant.empty()) return Fail(400, "which grant?", session);
  const std::string passphrase = Str(body, "passphrase");
  std::lock_guard lock(consent_mu_);
  auto catalog = OpenCatalog(options_.studio);
  if (!catalog.ok()) return Fail(500, catalog.error());
  auto revoked = usecases::Revoke(*catalog, {session,
                                             {grant},
                                             false,
                                             "withdrawn by the subject at the review station",
                                             std::string(cs::kRoleSubject),
                                             [&]() -> Result<std::string> { return passphrase; }});
  if (!revoked.ok()) return Fail(revoked.failure());
  return Json(200, {{"record", revoked->record.record_id()}, {"revoked", grant}});
}

ApiResponse Api::Seal(const std::string& session, const json& body) {
  std::lock_guard lock(consent_mu_);
  auto catalog = OpenCatalog(options_.studio);
  if (!catalog.ok()) return Fail(500, catalog.error());
  auto chain = cs::Chain::ForSession(*catalog, session);
  if (!chain.ok()) return Fail(500, chain.error());
  if (chain->records().empty()) return Fail(409, "no consent record", session);
  const fs::path folder = options_.studio / "sessions" / session;
  // Every planned camera's frame is verified, or its absence accepted with a recorded reason:
  // a seal over a hole would leave the model a twin that cannot be made and a capture that cannot
  // be retaken.
  const session::JournalState journal = ReadJournal(folder / "journal.jsonl");
  if (journal.takes.empty()) return Fail(409, "nothing captured yet", session, "capture first");
  for (const auto& [n, take] : journal.takes) {
    const auto missing = take.Missing();
    if (missing.empty() && take.closed) continue;
    std::string serials;
    for (const auto& m : missing) serials += (serials.empty() ? "" : ", ") + m;
    return Fail(409,
                "take " + std::to_string(n) +
                    (missing.empty() ? " is still open" : " lacks the frames of " + serials),
                session,
                "resume the capture or retake the missing cameras; or seal without them, "
                "saying why");
  }
  const std::string witness = usecases::WitnessOf(*chain, options_.technician);
  auto tech_key =
      cs::UnsealKey(*catalog, cs::kRoleTechnician, witness, Str(body, "technician_passphrase"));
  if (!tech_key.ok()) return Fail(403, KeyError(tech_key.error(), "the technician's passphrase"));
  auto studio_key =
      cs::UnsealKey(*catalog, cs::kRoleStudio, "studio", Str(body, "studio_passphrase"));
  if (!studio_key.ok()) return Fail(403, KeyError(studio_key.error(), "the studio passphrase"));
  auto manifest = ReadFileText(folder / "manifest.json");
  if (!manifest.ok()) {
    return Fail(409, "no manifest yet", session, "capture first (the manifest lists the frames)");
  }
  auto rec = cs::SealCapture(*catalog, session, witness, *manifest, folder);
  if (!rec.ok()) return Refused(rec.error());
  auto t = cs::SignNewest(*catalog, session, std::string(cs::kRoleTechnician), *tech_key);
  if (!t.ok()) return Refused(t.error());
  auto s = cs::SignNewest(*catalog, session, std::string(cs::kRoleStudio), *studio_key);
  if (!s.ok()) return Refused(s.error());
  Status checkpoint = cs::AuditCheckpoint(*catalog, *studio_key);
  if (!checkpoint.ok()) return Fail(500, checkpoint.error());
  return Json(200, {{"record", s->record_id()}, {"sha256", s->sha256}});
}

ApiResponse Api::Countersign(const std::string& session, const json& body) {
  const std::string technician_pass = Str(body, "technician_passphrase");
  const std::string studio_pass = Str(body, "studio_passphrase");
  std::lock_guard lock(consent_mu_);
  auto catalog = OpenCatalog(options_.studio);
  if (!catalog.ok()) return Fail(500, catalog.error());
  auto countersigned =
      usecases::Countersign(*catalog, {session, options_.technician,
                                       [&]() -> Result<std::string> { return technician_pass; },
                                       [&]() -> Result<std::string> { return studio_pass; }});
  if (!countersigned.ok()) return Fail(countersigned.failure());
  json out = {{"signed", countersigned->roles}};
  if (!countersigned->destruction.empty()) out["destruction"] = countersigned->destruction;
  return Json(200, out);
}

ApiResponse Api::ProposeGrants(const std::string& session, const json& body) {
  const json list = body.contains("grants") ? body["grants"] : json();
  std::lock_guard lock(consent_mu_);
  auto catalog = OpenCatalog(options_.studio);
  if (!catalog.ok()) return Fail(500, catalog.error());
  auto rec = usecases::ProposeGrants(*catalog, session, "grant", list);
  if (!rec.ok()) return Fail(rec.failure());
  return Json(200, {{"record", rec->record_id()}, {"missing", rec->MissingRoles()}});
}

ApiResponse Api::ExportTwin(const std::string& session, const json& body) {
  std::lock_guard lock(consent_mu_);
  auto catalog = OpenCatalog(options_.studio);
  if (!catalog.ok()) return Fail(500, catalog.error());
  auto key = cs::UnsealKey(*catalog, cs::kRoleStudio, "studio", Str(body, "studio_passphrase"));
  if (!key.ok()) return Fail(403, key.error());
  cs::ExportRequest req;
  req.session_id = session;
  req.licensee = Str(body, "licensee");
  req.purpose = Str(body, "purpose");
  req.medium = Str(body, "medium");
  req.territory = Str(body, "territory");
  // The declared use (R4): checked against the grant's prohibited contexts, permitted alterations
  // and generative-AI terms, as on the command line.
  for (const auto& [name, list] :
       {std::pair{"contexts", &req.contexts}, std::pair{"alterations", &req.alterations}}) {
    if (!body.contains(name)) continue;
    if (!body[name].is_array() || body[name].size() > 64) {
      return Fail(400, std::string(name) + ": a list of up to 64 words", session);
    }
    for (const auto& item : body[name]) {
      if (!item.is_string() || item.get<std::string>().size() > 200) {
        return Fail(400, std::string(name) + ": each entry is a word or a short phrase", session);
      }
      list->push_back(item.get<std::string>());
    }
  }
  if (body.contains("generative") && !body["generative"].is_boolean()) {
    return Fail(400, "generative: true or false", session);
  }
  req.generative = body.value("generative", false);
  std::string stamp = UtcIsoNow();
  std::replace(stamp.begin(), stamp.end(), ':', '-');
  req.out = options_.studio / "exports" / session / (stamp + "-" + RandomPin(6));
  auto result = cs::Export(*catalog, req, *key);
  if (!result.ok()) return Refused(result.error());
  json files = json::array();
  for (const auto& f : result->files) files.push_back(f.filename().string());
  return Json(200, {{"export_id", result->export_id},
                    {"grant_id", result->grant_id},
                    {"files", files},
                    {"out", fs::relative(req.out, options_.studio).string()}});
}

ApiResponse Api::SessionFile(const std::string& session, const fs::path& relative) {
  const fs::path folder = options_.studio / "sessions" / session;
  const fs::path file = folder / relative;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec) || !IsInside(folder, file)) {
    return Fail(404, "no such file", session + "/" + relative.string());
  }
  // Images and twin bytes are the person's likeness: served only under standing consent, and
  // every decision is in the audit log.
  auto catalog = OpenCatalog(options_.studio);
  if (!catalog.ok()) return Fail(500, catalog.error());
  if (Status allowed =
          cs::CheckProcessingAllowed(*catalog, session, "serving " + relative.generic_string());
      !allowed.ok()) {
    return Fail(403, allowed.error());
  }
  auto bytes = ReadFileText(file);
  if (!bytes.ok()) return Fail(500, bytes.error());
  ApiResponse r{200, MimeType(file), std::move(*bytes), {}};
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace twinrig::review
