#include "consent/gates.h"

#include <sodium.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "consent/audit.h"
#include "consent/c2pa.h"
#include "consent/glb.h"
#include "consent/vault.h"
#include "util/files.h"
#include "util/logging.h"

namespace twinrig::consent {
namespace {

constexpr std::string_view kTrained =
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
constexpr std::string_view kComposite =
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia";

std::string Where(const std::string& session_id) { return "session " + session_id; }

Json Ref(const StoredRecord& rec) {
  return {{"record_id", rec.record_id()}, {"sha256", rec.sha256}};
}

std::string Join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

bool Contains(const Json& list, const std::string& value) {
  return list.is_array() && std::any_of(list.begin(), list.end(), [&](const Json& e) {
           return e.is_string() && e.get<std::string>() == value;
         });
}

Bytes ProvenanceInput(std::string_view payload) {
  Bytes input = ToBytes("twinrig/provenance/v1");
  input.push_back(0);
  input.insert(input.end(), payload.begin(), payload.end());
  return input;
}

// Writes the decision to the audit log; an audit failure turns an allowed decision into a refusal.
Status AuditDecision(store::Catalog& catalog, const std::string& event, bool allowed, Json details,
                     const std::string& reason) {
  details["decision"] = allowed ? "allowed" : "refused";
  if (!reason.empty()) details["reason"] = reason;
  auto seq = AuditAppend(catalog, event, details);
  if (!seq.ok()) return seq.error();
  return OkStatus();
}

Status CopyInto(const std::filesystem::path& from, const std::filesystem::path& to) {
  auto bytes = ReadFileBytes(from);
  if (!bytes.ok()) return bytes.error();
  return WriteFileAtomic(to, *bytes);
}

}  // namespace

std::string TodayUtc() { return NowUtc().substr(0, 10); }

std::string WhyNoProcessing(const Chain& chain, const std::string& today) {
  const EffectiveState& state = chain.state();
  if (chain.records().empty()) return "there is no consent record for this session";
  const StoredRecord& consent = chain.records().front();
  if (!consent.complete) {
    return "the consent record still lacks signatures: " + Join(consent.MissingRoles(), ", ");
  }
  if (state.destroyed) return "the subject's data was destroyed";
  if (state.all_revoked) return "the subject revoked consent for this session";
  if (state.erase_requested) return "the subject asked for erasure";
  const std::string destroy_by =
      consent.body["biometric_processing"]["retention"].value("destroy_by", "");
  if (destroy_by.empty() || destroy_by < today) {
    return "the retention period ended on " + destroy_by + " (destroy_by)";
  }
  return "";
}

Status CheckProcessingAllowed(store::Catalog& catalog, const std::string& session_id,
                              const std::string& use) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(session_id, "session"));
  // A session is a person's when the catalog says so or when it has consent records; a
  // calibration capture of boards has neither.
  TWINRIG_ASSIGN_OR_RETURN(const bool has_subject, catalog.SessionHasSubject(session_id));
  TWINRIG_ASSIGN_OR_RETURN(const auto records, catalog.ConsentRecordsOfSession(session_id));
  const bool person = has_subject || !records.empty();
  if (!person && !std::filesystem::exists(SessionConsentDir(catalog.studio(), session_id))) {
    return OkStatus();
  }
  const Json details = {{"session_id", session_id}, {"use", use}};
  auto refuse = [&](const std::string& what, const std::string& todo) -> Status {
    Log().With("session", session_id).Warn("{} refused: {}", use, what);
    TWINRIG_RETURN_IF_ERROR(AuditDecision(catalog, "processing.gate", false, details, what));
    return MakeError(use + " refused: " + what, Where(session_id), todo);
  };
  auto chain = Chain::ForSession(catalog, session_id);
  if (!chain.ok()) {
    return refuse("the consent records do not verify: " + chain.error().what + " (" +
                      chain.error().where + ")",
                  chain.error().todo);
  }
  const std::string why = WhyNoProcessing(*chain, TodayUtc());
  if (!why.empty()) return refuse(why, "nothing of this person may be processed");
  return AuditDecision(catalog, "processing.gate", true, details, "");
}

