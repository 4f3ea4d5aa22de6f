#include "consent/records.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <set>
#include <thread>

#include "consent/audit.h"
#include "util/file_lock.h"
#include "util/files.h"
#include "util/logging.h"

namespace twinrig::consent {
namespace {

constexpr int kMaxRecords = 9999;

std::string NewRecordId() { return "urn:uuid:" + RandomUuid(); }

std::string SeqName(int seq, const std::string& type) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04d", seq);
  return std::string(buf) + "-" + type;
}

bool IsHex64(const Json& v) {
  static const std::regex kHex("^[0-9a-f]{64}$");
  return v.is_string() && std::regex_match(v.get<std::string>(), kHex);
}

bool IsStringList(const Json& v, bool non_empty) {
  if (!v.is_array() || (non_empty && v.empty())) return false;
  return std::all_of(v.begin(), v.end(),
                     [](const Json& e) { return e.is_string() && !e.get<std::string>().empty(); });
}

const std::set<std::string>& KnownTypes() {
  static const std::set<std::string> kTypes = {"consent",        "capture_seal", "twin_approval",
                                               "twin_rejection", "grant",        "amendment",
                                               "use_approval",   "revocation",   "destruction"};
  return kTypes;
}

// The technician whose key must make the technician signature of `record`.
std::string WitnessOf(const Json& body) {
  if (body.contains("studio") && body["studio"].is_object()) {
    return body["studio"].value("witness", "");
  }
  return body.value("technician", "");
}

// The key with id `kid` in `person`'s "keys" list, as the consent record names it.
std::optional<PublicKey> NamedKey(const Json* person, const std::string& kid) {
  if (person == nullptr || !person->is_object() || !person->contains("keys") ||
      !(*person)["keys"].is_array()) {
    return std::nullopt;
  }
  for (const auto& k : (*person)["keys"]) {
    if (k.is_object() && k.value("kid", "") == kid) {
      auto bytes = HexDecode(k.value("pub", ""));
      if (bytes.ok() && bytes->size() == 32) {
        PublicKey pk{};
        std::copy(bytes->begin(), bytes->end(), pk.begin());
        if (KeyId(pk) == kid) return pk;
      }
    }
  }
  return std::nullopt;
}

// Whether the consent record `body` names a guardian, who then signs beside the subject (R23).
bool NamesGuardian(const Json& consent_body) {
  return consent_body.contains("subject") && consent_body["subject"].is_object() &&
         consent_body["subject"].contains("guardian") &&
         consent_body["subject"]["guardian"].is_object();
}

// The key that must have made `role`'s signature on `record`, or an Error.
Result<PublicKey> ExpectedKey(const StoredRecord& record, const StoredRecord* consent,
                              const std::string& role, const std::string& kid,
                              const KeyRing& keys) {
  const std::string where = record.path.string();
  if (role == kRoleStudio || role == kRoleTechnician) {
    const KeyInfo* key = keys.Find(kid);
    if (key == nullptr || key->role != role) {
      return MakeError("the " + role + " signature is by an unknown key " + kid, where,
                       "the record was signed by a key this studio does not know; it may be "
                       "forged");
    }
    if (!key->retired_at.empty() && record.body.value("created_at", "") >= key->retired_at) {
      return MakeError("the " + role + " signature is by key " + kid + ", retired at " +
                           key->retired_at + ", before the record was made",
                       where, "a retired key signs nothing new; sign with the current key");
    }
    if (role == kRoleTechnician && key->owner != WitnessOf(record.body)) {
      return MakeError(
          "the technician signature is by " + key->owner + ", not by the witness the record names",
          where, "the named witness must sign");
    }
    return key->public_key;
  }
  if (role == kRoleSubject || role == kRoleGuardian) {
    // The subject's and the guardian's keys are the ones the consent record names.
    const Json& body = (consent != nullptr ? consent : &record)->body;
    const Json* person = body.contains("subject") ? &body["subject"] : nullptr;
    if (person != nullptr && role == kRoleGuardian) {
      person = person->contains("guardian") ? &(*person)["guardian"] : nullptr;
    }
    if (auto key = NamedKey(person, kid)) return *key;
    return MakeError("the " + role + " signature is by key " + kid + ", which is not the " + role +
                         "'s key in the consent record",
                     where, "only the " + role + "'s own key can sign for them");
  }
  return MakeError("a signature has the unknown role \"" + role + "\"", where);
}

Status WriteSignatures(const StoredRecord& record) {
  Json sigs = Json::array();
  for (const auto& s : record.signatures) {
    sigs.push_back({{"role", s.role},
                    {"kid", s.kid},
                    {"signer", s.signer},
                    {"alg", "Ed25519"},
                    {"sig", HexEncode(s.sig)}});
  }
  const Json file = {{"record_sha256", record.sha256}, {"signatures", sigs}};
  auto sig_path = record.path;
  sig_path.replace_extension(".sigs.json");
  return WriteFileAtomic(sig_path, file.dump(2) + "\n");
}

std::filesystem::path HeadPath(const std::filesystem::path& dir) { return dir / "head.json"; }

std::vector<std::string> SignedRoles(const StoredRecord& record) {
  std::vector<std::string> roles;
  for (const auto& s : record.signatures) roles.push_back(s.role);
  std::sort(roles.begin(), roles.end());
  return roles;
}

// The chain head: (count, SHA-256 of the newest record, the roles that signed it), signed by the
// key that made the newest signature. Deleting the newest record, or a signature on it, leaves a
// head that names more than the folder holds.
Status WriteHead(const std::filesystem::path& dir, const StoredRecord& newest,
                 const std::string& role, const SecretKey& key) {
  const Json payload = {{"count", newest.seq},
                        {"record_sha256", newest.sha256},
                        {"roles", SignedRoles(newest)},
                        {"session_id", newest.body.value("session_id", "")},
                        {"subject_id", newest.body.value("subject_id", "")}};
  auto bytes = Canonical(payload);
  if (!bytes.ok()) return bytes.error();
  const Json file = {{"payload", *bytes},
                     {"role", role},
                     {"kid", KeyId(key.public_key())},
                     {"alg", "Ed25519"},
                     {"sig", HexEncode(key.Sign(SignatureInput("chain_head", role, *bytes)))}};
  return WriteFileAtomic(HeadPath(dir), file.dump(2) + "\n");
}

std::string RecordName(const StoredRecord& record) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04d", record.seq);
  return std::string(buf) + "-" + record.type;
}

}  // namespace

