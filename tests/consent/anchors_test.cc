// Issue findings reproduced as they were found, each now refused with a message naming what was
// removed, added or raced: a deleted newest record (a revocation), a file added to the twin or to
// the captures after they were signed, two writers appending to one session at once.
#include <catch2/catch.hpp>

#include <thread>

#include "tests/consent/consent_fixture.h"

namespace twinrig::consent {
namespace {

using testing::GrantJson;
using testing::Studio;

ExportRequest Request(Studio& s, const std::string& out) {
  ExportRequest r;
  r.session_id = s.session;
  r.licensee = "brand-a";
  r.purpose = "SS27 campaign imagery";
  r.medium = "social";
  r.territory = "EU";
  r.today = "2027-06-01";
  r.out = s.dir / out;
  return r;
}

void MoveOut(const std::filesystem::path& from, const std::filesystem::path& to_dir) {
  std::filesystem::create_directories(to_dir);
  std::filesystem::rename(from, to_dir / from.filename());
}

TEST_CASE("a revocation moved out of the chain is reported as truncation", "[integration]") {
  Studio s;
  s.ReadyForGrants(s.session, {GrantJson("g1", "brand-a")});
  const auto consent_dir = SessionConsentDir(s.root, s.session);
  const std::string head_before = ReadFileText(consent_dir / "head.json").value();
  REQUIRE(Revoke(s.catalog, s.session, {"g1"}, false, "changed my mind").ok());
  s.SignAs(s.session, "subject");
  REQUIRE_FALSE(Export(s.catalog, Request(s, "out-revoked"), s.studio_key).ok());

  // As found: the newest record (NNNN-revocation.*) moved out of the session's consent/.
  const auto attic = s.dir / "attic";
  for (const auto& entry : std::filesystem::directory_iterator(consent_dir)) {
    if (entry.path().filename().string().find("-revocation.") != std::string::npos) {
      MoveOut(entry.path(), attic);
    }
  }
  SECTION("the signed head names the removed record") {
    auto chain = Chain::ForSession(s.catalog, s.session);
    REQUIRE_FALSE(chain.ok());
    CHECK(chain.error().what.find("truncated") != std::string::npos);
    CHECK(chain.error().what.find("record 5 was removed") != std::string::npos);
    auto exported = Export(s.catalog, Request(s, "out-after-cut"), s.studio_key);
    REQUIRE_FALSE(exported.ok());
    CHECK(exported.error().what.find("truncated") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(s.dir / "out-after-cut" / "twin.glb"));
  }
  SECTION("with the older head put back, the catalog still names the removed revocation") {
    REQUIRE(WriteFileAtomic(consent_dir / "head.json", head_before).ok());
    auto chain = Chain::ForSession(s.catalog, s.session);
    REQUIRE_FALSE(chain.ok());
    CHECK(chain.error().what.find("0005-revocation") != std::string::npos);
    CHECK(chain.error().what.find("removed") != std::string::npos);
  }
  SECTION("with the head removed too") {
    std::filesystem::remove(consent_dir / "head.json");
    auto chain = Chain::Load(consent_dir, KeyRing::FromCatalog(s.catalog).value());
    REQUIRE_FALSE(chain.ok());
    CHECK(chain.error().what.find("no signed head") != std::string::npos);
  }
  SECTION("a signature cut from the newest record") {
    for (const auto& entry : std::filesystem::directory_iterator(attic)) {
      std::filesystem::rename(entry.path(), consent_dir / entry.path().filename());
    }
    const auto sigs = consent_dir / "0005-revocation.sigs.json";
    Json file = Json::parse(ReadFileText(sigs).value());
    file["signatures"] = Json::array();
    REQUIRE(WriteFileAtomic(sigs, file.dump()).ok());
    auto chain = Chain::ForSession(s.catalog, s.session);
    REQUIRE_FALSE(chain.ok());
    CHECK(chain.error().what.find("subject signature on record 0005-revocation was removed") !=
          std::string::npos);
  }
}

TEST_CASE("export delivers exactly the approved twin files", "[integration]") {
  Studio s;
  s.ReadyForGrants(s.session, {GrantJson("g1", "brand-a")});
  const auto twin = s.SessionDir(s.session) / "twin";
  SECTION("a file added after the approval refuses the export and is named") {
    std::filesystem::create_directories(twin / "extra");
    REQUIRE(WriteFileAtomic(twin / "extra" / "unapproved.png", "not approved").ok());
    auto r = Export(s.catalog, Request(s, "out-extra"), s.studio_key);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("extra/unapproved.png") != std::string::npos);
    CHECK(r.error().what.find("not among the files the subject's approval lists") !=
          std::string::npos);
    CHECK_FALSE(std::filesystem::exists(s.dir / "out-extra" / "extra" / "unapproved.png"));
  }
  SECTION("a file removed") {
    std::filesystem::remove(twin / "metrics.json");
    auto r = Export(s.catalog, Request(s, "out-missing"), s.studio_key);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("metrics.json") != std::string::npos);
  }
  SECTION("a file changed") {
    REQUIRE(WriteFileAtomic(twin / "metrics.json", "{\"rms_mm\":9}").ok());
    auto r = Export(s.catalog, Request(s, "out-changed"), s.studio_key);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("metrics.json") != std::string::npos);
  }
  SECTION("unchanged, the export carries exactly the approved files") {
    auto r = Export(s.catalog, Request(s, "out-ok"), s.studio_key);
    REQUIRE(r.ok());
    CHECK(r->files.size() == 2);
  }
}

