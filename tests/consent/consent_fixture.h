// A studio with a studio key, one technician and one subject, for the consent tests.
#pragma once

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "consent/audit.h"
#include "consent/gates.h"
#include "consent/glb.h"
#include "consent/keys.h"
#include "consent/records.h"
#include "store/catalog.h"
#include "tests/store/tamper.h"
#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::consent::testing {

inline constexpr char kStudioPass[] = "studio passphrase";
inline constexpr char kTechPass[] = "technician passphrase";
inline constexpr char kSubjectPass[] = "subject passphrase";

// Overwrites a file in place without fsync: tamper loops write thousands of times.
inline void Overwrite(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// A valid .glb holding one triangle: three float positions in the BIN chunk.
inline std::vector<std::uint8_t> TriangleGlb() {
  Glb glb;
  glb.json = Json::parse(R"({"asset":{"version":"2.0","generator":"twinrig test"},
    "scene":0,"scenes":[{"nodes":[0]}],"nodes":[{"mesh":0}],
    "meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}],
    "accessors":[{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3",
                  "min":[0,0,0],"max":[1,1,0]}],
    "bufferViews":[{"buffer":0,"byteLength":36}],"buffers":[{"byteLength":36}]})");
  const float positions[9] = {0, 0, 0, 1, 0, 0, 0, 1, 0};
  const auto* raw = reinterpret_cast<const std::uint8_t*>(positions);
  glb.bin.assign(raw, raw + sizeof(positions));
  glb.has_bin = true;
  return WriteGlb(glb);
}

inline Json GrantJson(const std::string& id, const std::string& licensee,
                      const std::string& not_before = "2026-01-01",
                      const std::string& not_after = "2099-12-31") {
  return {{"grant_id", id},
          {"licensee", {{"id", licensee}, {"name", "Brand " + licensee}}},
          {"purpose", "SS27 campaign imagery"},
          {"media", {"ecommerce", "social"}},
          {"territory", {"EU", "US"}},
          {"not_before", not_before},
          {"not_after", not_after},
          {"generative_ai", true},
          {"compensation",
           {{"currency", "EUR"}, {"creation_fee_minor", 250000}, {"per_use_minor", 40000}}}};
}

inline Json Terms() {
  return {{"jurisdictions", {"EU", "US-NY"}},
          {"biometric_processing",
           {{"explicit_consent", true},
            {"purposes", {"create_digital_twin"}},
            {"retention", {{"destroy_by", "2099-01-15"}}}}},
          {"subject", {{"adult_verified", true}}},
          {"grants", Json::array()}};
}

struct Studio;
inline ConsentInput ConsentInputFor(const Studio& s, Json terms);

struct Studio {
  twinrig::testing::TempDir dir;
  std::filesystem::path root = dir / "studio";
  store::Catalog catalog = store::Catalog::Open(root).value();
  SecretKey studio_key;
  SecretKey tech_key;
  std::string subject = "SUB-000001";
  std::string session = "S-0001";

  // studio.db edited behind twinrig's back (a second connection, opened when first needed).
  store::testing::Tamper& Tamper() {
    if (!tamper_) tamper_.emplace(catalog);
    return *tamper_;
  }
  std::optional<store::testing::Tamper> tamper_;

  Studio() {
    REQUIRE(CreateKey(catalog, kRoleStudio, "studio", kStudioPass, KdfStrength::kInteractive).ok());
    REQUIRE(
        CreateKey(catalog, kRoleTechnician, "tech1", kTechPass, KdfStrength::kInteractive).ok());
    studio_key = UnsealKey(catalog, kRoleStudio, "studio", kStudioPass).value();
    tech_key = UnsealKey(catalog, kRoleTechnician, "tech1", kTechPass).value();
  }

