#include "store/catalog.h"

#include <array>
#include <fstream>
#include <string>

#include "util/logging.h"

namespace twinrig::store {
namespace {

constexpr std::string_view kSqliteHeader("SQLite format 3\0", 16);

// A non-empty file without SQLite's header is not ours to touch.
Status CheckHeader(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 16> header{};
  in.read(header.data(), header.size());
  if (in.gcount() == 0) return OkStatus();  // empty file: SQLite treats it as a new database
  if (in.gcount() < 16 || std::string_view(header.data(), 16) != kSqliteHeader) {
    return MakeError("the studio catalog is not an SQLite database (damaged or replaced)",
                     path.string(),
                     "restore studio.db from a backup, or move it aside to start an empty "
                     "catalog; twinrig has not changed it");
  }
  return OkStatus();
}

Status CheckHealthy(Database& db) {
  auto stmt = db.Prepare("PRAGMA quick_check");
  if (!stmt.ok()) return stmt.error();
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  std::string verdict = *row ? stmt->ColumnText(0) : "no answer";
  if (verdict != "ok") {
    return MakeError("the studio catalog is damaged: " + verdict, db.path().string(),
                     "restore studio.db from a backup; twinrig has not changed it");
  }
  return OkStatus();
}

Status Migrate(Database& db, int from, int to) {
  for (const Migration& step : Migrations()) {
    if (step.version <= from || step.version > to) continue;
    Status status = InTransaction(db, [&]() -> Status {
      TWINRIG_RETURN_IF_ERROR(db.Execute(step.sql));
      return db.Execute("PRAGMA user_version = " + std::to_string(step.version));
    });
    if (!status.ok()) {
      return MakeError("migration to schema " + std::to_string(step.version) + " (" +
                           std::string(step.name) + ") failed: " + status.error().what,
                       db.path().string(),
                       "the catalog was left at its previous version; " + status.error().todo);
    }
    Log().Info("catalog: schema {} ({})", step.version, step.name);
  }
  return OkStatus();
}

std::string QuoteSql(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    quoted += c;
    if (c == '\'') quoted += '\'';
  }
  return quoted + "'";
}

}  // namespace

Result<Catalog> Catalog::Open(const std::filesystem::path& studio, int target_version) {
  const int latest = LatestSchemaVersion();
  const int target = target_version == 0 ? latest : target_version;
  const auto path = DatabasePath(studio);

  std::error_code ec;
  std::filesystem::create_directories(studio, ec);
  if (ec) {
    return MakeError("could not create the studio folder: " + ec.message(), studio.string(),
                     "choose a writable folder with --studio or TWINRIG_STUDIO");
  }

  OpenReport report;
  report.created = !std::filesystem::exists(path);
  if (!report.created) TWINRIG_RETURN_IF_ERROR(CheckHeader(path));

  auto db = Database::Open(path, Database::Mode::kCreateIfMissing);
  if (!db.ok()) return db.error();
  if (!report.created) TWINRIG_RETURN_IF_ERROR(CheckHealthy(*db));

  auto app_id = db->QueryInt("PRAGMA application_id");
  if (!app_id.ok()) return app_id.error();
  auto version = db->QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.error();
  report.found_version = static_cast<int>(*version);

  if (*app_id != 0 && *app_id != kApplicationId) {
    return MakeError("this SQLite file belongs to another program, not twinrig", path.string(),
                     "use another studio folder; twinrig has not changed the file");
  }
  if (*app_id == 0 && report.found_version != 0) {
    return MakeError("this SQLite file is not a twinrig catalog", path.string(),
                     "use another studio folder; twinrig has not changed the file");
  }
  if (report.found_version > latest) {
    return MakeError("the catalog was written by a newer twinrig (schema " +
                         std::to_string(report.found_version) + "; this twinrig knows up to " +
                         std::to_string(latest) + ")",
                     path.string(), "upgrade twinrig; the catalog was left as it is");
  }

  TWINRIG_RETURN_IF_ERROR(db->Execute("PRAGMA journal_mode = WAL"));
  TWINRIG_RETURN_IF_ERROR(db->Execute("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON"));

  if (report.found_version > 0 && report.found_version < target) {
    // Keep the old catalog as it was, so a failed upgrade can always go back.
    report.backup = path;
    report.backup += ".bak-v" + std::to_string(report.found_version);
    std::filesystem::remove(report.backup, ec);
    TWINRIG_RETURN_IF_ERROR(db->Execute("VACUUM INTO " + QuoteSql(report.backup.string())));
    Log().Info("catalog: backed up schema {} to {}", report.found_version, report.backup.string());
  }
  if (report.found_version == 0) {
    TWINRIG_RETURN_IF_ERROR(
        db->Execute("PRAGMA application_id = " + std::to_string(kApplicationId)));
  }
  TWINRIG_RETURN_IF_ERROR(Migrate(*db, report.found_version, target));
  report.version = std::max(report.found_version, target);
  return Catalog(std::move(db).value(), studio, report);
}

Status Catalog::Transaction(const std::function<Status()>& work) {
  return InTransaction(db_, work);
}

}  // namespace twinrig::store
