// The rig file: one reader that lists every problem, a writer whose files it reads back, and the
// rig files studios have today (written by the virtual studio, or by hand for `twinrig rig`).
#include "host/studio/rig_file.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <random>

#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::studio {
namespace {

std::filesystem::path Write(const testing::TempDir& dir, const std::string& text) {
  std::filesystem::create_directories(dir / "rigs" / "r1");
  auto path = dir / "rigs" / "r1" / "rig.toml";
  std::ofstream(path) << text;
  return path;
}

// A rig file exactly as the virtual studio wrote it before this library existed.
constexpr const char* kWrittenBySim =
    R"(# twinrig rig file: nodes, their outputs, and the cameras they drive with the positions
# the rig was planned with (metres, +Y up).
name = 'head24'
schema = 1

[[cameras]]
address = '127.0.0.2'
look_at = [ 0.0, 1.6, 0.0 ]
model = 'Canon EOS 2000D'
node = 1
node_port = 0
position = [ 0.0, 1.6, 1.2 ]
serial = 'TR000001'

[[nodes]]
address = '127.0.2.1'
id = 1
ports = 8
udp_port = 15800

[trigger]
max_sync_error_us = 250.0
)";

Rig SmallRig() {
  Rig rig;
  rig.name = "ring";
  rig.max_sync_error_us = 120;
  rig.nodes = {{1, "127.0.2.1", 15800, 8}, {2, "127.0.2.2", 15800, 0}};
  rig.cameras = {{"TR000001", "Canon EOS 2000D", "127.0.0.2", 1, 0, {0, 1.6, 1.2}, {0, 1.6, 0}},
                 {"TR000002", "Canon EOS 2000D", "127.0.0.3", 2, 5, {1.2, 1.6, 0}, {0, 1.6, 0}}};
  return rig;
}

}  // namespace

TEST_CASE("A rig file written by the writer reads back the same", "[unit]") {
  testing::TempDir dir;
  const Rig rig = SmallRig();
  const auto path = dir / "rig.toml";
  REQUIRE(WriteRigFile(path, rig).ok());
  auto read = ReadRigFile(path);
  REQUIRE(read.ok());
  CHECK(read->name == "ring");
  CHECK(read->max_sync_error_us == 120);
  REQUIRE(read->nodes.size() == 2);
  CHECK(read->nodes[0].ports == 8);
  CHECK(read->nodes[1].ports == 0);  // not given: stays out of the file and reads back as 0
  CHECK(read->nodes[1].address == "127.0.2.2");
  REQUIRE(read->cameras.size() == 2);
  CHECK(read->cameras[1].serial == "TR000002");
  CHECK(read->cameras[1].node_id == 2);
  CHECK(read->cameras[1].node_port == 5);
  CHECK(read->cameras[0].position == rig.cameras[0].position);
  CHECK(read->cameras[0].look_at == rig.cameras[0].look_at);
  // And again: the writer's output of what it read is the same file.
  const auto again = dir / "again.toml";
  REQUIRE(WriteRigFile(again, *read).ok());
  CHECK(*ReadFileText(again) == *ReadFileText(path));
}

TEST_CASE("A bad rig file is refused with every problem listed, each with line and key", "[unit]") {
  testing::TempDir dir;
  const auto path = Write(dir, R"(schema = 1
name = "r1"
[[nodes]]
id = 1
address = "127.0.2.1"
udp_port = 70000
[[nodes]]
id = 2
address = "not-an-address"
udp_port = 15800
ports = 200
[[cameras]]
serial = "TR000001"
model = "m"
address = "127.0.0.2"
node = 1
node_port = 0
position = [0, 1, 2]
[[cameras]]
serial = "TR000002"
model = "m"
address = "127.0.0.3"
node = 7
node_port = 0
position = [0, 1, 2]
look_at = [0, 1, 0]
)");
  auto read = ReadRigFile(path);
  REQUIRE_FALSE(read.ok());
  const std::string& what = read.error().what;
  INFO(what);
  CHECK(read.error().where == path.string());
  CHECK(what.find("line 6: nodes[0].udp_port = 70000 is outside 1..65535") != std::string::npos);
  CHECK(what.find("nodes[1].address 'not-an-address' is not an IPv4 address") != std::string::npos);
  CHECK(what.find("line 11: nodes[1].ports = 200 is outside 1..64") != std::string::npos);
  CHECK(what.find("line 12: cameras[0].look_at is missing") != std::string::npos);
  CHECK(what.find("camera TR000002: node 7 is not in [[nodes]]") != std::string::npos);
  CHECK(what.find("5 problem(s)") != std::string::npos);
  CHECK(read.error().todo.find("fix") != std::string::npos);
}

TEST_CASE("A rig file that is not TOML names the line", "[unit]") {
  testing::TempDir dir;
  auto read = ReadRigFile(Write(dir, "name = \"x\"\n[[nodes]\n"));
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().what.find("line 2") != std::string::npos);
  CHECK_FALSE(ReadRigFile(dir / "missing.toml").ok());
}

