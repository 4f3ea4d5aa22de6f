// The capture gate, the seal, the export gate with provenance, usage, revocation, erasure and the
// audit log.
#include <catch2/catch.hpp>

#include "consent/crypto.h"
#include "tests/consent/consent_fixture.h"
#include "util/subprocess.h"

namespace twinrig::consent {
namespace {

using testing::GrantJson;
using testing::Studio;

std::int64_t AuditCount(Studio& s, const std::string& event, const std::string& decision) {
  return s.Tamper().AuditCount(event, decision);
}

ExportRequest Request(Studio& s, const std::string& licensee = "brand-a") {
  ExportRequest r;
  r.session_id = s.session;
  r.licensee = licensee;
  r.purpose = "SS27 campaign imagery";
  r.medium = "social";
  r.territory = "EU";
  r.today = "2027-06-01";
  r.out = s.dir / ("out-" + licensee);
  return r;
}

TEST_CASE("the capture gate needs a fully signed consent for that subject and session",
          "[integration]") {
  Studio s;
  auto refused = CheckCaptureAllowed(s.catalog, s.subject, s.session);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().what.find("no consent record") != std::string::npos);
  CHECK_FALSE(refused.error().todo.empty());

  s.NewConsent(s.session, {"subject", "technician"});
  refused = CheckCaptureAllowed(s.catalog, s.subject, s.session);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().what.find("lacks signatures: studio") != std::string::npos);

  s.SignAs(s.session, "studio");
  CHECK(CheckCaptureAllowed(s.catalog, s.subject, s.session).ok());
  auto other = CheckCaptureAllowed(s.catalog, "SUB-000099", s.session);
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().what.find("is for subject SUB-000001") != std::string::npos);
  CHECK(AuditCount(s, "capture.gate", "allowed") == 1);
  CHECK(AuditCount(s, "capture.gate", "refused") == 3);

  // After the seal, the session cannot be captured again.
  REQUIRE(SealCapture(s.catalog, s.session, "tech1", s.CaptureFiles(s.session, 2),
                      s.SessionDir(s.session))
              .ok());
  s.SignAs(s.session, "technician");
  s.SignAs(s.session, "studio");
  CHECK_FALSE(CheckCaptureAllowed(s.catalog, s.subject, s.session).ok());
}

TEST_CASE("a consent past its retention date does not allow capture", "[integration]") {
  Studio s;
  Json terms = testing::Terms();
  terms["biometric_processing"]["retention"]["destroy_by"] = "2020-01-01";
  s.NewConsent(s.session, {"subject", "technician", "studio"}, terms);
  auto r = CheckCaptureAllowed(s.catalog, s.subject, s.session);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what.find("retention period ended") != std::string::npos);
}

TEST_CASE("the capture seal binds every captured file", "[integration]") {
  Studio s;
  s.NewConsent(s.session, {"subject", "technician", "studio"});
  const std::string manifest = s.CaptureFiles(s.session, 4);
  // A manifest that does not match the files on disk is refused before anything is signed.
  Json wrong = Json::parse(manifest);
  wrong["files"][0]["sha256"] = std::string(64, '0');
  CHECK_FALSE(
      SealCapture(s.catalog, s.session, "tech1", wrong.dump(), s.SessionDir(s.session)).ok());
  REQUIRE(SealCapture(s.catalog, s.session, "tech1", manifest, s.SessionDir(s.session)).ok());
  s.SignAs(s.session, "technician");
  s.SignAs(s.session, "studio");
  CHECK(VerifyCaptureFiles(s.catalog, s.session).ok());
  // One bit of one captured file.
  const auto file = s.SessionDir(s.session) / "images/CAM2/0001.jpg";
  Bytes bytes = ReadFileBytes(file).value();
  bytes[5] ^= 0x01;
  REQUIRE(WriteFileAtomic(file, bytes).ok());
  auto r = VerifyCaptureFiles(s.catalog, s.session);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().where.find("CAM2") != std::string::npos);
}

