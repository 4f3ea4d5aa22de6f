// Consent records and their chain: signing, verification, and tampering of every kind.
#include <catch2/catch.hpp>

#include "tests/consent/consent_fixture.h"

namespace twinrig::consent {
namespace {

using testing::Studio;

Status LoadStatus(Studio& s, const std::string& session) {
  auto chain = Chain::ForSession(s.catalog, session);
  if (!chain.ok()) return chain.error();
  return OkStatus();
}

TEST_CASE("a consent record is complete once subject, witness and studio sign", "[integration]") {
  Studio s;
  s.NewConsent(s.session, {});
  auto chain = Chain::ForSession(s.catalog, s.session);
  REQUIRE(chain.ok());
  REQUIRE(chain->records().size() == 1);
  const StoredRecord rec = chain->records()[0];
  CHECK_FALSE(rec.complete);
  CHECK(rec.MissingRoles() == std::vector<std::string>{"subject", "technician", "studio"});
  CHECK(rec.body["subject"]["keys"][0]["alg"] == "Ed25519");
  CHECK(rec.body["representation"]["unrepresented"] == true);
  CHECK(rec.body["grants"].empty());

  s.SignAs(s.session, "subject");
  s.SignAs(s.session, "technician");
  // A second signature by the same role is refused.
  CHECK_FALSE(SignNewest(s.catalog, s.session, "technician", s.tech_key).ok());
  // The studio role cannot be signed with a technician key.
  auto wrong = SignNewest(s.catalog, s.session, "studio", s.tech_key);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().what.find("unknown key") != std::string::npos);
  s.SignAs(s.session, "studio");
  chain = Chain::ForSession(s.catalog, s.session);
  REQUIRE(chain.ok());
  CHECK(chain->records()[0].complete);
  CHECK(chain->state().head == &chain->records()[0]);
  // The stored bytes are exactly the canonical bytes that were signed.
  const std::string bytes = ReadFileText(rec.path).value();
  CHECK(Canonical(Json::parse(bytes)).value() == bytes);
}

TEST_CASE("a technician who is not the named witness cannot sign as witness", "[integration]") {
  Studio s;
  REQUIRE(CreateKey(s.catalog, kRoleTechnician, "tech2", "p2", KdfStrength::kInteractive).ok());
  const SecretKey tech2 = UnsealKey(s.catalog, kRoleTechnician, "tech2", "p2").value();
  s.NewConsent(s.session, {"subject"});
  auto r = SignNewest(s.catalog, s.session, "technician", tech2);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().what.find("not by the witness") != std::string::npos);
}

TEST_CASE("consent terms are checked before anything is written", "[unit]") {
  Studio s;
  KeyInfo key =
      CreateKey(s.catalog, kRoleSubject, s.subject, "x", KdfStrength::kInteractive).value();
  ConsentInput input = testing::ConsentInputFor(s, testing::Terms());
  input.terms["biometric_processing"]["explicit_consent"] = false;
  input.terms["representation"] = {{"power_of_attorney_used", true}};
  input.terms["subject"]["adult_verified"] = false;
  Json grant = testing::GrantJson("g1", "brand-a", "2027-01-01", "2026-01-01");
  grant.erase("compensation");
  input.terms["grants"] = Json::array({grant});
  auto body = BuildConsentBody(input, key, "Studio");
  REQUIRE_FALSE(body.ok());
  const std::string& what = body.error().what;
  CHECK(what.find("explicit_consent") != std::string::npos);
  CHECK(what.find("power of attorney") != std::string::npos);
  CHECK(what.find("guardian") != std::string::npos);
  CHECK(what.find("compensation") != std::string::npos);
  CHECK(what.find("not_before is after not_after") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(SessionConsentDir(s.root, s.session)));
}