Status CheckChainHead(const std::filesystem::path& dir, const std::vector<StoredRecord>& records,
                      const KeyRing& keys) {
  const auto path = HeadPath(dir);
  const std::string where = path.string();
  std::error_code ec;
  const bool signed_any = std::any_of(records.begin(), records.end(),
                                      [](const StoredRecord& r) { return !r.signatures.empty(); });
  if (!std::filesystem::exists(path, ec)) {
    if (!signed_any) return OkStatus();
    return MakeError(
        "the chain has no signed head (head.json): its newest records may have been "
        "removed",
        where, "restore the session's consent folder from a backup");
  }
  auto text = ReadFileText(path);
  if (!text.ok()) return text.error();
  auto file = ParseStrict(*text, where);
  if (!file.ok()) return file.error();
  const Json& f = *file;
  if (!f.is_object() || !f.contains("payload") || !f["payload"].is_string() ||
      f.value("alg", "") != "Ed25519") {
    return MakeError("the chain head is malformed", where, "restore it from a backup");
  }
  const std::string payload_bytes = f["payload"].get<std::string>();
  auto payload = ParseCanonical(payload_bytes, where);
  if (!payload.ok()) return payload.error();
  const Json& h = *payload;
  if (!h.is_object() || !h.contains("count") || !h["count"].is_number_integer() ||
      !h.contains("roles") || !h["roles"].is_array()) {
    return MakeError("the chain head is malformed", where, "restore it from a backup");
  }
  const int count = h["count"].get<int>();
  if (count < 1 || count > static_cast<int>(records.size())) {
    std::string missing;
    for (int seq = static_cast<int>(records.size()) + 1; seq <= count; ++seq) {
      missing += (missing.empty() ? "" : ", ") + std::to_string(seq);
    }
    return MakeError("the chain was truncated: its signed head counts " + std::to_string(count) +
                         " records but the folder holds " + std::to_string(records.size()) +
                         " (record " + missing + " was removed)",
                     where,
                     "restore the removed records from a backup; until then nothing of "
                     "this session may be used");
  }
  const StoredRecord& named = records[static_cast<size_t>(count) - 1];
  if (named.sha256 != h.value("record_sha256", "") ||
      named.body.value("session_id", "") != h.value("session_id", "")) {
    return MakeError("record " + RecordName(named) + " is not the record the signed head names",
                     where, "a record was replaced; restore the folder from a backup");
  }
  const auto present = SignedRoles(named);
  for (const auto& role : h["roles"]) {
    if (!role.is_string() ||
        std::find(present.begin(), present.end(), role.get<std::string>()) == present.end()) {
      return MakeError("the " + (role.is_string() ? role.get<std::string>() : "?") +
                           " signature on record " + RecordName(named) +
                           " was removed (the signed head counts it)",
                       where, "restore the record's .sigs.json from a backup");
    }
  }
  for (size_t i = static_cast<size_t>(count); i < records.size(); ++i) {
    if (!records[i].signatures.empty()) {
      return MakeError(
          "record " + RecordName(records[i]) + " is signed but the signed head does not count it",
          where, "the head was replaced by an older one; restore the folder");
    }
  }
  if (h["roles"].size() < present.size() && count == static_cast<int>(records.size())) {
    // A signature added after the head was written: only possible if the head is stale.
    return MakeError("record " + RecordName(named) +
                         " carries a signature the signed head does "
                         "not count",
                     where, "the head was replaced by an older one; restore the folder");
  }
  const std::string role = f.value("role", "");
  auto key = ExpectedKey(named, &records.front(), role, f.value("kid", ""), keys);
  if (!key.ok()) return MakeError("the chain head: " + key.error().what, where);
  auto sig_bytes = HexDecode(f.value("sig", ""));
  Signature sig{};
  if (!sig_bytes.ok() || sig_bytes->size() != sig.size()) {
    return MakeError("the chain head has a malformed signature", where, "restore it");
  }
  std::copy(sig_bytes->begin(), sig_bytes->end(), sig.begin());
  if (!VerifySignature(*key, SignatureInput("chain_head", role, payload_bytes), sig)) {
    return MakeError("the chain head's signature does not verify", where,
                     "the head was altered; restore the folder from a backup");
  }
  return OkStatus();
}

Result<std::int64_t> CheckAuditedRecords(store::Catalog& catalog) {
  TWINRIG_ASSIGN_OR_RETURN(const auto entries, catalog.AuditEntries());
  std::map<std::string, std::map<std::string, std::string>> chains;  // session → id → sha256
  std::int64_t checked = 0;
  for (const auto& entry : entries) {
    const Json payload = Json::parse(entry.payload, nullptr, false);
    if (!payload.is_object() || payload.value("event", "") != "record.created") continue;
    const std::string session = payload.value("session_id", "");
    const std::string id = payload.value("record_id", "");
    auto found = chains.find(session);
    if (found == chains.end()) {
      auto chain = Chain::ForSession(catalog, session);
      if (!chain.ok()) {
        return MakeError("session " + session + ": " + chain.error().what, chain.error().where,
                         chain.error().todo);
      }
      std::map<std::string, std::string> ids;
      for (const auto& rec : chain->records()) ids[rec.record_id()] = rec.sha256;
      found = chains.emplace(session, std::move(ids)).first;
    }
    const auto rec = found->second.find(id);
    const std::string what = "record " + id + " (" + payload.value("record_type", "") +
                             ") of session " + session + ", created at audit entry " +
                             std::to_string(entry.seq) + ",";
    if (rec == found->second.end()) {
      return MakeError(what + " is no longer in the session's consent records: they were removed",
                       SessionConsentDir(catalog.studio(), session).string(),
                       "restore the session's consent folder and studio.db from a backup");
    }
    if (rec->second != payload.value("sha256", "")) {
      return MakeError(what + " was replaced by a record with other contents",
                       SessionConsentDir(catalog.studio(), session).string(),
                       "restore the session's consent folder and studio.db from a backup");
    }
    ++checked;
  }
  return checked;
}

