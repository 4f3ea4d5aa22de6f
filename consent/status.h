// The revocation status list for licensees (R26): per session and grant, valid, revoked (when) or
// destroyed (when), signed by the studio key, with the time after which it is stale. A licensee
// checks it offline before each new use against the pinned studio key; a stale list, a list by
// another key or a revoked grant fails closed.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "consent/canonical_json.h"
#include "consent/crypto.h"
#include "consent/keys.h"
#include "store/catalog.h"

namespace twinrig::consent {

inline constexpr std::string_view kStatusListFormat = "twinrig-status-list/1";

// Builds the list from every session's chain (each must verify), signs it, writes it to `out`.
// `issued_at` empty: now; the list is stale `valid_hours` after it.
Status WriteStatusList(store::Catalog& catalog, const SecretKey& studio_key,
                       const std::filesystem::path& out, int valid_hours,
                       const std::string& issued_at);

struct StatusEntry {
  std::string status;  // valid, revoked, destroyed
  std::string since;   // when it was revoked or destroyed
};

// Checks a status list: signed by a studio key among `pins` (key ids; a key ring carries the
// public keys), not stale at `now` (RFC 3339), and returns the entry for `session`/`grant_id`.
// An Error when the list is stale, forged, or names no such grant.
Result<StatusEntry> CheckStatus(const std::filesystem::path& list, const KeyRing& keys,
                                const std::vector<std::string>& pins, const std::string& now,
                                const std::string& session, const std::string& grant_id);

}  // namespace twinrig::consent