Status CheckCaptureAllowed(store::Catalog& catalog, const std::string& subject_id,
                           const std::string& session_id) {
  const Json details = {{"subject_id", subject_id}, {"session_id", session_id}};
  auto refuse = [&](const std::string& what, const std::string& todo) -> Status {
    Log().With("session", session_id).Warn("capture refused: {}", what);
    TWINRIG_RETURN_IF_ERROR(AuditDecision(catalog, "capture.gate", false, details, what));
    return MakeError("capture refused: " + what, Where(session_id), todo);
  };
  auto chain = Chain::ForSession(catalog, session_id);
  if (!chain.ok()) {
    return refuse("the consent records do not verify: " + chain.error().what + " (" +
                      chain.error().where + ")",
                  chain.error().todo);
  }
  const auto& records = chain->records();
  const EffectiveState& state = chain->state();
  if (records.empty()) {
    return refuse("there is no consent record for this session",
                  "the subject must read and sign consent first (`twinrig consent new`, then "
                  "`twinrig consent sign` by the subject, the witness and the studio)");
  }
  const StoredRecord& consent = records.front();
  if (consent.body.value("subject_id", "") != subject_id) {
    return refuse("the consent record is for subject " + consent.body.value("subject_id", "") +
                      ", not " + subject_id,
                  "check the subject; each person signs their own consent");
  }
  if (!consent.complete) {
    return refuse(
        "the consent record still lacks signatures: " + Join(consent.MissingRoles(), ", "),
        "sign it with `twinrig consent sign --role ROLE`");
  }
  if (!consent.body["biometric_processing"].value("explicit_consent", false)) {
    return refuse("no explicit consent to biometric processing", "a new consent is needed");
  }
  if (const std::string why = WhyNoProcessing(*chain, TodayUtc()); !why.empty()) {
    return refuse(why, "a new session needs a new consent");
  }
  if (state.seal != nullptr) {
    return refuse("the session was already captured and sealed",
                  "start a new session for another capture");
  }
  TWINRIG_RETURN_IF_ERROR(AuditDecision(
      catalog, "capture.gate", true,
      {{"subject_id", subject_id}, {"session_id", session_id}, {"record_id", consent.record_id()}},
      ""));
  return OkStatus();
}

Result<StoredRecord> SealCapture(store::Catalog& catalog, const std::string& session_id,
                                 const std::string& technician, std::string_view manifest_json,
                                 const std::filesystem::path& session_folder) {
  auto files = ParseManifest(manifest_json, "manifest of " + Where(session_id));
  if (!files.ok()) return files.error();
  if (files->empty()) {
    return MakeError("the manifest lists no files", Where(session_id), "seal after capture");
  }
  if (!session_folder.empty()) {
    TWINRIG_RETURN_IF_ERROR(CheckFilesAgainstManifest(session_folder, *files));
    // A seal vouches for exactly what was captured: an image the manifest leaves out is refused.
    TWINRIG_RETURN_IF_ERROR(
        CheckNoOtherFiles(session_folder, "images", *files, "the capture manifest"));
  }
  auto chain = Chain::ForSession(catalog, session_id);
  if (!chain.ok()) return chain.error();
  if (chain->records().empty() || !chain->records().front().complete) {
    return MakeError("no signed consent for this session: nothing may be sealed", Where(session_id),
                     "capture needs a signed consent first");
  }
  if (chain->state().seal != nullptr) {
    return MakeError("the session is already sealed", Where(session_id), "");
  }
  Json list = Json::array();
  for (const auto& f : *files) {
    list.push_back({{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}});
  }
  Json body = {
      {"consent", Ref(chain->records().front())},
      {"technician", technician},
      {"manifest",
       {{"files", list}, {"file_count", files->size()}, {"root_sha256", ManifestRoot(*files)}}}};
  // Cameras whose frame was closed as missing on purpose (`capture --accept-missing`), with the
  // reason: signed with the rest, so the absence is part of what the studio vouches for.
  const Json manifest = Json::parse(manifest_json, nullptr, false);
  if (manifest.is_object() && manifest.contains("accepted_missing") &&
      manifest["accepted_missing"].is_array()) {
    body["accepted_missing"] = manifest["accepted_missing"];
  }
  return AppendRecord(catalog, session_id, "capture_seal", body);
}

