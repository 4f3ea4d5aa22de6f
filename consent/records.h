// Consent records (DTCR/1) and their chain per capture session, stored in
// <studio>/sessions/<session>/consent/ as
//   NNNN-<type>.json        the exact canonical bytes that were signed
//   NNNN-<type>.sigs.json   detached signatures {role, kid, alg, sig}
//   NNNN-<type>.minisig     the studio signature mirrored in minisign format
// Each record names the one before it (`supersedes`: record id and SHA-256), so the chain reads
//   consent → capture_seal → twin_approval | twin_rejection → grant / amendment / use_approval …
//   → revocation → destruction
// and the newest fully signed record counts. Signature input (domain separated):
//   "twinrig/consent/v1\0" || record_type || "\0" || role || "\0" || record bytes
// head.json, rewritten at every signature, is the chain's signed head (see CheckChainHead).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "consent/canonical_json.h"
#include "consent/crypto.h"
#include "consent/keys.h"
#include "store/catalog.h"
#include "util/file_lock.h"

namespace twinrig::consent {

inline constexpr std::string_view kSchema = "dtcr/1";

// Roles whose signatures make a record of `type` complete; a revocation needs any one of them.
// With `guardian` (the consent names a guardian, R23) the guardian signs wherever the subject does.
std::vector<std::string> RequiredRoles(const std::string& type, bool guardian = false);
bool AnyOneRoleSuffices(const std::string& type);

// A date as records hold them: YYYY-MM-DD.
bool IsDate(const Json& v);

Bytes SignatureInput(const std::string& type, const std::string& role, std::string_view bytes);

struct SignatureEntry {
  std::string role;
  std::string kid;
  std::string signer;  // technician id or subject id; "studio" for the studio
  Signature sig{};
};

struct StoredRecord {
  int seq = 0;
  std::string type;
  std::string bytes;   // exact stored bytes
  std::string sha256;  // of `bytes`
  Json body;
  std::vector<SignatureEntry> signatures;
  std::filesystem::path path;
  bool complete = false;  // every required role has signed
  bool guardian = false;  // the chain's consent names a guardian, who signs beside the subject
  [[nodiscard]] std::string record_id() const { return body.value("record_id", ""); }
  [[nodiscard]] std::vector<std::string> RequiredRoles() const;
  [[nodiscard]] std::vector<std::string> MissingRoles() const;
};

// What the chain says now, after folding every complete record in order.
struct EffectiveState {
  std::string subject_id;
  std::string session_id;
  const StoredRecord* consent = nullptr;  // the first record
  const StoredRecord* head = nullptr;     // the newest complete record
  const StoredRecord* seal = nullptr;
  const StoredRecord* twin = nullptr;  // the newest approval or rejection
  bool twin_approved = false;
  struct ActiveGrant {
    Json grant;
    const StoredRecord* record = nullptr;  // the record that holds this version of the grant
  };
  std::map<std::string, ActiveGrant> grants;          // grant_id → newest version
  std::map<std::string, std::string> revoked_grants;  // grant_id → revocation time
  // Signed approvals of single uses of grants that need one (per_use_approval, R9), oldest first.
  std::vector<const StoredRecord*> use_approvals;
  bool all_revoked = false;
  bool erase_requested = false;
  bool destroyed = false;
  bool pending = false;  // the newest record still waits for signatures
};

class Chain {
 public:
  Chain() = default;
  // EffectiveState points into records_: moves keep the elements in place, copies would not.
  Chain(Chain&&) noexcept = default;
  Chain& operator=(Chain&&) noexcept = default;
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;
  ~Chain() = default;

  // Loads and verifies the chain in `dir` against `keys`. Every signature present must verify and
  // come from the expected key (studio key; the witness technician's key; the subject key named
  // in the consent record); links, sequence numbers, subject and session must agree. Only the last
  // record may be incomplete. Any failure is an Error naming the file.
  static Result<Chain> Load(const std::filesystem::path& dir, const KeyRing& keys);
  // The chain of a session in a studio, verified against the catalog's keys.
  static Result<Chain> ForSession(store::Catalog& catalog, const std::string& session_id);

  [[nodiscard]] const std::vector<StoredRecord>& records() const { return records_; }
  [[nodiscard]] const EffectiveState& state() const { return state_; }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

