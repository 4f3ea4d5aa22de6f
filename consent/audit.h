// The audit log: every consent decision, allowed or refused, and every use of a key, as a SHA-256
// hash chain in the catalog (audit_log), with checkpoints signed by the studio key over
// (entry count, head hash). Editing an entry breaks the chain; cutting the tail below a checkpoint
// or re-appending after a cut contradicts the signed (count, head).
#pragma once

#include <cstdint>
#include <string>

#include "consent/canonical_json.h"
#include "consent/crypto.h"
#include "consent/keys.h"
#include "host/catalog/catalog.h"

namespace twinrig::consent {

// RFC 3339 UTC time with milliseconds, e.g. "2026-11-28T04:10:00.123Z".
std::string NowUtc();

// Appends one entry: {"at", "event", ...details}. Returns the new entry's sequence number.
Result<std::int64_t> AuditAppend(catalog::Catalog& catalog, const std::string& event,
                                 const Json& details);

// Signs a checkpoint over the current (count, head).
Status AuditCheckpoint(catalog::Catalog& catalog, const SecretKey& studio_key);

struct AuditReport {
  std::int64_t entries = 0;
  std::int64_t checkpoints = 0;
  std::int64_t covered = 0;  // entries covered by the newest valid checkpoint
  std::string head;          // hash of the last entry
};
// Recomputes the chain from the payloads (stored hashes are not trusted) and checks every
// checkpoint's signature and its (count, head) against the recomputed chain.
Result<AuditReport> AuditVerify(catalog::Catalog& catalog, const KeyRing& keys);

}  // namespace twinrig::consent