Status VerifyCaptureFiles(store::Catalog& catalog, const std::string& session_id) {
  auto chain = Chain::ForSession(catalog, session_id);
  if (!chain.ok()) return chain.error();
  const StoredRecord* seal = chain->state().seal;
  if (seal == nullptr) return MakeError("the session has no capture seal", Where(session_id));
  auto files = ParseManifest(seal->body["manifest"].dump(), seal->path.string());
  if (!files.ok()) return files.error();
  if (ManifestRoot(*files) != seal->body["manifest"].value("root_sha256", "")) {
    return MakeError("the seal's root hash does not match its file list", seal->path.string());
  }
  const auto folder = catalog.studio() / "sessions" / session_id;
  TWINRIG_RETURN_IF_ERROR(CheckFilesAgainstManifest(folder, *files));
  return CheckNoOtherFiles(folder, "images", *files, "the capture seal");
}

std::filesystem::path TwinFolder(const std::filesystem::path& studio,
                                 const std::string& session_id) {
  return studio / "sessions" / session_id / "twin";
}

Result<StoredRecord> ReviewTwin(store::Catalog& catalog, const std::string& session_id,
                                bool approve, const std::string& note) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(session_id, "session"));
  auto files = HashFolder(TwinFolder(catalog.studio(), session_id));
  if (!files.ok() || files->empty()) {
    return MakeError("there are no twin files to review",
                     TwinFolder(catalog.studio(), session_id).string(),
                     "reconstruct the session first");
  }
  Json list = Json::array();
  for (const auto& f : *files) {
    list.push_back({{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}});
  }
  Json body = {{"note", note}, {"twin", {{"files", list}, {"root_sha256", ManifestRoot(*files)}}}};
  return AppendRecord(catalog, session_id, approve ? "twin_approval" : "twin_rejection", body);
}

Result<StoredRecord> AddGrants(store::Catalog& catalog, const std::string& session_id,
                               const std::string& type, const Json& grants) {
  if (type != "grant" && type != "amendment") return MakeError("not a grant type: " + type);
  if (!grants.is_array() || grants.empty()) {
    return MakeError("no grants given", Where(session_id), "give a JSON list of grants");
  }
  auto chain = Chain::ForSession(catalog, session_id);
  if (!chain.ok()) return chain.error();
  Json normal = Json::array();
  std::set<std::string> ids;
  for (const auto& g : grants) {
    auto n = NormaliseGrant(g, Where(session_id));
    if (!n.ok()) return n.error();
    const std::string id = (*n)["grant_id"].get<std::string>();
    if (!ids.insert(id).second) return MakeError("two grants with id " + id, Where(session_id));
    const bool exists = chain->state().grants.contains(id);
    if (type == "grant" && exists) {
      return MakeError("grant " + id + " already exists", Where(session_id),
                       "change it with `twinrig consent amend`, or choose a new grant_id");
    }
    if (type == "amendment" && !exists) {
      return MakeError("grant " + id + " does not exist, so it cannot be amended",
                       Where(session_id), "add it with `twinrig consent grant`");
    }
    normal.push_back(*n);
  }
  return AppendRecord(catalog, session_id, type, {{"grants", normal}});
}

Result<StoredRecord> Revoke(store::Catalog& catalog, const std::string& session_id,
                            const std::vector<std::string>& grant_ids, bool erase_biometric,
                            const std::string& reason) {
  auto chain = Chain::ForSession(catalog, session_id);
  if (!chain.ok()) return chain.error();
  for (const auto& id : grant_ids) {
    if (!chain->state().grants.contains(id)) {
      return MakeError("there is no grant " + id + " to revoke", Where(session_id),
                       "`twinrig consent status` lists the grants");
    }
  }
  Json ids = grant_ids;
  return AppendRecord(catalog, session_id, "revocation",
                      {{"all", grant_ids.empty()},
                       {"grants", ids},
                       {"effect", "prospective"},
                       {"effective_at", NowUtc()},
                       {"erase_biometric", erase_biometric},
                       {"reason", reason}});
}

