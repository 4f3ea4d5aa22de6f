// Typed queries over the studio's, subjects' and sessions' tables (store/sessions_schema.cc).
#include <cstdio>

#include "store/catalog.h"
#include "store/query.h"

namespace twinrig::store {
namespace {

constexpr std::string_view kSessionColumns =
    "SELECT id, COALESCE(subject_id, ''), rig, state, kind, created_at FROM sessions ";

SessionRow ReadSession(Statement& stmt) {
  return {stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2),
          stmt.ColumnText(3), stmt.ColumnText(4), stmt.ColumnText(5)};
}

Result<std::int64_t> CountOf(Database& db, std::string_view sql, const std::string& value) {
  TWINRIG_ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql));
  stmt.Bind(1, value);
  TWINRIG_ASSIGN_OR_RETURN(const bool row, stmt.Step());
  return row ? stmt.ColumnInt(0) : 0;
}

}  // namespace

Result<std::string> Catalog::StudioName() {
  TWINRIG_ASSIGN_OR_RETURN(auto stmt,
                           db_.Prepare("SELECT value FROM studio_meta WHERE key = 'studio_name'"));
  TWINRIG_ASSIGN_OR_RETURN(const bool row, stmt.Step());
  return row ? stmt.ColumnText(0) : std::string("twinrig studio");
}

Status Catalog::SetStudioName(const std::string& name) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt,
      db_.Prepare("INSERT OR REPLACE INTO studio_meta (key, value) VALUES ('studio_name', ?)"));
  stmt.Bind(1, name);
  return stmt.Run();
}

Result<std::string> Catalog::InsertSubject(const std::string& name) {
  std::string id;
  TWINRIG_RETURN_IF_ERROR(Transaction([&]() -> Status {
    TWINRIG_ASSIGN_OR_RETURN(
        const std::int64_t next,
        db_.QueryInt("SELECT COALESCE(MAX(CAST(substr(id, 5) AS INTEGER)), 0) + 1 FROM subjects "
                     "WHERE id LIKE 'SUB-%'"));
    char buf[24];
    std::snprintf(buf, sizeof(buf), "SUB-%06lld", static_cast<long long>(next));
    id = buf;
    TWINRIG_ASSIGN_OR_RETURN(auto stmt,
                             db_.Prepare("INSERT INTO subjects (id, name) VALUES (?, ?)"));
    stmt.Bind(1, id).Bind(2, name);
    return stmt.Run();
  }));
  return id;
}

Result<bool> Catalog::SubjectExists(const std::string& id) {
  TWINRIG_ASSIGN_OR_RETURN(const std::int64_t n,
                           CountOf(db_, "SELECT count(*) FROM subjects WHERE id = ?", id));
  return n > 0;
}

Result<std::vector<SubjectRow>> Catalog::Subjects() {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt,
      db_.Prepare("SELECT s.id, s.name, COALESCE((SELECT kid FROM public_keys k WHERE k.role = "
                  "'subject' AND k.owner = s.id ORDER BY k.rowid DESC LIMIT 1), '') FROM "
                  "subjects s ORDER BY s.id"));
  return CollectRows<SubjectRow>(stmt, [](Statement& s) -> SubjectRow {
    return {s.ColumnText(0), s.ColumnText(1), s.ColumnText(2)};
  });
}

Status Catalog::InsertSession(const SessionRow& session) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt,
      db_.Prepare("INSERT INTO sessions(id, subject_id, rig, state, kind) VALUES (?1, ?2, ?3, ?4, "
                  "?5)"));
  stmt.Bind(1, session.id)
      .Bind(3, session.rig)
      .Bind(4, session.state.empty() ? "new" : session.state);
  stmt.Bind(5, session.kind.empty() ? "subject" : session.kind);
  if (session.subject_id.empty()) {
    stmt.BindNull(2);
  } else {
    stmt.Bind(2, session.subject_id);
  }
  return stmt.Run();
}

Result<std::int64_t> Catalog::CountSessionsWithPrefix(const std::string& prefix) {
  return CountOf(db_, "SELECT count(*) FROM sessions WHERE id LIKE ?1", prefix + "%");
}

Result<std::vector<SessionRow>> Catalog::Sessions() {
  TWINRIG_ASSIGN_OR_RETURN(auto stmt, db_.Prepare(std::string(kSessionColumns) + "ORDER BY id"));
  return CollectRows<SessionRow>(stmt, ReadSession);
}

Result<std::vector<SessionRow>> Catalog::RecentSessions(int limit) {
  TWINRIG_ASSIGN_OR_RETURN(auto stmt, db_.Prepare(std::string(kSessionColumns) +
                                                  "ORDER BY created_at DESC, id DESC LIMIT ?"));
  stmt.Bind(1, static_cast<std::int64_t>(limit));
  return CollectRows<SessionRow>(stmt, ReadSession);
}

Result<std::optional<SessionRow>> Catalog::LatestSession() {
  TWINRIG_ASSIGN_OR_RETURN(auto rows, RecentSessions(1));
  if (rows.empty()) return std::optional<SessionRow>();
  return std::optional<SessionRow>(std::move(rows.front()));
}

Result<bool> Catalog::SessionHasSubject(const std::string& session_id) {
  TWINRIG_ASSIGN_OR_RETURN(
      const std::int64_t n,
      CountOf(db_,
              "SELECT COUNT(*) FROM sessions WHERE id = ? AND subject_id IS NOT NULL AND "
              "subject_id != ''",
              session_id));
  return n > 0;
}

}  // namespace twinrig::store