 private:
  void Fold();
  std::filesystem::path dir_;
  std::vector<StoredRecord> records_;
  EffectiveState state_;
};

std::filesystem::path SessionConsentDir(const std::filesystem::path& studio,
                                        const std::string& session_id);

// Appends an unsigned record of `type` with `body` (record_id, seq, schema, links, subject,
// session and time are filled in) to the session's chain. The previous record must be complete.
// A `consent` record starts a chain; it needs `subject.subject_id` in the body.
Result<StoredRecord> AppendRecord(store::Catalog& catalog, const std::string& session_id,
                                  const std::string& type, Json body);

// Signs the newest record of the session's chain as `role`. `signer` is the technician id for the
// technician role (it must be the record's witness), the subject id for the subject role.
Result<StoredRecord> SignNewest(store::Catalog& catalog, const std::string& session_id,
                                const std::string& role, const SecretKey& key);

// Checks the chain's signed head (consent/head.json: count, SHA-256 of the newest signed record
// and the roles that signed it, signed by the newest signer) against `records`: a removed newest
// record or signature, or a head older than the records, is an Error naming what was removed.
Status CheckChainHead(const std::filesystem::path& dir, const std::vector<StoredRecord>& records,
                      const KeyRing& keys);

// Every record the audit log says was created is still in its session's chain with the hash it
// was created with. The log is anchored outside studio.db; the records folder and the catalog's
// rows are not, so a chain removed whole — folder and rows — is found here, by record and session.
// Returns the number of records checked.
Result<std::int64_t> CheckAuditedRecords(store::Catalog& catalog);

// The per-session lock (<studio>/locks/<session>.consent.lock) every writer of records holds, so
// two processes never take one sequence number. Waits up to about 3 s, then names the holder.
Result<FileLock> LockSessionRecords(const std::filesystem::path& studio,
                                    const std::string& session_id, const std::string& holder);

// --- record bodies ------------------------------------------------------------------------------
// Checks and normalises one grant (defaults: training notAllowed, disclosure c2pa + visible label,
// per_use_approval false, exclusivity null). Dates are YYYY-MM-DD.
Result<Json> NormaliseGrant(const Json& grant, const std::string& where);

struct ConsentInput {
  std::string subject_id;
  std::string session_id;
  std::string technician;  // the witness
  std::string text_sha256;
  std::string text_version;
  std::string language = "en";
  std::string notice_given_at;  // empty: now
  Json terms = Json::object();  // jurisdictions, representation, biometric_processing, grants …
  // The guardian's key when the terms name a guardian (required for a minor, R23).
  std::optional<KeyInfo> guardian_key;
};

// Hours of notice the terms require between `notice_given_at` and the consent (R10): 48 under a
// SAG-AFTRA agreement, or the terms' own `notice_period_hours` (the studio sets it for a
// jurisdiction that asks for one), whichever is longer; 0 when nothing requires notice.
int RequiredNoticeHours(const Json& terms);
// Builds the body of a consent record from the terms file and the CLI facts; lists every problem.
Result<Json> BuildConsentBody(const ConsentInput& input, const KeyInfo& subject_key,
                              const std::string& studio_name);

// A capture manifest entry: a path relative to the session folder, its size and SHA-256.
struct ManifestFile {
  std::string path;
  std::uint64_t size = 0;
  std::string sha256;
};
// Parses {"files":[{"path","size","sha256"}…]} (or a bare array); refuses absolute paths, "." and
// ".." components, duplicates and malformed hashes. Sorted by path.
Result<std::vector<ManifestFile>> ParseManifest(std::string_view text, const std::string& where);
// SHA-256 of the canonical JSON list of the sorted entries.
std::string ManifestRoot(const std::vector<ManifestFile>& files);
// Re-hashes every file under `base` and compares it with the manifest.
Status CheckFilesAgainstManifest(const std::filesystem::path& base,
                                 const std::vector<ManifestFile>& files);
// Refuses any file (or link, or other entry that is not a folder) under `base`/`under` that
// `files` (paths relative to `base`) does not list, naming it; `listed_by` says whose list.
Status CheckNoOtherFiles(const std::filesystem::path& base, const std::string& under,
                         const std::vector<ManifestFile>& files, const std::string& listed_by);
Result<std::vector<ManifestFile>> HashFolder(const std::filesystem::path& folder);

}  // namespace twinrig::consent