TEST_CASE("Cross checks: duplicates and outputs that do not exist", "[unit]") {
  testing::TempDir dir;
  Rig rig = SmallRig();
  rig.cameras[1].serial = rig.cameras[0].serial;
  rig.cameras[1].address = rig.cameras[0].address;
  rig.cameras[0].node_port = 8;  // node 1 has 8 outputs: 0..7
  rig.nodes[1].id = 1;
  REQUIRE(WriteRigFile(dir / "rig.toml", rig).ok());
  auto read = ReadRigFile(dir / "rig.toml");
  REQUIRE_FALSE(read.ok());
  const std::string& what = read.error().what;
  INFO(what);
  CHECK(what.find("serial appears twice") != std::string::npos);
  CHECK(what.find("address 127.0.0.2 appears twice") != std::string::npos);
  CHECK(what.find("node_port 8 is not an output of node 1") != std::string::npos);
  CHECK(what.find("node 1: id appears twice") != std::string::npos);
}

TEST_CASE("The rig files studios have today still load", "[unit]") {
  testing::TempDir dir;
  SECTION("as the virtual studio wrote them") {
    auto read = ReadRigFile(Write(dir, kWrittenBySim));
    REQUIRE(read.ok());
    CHECK(read->name == "head24");
    CHECK(read->cameras.size() == 1);
    CHECK(read->cameras[0].look_at[1] == 1.6);
    CHECK(read->nodes[0].ports == 8);
    CHECK(read->MaxSyncErrorUs() == 250.0);
  }
  SECTION("nodes only, written by hand for `twinrig rig`: no schema, name, ports or cameras") {
    const auto path = Write(dir, "[[nodes]]\nid = 1\naddress = \"127.0.2.1\"\nudp_port = 15800\n");
    auto nodes = ReadRigFile(path, RigNeeds::kNodes);
    REQUIRE(nodes.ok());
    CHECK(nodes->name == "r1");  // the rig folder's name
    CHECK(nodes->nodes[0].ports == 0);
    CHECK(nodes->MaxSyncErrorUs() == kDefaultMaxSyncErrorUs);
    // A capture needs the cameras, and says where to add them.
    auto capture = ReadRigFile(path);
    REQUIRE_FALSE(capture.ok());
    CHECK(capture.error().what.find("add the rig's [[cameras]]") != std::string::npos);
  }
  SECTION("a newer schema is refused, saying so") {
    std::string newer = kWrittenBySim;
    newer.replace(newer.find("schema = 1"), 10, "schema = 2");
    auto read = ReadRigFile(Write(dir, newer));
    REQUIRE_FALSE(read.ok());
    CHECK(read.error().what.find("schema is not 1") != std::string::npos);
  }
}

TEST_CASE("A rig file says how close the clock sync must be, or gets the default", "[unit]") {
  testing::TempDir dir;
  const std::string nodes = "[[nodes]]\nid = 1\naddress = \"127.0.2.1\"\nudp_port = 15800\n";
  auto silent = ReadRigFile(Write(dir, nodes), RigNeeds::kNodes);
  REQUIRE(silent.ok());
  CHECK(silent->MaxSyncErrorUs() == kDefaultMaxSyncErrorUs);

  auto emulated =
      ReadRigFile(Write(dir, "[trigger]\nmax_sync_error_us = 500\n" + nodes), RigNeeds::kNodes);
  REQUIRE(emulated.ok());
  CHECK(emulated->MaxSyncErrorUs() == 500.0);

  for (const char* bad :
       {"[trigger]\nmax_sync_error_us = 0\n", "[trigger]\nmax_sync_error_us = 5000.0\n",
        "[trigger]\nmax_sync_error_us = \"fast\"\n"}) {
    auto refused = ReadRigFile(Write(dir, bad + nodes), RigNeeds::kNodes);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().what.find("max_sync_error_us") != std::string::npos);
  }
}

TEST_CASE("Damaged rig files never crash the reader and always say what is wrong", "[unit]") {
  // Deterministic byte flips, cuts and repeats of a real rig file (the reader runs under the
  // sanitizers in the sanitizer build).
  std::mt19937 random(23);
  const std::string original = kWrittenBySim;
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = original;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const std::size_t at = random() % text.size();
      switch (random() % 3) {
        case 0:
          text[at] = static_cast<char>(random() % 256);
          break;
        case 1:
          text.erase(at, random() % 16);
          break;
        default:
          text.insert(at, text.substr(at, random() % 32));
          break;
      }
    }
    for (const RigNeeds needs : {RigNeeds::kNodes, RigNeeds::kCameras}) {
      auto read = ParseRigFile(text, "rig.toml", "r1", needs);
      if (!read.ok()) {
        ++refused;
        REQUIRE_FALSE(read.error().what.empty());
        REQUIRE(read.error().where == "rig.toml");
      }
    }
  }
  CHECK(refused > 1000);
}

}  // namespace twinrig::studio