TEST_CASE("export is allowed only within a current grant and carries provenance", "[integration]") {
  Studio s;
  s.ReadyForGrants(s.session, {GrantJson("g1", "brand-a"),
                               GrantJson("g2", "brand-b", "2026-01-01", "2026-12-31"),
                               GrantJson("g3", "brand-c", "2028-01-01", "2028-12-31")});
  auto ok = Export(s.catalog, Request(s), s.studio_key);
  INFO((ok.ok() ? "" : ok.error().Describe()));
  REQUIRE(ok.ok());
  CHECK(ok->grant_id == "g1");

  // The exported .glb is a valid glTF container with the provenance in asset.extras.
  const Bytes glb_bytes = ReadFileBytes(Request(s).out / "twin.glb").value();
  CHECK(glb_bytes.size() % 4 == 0);
  auto glb = ParseGlb(glb_bytes, "twin.glb");
  REQUIRE(glb.ok());
  const Json& extras = glb->json["asset"]["extras"]["twinrig"];
  CHECK(extras["grant_id"] == "g1");
  CHECK(extras["digital_source_type"] ==
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia");
  auto chain = Chain::ForSession(s.catalog, s.session).value();
  CHECK(extras["consent_record"]["sha256"] == chain.records()[0].sha256);
  CHECK(glb->bin.size() == 36);
  CHECK(glb->json["accessors"][0]["count"] == 3);

  // The signed sidecar verifies against the exported key ring, and catches a changed file.
  auto ring = KeyRing::FromFile(Request(s).out / "keyring.json").value();
  CHECK(VerifyProvenance(ok->sidecar, ring).ok());
  // The licensee can verify the chain offline with what came in the export.
  CHECK(Chain::Load(Request(s).out / "consent", ring).ok());
  Bytes tampered = glb_bytes;
  tampered[tampered.size() - 2] ^= 0x01;
  REQUIRE(WriteFileAtomic(Request(s).out / "twin.glb", tampered).ok());
  CHECK_FALSE(VerifyProvenance(ok->sidecar, ring).ok());

  auto refused_with = [&](const ExportRequest& r, const std::string& reason) {
    auto res = Export(s.catalog, r, s.studio_key);
    REQUIRE_FALSE(res.ok());
    CAPTURE(res.error().what);
    CHECK(res.error().what.find(reason) != std::string::npos);
  };
  refused_with(Request(s, "brand-z"), "no grant for licensee \"brand-z\"");
  ExportRequest r = Request(s);
  r.purpose = "political campaign";
  refused_with(r, "purpose is");
  r = Request(s);
  r.medium = "billboard";
  refused_with(r, "medium \"billboard\"");
  r = Request(s);
  r.territory = "CN";
  refused_with(r, "territory \"CN\"");
  refused_with(Request(s, "brand-b"), "expired on 2026-12-31");
  refused_with(Request(s, "brand-c"), "not valid before 2028-01-01");

  // Revocation of g1 stops new exports for it.
  REQUIRE(Revoke(s.catalog, s.session, {"g1"}, false, "changed my mind").ok());
  s.SignAs(s.session, "subject");
  refused_with(Request(s), "revoked on");

  CHECK(AuditCount(s, "export.gate", "allowed") == 1);
  CHECK(AuditCount(s, "export.gate", "refused") == 7);
  auto usage = UsageReport(s.catalog, "brand-a", "", "").value();
  REQUIRE(usage.size() == 1);
  CHECK(usage[0].uses == 1);
  CHECK(usage[0].amount_minor == 40000);
  CHECK(usage[0].currency == "EUR");
  CHECK(AuditVerify(s.catalog, KeyRing::FromCatalog(s.catalog).value()).ok());
}

TEST_CASE("export refuses a twin the subject did not approve", "[integration]") {
  Studio s;
  s.ReadyForGrants(s.session, {GrantJson("g1", "brand-a")});
  SECTION("twin changed after approval") {
    Bytes glb = ReadFileBytes(s.SessionDir(s.session) / "twin/twin.glb").value();
    glb[40] ^= 0x01;
    REQUIRE(WriteFileAtomic(s.SessionDir(s.session) / "twin/twin.glb", glb).ok());
    auto r = Export(s.catalog, Request(s), s.studio_key);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("not the one the subject approved") != std::string::npos);
  }
  SECTION("twin rejected") {
    Studio t;
    t.NewConsent(t.session, {"subject", "technician", "studio"});
    REQUIRE(SealCapture(t.catalog, t.session, "tech1", t.CaptureFiles(t.session, 1),
                        t.SessionDir(t.session))
                .ok());
    t.SignAs(t.session, "technician");
    t.SignAs(t.session, "studio");
    std::filesystem::create_directories(t.SessionDir(t.session) / "twin");
    REQUIRE(
        WriteFileAtomic(t.SessionDir(t.session) / "twin/twin.glb", testing::TriangleGlb()).ok());
    REQUIRE(ReviewTwin(t.catalog, t.session, false, "not me").ok());
    t.SignAs(t.session, "subject");
    t.SignAs(t.session, "studio");
    REQUIRE(
        AddGrants(t.catalog, t.session, "grant", Json::array({GrantJson("g1", "brand-a")})).ok());
    t.SignAs(t.session, "subject");
    t.SignAs(t.session, "studio");
    auto r = Export(t.catalog, Request(t), t.studio_key);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("rejected the twin") != std::string::npos);
  }
}

