// The consent use cases the command line and the review station share: one rule set for both.
#include <catch2/catch.hpp>

#include "host/usecases/consent.h"
#include "host/usecases/studio.h"
#include "tests/consent/consent_fixture.h"

namespace twinrig::usecases {
namespace {

namespace cs = twinrig::consent;
using cs::testing::Studio;

PassphraseSource Given(const std::string& passphrase) {
  return [passphrase]() -> Result<std::string> { return passphrase; };
}

ConsentRequest Request(Studio& s, const std::string& passphrase, bool sign_now) {
  ConsentRequest r;
  r.subject_id = s.subject;
  r.session_id = s.session;
  r.technician = "tech1";
  r.text = "I agree to be scanned.";
  r.text_version = "dtcr-text-1.3";
  r.terms = cs::testing::Terms();
  r.kdf = "interactive";
  r.subject_passphrase = Given(passphrase);
  r.subject_signs_now = sign_now;
  return r;
}

TEST_CASE("use cases: opening consent follows one rule set for every front end", "[integration]") {
  Studio s;
  REQUIRE(AddSubject(s.catalog, "Ada Example").value() == s.subject);
  REQUIRE(ListSubjects(s.catalog).value().front().name == "Ada Example");

  SECTION("a subject's new key needs a passphrase of 8 characters or more") {
    auto opened = OpenConsent(s.catalog, Request(s, "short", false));
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.failure().why == Why::kRefused);
    CHECK(opened.error().what == "the subject's passphrase is too short");
    CHECK(cs::Chain::ForSession(s.catalog, s.session).value().records().empty());
  }
  SECTION("an unknown subject or technician is refused before anything is written") {
    auto request = Request(s, cs::testing::kSubjectPass, false);
    request.subject_id = "SUB-000009";
    CHECK(OpenConsent(s.catalog, request).failure().why == Why::kNotFound);
    request = Request(s, cs::testing::kSubjectPass, false);
    request.technician = "tech9";
    CHECK(OpenConsent(s.catalog, request).error().what == "unknown technician tech9");
    CHECK(cs::KeyRing::FromCatalog(s.catalog).value().FindOwner(cs::kRoleSubject, s.subject) ==
          nullptr);
  }
  SECTION("a wrong passphrase of a subject who signs now writes nothing") {
    REQUIRE(OpenConsent(s.catalog, Request(s, cs::testing::kSubjectPass, false)).ok());
    s.session = "S-0002";
    auto opened = OpenConsent(s.catalog, Request(s, "not the passphrase", true));
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.failure().why == Why::kDenied);
    CHECK(cs::Chain::ForSession(s.catalog, s.session).value().records().empty());
  }
  SECTION("a session gets one consent record; signing goes through the same layer") {
    auto opened = OpenConsent(s.catalog, Request(s, cs::testing::kSubjectPass, true));
    REQUIRE(opened.ok());
    CHECK(opened->new_subject_key.has_value());
    CHECK(opened->record.MissingRoles() == std::vector<std::string>{"technician", "studio"});
    auto again = OpenConsent(s.catalog, Request(s, cs::testing::kSubjectPass, false));
    REQUIRE_FALSE(again.ok());
    CHECK(again.failure().why == Why::kConflict);
    CHECK(again.error().what == "this session already has a consent record");

    auto chain = cs::Chain::ForSession(s.catalog, s.session).value();
    CHECK(NewestWaitsFor(chain, "technician"));
    CHECK_FALSE(NewestWaitsFor(chain, "subject"));
    auto tech = Sign(s.catalog, {s.session, "technician", "", Given(cs::testing::kTechPass)});
    REQUIRE(tech.ok());
    CHECK_FALSE(tech->receipt.empty());
    auto wrong = Sign(s.catalog, {s.session, "studio", "", Given("wrong passphrase")});
    CHECK(wrong.failure().why == Why::kDenied);
    auto studio = Sign(s.catalog, {s.session, "studio", "", Given(cs::testing::kStudioPass)});
    REQUIRE(studio.ok());
    CHECK(studio->record.MissingRoles().empty());
  }
}

TEST_CASE("use cases: sessions are listed all by id or newest first", "[unit]") {
  cs::testing::Studio s;
  REQUIRE(AddSubject(s.catalog, "Ada").ok());
  REQUIRE(s.catalog.InsertSession({"S-20261201-0001", "SUB-000001", "head24", "new", "subject", ""})
              .ok());
  REQUIRE(
      s.catalog.InsertSession({"S-20261201-0002", "", "head24", "new", "calibration", ""}).ok());
  CHECK(ListSessions(s.catalog).value().size() == 2);
  CHECK(ListSessions(s.catalog, 1).value().front().id == "S-20261201-0002");
}

TEST_CASE("use cases: a revocation is signed at once or not written at all", "[integration]") {
  Studio s;
  s.ReadyForGrants(s.session, {cs::testing::GrantJson("g1", "brand-a")});
  auto unknown =
      Revoke(s.catalog,
             {s.session, {"g9"}, false, "withdrawn", "subject", Given(cs::testing::kSubjectPass)});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.failure().why == Why::kNotFound);
  const auto before = cs::Chain::ForSession(s.catalog, s.session).value().records().size();
  auto wrong =
      Revoke(s.catalog, {s.session, {"g1"}, false, "withdrawn", "subject", Given("wrong one")});
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.failure().why == Why::kDenied);
  CHECK(cs::Chain::ForSession(s.catalog, s.session).value().records().size() == before);
  auto revoked =
      Revoke(s.catalog,
             {s.session, {"g1"}, false, "withdrawn", "subject", Given(cs::testing::kSubjectPass)});
  REQUIRE(revoked.ok());
  CHECK(revoked->record.type == "revocation");
  CHECK(revoked->subject_id == s.subject);
  const auto chain = cs::Chain::ForSession(s.catalog, s.session).value();
  CHECK(chain.state().revoked_grants.contains("g1"));
}

}  // namespace
}  // namespace twinrig::usecases