Result<FileLock> LockSessionRecords(const std::filesystem::path& studio,
                                    const std::string& session_id, const std::string& holder) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(session_id, "session"));
  const auto locks = studio / "locks";
  std::error_code ec;
  std::filesystem::create_directories(locks, ec);
  const auto path = locks / (session_id + ".consent.lock");
  // Writers hold it for milliseconds; wait a bounded while before naming the holder.
  for (int attempt = 0;; ++attempt) {
    auto lock = FileLock::TryLock(path, holder);
    if (lock.ok() || attempt >= 100) {
      if (!lock.ok()) {
        return MakeError(
            "another writer is appending to this session's consent records: " + lock.error().what,
            path.string(), "wait until it has finished, then run this again");
      }
      return lock;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
}

bool IsDate(const Json& v) {
  static const std::regex kDate(R"(^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$)");
  return v.is_string() && std::regex_match(v.get<std::string>(), kDate);
}

std::vector<std::string> RequiredRoles(const std::string& type, bool guardian) {
  std::vector<std::string> roles;
  if (type == "consent") roles = {"subject", "technician", "studio"};
  if (type == "capture_seal") roles = {"technician", "studio"};
  if (type == "twin_approval" || type == "twin_rejection" || type == "grant" ||
      type == "amendment" || type == "use_approval" || type == "revocation") {
    roles = {"subject", "studio"};
  }
  if (type == "destruction") roles = {"studio"};
  if (guardian && std::find(roles.begin(), roles.end(), "subject") != roles.end()) {
    roles.insert(std::find(roles.begin(), roles.end(), "subject") + 1, "guardian");
  }
  return roles;
}

std::vector<std::string> StoredRecord::RequiredRoles() const {
  return consent::RequiredRoles(type, guardian);
}

bool AnyOneRoleSuffices(const std::string& type) { return type == "revocation"; }

Bytes SignatureInput(const std::string& type, const std::string& role, std::string_view bytes) {
  Bytes input = ToBytes("twinrig/consent/v1");
  input.push_back(0);
  input.insert(input.end(), type.begin(), type.end());
  input.push_back(0);
  input.insert(input.end(), role.begin(), role.end());
  input.push_back(0);
  input.insert(input.end(), bytes.begin(), bytes.end());
  return input;
}

std::vector<std::string> StoredRecord::MissingRoles() const {
  std::vector<std::string> missing;
  for (const auto& role : RequiredRoles()) {
    const bool has = std::any_of(signatures.begin(), signatures.end(),
                                 [&](const SignatureEntry& s) { return s.role == role; });
    if (!has) missing.push_back(role);
  }
  return missing;
}

std::filesystem::path SessionConsentDir(const std::filesystem::path& studio,
                                        const std::string& session_id) {
  return studio / "sessions" / session_id / "consent";
}

Result<Chain> Chain::Load(const std::filesystem::path& dir, const KeyRing& keys) {
  Chain chain;
  chain.dir_ = dir;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return chain;  // no records yet
  static const std::regex kName(R"(^(\d{4})-([a-z_]+)\.json$)");
  std::map<int, std::pair<std::string, std::filesystem::path>> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, m, kName)) continue;
    const int seq = std::stoi(m[1].str());
    if (!found.emplace(seq, std::make_pair(m[2].str(), entry.path())).second) {
      return MakeError("two records with number " + m[1].str(), dir.string(),
                       "a record file was added by hand; restore the folder");
    }
  }
  if (ec) return MakeError("cannot list: " + ec.message(), dir.string());
  if (found.empty()) {
    TWINRIG_RETURN_IF_ERROR(CheckChainHead(dir, {}, keys));
    return chain;
  }
  int expected = 1;
  for (auto& [seq, file] : found) {
    const auto& [type, path] = file;
    const std::string where = path.string();
    if (seq != expected) {
      return MakeError("record " + std::to_string(expected) + " is missing from the chain", where,
                       "a record was deleted; restore the folder from a backup");
    }
    ++expected;
    StoredRecord rec;
    rec.seq = seq;
    rec.type = type;
    rec.path = path;
    auto text = ReadFileText(path);
    if (!text.ok()) return text.error();
    rec.bytes = std::move(*text);
    rec.sha256 = Sha256Hex(rec.bytes);
    auto body = ParseCanonical(rec.bytes, where);
    if (!body.ok()) return body.error();
    rec.body = std::move(*body);
    const Json& b = rec.body;
    if (!b.is_object() || b.value("schema", "") != kSchema || b.value("record_type", "") != type ||
        !KnownTypes().contains(type) || !b.contains("seq") || !b["seq"].is_number_integer() ||
        b["seq"].get<int>() != seq) {
      return MakeError("the record's schema, type or number does not match its file name", where,
                       "the record was altered or renamed; restore it");
    }
    const StoredRecord* prev = chain.records_.empty() ? nullptr : &chain.records_.back();
    const Json expected_link =
        prev == nullptr ? Json(nullptr)
                        : Json{{"record_id", prev->record_id()}, {"sha256", prev->sha256}};
    if (b.value("supersedes", Json()) != expected_link) {
      return MakeError("the record does not link to the record before it (supersedes)", where,
                       "a record in the chain was changed or replaced; restore the folder");
    }
    if ((prev == nullptr) != (type == "consent")) {
      return MakeError("a chain starts with exactly one consent record", where,
                       "restore the folder");
    }
    if (prev != nullptr && (b.value("session_id", "") != prev->body.value("session_id", "") ||
                            b.value("subject_id", "") != prev->body.value("subject_id", ""))) {
      return MakeError("the record names another subject or session than its chain", where,
                       "records cannot be moved between sessions");
    }
    if (prev != nullptr && !prev->complete) {
      return MakeError("record " + std::to_string(prev->seq) + " was never fully signed, yet " +
                           "another record follows it",
                       where, "restore the folder");
    }
    // Signatures.
    auto sig_path = path;
    sig_path.replace_extension(".sigs.json");
    auto sig_text = ReadFileText(sig_path);
    if (!sig_text.ok()) return sig_text.error();
    auto sigs = ParseStrict(*sig_text, sig_path.string());
    if (!sigs.ok()) return sigs.error();
    if (!sigs->is_object() || sigs->value("record_sha256", "") != rec.sha256 ||
        !sigs->contains("signatures") || !(*sigs)["signatures"].is_array()) {
      return MakeError("the signature file does not belong to this record (hash differs)",
                       sig_path.string(), "the record or its signatures were altered");
    }
    const StoredRecord* consent = chain.records_.empty() ? nullptr : &chain.records_.front();
    rec.guardian = NamesGuardian(consent != nullptr ? consent->body : rec.body);
    const auto required = rec.RequiredRoles();
    for (const auto& s : (*sigs)["signatures"]) {
      SignatureEntry entry;
      entry.role = s.is_object() ? s.value("role", "") : "";
      entry.kid = s.is_object() ? s.value("kid", "") : "";
      entry.signer = s.is_object() ? s.value("signer", "") : "";
      if (std::find(required.begin(), required.end(), entry.role) == required.end()) {
        return MakeError("a " + type + " record cannot carry a \"" + entry.role + "\" signature",
                         sig_path.string(), "the signature file was altered");
      }
      for (const auto& other : rec.signatures) {
        if (other.role == entry.role) {
          return MakeError("two " + entry.role + " signatures", sig_path.string(),
                           "the signature file was altered");
        }
      }
      auto sig_bytes = HexDecode(s.value("sig", ""));
      if (!sig_bytes.ok() || sig_bytes->size() != 64 || s.value("alg", "") != "Ed25519") {
        return MakeError("a malformed " + entry.role + " signature", sig_path.string(),
                         "the signature file was altered");
      }
      std::copy(sig_bytes->begin(), sig_bytes->end(), entry.sig.begin());
      auto key = ExpectedKey(rec, consent, entry.role, entry.kid, keys);
      if (!key.ok()) return key.error();
      if (!VerifySignature(*key, SignatureInput(type, entry.role, rec.bytes), entry.sig)) {
        return MakeError("the " + entry.role +
                             " signature does not verify: the record or the "
                             "signature was altered",
                         where, "do not use this record; restore it from a backup");
      }
      rec.signatures.push_back(entry);
    }
    rec.complete = AnyOneRoleSuffices(type) ? !rec.signatures.empty() : rec.MissingRoles().empty();
    chain.records_.push_back(std::move(rec));
  }
  TWINRIG_RETURN_IF_ERROR(CheckChainHead(dir, chain.records_, keys));
  chain.Fold();
  return chain;
}

