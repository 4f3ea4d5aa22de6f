// The capture journal: an append-only JSON-lines file in the session folder, fsynced per event,
// that says what happened to every camera's frame of every take (fired, downloaded and verified,
// deleted on the camera). A station killed at any moment replays it and resumes with nothing lost
// and nothing counted twice. A torn last line (the crash hit mid-write) is ignored on replay.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace twinrig::session {

struct FrameState {
  std::optional<std::string> camera_folder;  // where the image is on the camera, once fired
  std::optional<std::string> camera_name;
  std::optional<std::string> path;  // relative to the session folder, once verified
  std::uint64_t size = 0;
  std::string sha256;
  bool deleted_on_camera = false;
  std::string last_error;
  [[nodiscard]] bool fired() const { return camera_name.has_value(); }
  [[nodiscard]] bool verified() const { return path.has_value(); }
};

struct TakeState {
  int take = 0;
  std::vector<std::string> cameras;          // serials planned for this take
  std::map<std::string, FrameState> frames;  // by serial
  bool closed = false;
};

struct JournalState {
  std::map<int, TakeState> takes;
  std::uint64_t events = 0;
  bool torn_tail = false;  // the last line was incomplete (a crash mid-write)
  [[nodiscard]] int LastTake() const { return takes.empty() ? 0 : takes.rbegin()->first; }
};

class Journal {
 public:
  // Opens (creating) the journal and replays it.
  static Result<Journal> Open(const std::filesystem::path& path);
  Journal(Journal&& other) noexcept;
  Journal& operator=(Journal&&) = delete;
  Journal(const Journal&) = delete;
  ~Journal();

  // Appends one event and fsyncs it; the state follows. Events: take_started {take, cameras},
  // fired {take, camera, folder, name}, verified {take, camera, path, size, sha256},
  // deleted {take, camera}, failed {take, camera, error}, take_closed {take}.
  Status Append(nlohmann::json event);

  // The two halves of Append for many threads (group commit): Write appends the line and applies
  // it to the state (callers serialise Write and state() themselves); SyncTo returns once the
  // event numbered `sequence` is on disk, and is safe from any thread without the caller's lock:
  // one fdatasync covers every event written before it, so cameras finishing together share it.
  // An event counts only once SyncTo has succeeded.
  Result<std::uint64_t> Write(nlohmann::json event);
  Status SyncTo(std::uint64_t sequence);
  [[nodiscard]] const JournalState& state() const { return state_; }

  // Applies one event to a state (used by replay and by Append).
  static void Apply(JournalState& state, const nlohmann::json& event);

 private:
  Journal(int fd, std::filesystem::path path, JournalState state)
      : fd_(fd), path_(std::move(path)), state_(std::move(state)) {}
  int fd_;
  std::filesystem::path path_;
  JournalState state_;
  std::atomic<std::uint64_t> written_{0};  // events written (the sequence of the last one)
  std::mutex sync_mutex_;
  std::uint64_t synced_ = 0;  // events known to be on disk; under sync_mutex_
};

}  // namespace twinrig::session
