// Typed queries over consent's tables (store/consent_schema.cc): public keys, signed records, the
// audit log and its checkpoints, usage.
#include "store/catalog.h"
#include "store/query.h"

namespace twinrig::store {

Result<std::vector<PublicKeyRow>> Catalog::PublicKeys() {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt, db_.Prepare("SELECT kid, role, owner, public_key, COALESCE(retired_at, '') FROM "
                             "public_keys ORDER BY created_at, rowid"));
  return CollectRows<PublicKeyRow>(stmt, [](Statement& s) -> PublicKeyRow {
    return {s.ColumnText(0), s.ColumnText(1), s.ColumnText(2), s.ColumnText(3), s.ColumnText(4)};
  });
}

Status Catalog::InsertPublicKey(const PublicKeyRow& key) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt,
      db_.Prepare("INSERT INTO public_keys (kid, role, owner, public_key) VALUES (?, ?, ?, ?)"));
  stmt.Bind(1, key.kid).Bind(2, key.role).Bind(3, key.owner).Bind(4, key.public_key);
  return stmt.Run();
}

Status Catalog::RetirePublicKey(const std::string& kid, const std::string& at) {
  TWINRIG_ASSIGN_OR_RETURN(auto stmt,
                           db_.Prepare("UPDATE public_keys SET retired_at = ? WHERE kid = ?"));
  stmt.Bind(1, at).Bind(2, kid);
  return stmt.Run();
}

Status Catalog::InsertConsentRecord(const ConsentRecordRow& record) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt, db_.Prepare("INSERT INTO consent_records (record_id, session_id, subject_id, seq, "
                             "record_type, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
  stmt.Bind(1, record.record_id)
      .Bind(2, record.session_id)
      .Bind(3, record.subject_id)
      .Bind(4, static_cast<std::int64_t>(record.seq))
      .Bind(5, record.record_type)
      .Bind(6, record.sha256)
      .Bind(7, record.created_at);
  return stmt.Run();
}

Result<std::vector<ConsentRecordRow>> Catalog::ConsentRecordsOfSession(
    const std::string& session_id) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt, db_.Prepare("SELECT record_id, session_id, subject_id, seq, record_type, sha256, "
                             "created_at FROM consent_records WHERE session_id = ? ORDER BY seq"));
  stmt.Bind(1, session_id);
  return CollectRows<ConsentRecordRow>(stmt, [](Statement& s) -> ConsentRecordRow {
    return {s.ColumnText(0), s.ColumnText(1), s.ColumnText(2), static_cast<int>(s.ColumnInt(3)),
            s.ColumnText(4), s.ColumnText(5), s.ColumnText(6)};
  });
}

Result<std::vector<std::string>> Catalog::ConsentSessionIds() {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt, db_.Prepare("SELECT DISTINCT session_id FROM consent_records ORDER BY 1"));
  return CollectTexts(stmt);
}

Result<std::vector<std::pair<std::string, std::string>>> Catalog::ConsentSubjectSessions() {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt,
      db_.Prepare("SELECT DISTINCT subject_id, session_id FROM consent_records ORDER BY 1, 2"));
  return CollectRows<std::pair<std::string, std::string>>(
      stmt, [](Statement& s) { return std::make_pair(s.ColumnText(0), s.ColumnText(1)); });
}

Result<std::vector<std::string>> Catalog::SessionsOfSubject(const std::string& subject_id) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt, db_.Prepare("SELECT session_id FROM consent_records WHERE subject_id = ? UNION "
                             "SELECT id FROM sessions WHERE subject_id = ? ORDER BY 1"));
  stmt.Bind(1, subject_id).Bind(2, subject_id);
  return CollectTexts(stmt);
}

namespace {
AuditEntryRow ReadAuditEntry(Statement& s) {
  return {s.ColumnInt(0), s.ColumnText(1), s.ColumnText(2)};
}
}  // namespace

Result<std::optional<AuditEntryRow>> Catalog::AuditTail() {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt, db_.Prepare("SELECT seq, payload, hash FROM audit_log ORDER BY seq DESC LIMIT 1"));
  TWINRIG_ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return std::optional<AuditEntryRow>();
  return std::optional<AuditEntryRow>(ReadAuditEntry(stmt));
}

Status Catalog::AppendAuditEntry(const AuditEntryRow& entry) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt, db_.Prepare("INSERT INTO audit_log (seq, payload, hash) VALUES (?, ?, ?)"));
  stmt.Bind(1, entry.seq).Bind(2, entry.payload).Bind(3, entry.hash);
  return stmt.Run();
}