TEST_CASE("after revocation and erasure the subject's files cannot be decrypted", "[integration]") {
  Studio s;
  s.ReadyForGrants(s.session, {GrantJson("g1", "brand-a")});
  const DataKey key = LoadOrCreateDataKey(s.root, s.subject, s.studio_key).value();
  CHECK(LoadDataKey(s.root, s.subject, s.studio_key).value() == key);
  const auto raw = s.SessionDir(s.session) / "images/CAM0/0001.jpg";
  const auto enc = s.dir / "CAM0-0001.jpg.enc";
  REQUIRE(EncryptFile(key, s.subject, raw, enc).ok());
  REQUIRE(DecryptFile(LoadDataKey(s.root, s.subject, s.studio_key).value(), s.subject, enc,
                      s.dir / "check")
              .ok());

  REQUIRE(Revoke(s.catalog, s.session, {}, true, "withdrawn").ok());
  s.SignAs(s.session, "subject");
  auto sessions = EraseSubject(s.catalog, s.subject, s.studio_key, "consent withdrawn");
  INFO((sessions.ok() ? "" : sessions.error().Describe()));
  REQUIRE(sessions.ok());
  CHECK(*sessions == std::vector<std::string>{s.session});
  CHECK_FALSE(std::filesystem::exists(DataKeyPath(s.root, s.subject)));
  CHECK_FALSE(std::filesystem::exists(raw));  // plaintext copies removed too
  auto gone = LoadDataKey(s.root, s.subject, s.studio_key);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().what.find("destroyed") != std::string::npos);
  // Even the old key bytes are no longer anywhere in the key store.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(s.root / "keys")) {
    if (!entry.is_regular_file()) continue;
    const Bytes content = ReadFileBytes(entry.path()).value();
    CHECK(std::search(content.begin(), content.end(), key.begin(), key.end()) == content.end());
  }
  // A fresh key (what a restore without the old key would give) cannot decrypt.
  CHECK_FALSE(DecryptFile(GenerateDataKey(), s.subject, enc, s.dir / "after").ok());

  auto chain = Chain::ForSession(s.catalog, s.session).value();
  CHECK(chain.records().back().type == "destruction");
  CHECK(chain.records().back().complete);
  CHECK(chain.state().destroyed);
  CHECK_FALSE(Export(s.catalog, Request(s), s.studio_key).ok());
  CHECK(AuditVerify(s.catalog, KeyRing::FromCatalog(s.catalog).value()).ok());
}

TEST_CASE("the audit log detects edits, truncation and re-appended tails", "[integration]") {
  Studio s;
  for (int i = 0; i < 10; ++i) {
    REQUIRE(AuditAppend(s.catalog, "test.event", {{"i", i}}).ok());
  }
  REQUIRE(AuditCheckpoint(s.catalog, s.studio_key).ok());
  REQUIRE(AuditAppend(s.catalog, "test.event", {{"i", 10}}).ok());
  const KeyRing ring = KeyRing::FromCatalog(s.catalog).value();
  auto report = AuditVerify(s.catalog, ring);
  REQUIRE(report.ok());
  CHECK(report->entries == 11);
  CHECK(report->covered == 10);
  CHECK(report->checkpoints == 1);

  SECTION("an edit in the middle") {
    s.Tamper().EditAuditPayload(5, "\"i\":4", "\"i\":5");
    auto r = AuditVerify(s.catalog, ring);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("entry 5") != std::string::npos);
  }
  SECTION("an edit with the stored hashes recomputed is caught by the checkpoint") {
    // Rewrite entry 5 and every stored hash after it, as an attacker with the database would.
    s.Tamper().DeleteAuditEntries(5);
    for (int i = 4; i < 11; ++i) {
      REQUIRE(AuditAppend(s.catalog, "test.event", {{"i", i * 100}}).ok());
    }
    auto r = AuditVerify(s.catalog, ring);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("rewritten") != std::string::npos);
  }
  SECTION("a truncated tail") {
    s.Tamper().DeleteAuditEntries(9);
    auto r = AuditVerify(s.catalog, ring);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("truncated") != std::string::npos);
  }
  SECTION("a deleted entry") {
    s.Tamper().DeleteAuditEntries(3, 3);
    CHECK_FALSE(AuditVerify(s.catalog, ring).ok());
  }
  SECTION("a forged checkpoint") {
    s.Tamper().ForgeCheckpoints(11);
    CHECK_FALSE(AuditVerify(s.catalog, ring).ok());
  }
}

TEST_CASE("minisign verifies the studio signature mirrors", "[integration]") {
  if (!ProgramExists("minisign")) {
    WARN("minisign is not installed (scripts/setup installs it)");
    return;
  }
  Studio s;
  const StoredRecord rec = s.NewConsent(s.session, {"subject", "technician", "studio"});
  auto minisig = rec.path;
  minisig.replace_extension(".minisig");
  const auto pub = s.root / "keys" / "studio.pub";
  auto run = RunSubprocess(
      {"minisign", "-V", "-p", pub.string(), "-m", rec.path.string(), "-x", minisig.string()});
  REQUIRE(run.ok());
  INFO(run->output);
  CHECK(run->succeeded());
  CHECK(run->output.find("record_id=" + rec.record_id()) != std::string::npos);
  // minisign rejects the record with one changed byte.
  Bytes bytes = ReadFileBytes(rec.path).value();
  bytes[20] ^= 0x01;
  REQUIRE(WriteFileAtomic(s.dir / "altered.json", bytes).ok());
  run = RunSubprocess({"minisign", "-V", "-p", pub.string(), "-m",
                       (s.dir / "altered.json").string(), "-x", minisig.string()});
  REQUIRE(run.ok());
  CHECK_FALSE(run->succeeded());
}

}  // namespace
}  // namespace twinrig::consent