Result<Chain> Chain::ForSession(store::Catalog& catalog, const std::string& session_id) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(session_id, "session"));
  auto keys = KeyRing::FromCatalog(catalog);
  if (!keys.ok()) return keys.error();
  // The catalog lists every record ever appended: one it lists that the folder lacks was removed,
  // even when the head was replaced by an older one.
  TWINRIG_ASSIGN_OR_RETURN(const auto listed, catalog.ConsentRecordsOfSession(session_id));
  auto chain = Load(SessionConsentDir(catalog.studio(), session_id), *keys);
  if (chain.ok()) {
    const auto& records = chain->records();
    for (const store::ConsentRecordRow& row : listed) {
      const int seq = row.seq;
      const std::string& sha256 = row.sha256;
      const std::string name = SeqName(seq, row.record_type);
      if (seq > static_cast<int>(records.size())) {
        return MakeError("the chain was truncated: record " + name +
                             " is in the catalog but was removed from the folder",
                         SessionConsentDir(catalog.studio(), session_id).string(),
                         "restore the removed record from a backup; until then nothing of this "
                         "session may be used");
      }
      if (records[static_cast<size_t>(seq) - 1].sha256 != sha256) {
        return MakeError("record " + name + " differs from the one the catalog lists",
                         records[static_cast<size_t>(seq) - 1].path.string(),
                         "a record was replaced; restore the folder from a backup");
      }
    }
  }
  if (chain.ok() && !chain->records().empty() && chain->state().session_id != session_id) {
    return MakeError("the consent records in this session's folder belong to session " +
                         chain->state().session_id,
                     SessionConsentDir(catalog.studio(), session_id).string(),
                     "records cannot be reused for another session; restore the folder");
  }
  return chain;
}

void Chain::Fold() {
  EffectiveState& s = state_;
  s = EffectiveState{};
  if (records_.empty()) return;
  s.consent = &records_.front();
  s.subject_id = s.consent->body.value("subject_id", "");
  s.session_id = s.consent->body.value("session_id", "");
  for (const auto& rec : records_) {
    if (!rec.complete) {
      s.pending = true;
      break;
    }
    s.head = &rec;
    const Json& b = rec.body;
    if (rec.type == "consent" || rec.type == "grant" || rec.type == "amendment") {
      for (const auto& g : b.value("grants", Json::array())) {
        const std::string id = g.value("grant_id", "");
        s.grants[id] = {g, &rec};
        s.revoked_grants.erase(id);  // an amendment that re-grants is new, signed consent
      }
    } else if (rec.type == "use_approval") {
      s.use_approvals.push_back(&rec);
    } else if (rec.type == "capture_seal") {
      s.seal = &rec;
    } else if (rec.type == "twin_approval" || rec.type == "twin_rejection") {
      s.twin = &rec;
      s.twin_approved = rec.type == "twin_approval";
    } else if (rec.type == "revocation") {
      if (b.value("all", false)) s.all_revoked = true;
      for (const auto& id : b.value("grants", Json::array())) {
        if (id.is_string()) s.revoked_grants[id.get<std::string>()] = b.value("created_at", "");
      }
      if (b.value("erase_biometric", false)) s.erase_requested = true;
    } else if (rec.type == "destruction") {
      s.destroyed = true;
    }
  }
}