Result<std::vector<AuditEntryRow>> Catalog::AuditEntries() {
  TWINRIG_ASSIGN_OR_RETURN(auto stmt,
                           db_.Prepare("SELECT seq, payload, hash FROM audit_log ORDER BY seq"));
  return CollectRows<AuditEntryRow>(stmt, ReadAuditEntry);
}

Status Catalog::InsertAuditCheckpoint(const AuditCheckpointRow& checkpoint) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt, db_.Prepare("INSERT INTO audit_checkpoints (count, head, at, kid, signature) "
                             "VALUES (?, ?, ?, ?, ?)"));
  stmt.Bind(1, checkpoint.count)
      .Bind(2, checkpoint.head)
      .Bind(3, checkpoint.at)
      .Bind(4, checkpoint.kid)
      .Bind(5, checkpoint.signature);
  return stmt.Run();
}

Result<std::vector<AuditCheckpointRow>> Catalog::AuditCheckpoints() {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt,
      db_.Prepare("SELECT id, count, head, at, kid, signature FROM audit_checkpoints ORDER BY id"));
  return CollectRows<AuditCheckpointRow>(stmt, [](Statement& s) -> AuditCheckpointRow {
    return {s.ColumnInt(0),  s.ColumnInt(1),  s.ColumnText(2),
            s.ColumnText(3), s.ColumnText(4), s.ColumnText(5)};
  });
}

Result<std::vector<ExportCopyRow>> Catalog::ExportCopiesOfSession(const std::string& session_id) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt,
      db_.Prepare("SELECT json_extract(payload, '$.out'), json_extract(payload, '$.written') "
                  "FROM audit_log WHERE json_extract(payload, '$.event') = 'export' AND "
                  "json_extract(payload, '$.session_id') = ?"));
  stmt.Bind(1, session_id);
  return CollectRows<ExportCopyRow>(stmt, [](Statement& s) -> ExportCopyRow {
    return {s.ColumnText(0), s.ColumnText(1)};
  });
}

Result<std::int64_t> Catalog::ExportsUnderUseApproval(const std::string& record_id) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt,
      db_.Prepare("SELECT count(*) FROM audit_log WHERE json_extract(payload, "
                  "'$.event') = 'export' AND json_extract(payload, '$.use_approval') = ?"));
  stmt.Bind(1, record_id);
  auto counts = CollectRows<std::int64_t>(stmt, [](Statement& s) { return s.ColumnInt(0); });
  if (!counts.ok()) return counts.error();
  return counts->empty() ? 0 : counts->front();
}

Status Catalog::InsertUsage(const UsageRow& usage) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt,
      db_.Prepare("INSERT INTO usage (export_id, at, session_id, subject_id, record_id, grant_id, "
                  "licensee, purpose, medium, per_use_minor, currency) VALUES (?, ?, ?, ?, ?, ?, "
                  "?, ?, ?, ?, ?)"));
  stmt.Bind(1, usage.export_id)
      .Bind(2, usage.at)
      .Bind(3, usage.session_id)
      .Bind(4, usage.subject_id)
      .Bind(5, usage.record_id)
      .Bind(6, usage.grant_id)
      .Bind(7, usage.licensee)
      .Bind(8, usage.purpose)
      .Bind(9, usage.medium)
      .Bind(10, usage.per_use_minor)
      .Bind(11, usage.currency);
  return stmt.Run();
}

Result<std::vector<UsageSumRow>> Catalog::UsageSums(const std::string& licensee,
                                                    const std::string& from,
                                                    const std::string& to) {
  TWINRIG_ASSIGN_OR_RETURN(
      auto stmt,
      db_.Prepare("SELECT licensee, grant_id, session_id, COUNT(*), SUM(per_use_minor), currency "
                  "FROM usage WHERE (?1 = '' OR licensee = ?1) AND (?2 = '' OR at >= ?2) AND "
                  "(?3 = '' OR at < ?3) GROUP BY licensee, grant_id, session_id, currency ORDER "
                  "BY licensee, grant_id, session_id"));
  stmt.Bind(1, licensee).Bind(2, from).Bind(3, to);
  return CollectRows<UsageSumRow>(stmt, [](Statement& s) -> UsageSumRow {
    return {s.ColumnText(0), s.ColumnText(1), s.ColumnText(2),
            s.ColumnInt(3),  s.ColumnInt(4),  s.ColumnText(5)};
  });
}

}  // namespace twinrig::store
