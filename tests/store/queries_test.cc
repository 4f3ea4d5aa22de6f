// The catalog's typed queries, and a catalog written by an earlier twinrig read through them.
#include <catch2/catch.hpp>

#include "store/catalog.h"
#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::store {
namespace {

TEST_CASE("subjects get the next free id and list with their newest key", "[unit]") {
  testing::TempDir dir;
  auto catalog = Catalog::Open(dir / "studio").value();
  CHECK(catalog.InsertSubject("Ada").value() == "SUB-000001");
  CHECK(catalog.InsertSubject("Bob").value() == "SUB-000002");
  CHECK(catalog.SubjectExists("SUB-000002").value());
  CHECK_FALSE(catalog.SubjectExists("SUB-000003").value());
  REQUIRE(catalog.InsertPublicKey({"k1", "subject", "SUB-000001", "aa", ""}).ok());
  REQUIRE(catalog.InsertPublicKey({"k2", "subject", "SUB-000001", "bb", ""}).ok());
  const auto subjects = catalog.Subjects().value();
  REQUIRE(subjects.size() == 2);
  CHECK(subjects[0].name == "Ada");
  CHECK(subjects[0].key_id == "k2");
  CHECK(subjects[1].key_id.empty());
}

TEST_CASE("sessions: insert, count by day, list, newest, subject or none", "[unit]") {
  testing::TempDir dir;
  auto catalog = Catalog::Open(dir / "studio").value();
  REQUIRE(catalog.InsertSubject("Ada").ok());
  CHECK_FALSE(catalog.LatestSession().value().has_value());
  REQUIRE(catalog.InsertSession({"S-20261201-0001", "SUB-000001", "head24", "new", "subject", ""})
              .ok());
  REQUIRE(catalog.InsertSession({"S-20261201-0002", "", "head24", "new", "calibration", ""}).ok());
  // The primary key keeps ids unique.
  CHECK_FALSE(catalog.InsertSession({"S-20261201-0002", "", "head24", "new", "subject", ""}).ok());
  CHECK(catalog.CountSessionsWithPrefix("S-20261201-").value() == 2);
  CHECK(catalog.CountSessionsWithPrefix("S-20261202-").value() == 0);
  const auto all = catalog.Sessions().value();
  REQUIRE(all.size() == 2);
  CHECK(all[1].subject_id.empty());
  CHECK(all[1].kind == "calibration");
  CHECK(catalog.RecentSessions(1).value().size() == 1);
  CHECK(catalog.LatestSession().value()->id == "S-20261201-0002");
  CHECK(catalog.SessionHasSubject("S-20261201-0001").value());
  CHECK_FALSE(catalog.SessionHasSubject("S-20261201-0002").value());
  CHECK(catalog.SessionsOfSubject("SUB-000001").value() ==
        std::vector<std::string>{"S-20261201-0001"});
}

TEST_CASE("consent records, the audit log and usage round-trip", "[unit]") {
  testing::TempDir dir;
  auto catalog = Catalog::Open(dir / "studio").value();
  REQUIRE(catalog.InsertConsentRecord({"r1", "S-1", "SUB-1", 1, "consent", "h1", "t1"}).ok());
  REQUIRE(catalog.InsertConsentRecord({"r2", "S-1", "SUB-1", 2, "seal", "h2", "t2"}).ok());
  // One record per (session, seq).
  CHECK_FALSE(catalog.InsertConsentRecord({"r3", "S-1", "SUB-1", 2, "seal", "h3", "t3"}).ok());
  const auto records = catalog.ConsentRecordsOfSession("S-1").value();
  REQUIRE(records.size() == 2);
  CHECK(records[1].record_type == "seal");
  CHECK(catalog.ConsentSessionIds().value() == std::vector<std::string>{"S-1"});
  CHECK(catalog.ConsentSubjectSessions().value().front() ==
        std::make_pair(std::string("SUB-1"), std::string("S-1")));
  CHECK(catalog.SessionsOfSubject("SUB-1").value() == std::vector<std::string>{"S-1"});

  CHECK_FALSE(catalog.AuditTail().value().has_value());
  // A failed transaction leaves nothing behind.
  CHECK_FALSE(catalog
                  .Transaction([&]() -> Status {
                    TWINRIG_RETURN_IF_ERROR(catalog.AppendAuditEntry({1, "{}", "h"}));
                    return MakeError("stop");
                  })
                  .ok());
  CHECK(catalog.AuditEntries().value().empty());
  const std::string export_payload =
      R"({"event":"export","out":"/exports/x","session_id":"S-1","written":["a.glb"]})";
  REQUIRE(catalog.AppendAuditEntry({1, "{}", "h1"}).ok());
  REQUIRE(catalog.AppendAuditEntry({2, export_payload, "h2"}).ok());
  CHECK(catalog.AuditTail().value()->seq == 2);
  CHECK(catalog.AuditEntries().value().size() == 2);
  const auto copies = catalog.ExportCopiesOfSession("S-1").value();
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].out == "/exports/x");
  CHECK(copies[0].written == R"(["a.glb"])");
  REQUIRE(catalog.InsertAuditCheckpoint({0, 2, "h2", "t", "kid", "sig"}).ok());
  CHECK(catalog.AuditCheckpoints().value().front().count == 2);

  REQUIRE(catalog
              .InsertUsage({"e1", "2026-01-02T00:00:00Z", "S-1", "SUB-1", "r1", "g1", "brand",
                            "ads", "web", 250, "EUR"})
              .ok());
  REQUIRE(catalog
              .InsertUsage({"e2", "2026-02-02T00:00:00Z", "S-1", "SUB-1", "r1", "g1", "brand",
                            "ads", "web", 250, "EUR"})
              .ok());
  const auto all = catalog.UsageSums("", "", "").value();
  REQUIRE(all.size() == 1);
  CHECK(all[0].uses == 2);
  CHECK(all[0].amount_minor == 500);
  CHECK(catalog.UsageSums("brand", "2026-02", "").value().front().uses == 1);
  CHECK(catalog.UsageSums("other", "", "").value().empty());
}

