// The audit log: every consent decision, allowed or refused, and every use of a key, as a SHA-256
// hash chain in the catalog (audit_log), with checkpoints signed by the studio key over
// (entry count, head hash), also appended to audit.anchor beside studio.db. Editing an entry breaks
// the chain; cutting the tail below a checkpoint or re-appending after a cut contradicts the
// signed (count, head), in the catalog or in the anchor file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "consent/canonical_json.h"
#include "consent/crypto.h"
#include "consent/keys.h"
#include "store/catalog.h"

namespace twinrig::consent {

// RFC 3339 UTC time with milliseconds, e.g. "2026-11-28T04:10:00.123Z".
std::string NowUtc();
// Seconds since the epoch of an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS, fraction and zone
// ignored), or nullopt when it does not parse.
std::optional<std::int64_t> UtcSeconds(const std::string& at);
// RFC 3339 UTC `hours` after `at`, to the second; "" when `at` does not parse.
std::string HoursAfter(const std::string& at, int hours);

// Appends one entry: {"at", "event", ...details}. Returns the new entry's sequence number.
Result<std::int64_t> AuditAppend(store::Catalog& catalog, const std::string& event,
                                 const Json& details);

// <studio>/audit.anchor, beside studio.db: every checkpoint is also appended there as one signed
// line, so cutting the log together with its checkpoints in the catalog is still detected.
std::filesystem::path AuditAnchorPath(store::Catalog& catalog);

// "COUNT:HEAD" of the log now: printed at every signature for the subject and studio to keep.
Result<std::string> AuditReceipt(store::Catalog& catalog);

// Signs a checkpoint over the current (count, head), in the catalog and in the anchor file.
Status AuditCheckpoint(store::Catalog& catalog, const SecretKey& studio_key);

struct AuditReport {
  std::int64_t entries = 0;
  std::int64_t checkpoints = 0;
  std::int64_t covered = 0;        // entries covered by the newest valid checkpoint
  std::string head;                // hash of the last entry
  std::int64_t anchored = 0;       // entries covered by the newest line of the anchor file
  std::vector<std::string> chain;  // recomputed hash of every entry, oldest first
};
// Recomputes the chain from the payloads (stored hashes are not trusted) and checks every
// checkpoint's signature and its (count, head) against the recomputed chain.
Result<AuditReport> AuditVerify(store::Catalog& catalog, const KeyRing& keys);

// A receipt kept outside the studio ("COUNT:HEAD") against a verified log: entry COUNT must
// still be there with that hash.
Status CheckAuditReceipt(const AuditReport& report, const std::string& receipt);

}  // namespace twinrig::consent
