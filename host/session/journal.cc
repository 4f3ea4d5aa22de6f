#include "host/session/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

namespace twinrig::session {

using nlohmann::json;

void Journal::Apply(JournalState& state, const json& event) {
  ++state.events;
  const std::string kind = event.value("event", "");
  const int take = event.value("take", 0);
  const std::int64_t at = event.value("at", std::int64_t{0});
  if (kind == "take_started") {
    TakeState& t = state.takes[take];
    t.take = take;
    for (const auto& serial : event.value("cameras", json::array())) {
      std::string s = serial.get<std::string>();
      if (std::find(t.cameras.begin(), t.cameras.end(), s) == t.cameras.end())
        t.cameras.push_back(s);
      t.frames[s].window_start_ms = at;
    }
    t.closed = false;
    return;
  }
  auto it = state.takes.find(take);
  if (it == state.takes.end()) return;  // an event for a take that never started: ignore
  TakeState& t = it->second;
  if (kind == "take_closed") {
    t.closed = true;
    return;
  }
  const std::string camera = event.value("camera", "");
  FrameState& frame = t.frames[camera];
  if (kind == "fired") {
    frame.camera_folder = event.value("folder", "");
    frame.camera_name = event.value("name", "");
  } else if (kind == "verified") {
    frame.path = event.value("path", "");
    frame.size = event.value("size", std::uint64_t{0});
    frame.sha256 = event.value("sha256", "");
    frame.last_error.clear();
  } else if (kind == "deleted") {
    frame.deleted_on_camera = true;
  } else if (kind == "failed") {
    frame.last_error = event.value("error", "");
  } else if (kind == "retake") {
    // The camera fires again for this take: forget its old shot (its file stays on the card).
    frame = FrameState{};
    frame.window_start_ms = at;
  } else if (kind == "card") {
    // Listed just before the camera fires: a tighter start of its window than take_started.
    if (at > 0) frame.window_start_ms = at;
    frame.card_before.clear();
    frame.card_listed = true;
    for (const auto& file : event.value("files", json::array())) {
      if (file.is_string()) frame.card_before.insert(file.get<std::string>());
    }
  } else if (kind == "accepted_missing") {
    frame.accepted_missing = event.value("reason", "");
  }
}

std::vector<std::string> TakeState::Missing() const {
  std::vector<std::string> missing;
  for (const auto& serial : cameras) {
    auto it = frames.find(serial);
    if (it == frames.end() || !it->second.settled()) missing.push_back(serial);
  }
  return missing;
}

JournalState Journal::Replay(const std::filesystem::path& path) {
  JournalState state;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) {
      // The last line had no newline: written partly when the station died. Ignore it.
      state.torn_tail = !line.empty();
      break;
    }
    json event = json::parse(line, nullptr, false);
    if (event.is_discarded()) {
      state.torn_tail = true;
      continue;
    }
    Apply(state, event);
  }
  return state;
}

Result<Journal> Journal::Open(const std::filesystem::path& path) {
  JournalState state = Replay(path);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeError(std::string("could not open the journal: ") + std::strerror(errno),
                     path.string(), "check the session folder is writable");
  }
  if (state.torn_tail) {
    // Start the next event on a fresh line so the torn one stays a single bad line.
    (void)::write(fd, "\n", 1);
  }
  return Journal(fd, path, std::move(state));
}

Journal::Journal(Journal&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      state_(std::move(other.state_)),
      written_(other.written_.load()),
      synced_(other.synced_) {}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

Status Journal::Append(json event) {
  auto sequence = Write(std::move(event));
  if (!sequence.ok()) return sequence.error();
  return SyncTo(*sequence);
}

Result<std::uint64_t> Journal::Write(json event) {
  event["at"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::string line = event.dump() + "\n";
  // Where this event starts: a write cut short by a full disk is cut back off, so the next event
  // does not continue a torn line (which would make replay drop both).
  const off_t start = ::lseek(fd_, 0, SEEK_END);
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n == 0 ? ENOSPC : errno;
      if (start >= 0) (void)::ftruncate(fd_, start);
      std::string todo = error == ENOSPC || error == EDQUOT
                             ? "the disk is full: free space, then run twinrig capture --resume"
                             : "check the disk, then run twinrig capture --resume";
      return MakeError(std::string("could not write the journal: ") + std::strerror(error),
                       path_.string(), todo);
    }
    done += static_cast<size_t>(n);
  }
  Apply(state_, event);
  return ++written_;
}

Status Journal::SyncTo(std::uint64_t sequence) {
  std::lock_guard lock(sync_mutex_);
  if (synced_ >= sequence) return OkStatus();  // a sync by another thread covered it
  const std::uint64_t target = written_.load();
  if (::fdatasync(fd_) != 0) {
    const int error = errno;
    const bool full = error == ENOSPC || error == EDQUOT;
    return MakeError(std::string("could not flush the journal: ") + std::strerror(error),
                     path_.string(),
                     full ? "the disk is full: free space, then run twinrig capture --resume"
                          : "check the disk, then run twinrig capture --resume");
  }
  synced_ = target;
  return OkStatus();
}

}  // namespace twinrig::session
