// Grants enforced as written: prohibited contexts, permitted alterations and generative use
// against the export's declared use (R4), and retention acted on (R15).
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

}  // namespace
}  // namespace twinrig::consent
