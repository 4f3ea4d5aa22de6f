#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "host/session/journal.h"
#include "tests/test_support.h"

namespace twinrig::session {
namespace {

TEST_CASE("the journal replays every event and survives a torn last line", "[unit]") {
  testing::TempDir dir;
  const auto path = dir / "journal.jsonl";
  {
    auto journal = Journal::Open(path);
    REQUIRE(journal.ok());
    REQUIRE(
        journal->Append({{"event", "take_started"}, {"take", 1}, {"cameras", {"A", "B"}}}).ok());
    REQUIRE(journal
                ->Append({{"event", "fired"},
                          {"take", 1},
                          {"camera", "A"},
                          {"folder", "/d"},
                          {"name", "a.jpg"}})
                .ok());
    REQUIRE(journal
                ->Append({{"event", "verified"},
                          {"take", 1},
                          {"camera", "A"},
                          {"path", "images/A/take-0001.jpg"},
                          {"size", 10},
                          {"sha256", "ab"}})
                .ok());
    CHECK(journal->state().takes.at(1).frames.at("A").verified());
  }
  // The station died while writing the next event.
  {
    std::ofstream out(path, std::ios::app);
    out << R"({"event":"fired","take":1,"camera":"B","fol)";
  }
  auto again = Journal::Open(path);
  REQUIRE(again.ok());
  CHECK(again->state().torn_tail);
  const auto& take = again->state().takes.at(1);
  CHECK(take.frames.at("A").verified());
  CHECK(take.frames.at("A").sha256 == "ab");
  CHECK_FALSE(take.frames.at("B").fired());
  // Appending after a torn line keeps working and replays cleanly.
  REQUIRE(again
              ->Append({{"event", "fired"},
                        {"take", 1},
                        {"camera", "B"},
                        {"folder", "/d"},
                        {"name", "b.jpg"}})
              .ok());
  auto third = Journal::Open(path);
  REQUIRE(third.ok());
  CHECK(third->state().takes.at(1).frames.at("B").fired());
  CHECK(third->state().LastTake() == 1);
}

TEST_CASE("a retake forgets only that camera's old frame", "[unit]") {
  JournalState state;
  Journal::Apply(state, {{"event", "take_started"}, {"take", 2}, {"cameras", {"A", "B"}}});
  Journal::Apply(state, {{"event", "failed"}, {"take", 2}, {"camera", "B"}, {"error", "no image"}});
  Journal::Apply(
      state, {{"event", "fired"}, {"take", 2}, {"camera", "A"}, {"folder", "/"}, {"name", "x"}});
  Journal::Apply(state, {{"event", "retake"}, {"take", 2}, {"camera", "B"}});
  CHECK(state.takes.at(2).frames.at("A").fired());
  CHECK(state.takes.at(2).frames.at("B").last_error.empty());
  // Events for a take that never started are ignored rather than inventing one.
  Journal::Apply(state, {{"event", "fired"}, {"take", 9}, {"camera", "A"}});
  CHECK(state.takes.count(9) == 0);
}

}  // namespace
}  // namespace twinrig::session

namespace twinrig::session {
namespace {

TEST_CASE("events written by many threads are all on disk after one shared sync", "[unit]") {
  testing::TempDir dir;
  const auto path = dir / "journal.jsonl";
  {
    auto journal = Journal::Open(path);
    REQUIRE(journal.ok());
    REQUIRE(
        journal->Append({{"event", "take_started"}, {"take", 1}, {"cameras", {"A", "B"}}}).ok());
    std::mutex write_mutex;
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (const std::string camera : {"A", "B"}) {
      threads.emplace_back([&, camera] {
        for (int i = 0; i < 20; ++i) {
          Result<std::uint64_t> written = MakeError("not written");
          {
            std::lock_guard lock(write_mutex);
            written = journal->Write({{"event", "failed"},
                                      {"take", 1},
                                      {"camera", camera},
                                      {"error", "attempt " + std::to_string(i)}});
          }
          if (!written.ok() || !journal->SyncTo(*written).ok()) ++failures;
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    REQUIRE(journal->Append({{"event", "take_closed"}, {"take", 1}}).ok());
  }
  auto replayed = Journal::Open(path);
  REQUIRE(replayed.ok());
  CHECK(replayed->state().events == 42);
  CHECK_FALSE(replayed->state().torn_tail);
  CHECK(replayed->state().takes.at(1).closed);
  CHECK(replayed->state().takes.at(1).frames.at("B").last_error == "attempt 19");
}

}  // namespace
}  // namespace twinrig::session