// Flips one bit in every `stride`-th byte of a signed record and in its signatures; every flip
// must make the chain fail to load.
void FlipBits(size_t stride) {
  Studio s;
  const StoredRecord rec = s.NewConsent(s.session, {"subject", "technician", "studio"});
  REQUIRE(LoadStatus(s, s.session).ok());
  const Bytes original = ReadFileBytes(rec.path).value();
  auto sig_path = rec.path;
  sig_path.replace_extension(".sigs.json");
  const Bytes sigs = ReadFileBytes(sig_path).value();

  // Every byte of the record, one bit at a time (the low bit, so the text often stays valid JSON).
  size_t detected = 0;
  for (size_t i = 0; i < original.size(); i += stride) {
    Bytes b = original;
    b[i] ^= 0x01;
    testing::Overwrite(rec.path, b);
    if (!LoadStatus(s, s.session).ok()) ++detected;
  }
  CHECK(detected == (original.size() + stride - 1) / stride);
  REQUIRE(WriteFileAtomic(rec.path, original).ok());
  REQUIRE(LoadStatus(s, s.session).ok());

  // Every hex digit of every signature value.
  const std::string sig_text(sigs.begin(), sigs.end());
  size_t flipped = 0;
  for (size_t pos = sig_text.find("\"sig\": \""); pos != std::string::npos;
       pos = sig_text.find("\"sig\": \"", pos + 1)) {
    for (size_t i = pos + 8; i < pos + 8 + 128; i += std::min<size_t>(stride * 7, 64)) {
      Bytes b = sigs;
      b[i] = b[i] == '0' ? '1' : '0';
      testing::Overwrite(sig_path, b);
      CHECK_FALSE(LoadStatus(s, s.session).ok());
      ++flipped;
    }
  }
  CHECK(flipped > 3);
  REQUIRE(WriteFileAtomic(sig_path, sigs).ok());
  CHECK(LoadStatus(s, s.session).ok());
}

TEST_CASE("one flipped bit in a record or its signatures is detected (sampled)", "[integration]") {
  FlipBits(29);
}

TEST_CASE("one flipped bit anywhere in a record or its signatures is detected", "[slow]") {
  FlipBits(1);
}

TEST_CASE("re-encoded, re-roled or transplanted signatures are rejected", "[integration]") {
  Studio s;
  const StoredRecord rec = s.NewConsent(s.session, {"subject", "technician", "studio"});
  auto sig_path = rec.path;
  sig_path.replace_extension(".sigs.json");
  const std::string sigs = ReadFileText(sig_path).value();
  const std::string original = ReadFileText(rec.path).value();

  SECTION("same content, keys reordered and whitespace added") {
    Json body = Json::parse(original);
    REQUIRE(WriteFileAtomic(rec.path, body.dump(1)).ok());
    auto r = Chain::ForSession(s.catalog, s.session);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("canonical") != std::string::npos);
  }
  SECTION("the studio signature relabelled as the subject's") {
    Json file = Json::parse(sigs);
    for (auto& sig : file["signatures"]) {
      if (sig["role"] == "subject") sig["role"] = "removed";
    }
    for (auto& sig : file["signatures"]) {
      if (sig["role"] == "studio") sig["role"] = "subject";
    }
    REQUIRE(WriteFileAtomic(sig_path, file.dump()).ok());
    CHECK_FALSE(LoadStatus(s, s.session).ok());
  }
  SECTION("a signature of another subject's record swapped in") {
    s.subject = "SUB-000002";
    const StoredRecord other = s.NewConsent("S-0002", {"subject", "technician", "studio"});
    auto other_sigs = other.path;
    other_sigs.replace_extension(".sigs.json");
    Json mine = Json::parse(sigs);
    const Json theirs = Json::parse(ReadFileText(other_sigs).value());
    for (auto& sig : mine["signatures"]) {
      if (sig["role"] == "studio") {
        for (const auto& t : theirs["signatures"]) {
          if (t["role"] == "studio") sig = t;
        }
      }
    }
    REQUIRE(WriteFileAtomic(sig_path, mine.dump()).ok());
    CHECK_FALSE(LoadStatus(s, s.session).ok());
  }
  SECTION("a signature removed is named as removed (the signed head counts it)") {
    Json file = Json::parse(sigs);
    const std::string role = file["signatures"][0]["role"];
    file["signatures"].erase(0);
    REQUIRE(WriteFileAtomic(sig_path, file.dump()).ok());
    auto chain = Chain::ForSession(s.catalog, s.session);
    REQUIRE_FALSE(chain.ok());
    CHECK(
        chain.error().what.find("the " + role + " signature on record 0001-consent was removed") !=
        std::string::npos);
    CHECK_FALSE(CheckCaptureAllowed(s.catalog, s.subject, s.session).ok());
  }
  SECTION("a signature by a key the studio does not know") {
    Json file = Json::parse(sigs);
    const SecretKey stranger = SecretKey::Generate();
    for (auto& sig : file["signatures"]) {
      if (sig["role"] == "studio") {
        sig["kid"] = KeyId(stranger.public_key());
        sig["sig"] = HexEncode(stranger.Sign(SignatureInput("consent", "studio", original)));
      }
    }
    REQUIRE(WriteFileAtomic(sig_path, file.dump()).ok());
    auto r = Chain::ForSession(s.catalog, s.session);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("unknown key") != std::string::npos);
  }
}

