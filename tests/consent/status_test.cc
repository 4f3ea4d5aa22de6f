// The revocation status list a licensee checks offline (R26).
#include <catch2/catch.hpp>

#include "consent/status.h"
#include "tests/consent/consent_fixture.h"

namespace twinrig::consent {
namespace {

using testing::GrantJson;
using testing::Studio;

TEST_CASE("a licensee's offline status check fails closed (R26)", "[integration]") {
  Studio s;
  s.ReadyForGrants(s.session, {GrantJson("g1", "brand-a"), GrantJson("g2", "brand-b")});
  REQUIRE(Revoke(s.catalog, s.session, {"g2"}, false, "not this brand").ok());
  s.SignAs(s.session, "subject");
  const auto list = s.dir / "status.json";
  REQUIRE(WriteStatusList(s.catalog, s.studio_key, list, 24, "2027-06-01T00:00:00.000Z").ok());
  const KeyRing ring = KeyRing::FromCatalog(s.catalog).value();
  const std::vector<std::string> pins = {KeyId(s.studio_key.public_key())};
  const std::string now = "2027-06-01T12:00:00Z";

  auto valid = CheckStatus(list, ring, pins, now, s.session, "g1");
  INFO((valid.ok() ? "" : valid.error().Describe()));
  REQUIRE(valid.ok());
  CHECK(valid->status == "valid");

  auto revoked = CheckStatus(list, ring, pins, now, s.session, "g2");
  REQUIRE_FALSE(revoked.ok());
  CHECK(revoked.error().what.find("grant g2 of session S-0001 is revoked") != std::string::npos);

  auto stale = CheckStatus(list, ring, pins, "2027-06-02T00:00:01Z", s.session, "g1");
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().what.find("stale") != std::string::npos);

  auto unpinned = CheckStatus(list, ring, {"0011223344556677"}, now, s.session, "g1");
  REQUIRE_FALSE(unpinned.ok());

  // One byte changed in the payload (g2's status turned to valid) breaks the signature.
  Json file = Json::parse(ReadFileText(list).value());
  std::string payload = file["payload"];
  payload.replace(payload.find("\"revoked\""), 9, "\"valid\"");
  file["payload"] = payload;
  REQUIRE(WriteFileAtomic(list, file.dump()).ok());
  auto forged = CheckStatus(list, ring, pins, now, s.session, "g2");
  REQUIRE_FALSE(forged.ok());
  CHECK(forged.error().what.find("signature does not verify") != std::string::npos);
}

}  // namespace
}  // namespace twinrig::consent