Result<StoredRecord> AppendRecord(store::Catalog& catalog, const std::string& session_id,
                                  const std::string& type, Json body) {
  if (!KnownTypes().contains(type)) return MakeError("unknown record type " + type);
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(session_id, "session"));
  auto lock = LockSessionRecords(catalog.studio(), session_id, "a " + type + " record being added");
  if (!lock.ok()) return lock.error();
  auto chain = Chain::ForSession(catalog, session_id);
  if (!chain.ok()) return chain.error();
  const auto& records = chain->records();
  const EffectiveState& state = chain->state();
  const std::string where = "session " + session_id;
  if (records.empty() && type != "consent") {
    return MakeError("the session has no consent record", where,
                     "create one first with `twinrig consent new`");
  }
  if (!records.empty() && type == "consent") {
    return MakeError("the session already has a consent record", where,
                     "change terms with an amendment (`twinrig consent amend`)");
  }
  if (!records.empty() && !records.back().complete) {
    std::string missing;
    for (const auto& r : records.back().MissingRoles())
      missing += (missing.empty() ? "" : ", ") + r;
    return MakeError("record " + std::to_string(records.back().seq) + " (" + records.back().type +
                         ") still waits for signatures: " + missing,
                     where, "sign it with `twinrig consent sign` first");
  }
  if (state.destroyed) {
    return MakeError("the session's data was destroyed; its chain is closed", where, "");
  }
  if (state.all_revoked && type != "destruction") {
    return MakeError("consent for this session was revoked in full", where,
                     "a new session needs a new consent");
  }
  body["schema"] = kSchema;
  body["record_id"] = NewRecordId();
  body["record_type"] = type;
  body["seq"] = static_cast<int>(records.size()) + 1;
  body["session_id"] = session_id;
  if (!records.empty()) body["subject_id"] = state.subject_id;
  if (!body.contains("subject_id") || !body["subject_id"].is_string()) {
    return MakeError("the record names no subject", where);
  }
  body["created_at"] = NowUtc();
  body["supersedes"] = records.empty() ? Json(nullptr)
                                       : Json{{"record_id", records.back().record_id()},
                                              {"sha256", records.back().sha256}};
  if (records.size() >= kMaxRecords) return MakeError("the chain is full", where);
  auto bytes = Canonical(body);
  if (!bytes.ok()) return bytes.error();
  StoredRecord rec;
  rec.seq = body["seq"].get<int>();
  rec.type = type;
  rec.bytes = *bytes;
  rec.sha256 = Sha256Hex(rec.bytes);
  rec.body = body;
  rec.guardian = NamesGuardian(records.empty() ? body : records.front().body);
  const auto dir = SessionConsentDir(catalog.studio(), session_id);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError("cannot create folder: " + ec.message(), dir.string());
  rec.path = dir / (SeqName(rec.seq, type) + ".json");
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind(SeqName(rec.seq, ""), 0) == 0) {
      return MakeError("record number " + std::to_string(rec.seq) + " is already taken by " +
                           entry.path().filename().string(),
                       dir.string(), "another writer added a record; run this again");
    }
  }
  TWINRIG_RETURN_IF_ERROR(WriteSignatures(rec));
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(rec.path, rec.bytes));
  TWINRIG_RETURN_IF_ERROR(catalog.InsertConsentRecord(
      {rec.record_id(), session_id, body["subject_id"].get<std::string>(), rec.seq, type,
       rec.sha256, body["created_at"].get<std::string>()}));
  auto audited = AuditAppend(catalog, "record.created",
                             {{"session_id", session_id},
                              {"subject_id", body["subject_id"]},
                              {"record_id", rec.record_id()},
                              {"record_type", type},
                              {"sha256", rec.sha256}});
  if (!audited.ok()) return audited.error();
  return rec;
}

Result<StoredRecord> SignNewest(store::Catalog& catalog, const std::string& session_id,
                                const std::string& role, const SecretKey& key) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(session_id, "session"));
  auto lock = LockSessionRecords(catalog.studio(), session_id, "a " + role + " signature");
  if (!lock.ok()) return lock.error();
  auto chain = Chain::ForSession(catalog, session_id);
  if (!chain.ok()) return chain.error();
  if (chain->records().empty()) {
    return MakeError("the session has no consent record to sign", "session " + session_id,
                     "create one with `twinrig consent new`");
  }
  StoredRecord rec = chain->records().back();
  const auto required = rec.RequiredRoles();
  if (std::find(required.begin(), required.end(), role) == required.end()) {
    return MakeError("a " + rec.type + " record is not signed by the " + role, rec.path.string(),
                     "sign as one of its roles");
  }
  for (const auto& s : rec.signatures) {
    if (s.role == role) {
      return MakeError("the " + role + " has already signed this record", rec.path.string(), "");
    }
  }
  const std::string kid = KeyId(key.public_key());
  auto keys = KeyRing::FromCatalog(catalog);
  if (!keys.ok()) return keys.error();
  const StoredRecord* consent = &chain->records().front();
  auto expected = ExpectedKey(rec, consent, role, kid, *keys);
  if (!expected.ok()) return expected.error();
  SignatureEntry entry;
  entry.role = role;
  entry.kid = kid;
  entry.signer = role == kRoleStudio       ? "studio"
                 : role == kRoleTechnician ? keys->Find(kid)->owner
                 : role == kRoleGuardian   ? "guardian of " + rec.body.value("subject_id", "")
                                           : rec.body.value("subject_id", "");
  entry.sig = key.Sign(SignatureInput(rec.type, role, rec.bytes));
  rec.signatures.push_back(entry);
  TWINRIG_RETURN_IF_ERROR(WriteSignatures(rec));
  if (role == kRoleStudio) {
    auto minisig = rec.path;
    minisig.replace_extension(".minisig");
    const std::string comment =
        "record_id=" + rec.record_id() + " type=" + rec.type + " role=studio session=" + session_id;
    TWINRIG_RETURN_IF_ERROR(
        WriteFileAtomic(minisig, MinisignSignature(key, ToBytes(rec.bytes), comment)));
  }
  TWINRIG_RETURN_IF_ERROR(WriteHead(chain->dir(), rec, role, key));
  rec.complete =
      AnyOneRoleSuffices(rec.type) ? !rec.signatures.empty() : rec.MissingRoles().empty();
  auto audited = AuditAppend(catalog, "record.signed",
                             {{"session_id", session_id},
                              {"record_id", rec.record_id()},
                              {"record_type", rec.type},
                              {"role", role},
                              {"kid", kid},
                              {"complete", rec.complete}});
  if (!audited.ok()) return audited.error();
  return rec;
}