TEST_CASE("keys are listed oldest first and retired in place", "[unit]") {
  testing::TempDir dir;
  auto catalog = Catalog::Open(dir / "studio").value();
  REQUIRE(catalog.InsertPublicKey({"a", "studio", "studio", "00", ""}).ok());
  REQUIRE(catalog.InsertPublicKey({"b", "technician", "tech1", "11", ""}).ok());
  REQUIRE(catalog.RetirePublicKey("a", "2026-12-01T00:00:00Z").ok());
  const auto keys = catalog.PublicKeys().value();
  REQUIRE(keys.size() == 2);
  CHECK(keys[0].kid == "a");
  CHECK(keys[0].retired_at == "2026-12-01T00:00:00Z");
  CHECK(keys[1].retired_at.empty());
}

TEST_CASE("a catalog written by twinrig 0.1.0 (schema 4) opens and reads unchanged", "[unit]") {
  testing::TempDir dir;
  const auto studio = dir / "studio";
  REQUIRE(Catalog::Open(studio, 4).ok());
  {
    const auto rows =
        ReadFileText(testing::SourceDir() / "tests" / "store" / "data" / "catalog-v4.sql");
    REQUIRE(rows.ok());
    auto db = Database::Open(Catalog::DatabasePath(studio), Database::Mode::kOpenExisting).value();
    REQUIRE(db.Execute(*rows).ok());
  }
  auto catalog = Catalog::Open(studio);
  REQUIRE(catalog.ok());
  CHECK(catalog->report().found_version == 4);
  CHECK(catalog->report().backup.empty());
  CHECK(catalog->StudioName().value() == "Compat Studio");
  const auto subjects = catalog->Subjects().value();
  REQUIRE(subjects.size() == 2);
  CHECK(subjects[0].key_id == "bc18d31df558f376");
  CHECK(subjects[1].key_id.empty());
  CHECK(catalog->PublicKeys().value().size() == 3);
  CHECK(catalog->AuditEntries().value().size() == 6);
  CHECK(catalog->AuditCheckpoints().value().size() == 2);
  const auto records = catalog->ConsentRecordsOfSession("S-20261128-0001").value();
  REQUIRE(records.size() == 1);
  CHECK(records[0].record_type == "consent");
  CHECK(catalog->InsertSubject("Cy").value() == "SUB-000003");
}

}  // namespace
}  // namespace twinrig::store
