// Grants enforced as written: prohibited contexts, permitted alterations and generative use
// against the export's declared use (R4), approval of each use (R9), notice periods (R10),
// retention acted on (R15) and a guardian's signature for a minor (R23).
#include <catch2/catch.hpp>

#include "tests/consent/consent_fixture.h"
#include "tests/consent/export_request.h"

namespace twinrig::consent {
namespace {

using testing::GrantJson;
using testing::Studio;

TEST_CASE("an export's declared use is checked against the grant's limits (R4)", "[integration]") {
  Studio s;
  Json grant = GrantJson("g1", "brand-a");
  grant["prohibited"] = {"political", "tobacco"};
  grant["alterations"] = {"background", "lighting"};
  grant["generative_ai"] = false;
  s.ReadyForGrants(s.session, {grant});
  auto refused = [&](const ExportRequest& r, const std::string& expected) {
    auto result = Export(s.catalog, r, s.studio_key);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().what.find(expected) != std::string::npos);
  };
  ExportRequest political = testing::ExportTo(s, "out-political");
  political.contexts = {"political"};
  refused(political, "the context \"political\" is prohibited");
  ExportRequest aged = testing::ExportTo(s, "out-aged");
  aged.alterations = {"lighting", "age"};
  refused(aged, "the alteration \"age\" is not among the permitted");
  ExportRequest generative = testing::ExportTo(s, "out-generative");
  generative.generative = true;
  refused(generative, "generative AI use is not permitted");
  ExportRequest fine = testing::ExportTo(s, "out-fine");
  fine.contexts = {"fashion"};
  fine.alterations = {"background"};
  CHECK(Export(s.catalog, fine, s.studio_key).ok());
}

TEST_CASE("retention destroys what is past destroy_by and nothing else (R15)", "[integration]") {
  Studio s;
  s.ReadyForGrants(s.session, {GrantJson("g1", "brand-a")});
  const auto twin = s.SessionDir(s.session) / "twin" / "twin.glb";
  // Past destroy_by, nothing may be processed even before retention has run.
  ExportRequest late = testing::ExportTo(s, "out-late");
  late.today = "2099-02-01";
  auto refused = Export(s.catalog, late, s.studio_key);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().what.find("retention period ended on 2099-01-15") != std::string::npos);

  auto before = RunRetention(s.catalog, s.studio_key, "2099-01-15");
  REQUIRE(before.ok());
  CHECK(before->empty());
  CHECK(std::filesystem::exists(twin));
  auto after = RunRetention(s.catalog, s.studio_key, "2099-01-16");
  REQUIRE(after.ok());
  CHECK(*after == std::vector<std::string>{s.session});
  CHECK_FALSE(std::filesystem::exists(twin));
  auto chain = Chain::ForSession(s.catalog, s.session);
  REQUIRE(chain.ok());
  CHECK(chain->state().destroyed);
  CHECK(chain->records().back().body.value("reason", "") == "retention: destroy_by passed");
}

TEST_CASE("a grant with per-use approval exports only under a use the subject signed, once (R9)",
          "[integration]") {
  Studio s;
  Json grant = GrantJson("g1", "brand-a");
  grant["per_use_approval"] = true;
  s.ReadyForGrants(s.session, {grant});
  const ExportRequest use = testing::ExportTo(s, "out-1");
  auto refused = [&](const ExportRequest& r, const std::string& expected) {
    auto result = Export(s.catalog, r, s.studio_key);
    REQUIRE_FALSE(result.ok());
    INFO(result.error().what);
    CHECK(result.error().what.find(expected) != std::string::npos);
  };
  refused(use, "no unspent approval of this use is on record");

  // An approval can only be asked for a use inside the grant.
  ExportRequest billboard = use;
  billboard.medium = "billboard";
  auto outside = ProposeUse(s.catalog, "g1", billboard, "two billboards", "2099-06-30");
  REQUIRE_FALSE(outside.ok());
  CHECK(outside.error().what.find("the use is outside grant g1") != std::string::npos);

  REQUIRE(ProposeUse(s.catalog, "g1", use, "spring campaign, social posts", "2099-06-30").ok());
  refused(use, "no unspent approval");  // nobody signed yet
  s.SignAs(s.session, "studio");
  refused(use, "no unspent approval");  // the studio alone cannot approve a use
  s.SignAs(s.session, "subject");
  auto exported = Export(s.catalog, use, s.studio_key);
  INFO((exported.ok() ? "" : exported.error().Describe()));
  REQUIRE(exported.ok());

  // One approval, one export; another use needs its own approval.
  refused(testing::ExportTo(s, "out-2"), "no unspent approval");
  ExportRequest ecommerce = testing::ExportTo(s, "out-3");
  ecommerce.medium = "ecommerce";
  refused(ecommerce, "no unspent approval");
  auto audit = s.catalog.ExportsUnderUseApproval(
      s.catalog.ConsentRecordsOfSession(s.session).value().back().record_id);
  REQUIRE(audit.ok());
  CHECK(*audit == 1);
}