TEST_CASE("the capture seal refuses images the manifest leaves out", "[integration]") {
  Studio s;
  s.NewConsent(s.session, {"subject", "technician", "studio"});
  const std::string manifest = s.CaptureFiles(s.session, 3);
  std::filesystem::create_directories(s.SessionDir(s.session) / "images" / "CAM9");
  REQUIRE(WriteFileAtomic(s.SessionDir(s.session) / "images" / "CAM9" / "0001.jpg", "extra").ok());
  auto sealed = SealCapture(s.catalog, s.session, "tech1", manifest, s.SessionDir(s.session));
  REQUIRE_FALSE(sealed.ok());
  CHECK(sealed.error().what.find("images/CAM9/0001.jpg") != std::string::npos);
  std::filesystem::remove(s.SessionDir(s.session) / "images" / "CAM9" / "0001.jpg");
  std::filesystem::remove(s.SessionDir(s.session) / "images" / "CAM1" / "0001.jpg");
  sealed = SealCapture(s.catalog, s.session, "tech1", manifest, s.SessionDir(s.session));
  REQUIRE_FALSE(sealed.ok());
  CHECK(sealed.error().where.find("CAM1") != std::string::npos);
}

TEST_CASE("two writers appending to one session never share a sequence number", "[integration]") {
  Studio s;
  s.ReadyForGrants(s.session, {});
  SECTION("a writer waits for the other, then is told who holds the lock") {
    auto held = FileLock::TryLock(s.root / "locks" / (s.session + ".consent.lock"),
                                  "twinrig review (test)");
    REQUIRE(held.ok());
    auto r = AddGrants(s.catalog, s.session, "grant", Json::array({GrantJson("g1", "brand-a")}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("another writer") != std::string::npos);
    CHECK(r.error().what.find("twinrig review (test)") != std::string::npos);
  }
  SECTION("racing appends from two catalog connections") {
    // As found: the CLI and the station appended at once and both took number 4. With the lock
    // the second waits, then finds record 4 unsigned and says so instead of overwriting it.
    std::vector<std::string> errors(2);
    std::vector<int> seqs(2, 0);
    auto append = [&](int i) {
      auto catalog = catalog::Catalog::Open(s.root).value();
      auto r = AddGrants(catalog, s.session, "grant",
                         Json::array({GrantJson("g" + std::to_string(i), "brand-a")}));
      if (r.ok()) {
        seqs[static_cast<size_t>(i)] = r->seq;
      } else {
        errors[static_cast<size_t>(i)] = r.error().what;
      }
    };
    std::thread a(append, 0);
    std::thread b(append, 1);
    a.join();
    b.join();
    const int winners = (seqs[0] != 0 ? 1 : 0) + (seqs[1] != 0 ? 1 : 0);
    CHECK(winners == 1);
    const std::string& loser = seqs[0] != 0 ? errors[1] : errors[0];
    CHECK(loser.find("still waits for signatures") != std::string::npos);
    auto chain = Chain::ForSession(s.catalog, s.session);
    REQUIRE(chain.ok());
    CHECK(chain->records().size() == 4);
  }
}

TEST_CASE("the audit log's tail cut with its checkpoints is caught outside studio.db",
          "[integration]") {
  Studio s;
  for (int i = 0; i < 10; ++i) REQUIRE(AuditAppend(s.catalog, "test.event", {{"i", i}}).ok());
  REQUIRE(AuditCheckpoint(s.catalog, s.studio_key).ok());
  for (int i = 10; i < 12; ++i) REQUIRE(AuditAppend(s.catalog, "test.event", {{"i", i}}).ok());
  REQUIRE(AuditCheckpoint(s.catalog, s.studio_key).ok());
  const std::string receipt = AuditReceipt(s.catalog).value();
  const KeyRing ring = KeyRing::FromCatalog(s.catalog).value();
  auto report = AuditVerify(s.catalog, ring);
  REQUIRE(report.ok());
  CHECK(report->anchored == report->entries);
  CHECK(CheckAuditReceipt(*report, receipt).ok());

  // As found: the newest entries deleted together with the checkpoints covering them.
  const std::int64_t keep = 10;
  REQUIRE(s.catalog.db().Execute("DELETE FROM audit_log WHERE seq > " + std::to_string(keep)).ok());
  REQUIRE(s.catalog.db().Execute("DELETE FROM audit_checkpoints WHERE count > 10").ok());
  SECTION("the anchor file still counts them") {
    auto r = AuditVerify(s.catalog, ring);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("truncated") != std::string::npos);
    CHECK(r.error().what.find("audit anchor") != std::string::npos);
    CHECK(r.error().where.find("audit.anchor") != std::string::npos);
  }
  SECTION("the anchor file removed as well") {
    std::filesystem::remove(AuditAnchorPath(s.catalog));
    auto r = AuditVerify(s.catalog, ring);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("audit anchor is missing") != std::string::npos);
  }
  SECTION("every checkpoint and the anchor gone: the subject's receipt still counts them") {
    std::filesystem::remove(AuditAnchorPath(s.catalog));
    REQUIRE(s.catalog.db().Execute("DELETE FROM audit_checkpoints").ok());
    auto r = AuditVerify(s.catalog, ring);
    REQUIRE(r.ok());
    auto checked = CheckAuditReceipt(*r, receipt);
    REQUIRE_FALSE(checked.ok());
    CHECK(checked.error().what.find("truncated") != std::string::npos);
  }
}

}  // namespace
}  // namespace twinrig::consent
