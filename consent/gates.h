// The consent lifecycle as the rest of twinrig calls it: the capture gate, the capture seal, the
// subject's review of the twin, grants, revocation, erasure (crypto-shredding) and the export gate
// with provenance and usage accounting. Every decision, allowed or refused, is written to the
// audit log.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "consent/canonical_json.h"
#include "consent/crypto.h"
#include "consent/records.h"
#include "store/catalog.h"

namespace twinrig::consent {

// Today's date in UTC, YYYY-MM-DD.
std::string TodayUtc();

// Why no processing of the session's likeness is allowed on `today` (YYYY-MM-DD), or "" when it
// is: the consent record must be fully signed, not revoked in full, no erasure asked for or done,
// and `today` not past destroy_by (R13, R14, R15). Every gate asks this one question.
std::string WhyNoProcessing(const Chain& chain, const std::string& today);

// The processing gate for everything that reads or makes a person's likeness — capture resumes,
// reconstruction, the vault, the review station's image and twin routes: the chain verifies
// (head included) and WhyNoProcessing says nothing. Sessions without a subject (board captures)
// pass. `use` names the use in the message and the audit entry; every decision is audited.
Status CheckProcessingAllowed(store::Catalog& catalog, const std::string& session_id,
                              const std::string& use);

// The capture gate (R2): OK only when the session's chain verifies, starts with a consent record
// for `subject_id` and `session_id` that the subject, the witness and the studio have all signed,
// with explicit biometric consent, not revoked, not destroyed, not past its destroy_by date, and
// not already sealed. The decision is audited either way.
Status CheckCaptureAllowed(store::Catalog& catalog, const std::string& subject_id,
                           const std::string& session_id);

// Creates the capture_seal record (unsigned; the technician and studio sign it) from a manifest
// of the captured files (see ParseManifest). When `session_folder` is not empty every file is
// re-hashed there first, so a seal never vouches for files that are not what the manifest says.
Result<StoredRecord> SealCapture(store::Catalog& catalog, const std::string& session_id,
                                 const std::string& technician, std::string_view manifest_json,
                                 const std::filesystem::path& session_folder);
// Re-checks the captured files against the seal (T6: one changed bit is caught).
Status VerifyCaptureFiles(store::Catalog& catalog, const std::string& session_id);

std::filesystem::path TwinFolder(const std::filesystem::path& studio,
                                 const std::string& session_id);
// The subject's review of the twin: hashes every file in sessions/<id>/twin/ into a
// twin_approval (or twin_rejection) record that the subject and the studio sign.
Result<StoredRecord> ReviewTwin(store::Catalog& catalog, const std::string& session_id,
                                bool approve, const std::string& note);

// A grant or amendment record with `grants` (each checked by NormaliseGrant).
Result<StoredRecord> AddGrants(store::Catalog& catalog, const std::string& session_id,
                               const std::string& type, const Json& grants);

// A revocation of some grants (or all when `grant_ids` is empty), effective now, prospective.
Result<StoredRecord> Revoke(store::Catalog& catalog, const std::string& session_id,
                            const std::vector<std::string>& grant_ids, bool erase_biometric,
                            const std::string& reason);

// Erasure: destroys the subject's data key (their encrypted files become unreadable), then
// appends and signs with the studio key a destruction record in every session chain of the
// subject. Returns the sessions recorded.
Result<std::vector<std::string>> EraseSubject(store::Catalog& catalog,
                                              const std::string& subject_id,
                                              const SecretKey& studio_key,
                                              const std::string& reason);

struct ExportRequest {
  std::string session_id;
  std::string licensee;
  std::string purpose;
  std::string medium;
  std::string territory;  // empty: not checked
  std::string today;      // YYYY-MM-DD; empty: TodayUtc()
  std::filesystem::path out;
  bool composite =
      false;  // compositeWithTrainedAlgorithmicMedia instead of trainedAlgorithmicMedia
  // The declared use, checked against the grant (R4): contexts the output appears in (each must
  // not be prohibited), alterations made (each must be permitted), generative AI used.
  std::vector<std::string> contexts;
  std::vector<std::string> alterations;
  bool generative = false;
};

// The subject's approval of one use under a grant that needs one (per_use_approval, R9): a
// use_approval record that the subject (and a guardian, if any) and the studio sign; one export
// spends it. `request` describes the use (session_id, licensee, purpose, medium, territory,
// contexts, alterations, generative); `description` says it in words; the approval lapses after
// `valid_until` (YYYY-MM-DD).
Result<StoredRecord> ProposeUse(store::Catalog& catalog, const std::string& grant_id,
                                const ExportRequest& request, const std::string& description,
                                const std::string& valid_until);

struct ExportDecision {
  std::string grant_id;
  const StoredRecord* grant_record = nullptr;
  Json grant;
  const StoredRecord* use_approval = nullptr;  // the approval this export spends (R9)
};

// The export gate (R4, R9, R13, R27): chain verifies; not revoked or destroyed; twin approved by
// the subject and its files unchanged; a current grant matches licensee, purpose, medium,
// territory and window, without per-use approval pending. Audited either way; the error says
// exactly why an export is refused.
Result<ExportDecision> CheckExportAllowed(store::Catalog& catalog, const Chain& chain,
                                          const ExportRequest& request);

struct ExportResult {
  std::string export_id;
  std::string grant_id;
  std::vector<std::filesystem::path> files;  // written into request.out
  std::filesystem::path sidecar;
};

// Exports the twin files to request.out: .glb files get asset.extras.twinrig provenance, .jpg
// files an XMP packet, and a provenance.json sidecar signed by the studio lists every file's
// hash with the record, the grant and the AI label. The consent chain and the public keys go along
// (out/consent/, out/keyring.json) so the licensee can verify offline. One usage row per export.
Result<ExportResult> Export(store::Catalog& catalog, const ExportRequest& request,
                            const SecretKey& studio_key);

// Checks a provenance sidecar's studio signature and the hashes of the files beside it.
Status VerifyProvenance(const std::filesystem::path& sidecar, const KeyRing& keys);

// Retention (R15): every session whose consent is past destroy_by on `today` (empty: TodayUtc())
// and not yet destroyed loses every copy of its images and twin (RemoveEveryCopy) and gets a
// destruction record signed by the studio; a subject whose sessions are all past it is erased
// (data key shredded). Returns the sessions destroyed.
Result<std::vector<std::string>> RunRetention(store::Catalog& catalog, const SecretKey& studio_key,
                                              const std::string& today);

using UsageLine = store::UsageSumRow;
// Exports per licensee and grant with [from, to) as RFC 3339 prefixes (empty: open).
Result<std::vector<UsageLine>> UsageReport(store::Catalog& catalog, const std::string& licensee,
                                           const std::string& from, const std::string& to);

}  // namespace twinrig::consent
