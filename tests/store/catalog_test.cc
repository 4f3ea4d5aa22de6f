#include <catch2/catch.hpp>

#include "store/catalog.h"
#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::store {
namespace {

// A second connection to studio.db: the product itself reads the catalog only through the typed
// queries, the tests look at the file as any other SQLite program would.
Database Raw(const Catalog& catalog) {
  return Database::Open(catalog.path(), Database::Mode::kOpenExisting).value();
}

std::int64_t TableCount(Database&& db, const std::string& table) {
  auto n =
      db.QueryInt("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='" + table + "'");
  REQUIRE(n.ok());
  return *n;
}

TEST_CASE("a new studio gets the whole schema", "[unit]") {
  testing::TempDir dir;
  auto catalog = Catalog::Open(dir / "studio");
  REQUIRE(catalog.ok());
  CHECK(catalog->report().created);
  CHECK(catalog->report().version == LatestSchemaVersion());
  CHECK(*Raw(*catalog).QueryInt("PRAGMA user_version") == LatestSchemaVersion());
  CHECK(*Raw(*catalog).QueryInt("PRAGMA application_id") == kApplicationId);
  CHECK(TableCount(Raw(*catalog), "subjects") == 1);
  CHECK(TableCount(Raw(*catalog), "sessions") == 1);
}

TEST_CASE("an old catalog is backed up, migrated and keeps its rows", "[unit]") {
  testing::TempDir dir;
  const auto studio = dir / "studio";
  {
    auto v1 = Catalog::Open(studio, 1);
    REQUIRE(v1.ok());
    CHECK(TableCount(Raw(*v1), "sessions") == 0);
    REQUIRE(Raw(*v1).Execute("INSERT INTO subjects(id, name) VALUES ('SUB-1', 'Ada')").ok());
  }
  auto migrated = Catalog::Open(studio);
  REQUIRE(migrated.ok());
  CHECK(migrated->report().found_version == 1);
  CHECK(migrated->report().version == LatestSchemaVersion());
  CHECK(TableCount(Raw(*migrated), "sessions") == 1);
  CHECK(*Raw(*migrated).QueryInt("SELECT count(*) FROM subjects WHERE name = 'Ada'") == 1);
  REQUIRE_FALSE(migrated->report().backup.empty());
  // The backup is the old catalog, still at schema 1.
  auto backup = Database::Open(migrated->report().backup, Database::Mode::kReadOnly);
  REQUIRE(backup.ok());
  CHECK(*backup->QueryInt("PRAGMA user_version") == 1);
}

TEST_CASE("reopening a current catalog changes nothing", "[unit]") {
  testing::TempDir dir;
  { REQUIRE(Catalog::Open(dir / "s").ok()); }
  auto again = Catalog::Open(dir / "s");
  REQUIRE(again.ok());
  CHECK_FALSE(again->report().created);
  CHECK(again->report().found_version == LatestSchemaVersion());
  CHECK(again->report().backup.empty());
}

TEST_CASE("a catalog from a newer twinrig is refused and left alone", "[unit]") {
  testing::TempDir dir;
  const auto studio = dir / "studio";
  {
    auto c = Catalog::Open(studio);
    REQUIRE(c.ok());
    REQUIRE(Raw(*c).Execute("PRAGMA user_version = 999").ok());
  }
  auto before = Sha256File(Catalog::DatabasePath(studio));
  auto refused = Catalog::Open(studio);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().what.find("newer twinrig") != std::string::npos);
  CHECK(refused.error().what.find("999") != std::string::npos);
  CHECK(refused.error().todo.find("upgrade") != std::string::npos);
  CHECK(*Sha256File(Catalog::DatabasePath(studio)) == *before);
}

TEST_CASE("a corrupt catalog is reported and never overwritten", "[unit]") {
  testing::TempDir dir;
  const auto studio = dir / "studio";
  std::filesystem::create_directories(studio);
  const auto path = Catalog::DatabasePath(studio);

  SECTION("not SQLite at all") {
    REQUIRE(WriteFileAtomic(path, std::string_view("this is not a database, it is a note")).ok());
  }
  SECTION("SQLite header, damaged pages") {
    { REQUIRE(Catalog::Open(studio).ok()); }
    auto bytes = *ReadFileBytes(path);
    REQUIRE(bytes.size() > 4096);
    for (size_t i = 4096; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 31);
    REQUIRE(WriteFileAtomic(path, bytes).ok());
    std::filesystem::remove(path.string() + "-wal");
    std::filesystem::remove(path.string() + "-shm");
  }
  auto before = *Sha256File(path);
  auto opened = Catalog::Open(studio);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().where == path.string());
  CHECK(opened.error().todo.find("backup") != std::string::npos);
  CHECK(*Sha256File(path) == before);
}

TEST_CASE("a SQLite file of another program is refused", "[unit]") {
  testing::TempDir dir;
  const auto studio = dir / "studio";
  std::filesystem::create_directories(studio);
  {
    auto other = Database::Open(Catalog::DatabasePath(studio), Database::Mode::kCreateIfMissing);
    REQUIRE(other.ok());
    REQUIRE(other->Execute("CREATE TABLE photos(x); PRAGMA application_id = 42").ok());
  }
  auto opened = Catalog::Open(studio);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().what.find("another program") != std::string::npos);
}

}  // namespace
}  // namespace twinrig::store
