// The rig file as the station reads it: the clock sync a capture through its nodes needs.
#include "host/riglink/rig_file.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/test_support.h"

namespace twinrig::riglink {
namespace {

std::filesystem::path RigFile(const testing::TempDir& dir, const std::string& trigger) {
  auto path = dir / "rig.toml";
  std::ofstream(path) << "schema = 1\nname = \"r\"\n"
                      << trigger
                      << "[[nodes]]\nid = 1\naddress = \"127.0.2.1\"\nudp_port = 15800\n"
                         "ports = 8\n";
  return path;
}

}  // namespace

TEST_CASE("A rig file says how close the clock sync must be, or gets the default", "[unit]") {
  testing::TempDir dir;
  auto silent = ReadRigMaxSyncError(RigFile(dir, ""));
  REQUIRE(silent.ok());
  CHECK(*silent == kDefaultMaxSyncErrorUs);

  auto emulated = ReadRigMaxSyncError(RigFile(dir, "[trigger]\nmax_sync_error_us = 500\n"));
  REQUIRE(emulated.ok());
  CHECK(*emulated == 500.0);

  for (const char* bad :
       {"[trigger]\nmax_sync_error_us = 0\n", "[trigger]\nmax_sync_error_us = 5000.0\n",
        "[trigger]\nmax_sync_error_us = \"fast\"\n"}) {
    auto refused = ReadRigMaxSyncError(RigFile(dir, bad));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().what.find("max_sync_error_us") != std::string::npos);
  }
  // The nodes read as before.
  auto nodes = ReadRigNodes(RigFile(dir, "[trigger]\nmax_sync_error_us = 500\n"));
  REQUIRE(nodes.ok());
  CHECK(nodes->size() == 1);
}

}  // namespace twinrig::riglink