Result<Json> NormaliseGrant(const Json& in, const std::string& where) {
  std::vector<std::string> problems;
  if (!in.is_object()) return MakeError("a grant is not a JSON object", where);
  static const std::set<std::string> kFields = {
      "grant_id",   "licensee",    "purpose",       "media",       "territory",
      "not_before", "not_after",   "generative_ai", "training",    "compensation",
      "disclosure", "alterations", "prohibited",    "exclusivity", "per_use_approval"};
  for (const auto& [k, v] : in.items()) {
    if (!kFields.contains(k)) problems.push_back("unknown field \"" + k + "\"");
  }
  Json g = in;
  const std::string id = in.value("grant_id", "");
  if (!CheckOwnerId(id, "grant").ok()) problems.push_back("grant_id missing or not a plain id");
  if (!in.contains("licensee") || !in["licensee"].is_object() ||
      in["licensee"].value("id", "").empty()) {
    problems.push_back("licensee.id is required");
  }
  if (in.value("purpose", "").empty()) problems.push_back("purpose is required (R5)");
  if (!in.contains("media") || !IsStringList(in["media"], true)) {
    problems.push_back("media must list at least one medium");
  }
  if (!in.contains("territory") || !IsStringList(in["territory"], true)) {
    problems.push_back("territory must list at least one territory");
  }
  if (!in.contains("not_before") || !IsDate(in["not_before"]) || !in.contains("not_after") ||
      !IsDate(in["not_after"])) {
    problems.push_back("not_before and not_after are required as YYYY-MM-DD (R7)");
  } else if (in["not_before"].get<std::string>() > in["not_after"].get<std::string>()) {
    problems.push_back("not_before is after not_after");
  }
  if (!in.contains("generative_ai")) g["generative_ai"] = false;
  if (!g["generative_ai"].is_boolean()) problems.push_back("generative_ai must be true or false");
  static const std::set<std::string> kTraining = {"cawg.ai_generative_training", "cawg.ai_training",
                                                  "cawg.ai_inference", "cawg.data_mining"};
  Json training = in.value("training", Json::object());
  if (!training.is_object()) training = Json::object();
  for (const auto& [k, v] : training.items()) {
    if (!kTraining.contains(k)) problems.push_back("unknown training permission \"" + k + "\"");
    const std::string value = v.is_string() ? v.get<std::string>() : "";
    if (value != "allowed" && value != "notAllowed" && value != "constrained") {
      problems.push_back("training." + k + " must be allowed, notAllowed or constrained");
    }
  }
  for (const auto& k : kTraining) {
    if (!training.contains(k)) training[k] = "notAllowed";  // R21: the default is notAllowed
  }
  g["training"] = training;
  if (!in.contains("compensation") || !in["compensation"].is_object()) {
    problems.push_back("compensation is required (R6): currency, per_use_minor …");
  } else {
    Json c = in["compensation"];
    const std::string currency = c.value("currency", "");
    if (currency.size() != 3) problems.push_back("compensation.currency must be an ISO 4217 code");
    for (const char* k : {"creation_fee_minor", "per_use_minor", "per_period_minor"}) {
      if (!c.contains(k)) c[k] = 0;
      if (!c[k].is_number_integer() || c[k].get<std::int64_t>() < 0) {
        problems.push_back(std::string("compensation.") + k + " must be a whole number >= 0");
      }
    }
    if (!c.contains("payment_terms_days")) c["payment_terms_days"] = 45;
    if (!c.contains("agent_commission_pct")) c["agent_commission_pct"] = 0;
    if (!c["agent_commission_pct"].is_number_integer() ||
        c["agent_commission_pct"].get<int>() < 0 || c["agent_commission_pct"].get<int>() > 20) {
      problems.push_back("compensation.agent_commission_pct must be 0-20 (FWA cap)");
    }
    if (!c.contains("usage_report")) c["usage_report"] = "monthly";
    g["compensation"] = c;
  }
  if (!in.contains("disclosure")) g["disclosure"] = {{"c2pa", true}, {"visible_label", true}};
  for (const char* k : {"alterations", "prohibited"}) {
    if (!in.contains(k)) g[k] = Json::array();
    if (!IsStringList(g[k], false)) problems.push_back(std::string(k) + " must list strings");
  }
  if (!in.contains("exclusivity")) g["exclusivity"] = nullptr;
  if (!in.contains("per_use_approval")) g["per_use_approval"] = false;
  if (!g["per_use_approval"].is_boolean()) problems.push_back("per_use_approval must be boolean");
  if (!problems.empty()) {
    std::string what = "grant \"" + id + "\" is invalid:";
    for (const auto& p : problems) what += "\n  - " + p;
    return MakeError(what, where, "fix the grant file and retry; nothing was written");
  }
  return g;
}

namespace {

// Completes subject.guardian with the guardian's key, or says what is missing.
void AddGuardian(Json& guardian, const std::optional<KeyInfo>& key,
                 std::vector<std::string>& problems) {
  for (const char* k : {"name", "relationship"}) {
    if (!guardian.contains(k) || !guardian[k].is_string() ||
        guardian[k].get<std::string>().empty()) {
      problems.push_back(std::string("subject.guardian.") + k + " is required (R23)");
    }
  }
  if (!key) {
    problems.push_back(
        "the guardian has no key: they choose a passphrase when the consent is made, and sign it "
        "beside the subject (R23)");
    return;
  }
  guardian["keys"] =
      Json::array({{{"alg", "Ed25519"}, {"kid", key->kid}, {"pub", HexEncode(key->public_key)}}});
}

// The notice period the terms require (R10) measured from `notice_given_at` to now, or nullopt
// when it was respected.
std::optional<std::string> NoticeProblem(const Json& terms, const std::string& notice_given_at) {
  const int hours = RequiredNoticeHours(terms);
  if (hours == 0) return std::nullopt;
  const std::string now = NowUtc();
  const std::string given = notice_given_at.empty() ? now : notice_given_at;
  const auto given_s = UtcSeconds(given);
  const auto now_s = UtcSeconds(now);
  if (!given_s || !now_s) {
    return "the notice time \"" + given + "\" is not an RFC 3339 time (R10)";
  }
  if (*now_s - *given_s >= std::int64_t{hours} * 3600) return std::nullopt;
  return "the terms require " + std::to_string(hours) +
         " hours' notice before consent (R10); notice was given at " + given +
         ", so consent can be taken from " + HoursAfter(given, hours) +
         " (give notice with --notice-given-at when it was given earlier)";
}

}  // namespace

