// The studio catalog: <studio>/studio.db, an SQLite database with a versioned schema.
//  - a new studio gets the whole schema;
//  - an older catalog is copied to studio.db.bak-v<N> and then migrated step by step, each step in
//    its own transaction;
//  - a catalog written by a newer twinrig is refused (never downgraded);
//  - a file that is not a healthy twinrig catalog is reported and never overwritten.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "host/catalog/sqlite.h"
#include "util/result.h"

namespace twinrig::catalog {

struct Migration {
  int version;            // the schema version after this step (1, 2, 3 …)
  std::string_view name;  // what the step adds, for the log
  std::string_view sql;
};

// Every schema step, in order. Later parts of twinrig add their tables here.
const std::vector<Migration>& Migrations();
int LatestSchemaVersion();

// "TWRG": marks a SQLite file as a twinrig catalog (PRAGMA application_id).
inline constexpr int kApplicationId = 0x54575247;

struct OpenReport {
  int found_version = 0;  // 0 for a new catalog
  int version = 0;        // after opening
  bool created = false;
  std::filesystem::path backup;  // set when an older catalog was migrated
};

class Catalog {
 public:
  // Opens (creating when missing) the catalog of the studio folder `studio`.
  // `target_version` exists for tests that build an old catalog; 0 means the latest.
  static Result<Catalog> Open(const std::filesystem::path& studio, int target_version = 0);

  static std::filesystem::path DatabasePath(const std::filesystem::path& studio) {
    return studio / "studio.db";
  }

  Database& db() { return db_; }
  [[nodiscard]] const OpenReport& report() const { return report_; }
  [[nodiscard]] const std::filesystem::path& studio() const { return studio_; }

  // The studio's name as its keys were created with ("twinrig studio" until one is set).
  Result<std::string> StudioName();
  Status SetStudioName(const std::string& name);

 private:
  Catalog(Database db, std::filesystem::path studio, OpenReport report)
      : db_(std::move(db)), studio_(std::move(studio)), report_(std::move(report)) {}
  Database db_;
  std::filesystem::path studio_;
  OpenReport report_;
};

}  // namespace twinrig::catalog
