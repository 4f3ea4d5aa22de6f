// Issue findings reproduced as they were found, each now refused with a message naming what was
// removed, added or raced: a deleted newest record (a revocation), a file added to the twin or to
// the captures after they were signed, two writers appending to one session at once.
#include <catch2/catch.hpp>

#include <sodium.h>

#include <thread>

#include "tests/consent/consent_fixture.h"
#include "tests/consent/export_request.h"

namespace twinrig::consent {
namespace {

using testing::GrantJson;
using testing::Studio;

ExportRequest Request(Studio& s, const std::string& out) {
  ExportRequest r = testing::ExportTo(s, out);
  r.territory = "EU";
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
      auto catalog = store::Catalog::Open(s.root).value();
      // Built in two steps: GCC 12 at -O3 warns (-Wrestrict) on "g" + std::to_string(i).
      std::string grant_id = "g";
      grant_id += std::to_string(i);
      auto r =
          AddGrants(catalog, s.session, "grant", Json::array({GrantJson(grant_id, "brand-a")}));
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
  s.Tamper().DeleteAuditEntries(keep + 1);
  s.Tamper().DeleteCheckpointsAbove(10);
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
    s.Tamper().DeleteCheckpointsAbove(-1);
    auto r = AuditVerify(s.catalog, ring);
    REQUIRE(r.ok());
    auto checked = CheckAuditReceipt(*r, receipt);
    REQUIRE_FALSE(checked.ok());
    CHECK(checked.error().what.find("truncated") != std::string::npos);
  }
}

TEST_CASE("a session's chain removed whole, folder and catalog rows, is caught by the audit log",
          "[integration]") {
  Studio s;
  s.ReadyForGrants(s.session, {testing::GrantJson("g1", "brand-a")});
  auto before = CheckAuditedRecords(s.catalog);
  REQUIRE(before.ok());
  CHECK(*before == 4);  // consent, capture seal, twin approval, grant
  // As found: with the consent folder and its rows gone the session no longer counts as anyone's.
  std::filesystem::remove_all(SessionConsentDir(s.root, s.session));
  s.Tamper().DeleteConsentRows(s.session);
  auto after = CheckAuditedRecords(s.catalog);
  REQUIRE_FALSE(after.ok());
  CHECK(after.error().what.find("of session " + s.session) != std::string::npos);
  CHECK(after.error().what.find("is no longer in the session's consent records") !=
        std::string::npos);
}

TEST_CASE("only the pinned studio key counts, and a retired key signs nothing new",
          "[integration]") {
  Studio s;
  s.NewConsent(s.session, {"subject", "technician", "studio"});
  const std::string studio_kid = KeyId(s.studio_key.public_key());
  const auto pin = s.dir / "studio.pin";
  SECTION("a studio key added to the catalog is refused when the pin names another") {
    REQUIRE(WriteFileAtomic(pin, "# pinned\n" + studio_kid + "\n").ok());
    REQUIRE(::setenv(std::string(kStudioPinVariable).c_str(), pin.c_str(), 1) == 0);
    CHECK(Chain::ForSession(s.catalog, s.session).ok());
    const SecretKey intruder = SecretKey::Generate();
    s.Tamper().InsertPublicKey(KeyId(intruder.public_key()), "studio", "studio",
                               HexEncode(intruder.public_key()));
    auto r = Chain::ForSession(s.catalog, s.session);
    ::unsetenv(std::string(kStudioPinVariable).c_str());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find(KeyId(intruder.public_key()) + " is not the pinned studio key") !=
          std::string::npos);
  }
  SECTION("an offline key ring is checked against the pin given") {
    const KeyRing ring = KeyRing::FromCatalog(s.catalog).value();
    CHECK(CheckPinnedStudioKeys(ring, {studio_kid}, "pin").ok());
    CHECK_FALSE(CheckPinnedStudioKeys(ring, {"0011223344556677"}, "pin").ok());
  }
  SECTION("a retired technician key cannot witness a new record") {
    REQUIRE(RetireKey(s.catalog, KeyId(s.tech_key.public_key())).ok());
    CHECK(Chain::ForSession(s.catalog, s.session).ok());  // signed before retirement
    CHECK_FALSE(UnsealKey(s.catalog, kRoleTechnician, "tech1", testing::kTechPass).ok());
    REQUIRE(SealCapture(s.catalog, s.session, "tech1", s.CaptureFiles(s.session, 2),
                        s.SessionDir(s.session))
                .ok());
    auto signed_seal = SignNewest(s.catalog, s.session, "technician", s.tech_key);
    REQUIRE_FALSE(signed_seal.ok());
    CHECK(signed_seal.error().what.find("retired at") != std::string::npos);
  }
}

}  // namespace
}  // namespace twinrig::consent