int RequiredNoticeHours(const Json& terms) {
  int hours = 0;
  if (terms.contains("notice_period_hours") && terms["notice_period_hours"].is_number_integer()) {
    hours = std::max(hours, terms["notice_period_hours"].get<int>());
  }
  // A SAG-AFTRA agreement asks for 48 hours' notice before a digital replica is made.
  const Json rep = terms.value("representation", Json::object());
  if (rep.is_object() && rep.contains("union") && rep["union"].is_object()) {
    std::string name = rep["union"].value("name", "");
    std::transform(name.begin(), name.end(), name.begin(), ::toupper);
    if (name.find("SAG-AFTRA") != std::string::npos) hours = std::max(hours, 48);
  }
  return hours;
}

Result<Json> BuildConsentBody(const ConsentInput& input, const KeyInfo& subject_key,
                              const std::string& studio_name) {
  std::vector<std::string> problems;
  const Json& t = input.terms;
  if (!t.is_object()) return MakeError("the terms are not a JSON object");
  static const std::set<std::string> kFields = {
      "jurisdictions", "representation", "biometric_processing", "capture",
      "grants",        "post_mortem",    "withdrawal",           "subject",
      "studio",        "status",         "notice_period_hours"};
  for (const auto& [k, v] : t.items()) {
    if (!kFields.contains(k)) problems.push_back("unknown field \"" + k + "\"");
  }
  if (t.contains("notice_period_hours") &&
      (!t["notice_period_hours"].is_number_integer() || t["notice_period_hours"].get<int>() < 0 ||
       t["notice_period_hours"].get<int>() > 24 * 90)) {
    problems.push_back("notice_period_hours must be a whole number of hours, 0 to 2160 (R10)");
  }
  if (!t.contains("jurisdictions") || !IsStringList(t["jurisdictions"], true)) {
    problems.push_back("jurisdictions must list at least one (e.g. [\"EU\",\"US-NY\"]) (R28)");
  }
  Json bio = t.value("biometric_processing", Json());
  if (!bio.is_object()) {
    problems.push_back("biometric_processing is required (R12)");
  } else {
    if (bio.value("explicit_consent", false) != true) {
      problems.push_back("biometric_processing.explicit_consent must be true (R12)");
    }
    if (!bio.contains("purposes") || !IsStringList(bio["purposes"], true)) {
      problems.push_back("biometric_processing.purposes must list the purposes (R5)");
    }
    if (!bio.contains("processors")) bio["processors"] = Json::array();
    if (!bio.contains("retention") || !bio["retention"].is_object() ||
        !bio["retention"].contains("destroy_by") || !IsDate(bio["retention"]["destroy_by"])) {
      problems.push_back("biometric_processing.retention.destroy_by is required (R15)");
    } else if (!bio["retention"].contains("trigger")) {
      bio["retention"]["trigger"] = "purpose_satisfied_or_3y_last_interaction";
    }
  }
  Json rep = t.value("representation", Json::object());
  if (!rep.is_object()) rep = Json::object();
  if (rep.value("power_of_attorney_used", false) != false) {
    problems.push_back("a power of attorney cannot stand in for the subject's signature (R3)");
  }
  rep["power_of_attorney_used"] = false;
  for (const char* k : {"agency", "legal_counsel", "union"}) {
    if (!rep.contains(k)) rep[k] = nullptr;
  }
  const bool counsel = rep["legal_counsel"].is_object() &&
                       rep["legal_counsel"].value("negotiated_replica_terms", false);
  rep["unrepresented"] = !counsel && rep["union"].is_null();
  if (rep["unrepresented"].get<bool>()) {
    Log()
        .With("subject", input.subject_id)
        .Warn(
            "the subject is unrepresented: no counsel negotiated the replica terms and no union "
            "agreement applies (R8)");
  }
  Json subject = t.value("subject", Json::object());
  if (!subject.is_object()) subject = Json::object();
  if (!subject.contains("adult_verified") || !subject["adult_verified"].is_boolean()) {
    problems.push_back("subject.adult_verified (true/false) is required");
  } else if (!subject["adult_verified"].get<bool>() &&
             !(subject.contains("guardian") && subject["guardian"].is_object())) {
    problems.push_back(
        "a minor needs subject.guardian: their parent or legal representative, who signs too "
        "(R23)");
  }
  if (!subject.contains("guardian")) subject["guardian"] = nullptr;
  if (subject["guardian"].is_object()) {
    AddGuardian(subject["guardian"], input.guardian_key, problems);
  } else if (!subject["guardian"].is_null()) {
    problems.push_back("subject.guardian must be an object {name, relationship}");
  }
  if (auto late = NoticeProblem(t, input.notice_given_at)) problems.push_back(*late);
  if (subject.contains("id_check") &&
      (!subject["id_check"].is_object() || !subject["id_check"].contains("evidence_sha256") ||
       !IsHex64(subject["id_check"]["evidence_sha256"]))) {
    problems.push_back("subject.id_check needs method and evidence_sha256 (hex) (R11)");
  }
  subject["subject_id"] = input.subject_id;
  subject["keys"] = Json::array(
      {{{"alg", "Ed25519"}, {"kid", subject_key.kid}, {"pub", HexEncode(subject_key.public_key)}}});
  Json capture = t.value("capture", Json::object());
  if (!capture.is_object()) capture = Json::object();
  if (!capture.contains("modalities")) {
    capture["modalities"] = {"face_geometry", "body_geometry", "texture"};
  }
  capture["session_id"] = input.session_id;
  Json grants = Json::array();
  std::set<std::string> ids;
  for (const auto& g : t.value("grants", Json::array())) {
    auto normal = NormaliseGrant(g, "terms");
    if (!normal.ok()) {
      problems.push_back(normal.error().what);
      continue;
    }
    if (!ids.insert((*normal)["grant_id"].get<std::string>()).second) {
      problems.push_back("two grants with id " + (*normal)["grant_id"].get<std::string>());
    }
    grants.push_back(*normal);
  }
  Json post = t.value("post_mortem", Json{{"mode", "terminate"}});
  const std::string mode = post.is_object() ? post.value("mode", "") : "";
  if (mode != "terminate" && mode != "estate_consent_required") {
    problems.push_back("post_mortem.mode must be terminate or estate_consent_required (R19)");
  } else if (mode == "estate_consent_required" && post.value("successor", "").empty()) {
    problems.push_back("post_mortem.successor is required with estate_consent_required");
  }
  Json withdrawal =
      t.value("withdrawal", Json{{"channels", {"kiosk", "email"}}, {"effect", "prospective"}});
  if (!IsHex64(input.text_sha256)) problems.push_back("the consent text hash is missing");
  if (input.text_version.empty()) problems.push_back("the consent text version is required (R10)");
  Json studio = t.value("studio", Json::object());
  if (!studio.is_object()) studio = Json::object();
  studio["name"] = studio_name;
  studio["witness"] = input.technician;
  if (!studio.contains("site")) studio["site"] = "";
  if (!studio.contains("rig_id")) studio["rig_id"] = "";
  if (!problems.empty()) {
    std::string what = "the consent terms are incomplete:";
    for (const auto& p : problems) what += "\n  - " + p;
    return MakeError(what, "terms", "fix the terms file and retry; nothing was written");
  }
  const std::string now = NowUtc();
  return Json{{"biometric_processing", bio},
              {"capture", capture},
              {"consent_text",
               {{"language", input.language},
                {"notice_given_at", input.notice_given_at.empty() ? now : input.notice_given_at},
                {"notice_period_hours", RequiredNoticeHours(t)},
                {"presented_at", now},
                {"sha256", input.text_sha256},
                {"version", input.text_version}}},
              {"grants", grants},
              {"jurisdictions", t["jurisdictions"]},
              {"post_mortem", post},
              {"representation", rep},
              {"status", t.value("status", Json(nullptr))},
              {"studio", studio},
              {"subject", subject},
              {"subject_id", input.subject_id},
              {"withdrawal", withdrawal}};
}