Result<std::vector<std::string>> EraseSubject(store::Catalog& catalog,
                                              const std::string& subject_id,
                                              const SecretKey& studio_key,
                                              const std::string& reason) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(subject_id, "subject"));
  TWINRIG_ASSIGN_OR_RETURN(const std::vector<std::string> sessions,
                           catalog.SessionsOfSubject(subject_id));
  // Check every chain first so a damaged one stops the erasure before anything is destroyed.
  for (const auto& session : sessions) {
    auto chain = Chain::ForSession(catalog, session);
    if (!chain.ok()) return chain.error();
    if (!chain->records().empty() && !chain->records().back().complete) {
      return MakeError(
          "record " + std::to_string(chain->records().back().seq) + " waits for signatures",
          Where(session), "sign or finish it, then erase");
    }
  }
  // Plaintext copies (images, twin, reconstruction) and the vault go too, before the key: a
  // failure here stops the erasure while it can still be run again as a whole. The consent folder
  // stays as the proof.
  std::map<std::string, std::uintmax_t> removed;
  for (const auto& session : sessions) {
    auto n = RemoveEveryCopy(catalog, session);
    if (!n.ok()) return n.error();
    removed[session] = *n;
  }
  std::string wrapped_sha;
  if (std::filesystem::exists(DataKeyPath(catalog.studio(), subject_id))) {
    auto destroyed = DestroyDataKey(catalog.studio(), subject_id);
    if (!destroyed.ok()) return destroyed.error();
    wrapped_sha = *destroyed;
  }
  std::vector<std::string> recorded;
  for (const auto& session : sessions) {
    auto chain = Chain::ForSession(catalog, session);
    if (!chain.ok()) return chain.error();
    if (chain->state().destroyed) continue;
    auto rec = AppendRecord(
        catalog, session, "destruction",
        {{"destroyed_keys",
          Json::array(
              {{{"subject_id", subject_id},
                {"wrapped_key_sha256", wrapped_sha.empty() ? Json() : Json(wrapped_sha)},
                {"method", "crypto-shredding: wrapped data key overwritten and removed"}}})},
         {"plaintext_files_removed", removed[session]},
         {"reason", reason}});
    if (!rec.ok()) return rec.error();
    auto signed_rec = SignNewest(catalog, session, std::string(kRoleStudio), studio_key);
    if (!signed_rec.ok()) return signed_rec.error();
    recorded.push_back(session);
  }
  auto seq = AuditAppend(catalog, "subject.erased",
                         {{"subject_id", subject_id},
                          {"sessions", recorded},
                          {"data_key_destroyed", !wrapped_sha.empty()}});
  if (!seq.ok()) return seq.error();
  TWINRIG_RETURN_IF_ERROR(AuditCheckpoint(catalog, studio_key));
  return recorded;
}

Result<std::vector<std::string>> RunRetention(store::Catalog& catalog, const SecretKey& studio_key,
                                              const std::string& today_in) {
  const std::string today = today_in.empty() ? TodayUtc() : today_in;
  std::map<std::string, std::vector<std::string>> sessions_of;  // subject → sessions
  TWINRIG_ASSIGN_OR_RETURN(const auto pairs, catalog.ConsentSubjectSessions());
  for (const auto& [subject, session] : pairs) sessions_of[subject].push_back(session);
  std::vector<std::string> destroyed;
  for (const auto& [subject, sessions] : sessions_of) {
    std::vector<std::string> expired;
    bool all_over = true;
    for (const auto& session : sessions) {
      auto chain = Chain::ForSession(catalog, session);
      if (!chain.ok()) return chain.error();
      if (chain->records().empty() || chain->state().destroyed) continue;
      const std::string destroy_by =
          chain->records().front().body["biometric_processing"]["retention"].value("destroy_by",
                                                                                   "");
      if (destroy_by < today) {
        expired.push_back(session);
      } else {
        all_over = false;
      }
    }
    if (expired.empty()) continue;
    if (all_over) {
      auto erased = EraseSubject(catalog, subject, studio_key, "retention: destroy_by passed");
      if (!erased.ok()) return erased.error();
      destroyed.insert(destroyed.end(), erased->begin(), erased->end());
      continue;
    }
    for (const auto& session : expired) {
      auto removed = RemoveEveryCopy(catalog, session);
      if (!removed.ok()) return removed.error();
      auto rec = AppendRecord(catalog, session, "destruction",
                              {{"destroyed_keys", Json::array()},
                               {"plaintext_files_removed", *removed},
                               {"reason", "retention: destroy_by passed"}});
      if (!rec.ok()) return rec.error();
      auto signed_rec = SignNewest(catalog, session, std::string(kRoleStudio), studio_key);
      if (!signed_rec.ok()) return signed_rec.error();
      destroyed.push_back(session);
    }
  }
  auto seq = AuditAppend(catalog, "retention.run", {{"date", today}, {"destroyed", destroyed}});
  if (!seq.ok()) return seq.error();
  TWINRIG_RETURN_IF_ERROR(AuditCheckpoint(catalog, studio_key));
  return destroyed;
}