namespace twinrig::consent {
namespace {

std::string RandomBytes(std::size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), out.size());
  return out;
}

TEST_CASE("erasure leaves no 4 KiB block of the images or the twin anywhere", "[integration]") {
  testing::Studio s;
  s.NewConsent(s.session, {"subject", "technician", "studio"});
  const auto folder = s.SessionDir(s.session);
  std::vector<std::string> originals;
  Json files = Json::array();
  for (int cam = 0; cam < 3; ++cam) {
    const std::string rel = "images/CAM" + std::to_string(cam) + "/0001.jpg";
    originals.push_back(RandomBytes(std::size_t{5} * 4096 + 100));
    std::filesystem::create_directories((folder / rel).parent_path());
    REQUIRE(WriteFileAtomic(folder / rel, originals.back()).ok());
    files.push_back({{"path", rel},
                     {"size", originals.back().size()},
                     {"sha256", Sha256Hex(originals.back())}});
  }
  REQUIRE(SealCapture(s.catalog, s.session, "tech1", Json{{"files", files}}.dump(), folder).ok());
  s.SignAs(s.session, "technician");
  s.SignAs(s.session, "studio");
  // The reconstruction workspace holds copies of the captures (undistorted images, databases).
  std::filesystem::create_directories(folder / "reconstruction" / "dense" / "images");
  REQUIRE(WriteFileAtomic(folder / "reconstruction" / "dense" / "images" / "CAM0.jpg", originals[0])
              .ok());
  REQUIRE(WriteFileAtomic(folder / "reconstruction" / "database.db", "SQLite" + originals[1]).ok());
  std::filesystem::create_directories(folder / "twin");
  originals.push_back(RandomBytes(std::size_t{3} * 4096));
  REQUIRE(WriteFileAtomic(folder / "twin" / "texture.png", originals.back()).ok());
  REQUIRE(WriteFileAtomic(folder / "twin" / "twin.glb", testing::TriangleGlb()).ok());
  REQUIRE(ReviewTwin(s.catalog, s.session, true, "that is me").ok());
  s.SignAs(s.session, "subject");
  s.SignAs(s.session, "studio");
  REQUIRE(
      AddGrants(s.catalog, s.session, "grant", Json::array({testing::GrantJson("g1", "brand-a")}))
          .ok());
  s.SignAs(s.session, "subject");
  s.SignAs(s.session, "studio");
  // A station export (as the review station writes it) and a CLI export outside the studio.
  for (const auto& out : {s.root / "exports" / s.session / "20270601-abc", s.dir / "delivery"}) {
    auto exported = Export(s.catalog, testing::ExportTo(s, out), s.studio_key);
    INFO((exported.ok() ? "" : exported.error().Describe()));
    REQUIRE(exported.ok());
  }
  REQUIRE(std::filesystem::exists(s.dir / "delivery" / "texture.png"));

  auto erased = EraseSubject(s.catalog, s.subject, s.studio_key, "the subject asked");
  INFO((erased.ok() ? "" : erased.error().Describe()));
  REQUIRE(erased.ok());

  std::vector<std::string> blocks;
  for (const auto& original : originals) {
    for (std::size_t at = 0; at + 4096 <= original.size(); at += 4096) {
      blocks.push_back(original.substr(at, 4096));
    }
  }
  std::size_t searched = 0;
  for (const auto& root : {s.dir.path()}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      const std::string bytes = ReadFileText(entry.path()).value();
      ++searched;
      for (const auto& block : blocks) {
        INFO(entry.path().string());
        CHECK(bytes.find(block) == std::string::npos);
      }
    }
  }
  CHECK(searched > 10);
  // The proof of what happened stays: the chain verifies and records the destruction.
  auto chain = Chain::ForSession(s.catalog, s.session);
  REQUIRE(chain.ok());
  CHECK(chain->state().destroyed);
}

}  // namespace
}  // namespace twinrig::consent
