// The studio catalog: <studio>/studio.db, an SQLite database with a versioned schema, read and
// written only through the typed queries below (as COLMAP's Database): no SQL outside store/.
//  - a new studio gets the whole schema;
//  - an older catalog is copied to studio.db.bak-v<N> and then migrated step by step, each step in
//    its own transaction;
//  - a catalog written by a newer twinrig is refused (never downgraded);
//  - a file that is not a healthy twinrig catalog is reported and never overwritten.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/rows.h"
#include "store/sqlite.h"
#include "util/result.h"

namespace twinrig::store {

struct Migration {
  int version;            // the schema version after this step (1, 2, 3 …)
  std::string_view name;  // what the step adds, for the log
  std::string_view sql;
};

// Every schema step, in order: each owner's steps (store/<owner>_schema.cc) in one sequence.
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

  [[nodiscard]] const OpenReport& report() const { return report_; }
  [[nodiscard]] const std::filesystem::path& studio() const { return studio_; }
  [[nodiscard]] const std::filesystem::path& path() const { return db_.path(); }

  // Runs `work` in one write transaction (BEGIN IMMEDIATE … COMMIT); an error rolls it back.
  Status Transaction(const std::function<Status()>& work);

  // --- studio, subjects, sessions (store/sessions_queries.cc) -----------------------------------

  // The studio's name as its keys were created with ("twinrig studio" until one is set).
  Result<std::string> StudioName();
  Status SetStudioName(const std::string& name);

  // Registers a subject under the next free id SUB-000001, SUB-000002 …; returns the id.
  Result<std::string> InsertSubject(const std::string& name);
  Result<bool> SubjectExists(const std::string& id);
  // Every subject by id, each with its newest subject key's id.
  Result<std::vector<SubjectRow>> Subjects();

  // Inserts a new session (state "new"); an empty subject id is stored as none.
  Status InsertSession(const SessionRow& session);
  // How many session ids start with `prefix` (ids are the day and a counter).
  Result<std::int64_t> CountSessionsWithPrefix(const std::string& prefix);
  // Every session by id.
  Result<std::vector<SessionRow>> Sessions();
  // The newest `limit` sessions, newest first.
  Result<std::vector<SessionRow>> RecentSessions(int limit);
  // The newest session, if any.
  Result<std::optional<SessionRow>> LatestSession();
  // Whether the session belongs to a subject (a calibration capture has none).
  Result<bool> SessionHasSubject(const std::string& session_id);

  // --- consent (store/consent_queries.cc) -------------------------------------------------------

  // Every public key, oldest first.
  Result<std::vector<PublicKeyRow>> PublicKeys();
  Status InsertPublicKey(const PublicKeyRow& key);
  Status RetirePublicKey(const std::string& kid, const std::string& at);

  Status InsertConsentRecord(const ConsentRecordRow& record);
  // A session's records by seq.
  Result<std::vector<ConsentRecordRow>> ConsentRecordsOfSession(const std::string& session_id);
  // Every session with consent records, by id.
  Result<std::vector<std::string>> ConsentSessionIds();
  // (subject, session) of every consent record, distinct, by subject then session.
  Result<std::vector<std::pair<std::string, std::string>>> ConsentSubjectSessions();
  // Every session of a subject: in its consent records or in the sessions table, by id.
  Result<std::vector<std::string>> SessionsOfSubject(const std::string& subject_id);

  // The last audit entry, if any.
  Result<std::optional<AuditEntryRow>> AuditTail();
  Status AppendAuditEntry(const AuditEntryRow& entry);
  // Every audit entry by seq.
  Result<std::vector<AuditEntryRow>> AuditEntries();
  Status InsertAuditCheckpoint(const AuditCheckpointRow& checkpoint);
  Result<std::vector<AuditCheckpointRow>> AuditCheckpoints();
  // The folders and files of every export of a session the audit log records.
  Result<std::vector<ExportCopyRow>> ExportCopiesOfSession(const std::string& session_id);
  // How many exports the audit log records under the subject's approval of one use (R9).
  Result<std::int64_t> ExportsUnderUseApproval(const std::string& record_id);

  Status InsertUsage(const UsageRow& usage);
  // Usage per licensee, grant, session and currency; empty filters match all; [from, to).
  Result<std::vector<UsageSumRow>> UsageSums(const std::string& licensee, const std::string& from,
                                             const std::string& to);

 private:
  Catalog(Database db, std::filesystem::path studio, OpenReport report)
      : db_(std::move(db)), studio_(std::move(studio)), report_(std::move(report)) {}
  Database db_;
  std::filesystem::path studio_;
  OpenReport report_;
};

}  // namespace twinrig::store