namespace {

// Why grant `g` does not cover the declared use on `today` (R4): empty when it does.
std::vector<std::string> GrantMismatches(const Json& g, const ExportRequest& request,
                                         const std::string& today) {
  std::vector<std::string> why;
  if (g.value("purpose", "") != request.purpose) {
    why.push_back("purpose is \"" + g.value("purpose", "") + "\", not \"" + request.purpose + "\"");
  }
  if (!Contains(g["media"], request.medium)) {
    why.push_back("medium \"" + request.medium + "\" is not among " + g["media"].dump());
  }
  if (!request.territory.empty() && !Contains(g["territory"], request.territory)) {
    why.push_back("territory \"" + request.territory + "\" is not among " + g["territory"].dump());
  }
  if (today < g.value("not_before", "")) {
    why.push_back("not valid before " + g.value("not_before", ""));
  }
  if (today > g.value("not_after", "")) why.push_back("expired on " + g.value("not_after", ""));
  for (const auto& context : request.contexts) {
    if (Contains(g["prohibited"], context)) {
      why.push_back("the context \"" + context + "\" is prohibited by the grant");
    }
  }
  for (const auto& alteration : request.alterations) {
    if (!Contains(g["alterations"], alteration)) {
      why.push_back("the alteration \"" + alteration + "\" is not among the permitted " +
                    g["alterations"].dump());
    }
  }
  if (request.generative && !g.value("generative_ai", false)) {
    why.push_back("generative AI use is not permitted by the grant");
  }
  return why;
}

// The use an approval record describes, as it is stored in the record.
Json DeclaredUse(const ExportRequest& request) {
  return {{"licensee", request.licensee},    {"purpose", request.purpose},
          {"medium", request.medium},        {"territory", request.territory},
          {"contexts", request.contexts},    {"alterations", request.alterations},
          {"generative", request.generative}};
}

// The oldest signed, unspent, unexpired approval of exactly this use of `grant_id` (R9), or null.
Result<const StoredRecord*> FindUseApproval(store::Catalog& catalog, const EffectiveState& state,
                                            const std::string& grant_id,
                                            const ExportRequest& request,
                                            const std::string& today) {
  const Json use = DeclaredUse(request);
  for (const StoredRecord* rec : state.use_approvals) {
    const Json& b = rec->body;
    if (b.value("grant_id", "") != grant_id || b.value("use", Json()) != use ||
        today > b.value("valid_until", "")) {
      continue;
    }
    TWINRIG_ASSIGN_OR_RETURN(const std::int64_t spent,
                             catalog.ExportsUnderUseApproval(rec->record_id()));
    if (spent == 0) return rec;
  }
  return static_cast<const StoredRecord*>(nullptr);
}

}  // namespace

Result<StoredRecord> ProposeUse(store::Catalog& catalog, const std::string& grant_id,
                                const ExportRequest& request, const std::string& description,
                                const std::string& valid_until) {
  const std::string where = Where(request.session_id);
  auto chain = Chain::ForSession(catalog, request.session_id);
  if (!chain.ok()) return chain.error();
  const auto& grants = chain->state().grants;
  auto grant = grants.find(grant_id);
  if (grant == grants.end()) {
    return MakeError("there is no grant " + grant_id, where,
                     "`twinrig consent status` lists the grants");
  }
  const Json& g = grant->second.grant;
  if (!g.value("per_use_approval", false)) {
    return MakeError("grant " + grant_id + " does not ask for approval of each use", where,
                     "export under it directly");
  }
  if (g["licensee"].value("id", "") != request.licensee) {
    return MakeError("grant " + grant_id + " is for licensee " + g["licensee"].value("id", ""),
                     where, "name the grant's licensee");
  }
  const std::string today = TodayUtc();
  if (auto why = GrantMismatches(g, request, today); !why.empty()) {
    return MakeError("the use is outside grant " + grant_id + ": " + Join(why, "; "), where,
                     "a use outside the grant needs an amendment the subject signs");
  }
  if (description.empty()) {
    return MakeError("the use needs a description in words", where,
                     "say what the subject approves, e.g. \"spring campaign, two billboards\"");
  }
  if (!IsDate(valid_until) || valid_until < today) {
    return MakeError("the approval's last day must be a date (YYYY-MM-DD) from today on", where);
  }
  return AppendRecord(catalog, request.session_id, "use_approval",
                      {{"grant_id", grant_id},
                       {"use", DeclaredUse(request)},
                       {"description", description},
                       {"valid_until", valid_until}});
}