TEST_CASE("consent is refused before the notice period the terms require has passed (R10)",
          "[integration]") {
  Studio s;
  auto subject_key = CreateKey(s.catalog, kRoleSubject, s.subject, testing::kSubjectPass,
                               KdfStrength::kInteractive)
                         .value();
  auto body = [&](const Json& terms, const std::string& notice_given_at) {
    ConsentInput input = testing::ConsentInputFor(s, terms);
    input.notice_given_at = notice_given_at;
    return BuildConsentBody(input, subject_key, "Test Studio");
  };
  Json union_terms = testing::Terms();
  union_terms["representation"] = {{"union", {{"name", "SAG-AFTRA"}, {"cba", "2025 Commercials"}}}};
  CHECK(RequiredNoticeHours(union_terms) == 48);
  const std::string now = NowUtc();
  auto soon = body(union_terms, HoursAfter(now, -2));
  REQUIRE_FALSE(soon.ok());
  CHECK(soon.error().what.find("48 hours' notice before consent (R10)") != std::string::npos);
  CHECK(soon.error().what.find("consent can be taken from " +
                               HoursAfter(HoursAfter(now, -2), 48)) != std::string::npos);
  CHECK_FALSE(body(union_terms, "").ok());  // notice given only now
  auto in_time = body(union_terms, HoursAfter(now, -49));
  REQUIRE(in_time.ok());
  CHECK((*in_time)["consent_text"]["notice_period_hours"] == 48);

  // A studio sets the period a jurisdiction asks for in the terms.
  Json own = testing::Terms();
  own["notice_period_hours"] = 24;
  CHECK_FALSE(body(own, HoursAfter(now, -3)).ok());
  CHECK(body(own, HoursAfter(now, -25)).ok());
  CHECK(body(testing::Terms(), "").ok());  // no period required: notice at the moment is fine
  own["notice_period_hours"] = -1;
  CHECK_FALSE(body(own, "").ok());
}

TEST_CASE("a minor's consent is complete only with the guardian's signature (R23)",
          "[integration]") {
  Studio s;
  auto subject_key = CreateKey(s.catalog, kRoleSubject, s.subject, testing::kSubjectPass,
                               KdfStrength::kInteractive)
                         .value();
  Json terms = testing::Terms();
  terms["subject"] = {{"adult_verified", false}};
  ConsentInput input = testing::ConsentInputFor(s, terms);
  auto no_guardian = BuildConsentBody(input, subject_key, "Test Studio");
  REQUIRE_FALSE(no_guardian.ok());
  CHECK(no_guardian.error().what.find("a minor needs subject.guardian") != std::string::npos);

  input.terms["subject"]["guardian"] = {{"name", "Ada Parent"}, {"relationship", "mother"}};
  auto no_key = BuildConsentBody(input, subject_key, "Test Studio");
  REQUIRE_FALSE(no_key.ok());
  CHECK(no_key.error().what.find("the guardian has no key") != std::string::npos);

  constexpr char kGuardianPass[] = "guardian passphrase";
  input.guardian_key =
      CreateKey(s.catalog, kRoleGuardian, s.subject, kGuardianPass, KdfStrength::kInteractive)
          .value();
  auto body = BuildConsentBody(input, subject_key, "Test Studio");
  REQUIRE(body.ok());
  REQUIRE(AppendRecord(s.catalog, s.session, "consent", *body).ok());
  for (const char* role : {"subject", "technician", "studio"}) s.SignAs(s.session, role);

  auto chain = Chain::ForSession(s.catalog, s.session);
  REQUIRE(chain.ok());
  CHECK(chain->records().front().MissingRoles() == std::vector<std::string>{"guardian"});
  auto gate = CheckCaptureAllowed(s.catalog, s.subject, s.session);
  REQUIRE_FALSE(gate.ok());
  CHECK(gate.error().what.find("lacks signatures: guardian") != std::string::npos);

  // The subject's own key cannot sign as the guardian.
  auto impostor = SignNewest(s.catalog, s.session, "guardian", s.SubjectKey());
  REQUIRE_FALSE(impostor.ok());
  CHECK(impostor.error().what.find("not the guardian's key") != std::string::npos);

  const SecretKey guardian = UnsealKey(s.catalog, kRoleGuardian, s.subject, kGuardianPass).value();
  REQUIRE(SignNewest(s.catalog, s.session, "guardian", guardian).ok());
  CHECK(CheckCaptureAllowed(s.catalog, s.subject, s.session).ok());
  auto reloaded = Chain::ForSession(s.catalog, s.session);
  REQUIRE(reloaded.ok());
  CHECK(reloaded->records().front().complete);
}

}  // namespace
}  // namespace twinrig::consent
