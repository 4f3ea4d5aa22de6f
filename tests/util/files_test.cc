#include <catch2/catch.hpp>

#include "tests/test_support.h"
#include "util/file_lock.h"
#include "util/files.h"

#include <unistd.h>

namespace twinrig {
namespace {

TEST_CASE("atomic write replaces a file whole and leaves no temporary", "[unit]") {
  testing::TempDir dir;
  auto path = dir / "manifest.json";
  REQUIRE(WriteFileAtomic(path, std::string_view("first")).ok());
  REQUIRE(WriteFileAtomic(path, std::string_view("second")).ok());
  CHECK(*ReadFileText(path) == "second");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("atomic write into a missing folder fails clearly and creates nothing", "[unit]") {
  testing::TempDir dir;
  Status status = WriteFileAtomic(dir / "missing/x.json", std::string_view("x"));
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().where.find("missing") != std::string::npos);
  CHECK_FALSE(status.error().todo.empty());
}

TEST_CASE("a full disk fails the write and keeps the old file", "[unit]") {
  if (!std::filesystem::exists("/dev/full")) return;
  // /dev/full answers every write with ENOSPC; writing through a symlink's folder is not possible,
  // so write the temporary into a folder whose file is /dev/full by linking.
  testing::TempDir dir;
  auto path = dir / "keep.txt";
  REQUIRE(WriteFileAtomic(path, std::string_view("precious")).ok());
  std::filesystem::create_symlink("/dev/full",
                                  dir / ("keep.txt.tmp-" + std::to_string(::getpid())));
  Status status = WriteFileAtomic(path, std::string_view("replacement"));
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().todo.find("free space") != std::string::npos);
  CHECK(*ReadFileText(path) == "precious");
}

TEST_CASE("SHA-256 matches the FIPS 180-2 test vectors", "[unit]") {
  CHECK(Sha256Hex(std::string_view("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex(std::string_view("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  testing::TempDir dir;
  REQUIRE(WriteFileAtomic(dir / "abc", std::string_view("abc")).ok());
  CHECK(*Sha256File(dir / "abc") == Sha256Hex(std::string_view("abc")));
  CHECK_FALSE(Sha256File(dir / "nope").ok());
}

}  // namespace
}  // namespace twinrig

namespace twinrig {
namespace {

TEST_CASE("A file lock excludes a second holder and names the first", "[unit]") {
  testing::TempDir dir;
  const auto path = dir / "thing.lock";
  {
    auto first = FileLock::TryLock(path, "twinrig vault close");
    REQUIRE(first.ok());
    // A second opening, as another process would make, is refused and told who holds it.
    auto second = FileLock::TryLock(path, "twinrig vault open");
    REQUIRE_FALSE(second.ok());
    CHECK_THAT(second.error().what, Catch::Contains("in use by twinrig vault close (pid " +
                                                    std::to_string(::getpid()) + ")"));
    CHECK_THAT(second.error().todo, Catch::Contains("wait"));
    // Moved, it still holds.
    FileLock moved = std::move(*first);
    CHECK_FALSE(FileLock::TryLock(path, "again").ok());
  }
  // Released with its holder.
  auto later = FileLock::TryLock(path, "twinrig vault open");
  CHECK(later.ok());
  CHECK_FALSE(FileLock::TryLock(dir / "no-such-folder" / "x.lock", "x").ok());
}

}  // namespace
}  // namespace twinrig