Result<std::vector<ManifestFile>> ParseManifest(std::string_view text, const std::string& where) {
  auto json = ParseStrict(text, where, 64u << 20);
  if (!json.ok()) return json.error();
  const Json* list = &*json;
  if (json->is_object() && json->contains("files")) list = &(*json)["files"];
  if (!list->is_array()) {
    return MakeError("the manifest has no list of files", where,
                     "give {\"files\":[{\"path\",\"size\",\"sha256\"}…]}");
  }
  std::vector<ManifestFile> files;
  std::set<std::string> seen;
  for (const auto& e : *list) {
    if (!e.is_object() || !e.contains("path") || !e["path"].is_string() || !e.contains("size") ||
        !e["size"].is_number_unsigned() || !e.contains("sha256") || !IsHex64(e["sha256"])) {
      return MakeError("a manifest entry lacks path, size or a SHA-256", where, "fix the manifest");
    }
    ManifestFile f{e["path"].get<std::string>(), e["size"].get<std::uint64_t>(),
                   e["sha256"].get<std::string>()};
    bool bad = f.path.empty() || f.path.front() == '/' || f.path.find('\\') != std::string::npos ||
               f.path.find('\0') != std::string::npos;
    size_t start = 0;
    while (!bad && start <= f.path.size()) {
      const size_t end = std::min(f.path.find('/', start), f.path.size());
      const std::string part = f.path.substr(start, end - start);
      if (part.empty() || part == "." || part == "..") bad = true;
      start = end + 1;
    }
    if (bad) {
      return MakeError("the manifest path \"" + f.path + "\" is not a plain relative path", where,
                       "paths are relative to the session folder, without '.', '..' or '/'");
    }
    if (!seen.insert(f.path).second) {
      return MakeError("the manifest lists \"" + f.path + "\" twice", where, "fix the manifest");
    }
    files.push_back(std::move(f));
  }
  std::sort(files.begin(), files.end(),
            [](const ManifestFile& a, const ManifestFile& b) { return a.path < b.path; });
  return files;
}

std::string ManifestRoot(const std::vector<ManifestFile>& files) {
  Json list = Json::array();
  for (const auto& f : files) {
    list.push_back({{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}});
  }
  return Sha256Hex(list.dump());
}

Status CheckFilesAgainstManifest(const std::filesystem::path& base,
                                 const std::vector<ManifestFile>& files) {
  for (const auto& f : files) {
    const auto path = base / f.path;
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) {
      return MakeError("a sealed file is missing", path.string(),
                       "restore it from a backup; the seal cannot be honoured without it");
    }
    auto digest = Sha256File(path);
    if (!digest.ok()) return digest.error();
    if (size != f.size || *digest != f.sha256) {
      return MakeError("the file differs from the one sealed after capture (SHA-256 mismatch)",
                       path.string(), "the file was altered; restore it from a backup");
    }
  }
  return OkStatus();
}

Status CheckNoOtherFiles(const std::filesystem::path& base, const std::string& under,
                         const std::vector<ManifestFile>& files, const std::string& listed_by) {
  std::set<std::string> listed;
  for (const auto& f : files) listed.insert(f.path);
  const auto root = under.empty() ? base : base / under;
  std::error_code ec;
  if (!std::filesystem::exists(root, ec)) return OkStatus();
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory()) continue;
    const std::string rel = std::filesystem::relative(it->path(), base).generic_string();
    if (!listed.contains(rel)) {
      return MakeError("the file " + rel + " is not among the files " + listed_by + " lists",
                       it->path().string(),
                       "it was added afterwards; remove it, or have it reviewed and signed anew");
    }
  }
  if (ec) return MakeError("cannot list: " + ec.message(), root.string());
  return OkStatus();
}

Result<std::vector<ManifestFile>> HashFolder(const std::filesystem::path& folder) {
  std::vector<ManifestFile> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(folder, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    auto digest = Sha256File(it->path());
    if (!digest.ok()) return digest.error();
    files.push_back({std::filesystem::relative(it->path(), folder).generic_string(),
                     static_cast<std::uint64_t>(it->file_size()), *digest});
  }
  if (ec) return MakeError("cannot list: " + ec.message(), folder.string());
  std::sort(files.begin(), files.end(),
            [](const ManifestFile& a, const ManifestFile& b) { return a.path < b.path; });
  return files;
}

}  // namespace twinrig::consent
