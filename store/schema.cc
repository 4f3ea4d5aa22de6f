// The catalog's schema: every owner's steps in one version sequence.
#include <algorithm>

#include "store/schema.h"

namespace twinrig::store {

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kMigrations = [] {
    std::vector<Migration> all = SessionsMigrations();
    const auto& consent = ConsentMigrations();
    all.insert(all.end(), consent.begin(), consent.end());
    std::sort(all.begin(), all.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    return all;
  }();
  return kMigrations;
}

int LatestSchemaVersion() { return Migrations().back().version; }

}  // namespace twinrig::store