  // A consent record for `session`, signed by the roles listed.
  StoredRecord NewConsent(const std::string& sess, const std::vector<std::string>& roles,
                          Json terms = Terms()) {
    KeyInfo subject_key;
    auto ring = KeyRing::FromCatalog(catalog).value();
    if (const KeyInfo* k = ring.FindOwner(kRoleSubject, subject); k != nullptr) {
      subject_key = *k;
    } else {
      subject_key =
          CreateKey(catalog, kRoleSubject, subject, kSubjectPass, KdfStrength::kInteractive)
              .value();
    }
    ConsentInput input = ConsentInputFor(*this, std::move(terms));
    input.session_id = sess;
    auto body = BuildConsentBody(input, subject_key, "Test Studio");
    REQUIRE(body.ok());
    auto rec = AppendRecord(catalog, sess, "consent", *body);
    INFO((rec.ok() ? "" : rec.error().Describe()));
    REQUIRE(rec.ok());
    for (const auto& role : roles) SignAs(sess, role);
    return *rec;
  }

  // Unsealed once per subject: Argon2id is deliberately slow.
  SecretKey SubjectKey() {
    auto it = subject_keys.find(subject);
    if (it == subject_keys.end()) {
      it = subject_keys
               .emplace(subject, UnsealKey(catalog, kRoleSubject, subject, kSubjectPass).value())
               .first;
    }
    return it->second;
  }
  std::map<std::string, SecretKey> subject_keys;

  void SignAs(const std::string& sess, const std::string& role) {
    const SecretKey key = role == "studio"       ? studio_key
                          : role == "technician" ? tech_key
                                                 : SubjectKey();
    auto r = SignNewest(catalog, sess, role, key);
    INFO((r.ok() ? "" : r.error().Describe()));
    REQUIRE(r.ok());
  }

  std::filesystem::path SessionDir(const std::string& sess) const {
    return root / "sessions" / sess;
  }

  // Writes capture files and returns their manifest JSON.
  std::string CaptureFiles(const std::string& sess, int count) {
    Json files = Json::array();
    for (int i = 0; i < count; ++i) {
      const std::string rel = "images/CAM" + std::to_string(i) + "/0001.jpg";
      const std::string content = "raw image bytes of camera " + std::to_string(i);
      std::filesystem::create_directories((SessionDir(sess) / rel).parent_path());
      REQUIRE(WriteFileAtomic(SessionDir(sess) / rel, content).ok());
      files.push_back({{"path", rel}, {"size", content.size()}, {"sha256", Sha256Hex(content)}});
    }
    return Json{{"files", files}}.dump();
  }

  // Consent, capture, seal, twin, approval: a session ready for grants.
  void ReadyForGrants(const std::string& sess, const std::vector<Json>& grants) {
    NewConsent(sess, {"subject", "technician", "studio"});
    REQUIRE(CheckCaptureAllowed(catalog, subject, sess).ok());
    REQUIRE(SealCapture(catalog, sess, "tech1", CaptureFiles(sess, 3), SessionDir(sess)).ok());
    SignAs(sess, "technician");
    SignAs(sess, "studio");
    std::filesystem::create_directories(SessionDir(sess) / "twin");
    REQUIRE(WriteFileAtomic(SessionDir(sess) / "twin" / "twin.glb", TriangleGlb()).ok());
    REQUIRE(WriteFileAtomic(SessionDir(sess) / "twin" / "metrics.json", "{\"rms_mm\":1}").ok());
    REQUIRE(ReviewTwin(catalog, sess, true, "looks like me").ok());
    SignAs(sess, "subject");
    SignAs(sess, "studio");
    if (!grants.empty()) {
      auto rec = AddGrants(catalog, sess, "grant", Json(grants));
      INFO((rec.ok() ? "" : rec.error().Describe()));
      REQUIRE(rec.ok());
      SignAs(sess, "subject");
      SignAs(sess, "studio");
    }
  }
};

// What `consent new` hands BuildConsentBody for the studio's subject and session, witnessed by
// tech1, with `terms`.
inline ConsentInput ConsentInputFor(const Studio& s, Json terms) {
  ConsentInput input;
  input.subject_id = s.subject;
  input.session_id = s.session;
  input.technician = "tech1";
  input.text_sha256 = Sha256Hex(std::string_view("I agree to be scanned."));
  input.text_version = "dtcr-text-1.3";
  input.terms = std::move(terms);
  return input;
}

}  // namespace twinrig::consent::testing
