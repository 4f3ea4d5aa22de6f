// studio.db edited behind twinrig's back, as someone with the file and the sqlite3 shell would:
// a second connection, outside the typed queries, for the tests that show such edits are caught.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "store/catalog.h"

namespace twinrig::store::testing {

class Tamper {
 public:
  explicit Tamper(const Catalog& catalog)
      : db_(Database::Open(catalog.path(), Database::Mode::kOpenExisting).value()) {}

  // Audit entries of `event` (and `decision`, when given).
  std::int64_t AuditCount(const std::string& event, const std::string& decision = "") {
    auto stmt = db_.Prepare(
        "SELECT COUNT(*) FROM audit_log WHERE json_extract(payload, '$.event') = ?1 AND "
        "(?2 = '' OR json_extract(payload, '$.decision') = ?2)");
    REQUIRE(stmt.ok());
    stmt->Bind(1, event).Bind(2, decision);
    REQUIRE(stmt->Step().value());
    return stmt->ColumnInt(0);
  }

  // Replaces `from` by `to` in the payload of entry `seq`, leaving its stored hash.
  void EditAuditPayload(std::int64_t seq, const std::string& from, const std::string& to) {
    auto stmt = db_.Prepare("UPDATE audit_log SET payload = replace(payload, ?, ?) WHERE seq = ?");
    REQUIRE(stmt.ok());
    stmt->Bind(1, from).Bind(2, to).Bind(3, seq);
    REQUIRE(stmt->Run().ok());
  }
  // Deletes the audit entries with first <= seq <= last.
  void DeleteAuditEntries(std::int64_t first, std::int64_t last = INT64_MAX) {
    auto stmt = db_.Prepare("DELETE FROM audit_log WHERE seq >= ? AND seq <= ?");
    REQUIRE(stmt.ok());
    stmt->Bind(1, first).Bind(2, last);
    REQUIRE(stmt->Run().ok());
  }
  // Deletes the checkpoints that cover more than `count` entries (all: -1).
  void DeleteCheckpointsAbove(std::int64_t count) {
    auto stmt = db_.Prepare("DELETE FROM audit_checkpoints WHERE count > ?");
    REQUIRE(stmt.ok());
    stmt->Bind(1, count);
    REQUIRE(stmt->Run().ok());
  }
  // Moves every checkpoint to cover `count` entries with the stored hash of entry `count`.
  void ForgeCheckpoints(std::int64_t count) {
    auto stmt = db_.Prepare(
        "UPDATE audit_checkpoints SET count = ?1, head = (SELECT hash FROM audit_log WHERE seq = "
        "?1)");
    REQUIRE(stmt.ok());
    stmt->Bind(1, count);
    REQUIRE(stmt->Run().ok());
  }
  // Deletes a session's rows in consent_records (and in sessions, if any).
  void DeleteConsentRows(const std::string& session_id) {
    for (const char* sql : {"DELETE FROM consent_records WHERE session_id = ?",
                            "DELETE FROM sessions WHERE id = ?"}) {
      auto stmt = db_.Prepare(sql);
      if (!stmt.ok()) continue;  // a catalog without the sessions table
      stmt->Bind(1, session_id);
      REQUIRE(stmt->Run().ok());
    }
  }
  void InsertPublicKey(const std::string& kid, const std::string& role, const std::string& owner,
                       const std::string& public_key_hex) {
    auto stmt =
        db_.Prepare("INSERT INTO public_keys (kid, role, owner, public_key) VALUES (?, ?, ?, ?)");
    REQUIRE(stmt.ok());
    stmt->Bind(1, kid).Bind(2, role).Bind(3, owner).Bind(4, public_key_hex);
    REQUIRE(stmt->Run().ok());
  }

 private:
  Database db_;
};

}  // namespace twinrig::store::testing
