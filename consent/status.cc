#include "consent/status.h"

#include <chrono>
#include <ctime>

#include "consent/audit.h"
#include "consent/records.h"
#include "util/files.h"

namespace twinrig::consent {
namespace {

Bytes StatusInput(std::string_view payload) {
  Bytes input = ToBytes("twinrig/status-list/v1");
  input.push_back(0);
  input.insert(input.end(), payload.begin(), payload.end());
  return input;
}

}  // namespace

Status WriteStatusList(store::Catalog& catalog, const SecretKey& studio_key,
                       const std::filesystem::path& out, int valid_hours,
                       const std::string& issued_at_in) {
  if (valid_hours < 1 || valid_hours > 24 * 31) {
    return MakeError("a status list is valid for 1 hour to 31 days", out.string(),
                     "licensees must see revocations within a bounded time (R26)");
  }
  const std::string issued_at = issued_at_in.empty() ? NowUtc() : issued_at_in;
  TWINRIG_ASSIGN_OR_RETURN(const std::vector<std::string> sessions, catalog.ConsentSessionIds());
  Json entries = Json::array();
  for (const auto& session : sessions) {
    auto chain = Chain::ForSession(catalog, session);
    if (!chain.ok()) return chain.error();  // a list is never built over a chain that fails
    const EffectiveState& state = chain->state();
    std::string destroyed_at;
    std::string all_revoked_at;
    for (const auto& rec : chain->records()) {
      if (!rec.complete) continue;
      if (rec.type == "destruction") destroyed_at = rec.body.value("created_at", "");
      if (rec.type == "revocation" && rec.body.value("all", false)) {
        all_revoked_at = rec.body.value("created_at", "");
      }
    }
    for (const auto& [id, active] : state.grants) {
      Json entry = {{"session_id", session},
                    {"subject_id", state.subject_id},
                    {"grant_id", id},
                    {"licensee", active.grant["licensee"].value("id", "")}};
      if (!destroyed_at.empty()) {
        entry["status"] = "destroyed";
        entry["since"] = destroyed_at;
      } else if (!all_revoked_at.empty()) {
        entry["status"] = "revoked";
        entry["since"] = all_revoked_at;
      } else if (auto r = state.revoked_grants.find(id); r != state.revoked_grants.end()) {
        entry["status"] = "revoked";
        entry["since"] = r->second;
      } else {
        entry["status"] = "valid";
        entry["since"] = nullptr;
      }
      entries.push_back(entry);
    }
  }
  const Json payload = {{"entries", entries},
                        {"format", kStatusListFormat},
                        {"issued_at", issued_at},
                        {"next_update", HoursAfter(issued_at, valid_hours)}};
  auto bytes = Canonical(payload);
  if (!bytes.ok()) return bytes.error();
  const Json file = {{"payload", *bytes},
                     {"kid", KeyId(studio_key.public_key())},
                     {"alg", "Ed25519"},
                     {"sig", HexEncode(studio_key.Sign(StatusInput(*bytes)))}};
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(out, file.dump(2) + "\n"));
  auto seq = AuditAppend(
      catalog, "status_list.issued",
      {{"entries", entries.size()}, {"issued_at", issued_at}, {"sha256", Sha256Hex(*bytes)}});
  return seq.ok() ? OkStatus() : Status(seq.error());
}

Result<StatusEntry> CheckStatus(const std::filesystem::path& list, const KeyRing& keys,
                                const std::vector<std::string>& pins, const std::string& now,
                                const std::string& session, const std::string& grant_id) {
  const std::string where = list.string();
  auto text = ReadFileText(list);
  if (!text.ok()) return text.error();
  auto file = ParseStrict(*text, where);
  if (!file.ok()) return file.error();
  if (!file->is_object() || !(*file)["payload"].is_string() || !(*file)["kid"].is_string() ||
      !(*file)["sig"].is_string()) {
    return MakeError("not a status list", where, "get the studio's current status list");
  }
  TWINRIG_RETURN_IF_ERROR(CheckPinnedStudioKeys(keys, pins, where));
  const std::string kid = (*file)["kid"].get<std::string>();
  const KeyInfo* key = keys.Find(kid);
  if (key == nullptr || key->role != kRoleStudio ||
      std::find(pins.begin(), pins.end(), kid) == pins.end()) {
    return MakeError("the status list is signed by " + kid + ", not by the pinned studio key",
                     where, "do not use it; get the list from the studio");
  }
  const std::string payload_bytes = (*file)["payload"].get<std::string>();
  auto sig = HexDecode((*file)["sig"].get<std::string>());
  Signature signature{};
  if (!sig.ok() || sig->size() != signature.size()) {
    return MakeError("the status list's signature is malformed", where, "do not use it");
  }
  std::copy(sig->begin(), sig->end(), signature.begin());
  if (!VerifySignature(key->public_key, StatusInput(payload_bytes), signature)) {
    return MakeError("the status list's signature does not verify", where,
                     "the list was altered; do not use it");
  }
  auto payload = ParseCanonical(payload_bytes, where);
  if (!payload.ok()) return payload.error();
  const Json& p = *payload;
  if (!p.is_object() || p.value("format", "") != kStatusListFormat || !p.contains("entries") ||
      !p["entries"].is_array()) {
    return MakeError("not a status list", where, "get the studio's current status list");
  }
  const std::string next_update = p.value("next_update", "");
  if (next_update.empty() || now >= next_update) {
    return MakeError("the status list is stale: it had to be renewed by " + next_update, where,
                     "no new use until a current list is checked (fail closed)");
  }
  for (const auto& e : p["entries"]) {
    if (e.is_object() && e.value("session_id", "") == session &&
        e.value("grant_id", "") == grant_id) {
      StatusEntry entry{e.value("status", ""),
                        e["since"].is_string() ? e["since"].get<std::string>() : ""};
      if (entry.status != "valid") {
        return MakeError("grant " + grant_id + " of session " + session + " is " + entry.status +
                             " since " + entry.since,
                         where, "no new use is allowed");
      }
      return entry;
    }
  }
  return MakeError("the status list names no grant " + grant_id + " of session " + session, where,
                   "no use without a listed, valid grant");
}

}  // namespace twinrig::consent