TEST_CASE("the chain links each record to the one before", "[integration]") {
  Studio s;
  s.ReadyForGrants(s.session, {testing::GrantJson("g1", "brand-a")});
  auto chain = Chain::ForSession(s.catalog, s.session);
  REQUIRE(chain.ok());
  REQUIRE(chain->records().size() == 4);
  CHECK(chain->records()[1].type == "capture_seal");
  CHECK(chain->records()[2].type == "twin_approval");
  CHECK(chain->records()[3].type == "grant");
  CHECK(chain->records()[2].body["supersedes"]["sha256"] == chain->records()[1].sha256);
  CHECK(chain->state().twin_approved);
  CHECK(chain->state().grants.contains("g1"));

  SECTION("a deleted record in the middle") {
    std::filesystem::remove(chain->records()[1].path);
    auto r = Chain::ForSession(s.catalog, s.session);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("missing") != std::string::npos);
  }
  SECTION("a record moved to another session") {
    const auto dir = SessionConsentDir(s.root, "S-0009");
    std::filesystem::create_directories(dir);
    std::filesystem::copy(SessionConsentDir(s.root, s.session), dir,
                          std::filesystem::copy_options::recursive);
    auto r = Chain::ForSession(s.catalog, "S-0009");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("belong to session S-0001") != std::string::npos);
    CHECK_FALSE(CheckCaptureAllowed(s.catalog, s.subject, "S-0009").ok());
  }
  SECTION("a new record cannot follow an unsigned one") {
    REQUIRE(AddGrants(s.catalog, s.session, "grant", Json::array({testing::GrantJson("g2", "b")}))
                .ok());
    auto r = AddGrants(s.catalog, s.session, "grant", Json::array({testing::GrantJson("g3", "c")}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("waits for signatures") != std::string::npos);
  }
}

TEST_CASE("a capture manifest is strict about paths", "[unit]") {
  const std::string hash(64, 'a');
  auto entry = [&](const std::string& path) {
    return Json{{"files", {{{"path", path}, {"size", 1}, {"sha256", hash}}}}}.dump();
  };
  CHECK(ParseManifest(entry("images/CAM1/0001.jpg"), "m").ok());
  for (const char* bad : {"/etc/passwd", "../x", "images/../../x", "./x", "a//b", "a\\b", ""}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseManifest(entry(bad), "m").ok());
  }
  const std::string dup = Json{{"files",
                                {{{"path", "a"}, {"size", 1}, {"sha256", hash}},
                                 {{"path", "a"}, {"size", 1}, {"sha256", hash}}}}}
                              .dump();
  CHECK_FALSE(ParseManifest(dup, "m").ok());
  CHECK_FALSE(ParseManifest(R"({"files":[{"path":"a","size":1,"sha256":"zz"}]})", "m").ok());
}

}  // namespace
}  // namespace twinrig::consent
