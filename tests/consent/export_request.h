// An export request for the consent tests' studio: brand-a, the fixture grant's purpose, social,
// on a date inside the grant's window, into `out` (relative paths are under the test folder).
#pragma once

#include <filesystem>

#include "tests/consent/consent_fixture.h"

namespace twinrig::consent::testing {

inline ExportRequest ExportTo(Studio& s, const std::filesystem::path& out) {
  ExportRequest r;
  r.session_id = s.session;
  r.licensee = "brand-a";
  r.purpose = "SS27 campaign imagery";
  r.medium = "social";
  r.today = "2027-06-01";
  r.out = s.dir.path() / out;
  return r;
}

}  // namespace twinrig::consent::testing