Result<ExportDecision> CheckExportAllowed(store::Catalog& catalog, const Chain& chain,
                                          const ExportRequest& request) {
  const std::string today = request.today.empty() ? TodayUtc() : request.today;
  Json details = {{"session_id", request.session_id}, {"licensee", request.licensee},
                  {"purpose", request.purpose},       {"medium", request.medium},
                  {"territory", request.territory},   {"date", today},
                  {"contexts", request.contexts},     {"alterations", request.alterations},
                  {"generative", request.generative}};
  auto refuse = [&](const std::string& what, const std::string& todo) -> Error {
    Log().With("session", request.session_id).Warn("export refused: {}", what);
    Status audited = AuditDecision(catalog, "export.gate", false, details, what);
    if (!audited.ok()) return audited.error();
    return MakeError("export refused: " + what, Where(request.session_id), todo);
  };
  const EffectiveState& state = chain.state();
  if (chain.records().empty()) {
    return refuse("there is no consent record for this session", "no export is possible");
  }
  if (const std::string why = WhyNoProcessing(chain, today); !why.empty()) {
    return refuse(why, "no new use is allowed");
  }
  if (state.twin == nullptr) {
    return refuse("the subject has not approved the twin",
                  "the subject reviews it first (`twinrig consent approve`)");
  }
  if (!state.twin_approved) return refuse("the subject rejected the twin", "no export");
  auto twin_files = ParseManifest(state.twin->body["twin"].dump(), state.twin->path.string());
  if (!twin_files.ok()) return refuse(twin_files.error().what, "");
  Status same =
      CheckFilesAgainstManifest(TwinFolder(catalog.studio(), request.session_id), *twin_files);
  if (same.ok()) {
    same = CheckNoOtherFiles(TwinFolder(catalog.studio(), request.session_id), "", *twin_files,
                             "the subject's approval");
  }
  if (!same.ok()) {
    return refuse("the twin is not the one the subject approved: " + same.error().what + " (" +
                      same.error().where + ")",
                  "restore the approved twin, or have the subject review the new one");
  }
  std::vector<std::string> reasons;
  for (const auto& [id, active] : state.grants) {
    const Json& g = active.grant;
    if (g["licensee"].value("id", "") != request.licensee) continue;
    std::vector<std::string> why = GrantMismatches(g, request, today);
    if (auto r = state.revoked_grants.find(id); r != state.revoked_grants.end()) {
      why.insert(why.begin(), "revoked on " + r->second);
    }
    const StoredRecord* approval = nullptr;
    if (why.empty() && g.value("per_use_approval", false)) {
      auto found = FindUseApproval(catalog, state, id, request, today);
      if (!found.ok()) return refuse(found.error().what, found.error().todo);
      approval = *found;
      if (approval == nullptr) {
        why.push_back(
            "each use needs the subject's signed approval (per_use_approval), and no unspent "
            "approval of this use is on record");
      }
    }
    if (why.empty()) {
      details["grant_id"] = id;
      details["record_id"] = active.record->record_id();
      if (approval != nullptr) details["use_approval"] = approval->record_id();
      TWINRIG_RETURN_IF_ERROR(AuditDecision(catalog, "export.gate", true, details, ""));
      return ExportDecision{id, active.record, g, approval};
    }
    reasons.push_back("grant " + id + ": " + Join(why, "; "));
  }
  if (reasons.empty()) {
    return refuse("no grant for licensee \"" + request.licensee + "\"",
                  "the subject must grant this licensee first (`twinrig consent grant`)");
  }
  return refuse(Join(reasons, " | "),
                "a use outside the grant needs new consent from the subject (an amendment)");
}

