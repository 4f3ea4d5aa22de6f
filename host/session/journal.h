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
#include <set>
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
  // When the station last fired (or was about to fire) this camera for the take, in ms since the
  // epoch by the station's clock: the take_started or retake event. A frame on the card belongs to
  // this take only if the camera took it in the window that opens then.
  std::int64_t window_start_ms = 0;
  // What was on the camera's card ("folder/name") just before the station fired it for this take:
  // none of these can be the take's frame.
  std::set<std::string> card_before;
  bool card_listed = false;  // the card event was journalled: the camera may have fired
  // Set when the frame was closed as missing on purpose (`capture --accept-missing`): the reason.
  std::optional<std::string> accepted_missing;
  [[nodiscard]] bool fired() const { return camera_name.has_value(); }
  [[nodiscard]] bool verified() const { return path.has_value(); }
  // Verified, or its absence accepted and recorded: nothing more is owed for it.
  [[nodiscard]] bool settled() const { return verified() || accepted_missing.has_value(); }
};

struct TakeState {
  int take = 0;
  std::vector<std::string> cameras;          // serials planned for this take
  std::map<std::string, FrameState> frames;  // by serial
  bool closed = false;
  // The planned cameras whose frame is neither verified nor accepted as missing.
  [[nodiscard]] std::vector<std::string> Missing() const;
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
  // Replays a journal without opening it for writing (another session's, for instance); an
  // absent file is an empty state.
  static JournalState Replay(const std::filesystem::path& path);
  Journal(Journal&& other) noexcept;
  Journal& operator=(Journal&&) = delete;
  Journal(const Journal&) = delete;
  ~Journal();

  // Appends one event and fsyncs it; the state follows. Events: take_started {take, cameras},
  // fired {take, camera, folder, name}, verified {take, camera, path, size, sha256},
  // deleted {take, camera}, failed {take, camera, error}, retake {take, camera},
  // card {take, camera, files} (the card's files before the camera fired),
  // accepted_missing {take, camera, reason}, stray {camera, folder, name, captured, size},
  // take_closed {take}. Every event carries "at" (ms since the epoch).
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
