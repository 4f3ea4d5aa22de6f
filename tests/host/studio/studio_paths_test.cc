// The studio's folder layout and finding its rig file.
#include "host/studio/studio_paths.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/test_support.h"

namespace twinrig::studio {

TEST_CASE("The studio's layout and its only rig", "[unit]") {
  testing::TempDir dir;
  const StudioPaths paths(dir.path());
  CHECK(paths.RigFile("head24") == dir / "rigs" / "head24" / "rig.toml");
  CHECK(paths.SessionFolder("S-1") == dir / "sessions" / "S-1");
  CHECK(paths.CatalogFile() == dir / "studio.db");

  auto none = paths.FindRigFile("");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().todo.find("twinrig sim up") != std::string::npos);

  std::filesystem::create_directories(paths.RigFolder("b"));
  std::ofstream(paths.RigFile("b")) << "\n";
  std::filesystem::create_directories(paths.RigFolder("empty"));  // no rig file: not a rig
  auto only = paths.FindRigFile("");
  REQUIRE(only.ok());
  CHECK(*only == paths.RigFile("b"));

  std::filesystem::create_directories(paths.RigFolder("a"));
  std::ofstream(paths.RigFile("a")) << "\n";
  CHECK(paths.Rigs() == std::vector<std::string>{"a", "b"});
  auto two = paths.FindRigFile("");
  REQUIRE_FALSE(two.ok());
  CHECK(two.error().todo.find("--rig") != std::string::npos);
  CHECK(paths.FindRigFile("a").ok());
  CHECK_FALSE(paths.FindRigFile("c").ok());
}

}  // namespace twinrig::studio