Result<ExportResult> Export(store::Catalog& catalog, const ExportRequest& request,
                            const SecretKey& studio_key) {
  // One export at a time per session: an approval of one use (R9) is spent only once.
  auto lock = LockSessionRecords(catalog.studio(), request.session_id, "an export");
  if (!lock.ok()) return lock.error();
  auto chain = Chain::ForSession(catalog, request.session_id);
  if (!chain.ok()) {
    Status audited = AuditDecision(
        catalog, "export.gate", false,
        {{"session_id", request.session_id}, {"licensee", request.licensee}}, chain.error().what);
    if (!audited.ok()) return audited.error();
    return MakeError("export refused: the consent records do not verify: " + chain.error().what,
                     chain.error().where, chain.error().todo);
  }
  auto decision = CheckExportAllowed(catalog, *chain, request);
  if (!decision.ok()) return decision.error();
  const EffectiveState& state = chain->state();
  ExportResult result;
  {
    std::array<std::uint8_t, 16> id{};
    randombytes_buf(id.data(), id.size());
    result.export_id = "exp-" + HexEncode(id);
  }
  result.grant_id = decision->grant_id;
  std::error_code ec;
  std::filesystem::create_directories(request.out / "consent", ec);
  if (ec)
    return MakeError("cannot create the output folder: " + ec.message(), request.out.string());

  const std::string source_type(request.composite ? kComposite : kTrained);
  const std::string label =
      "AI-generated: digital replica of a real person, used with their "
      "consent (record " +
      state.consent->record_id() + ", grant " + decision->grant_id + ")";
  const Json stamp = {
      {"consent_record", Ref(*state.consent)}, {"head_record", Ref(*state.head)},
      {"grant_id", decision->grant_id},        {"grant_record", Ref(*decision->grant_record)},
      {"digital_source_type", source_type},    {"ai_label", label},
      {"export_id", result.export_id}};
  // Exactly the files the subject approved, each checked again as it is read.
  auto twin = ParseManifest(state.twin->body["twin"].dump(), state.twin->path.string());
  if (!twin.ok()) return twin.error();
  TWINRIG_ASSIGN_OR_RETURN(const C2paSigner c2pa, C2paSigner::ForStudio(catalog, studio_key));
  Json files = Json::array();
  for (const auto& f : *twin) {
    const auto src = TwinFolder(catalog.studio(), request.session_id) / f.path;
    const auto dst = request.out / f.path;
    std::filesystem::create_directories(dst.parent_path(), ec);
    auto bytes = ReadFileBytes(src);
    if (!bytes.ok()) return bytes.error();
    if (Sha256Hex(*bytes) != f.sha256) {
      return MakeError("export refused: " + f.path + " changed after the subject approved it",
                       src.string(), "restore the approved twin, or have the subject review it");
    }
    std::string ext = src.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (ext == ".glb") {
      auto glb = ParseGlb(*bytes, src.string());
      if (!glb.ok()) return glb.error();
      glb->json["asset"]["extras"]["twinrig"] = stamp;
      *bytes = WriteGlb(*glb);
    } else if (ext == ".jpg" || ext == ".jpeg") {
      TWINRIG_ASSIGN_OR_RETURN(*bytes, StampJpeg(*bytes, f.path, stamp, c2pa, src.string()));
    }
    TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(dst, *bytes));
    files.push_back({{"path", f.path}, {"sha256", Sha256Hex(*bytes)}, {"size", bytes->size()}});
    result.files.push_back(dst);
  }
  // What an offline verifier needs: the chain, its signed head and the public keys.
  if (std::filesystem::exists(chain->dir() / "head.json")) {
    TWINRIG_RETURN_IF_ERROR(
        CopyInto(chain->dir() / "head.json", request.out / "consent" / "head.json"));
  }
  for (const auto& rec : chain->records()) {
    for (const char* ext : {".json", ".sigs.json", ".minisig"}) {
      auto from = rec.path;
      from.replace_extension(ext);
      if (std::filesystem::exists(from)) {
        TWINRIG_RETURN_IF_ERROR(CopyInto(from, request.out / "consent" / from.filename()));
      }
    }
  }
  auto keys = KeyRing::FromCatalog(catalog);
  if (!keys.ok()) return keys.error();
  TWINRIG_RETURN_IF_ERROR(
      WriteFileAtomic(request.out / "keyring.json", keys->ToJson().dump(2) + "\n"));
  TWINRIG_RETURN_IF_ERROR(
      CopyInto(catalog.studio() / "keys" / "studio.pub", request.out / "studio.pub"));
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(request.out / "c2pa-root.pem", c2pa.RootPem()));

  const Json& g = decision->grant;
  Json payload = stamp;
  payload["schema"] = "twinrig-provenance/1";
  payload["session_id"] = request.session_id;
  payload["subject_id"] = state.subject_id;
  payload["licensee"] = g["licensee"];
  payload["purpose"] = request.purpose;
  payload["medium"] = request.medium;
  payload["territory"] = request.territory;
  payload["contexts"] = request.contexts;
  payload["alterations"] = request.alterations;
  payload["generative"] = request.generative;
  payload["exported_at"] = NowUtc();
  payload["files"] = files;
  payload["training"] = g["training"];
  payload["disclosure"] = g["disclosure"];
  payload["status"] = state.consent->body.value("status", Json());
  payload["c2pa_root_sha256"] = c2pa.RootFingerprint();  // vouches for c2pa-root.pem
  auto payload_text = Canonical(payload);
  if (!payload_text.ok()) return payload_text.error();
  const Signature sig = studio_key.Sign(ProvenanceInput(*payload_text));
  const Json sidecar = {{"payload", *payload_text},
                        {"signatures", Json::array({{{"role", "studio"},
                                                     {"alg", "Ed25519"},
                                                     {"kid", KeyId(studio_key.public_key())},
                                                     {"sig", HexEncode(sig)}}})}};
  result.sidecar = request.out / "provenance.json";
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(result.sidecar, sidecar.dump(2) + "\n"));

  Json written = Json::array();
  for (const auto& f : files) written.push_back(f["path"]);
  for (const char* extra : {"provenance.json", "keyring.json", "studio.pub", "consent"}) {
    written.push_back(extra);
  }
  written.push_back("c2pa-root.pem");
  const Json& comp = g["compensation"];
  TWINRIG_RETURN_IF_ERROR(catalog.InsertUsage(
      {result.export_id, payload["exported_at"].get<std::string>(), request.session_id,
       state.subject_id, decision->grant_record->record_id(), decision->grant_id, request.licensee,
       request.purpose, request.medium, comp.value("per_use_minor", std::int64_t{0}),
       comp.value("currency", "")}));
  auto seq =
      AuditAppend(catalog, "export",
                  {{"export_id", result.export_id},
                   {"session_id", request.session_id},
                   {"grant_id", decision->grant_id},
                   {"use_approval", decision->use_approval != nullptr
                                        ? Json(decision->use_approval->record_id())
                                        : Json(nullptr)},
                   {"licensee", request.licensee},
                   {"files", files.size()},
                   // Where the copies went, so an erasure finds and removes them.
                   {"out", std::filesystem::absolute(request.out).lexically_normal().string()},
                   {"written", written},
                   {"provenance_sha256", Sha256Hex(sidecar.dump(2) + "\n")}});
  if (!seq.ok()) return seq.error();
  TWINRIG_RETURN_IF_ERROR(AuditCheckpoint(catalog, studio_key));
  return result;
}

Status VerifyProvenance(const std::filesystem::path& sidecar, const KeyRing& keys) {
  const std::string where = sidecar.string();
  auto text = ReadFileText(sidecar);
  if (!text.ok()) return text.error();
  auto envelope = ParseStrict(*text, where);
  if (!envelope.ok()) return envelope.error();
  if (!envelope->is_object() || !(*envelope)["payload"].is_string() ||
      !(*envelope)["signatures"].is_array() || (*envelope)["signatures"].empty()) {
    return MakeError("not a twinrig provenance sidecar", where);
  }
  const std::string payload_text = (*envelope)["payload"].get<std::string>();
  auto payload = ParseCanonical(payload_text, where);
  if (!payload.ok()) return payload.error();
  const Json& s = (*envelope)["signatures"][0];
  const KeyInfo* key = keys.Find(s.value("kid", ""));
  auto sig_bytes = HexDecode(s.value("sig", ""));
  if (key == nullptr || key->role != kRoleStudio || !sig_bytes.ok() || sig_bytes->size() != 64) {
    return MakeError("the provenance is not signed by a known studio key", where,
                     "get the studio's key ring");
  }
  Signature sig{};
  std::copy(sig_bytes->begin(), sig_bytes->end(), sig.begin());
  if (!VerifySignature(key->public_key, ProvenanceInput(payload_text), sig)) {
    return MakeError("the provenance signature does not verify", where, "do not trust it");
  }
  auto files = ParseManifest((*payload)["files"].dump(), where);
  if (!files.ok()) return files.error();
  return CheckFilesAgainstManifest(sidecar.parent_path(), *files);
}

Result<std::vector<UsageLine>> UsageReport(store::Catalog& catalog, const std::string& licensee,
                                           const std::string& from, const std::string& to) {
  return catalog.UsageSums(licensee, from, to);
}

}  // namespace twinrig::consent
