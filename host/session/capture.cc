#include "host/session/capture.h"

#include <atomic>
#include <condition_variable>
#include <future>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <semaphore>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "host/camera/discovery.h"
#include "host/session/frame_check.h"
#include "util/logging.h"
#include "util/options.h"

namespace twinrig::session {

using nlohmann::json;

bool CaptureReport::complete() const {
  if (!stopped.empty() || !incomplete.empty()) return false;
  for (const auto& t : takes) {
    if (!t.complete()) return false;
  }
  return true;
}

std::string DescribeIncomplete(const CaptureReport& report) {
  std::ostringstream out;
  for (const auto& take : report.incomplete) {
    out << "take " << take.take << " is incomplete: " << take.missing.size() << " of "
        << take.cameras << " cameras missing\n";
    for (const auto& m : take.missing) {
      out << "  camera " << m.serial << ": " << m.what << "\n    what to do: " << m.todo << "\n";
    }
  }
  return out.str();
}

std::vector<std::string> CaptureOptions::Validate() const {
  std::vector<std::string> problems = worker.Validate();
  if (takes < 1) problems.push_back("takes must be at least 1");
  if (camera_clock_slack.count() < 0) problems.push_back("camera_clock_slack must not be negative");
  if (download_attempts < 1) problems.push_back("download_attempts must be at least 1");
  if (downloads_at_once < 1) problems.push_back("downloads_at_once must be at least 1");
  if (!software_trigger && !hardware_fire) {
    problems.push_back(
        "no trigger nodes to fire the cameras: use --software-trigger or start the nodes");
  }
  return problems;
}

std::string DescribeTake(const TakeReport& r) {
  std::ostringstream out;
  out.precision(1);
  out << std::fixed << "take " << r.take << ": " << r.fired << "/" << r.cameras << " fired, "
      << r.verified << "/" << r.cameras << " verified, " << r.megabytes << " MB in " << r.seconds
      << " s";
  if (r.seconds > 0) out << " (" << r.megabytes / r.seconds << " MB/s)";
  if (r.accepted_missing > 0) out << ", " << r.accepted_missing << " accepted as missing";
  return out.str();
}

namespace {

std::string FileKey(const camera::FileRef& f) { return f.folder + "/" + f.name; }

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct CaptureRunner::Impl {
  Impl(const SessionInfo& s, const CaptureOptions& o, Journal j, camera::CameraPool& p)
      : session(s),
        options(o),
        journal(std::move(j)),
        pool(p),
        spawns_before(p.Spawns()),
        reopens_before(p.Reopens()),
        download_slots(o.downloads_at_once) {}

  const SessionInfo& session;
  const CaptureOptions& options;
  Journal journal;
  std::mutex journal_mutex;
  camera::CameraPool& pool;
  const int spawns_before;
  const int reopens_before;
  std::counting_semaphore<> download_slots;  // CaptureOptions::downloads_at_once

  // A full disk stops everything: the first file that did not fit, and what to do.
  std::atomic<bool> disk_full{false};
  std::mutex stop_mutex;
  std::string stopped;
  std::string stopped_todo;

  // Counters of the take that runs now.
  std::atomic<int> fired{0};
  std::atomic<int> downloaded{0};
  std::atomic<int> verified{0};
  std::atomic<std::uint64_t> bytes{0};
  std::mutex problems_mutex;
  std::vector<CameraProblem> problems;
  std::vector<CameraProblem> warnings;
  std::vector<StrayFrame> strays;  // of this call, every take
  std::set<std::string> strays_seen;
  std::atomic<std::uint64_t> largest_frame{0};  // bytes, for "the card is full"
  std::mutex owners_mutex;
  bool others_read = false;
  std::vector<std::pair<std::string, JournalState>> others;  // the studio's other sessions

  camera::CameraClient& Client(const std::string& serial) { return pool.Client(serial); }

  void Stop(const std::string& what, const std::string& todo) {
    std::lock_guard lock(stop_mutex);
    if (stopped.empty()) {
      stopped = what;
      stopped_todo = todo;
    }
    disk_full = true;
  }

  // Journals an event; returns once it is on disk. Cameras that finish together share one fsync.
  Status Record(json event, bool sync = true) {
    Result<std::uint64_t> written = MakeError("not written");
    {
      std::lock_guard lock(journal_mutex);
      written = journal.Write(std::move(event));
    }
    Status appended = !written.ok() ? Status(written.error())
                      : sync        ? journal.SyncTo(*written)
                                    : OkStatus();
    if (!appended.ok() && appended.error().todo.find("disk is full") != std::string::npos) {
      Stop("the disk is full: " + appended.error().what + " (" + appended.error().where + ")",
           appended.error().todo);
    }
    return appended;
  }

  // A copy of one take's state, consistent with concurrent appends.
  TakeState TakeSnapshot(int take) {
    std::lock_guard lock(journal_mutex);
    return journal.state().takes.at(take);
  }

  void Problem(const std::string& serial, const std::string& what, const std::string& todo) {
    Log().With("camera", serial).Warn("{} ({})", what, todo);
    std::lock_guard lock(problems_mutex);
    problems.push_back({serial, what, todo});
  }

  void Warning(const std::string& serial, const std::string& what, const std::string& todo) {
    Log().With("camera", serial).Warn("{} ({})", what, todo);
    std::lock_guard lock(problems_mutex);
    warnings.push_back({serial, what, todo});
  }

  // The window (seconds since the epoch, camera clock) in which a frame of `serial` fired at
  // `start_ms` by the station's clock can have been taken: from the firing (less the clock slack)
  // to frame_wait later (plus the slack), and never reaching the second of another firing of the
  // same camera in this session, so that two takes' windows do not overlap.
  [[nodiscard]] std::pair<std::int64_t, std::int64_t> Window(const std::string& serial,
                                                             std::int64_t start_ms) {
    const auto wait = std::max(options.frame_wait, options.worker.capture_deadline);
    const std::int64_t slack = options.camera_clock_slack.count();
    const std::int64_t start = start_ms / 1000;
    std::int64_t from = start - slack;
    std::int64_t to =
        start + std::chrono::duration_cast<std::chrono::seconds>(wait).count() + slack;
    std::lock_guard lock(journal_mutex);
    for (const auto& [take, t] : journal.state().takes) {
      auto it = t.frames.find(serial);
      if (it == t.frames.end() || it->second.window_start_ms == 0) continue;
      const std::int64_t other = it->second.window_start_ms / 1000;
      if (it->second.window_start_ms < start_ms) from = std::max(from, other + 1);
      if (it->second.window_start_ms > start_ms) to = std::min(to, other - 1);
    }
    return {from, to};
  }

  [[nodiscard]] bool InWindow(const std::string& serial, const camera::FileRef& f,
                              std::int64_t start_ms) {
    if (f.captured == 0 || start_ms == 0) return false;  // no date: never adopted by guess
    const auto [from, to] = Window(serial, start_ms);
    return f.captured >= from && f.captured <= to;
  }

  // The files on `serial`'s card this session's journal knows (fired into some take).
  std::set<std::string> KnownFiles(const std::string& serial) {
    std::set<std::string> known;
    std::lock_guard lock(journal_mutex);
    for (const auto& [take, t] : journal.state().takes) {
      auto it = t.frames.find(serial);
      if (it != t.frames.end() && it->second.fired()) {
        known.insert(*it->second.camera_folder + "/" + *it->second.camera_name);
      }
    }
    return known;
  }

  // A file on a card that belongs to no take of this session: reported once per call and
  // journalled; it stays on the card (it may be another person's) and is never filed here.
  void Stray(const std::string& serial, const camera::FileRef& f, camera::CameraClient& client) {
    StrayFrame stray{serial, FileKey(f), f.captured, "", 0, false};
    {
      std::lock_guard lock(problems_mutex);
      if (!strays_seen.insert(serial + ":" + FileKey(f)).second) return;
    }
    if (f.captured > 0) {
      std::tie(stray.session, stray.take) = OwnerOf(serial, FileKey(f), f.captured);
      // Dated, in no open take of any session (this one included): nobody's frame to keep. A
      // shot outside any session, or a frame already safe in its own session: biometric data
      // that must not linger on the card.
      if (stray.session.empty() && !InAnyWindow(serial, f) && client.Delete(f).ok()) {
        stray.deleted = true;
      }
    }
    {
      std::lock_guard lock(problems_mutex);
      strays.push_back(stray);
    }
    Log()
        .With("camera", serial)
        .Warn("stray frame {} on the card (taken at {}{}): not filed{}", FileKey(f), f.captured,
              stray.session.empty() ? "" : ", of session " + stray.session,
              stray.deleted ? ", deleted on the camera" : "");
    (void)Record({{"event", "stray"},
                  {"camera", serial},
                  {"folder", f.folder},
                  {"name", f.name},
                  {"captured", f.captured},
                  {"size", f.size},
                  {"session", stray.session},
                  {"deleted", stray.deleted}},
                 /*sync=*/false);
  }

  // Whether `f` falls inside the window of any take of this session that fired `serial`.
  bool InAnyWindow(const std::string& serial, const camera::FileRef& f) {
    std::vector<std::int64_t> starts;
    {
      std::lock_guard lock(journal_mutex);
      for (const auto& [take, t] : journal.state().takes) {
        auto it = t.frames.find(serial);
        if (it != t.frames.end() && it->second.window_start_ms > 0) {
          starts.push_back(it->second.window_start_ms);
        }
      }
    }
    return std::any_of(starts.begin(), starts.end(),
                       [&](std::int64_t start) { return InWindow(serial, f, start); });
  }

  // The other session of the studio with an open take whose window for `serial` holds `captured`
  // (the journals of the studio's sessions, read once per call).
  std::pair<std::string, int> OwnerOf(const std::string& serial, const std::string& file,
                                      std::int64_t captured) {
    std::lock_guard lock(owners_mutex);
    if (!others_read) {
      others_read = true;
      std::error_code ec;
      for (const auto& entry :
           std::filesystem::directory_iterator(session.folder.parent_path(), ec)) {
        if (entry.path() == session.folder) continue;
        const auto journal_file = entry.path() / "journal.jsonl";
        if (!std::filesystem::exists(journal_file, ec)) continue;
        others.emplace_back(entry.path().filename().string(), Journal::Replay(journal_file));
      }
    }
    const auto wait = std::max(options.frame_wait, options.worker.capture_deadline);
    const std::int64_t slack = options.camera_clock_slack.count();
    for (const auto& [id, state] : others) {
      for (const auto& [take, t] : state.takes) {
        auto it = t.frames.find(serial);
        if (it == t.frames.end() || it->second.settled() || it->second.window_start_ms == 0 ||
            it->second.card_before.contains(file)) {
          continue;
        }
        const std::int64_t start = it->second.window_start_ms / 1000;
        if (captured >= start - slack &&
            captured <=
                start + std::chrono::duration_cast<std::chrono::seconds>(wait).count() + slack) {
          return {id, take};
        }
      }
    }
    return {"", 0};
  }

  // Why a camera has no frame for this take, from the card: a full card, or no exposure.
  // `fallback` is the cause the station recorded ("" when none); without one the camera did not
  // fire, which is its trigger path's business.
  std::pair<std::string, std::string> NoFrameCause(camera::CameraClient& client, int take,
                                                   const std::string& fallback,
                                                   bool fallback_is_no_fire = false) {
    auto storage = client.Storage();
    const std::uint64_t needed = std::max<std::uint64_t>(largest_frame.load(), 1U << 20);
    if (storage.ok() && storage->capacity_kb > 0 && storage->free_kb * 1024 < needed) {
      return {"the card is full (" + std::to_string(storage->free_kb / 1024) +
                  " MB free): the camera could not store its frame of take " + std::to_string(take),
              "free space on the card or change it, then run `twinrig capture --retake-missing`"};
    }
    if (fallback.empty() || fallback_is_no_fire) {
      return {fallback.empty() ? "no frame of take " + std::to_string(take) +
                                     " on the card: the camera did not fire"
                               : fallback,
              "check its remote cable and that it is not in a menu; then run "
              "`twinrig capture --retake-missing`"};
    }
    return {fallback, "deal with that, then run `twinrig capture --retake-missing`"};
  }

  // Downloads a fired frame, verifies it on disk, journals it, deletes it on the camera.
  void Collect(int take, const std::string& serial, const camera::FileRef& file) {
    auto& client = Client(serial);
    const std::string relative = FramePath(serial, take);
    const auto destination = session.folder / relative;
    std::error_code ec;
    std::filesystem::create_directories(destination.parent_path(), ec);
    std::string last_error;
    bool corrupted = false;
    auto delay = options.retry_delay;
    for (int attempt = 1; attempt <= options.download_attempts; ++attempt) {
      if (disk_full) {
        Problem(
            serial, "not downloaded: the capture stopped because the disk is full",
            "free space, then run `twinrig capture --resume` (the frame is still on the camera)");
        return;
      }
      download_slots.acquire();
      const auto download_start = std::chrono::steady_clock::now();
      auto got = client.Download(file, destination);
      const double download_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - download_start).count();
      download_slots.release();
      if (!got.ok()) {
        last_error = got.error().what;
        if (client.last_failure() == camera::FailureKind::kDiskFull) {
          Stop("the disk is full: " + got.error().what + " (" + got.error().where + ")",
               got.error().todo);
          (void)Record(
              {{"event", "failed"}, {"take", take}, {"camera", serial}, {"error", last_error}});
          Problem(serial, got.error().what + " (" + got.error().where + ")", got.error().todo);
          return;
        }
        if (client.last_failure() == camera::FailureKind::kConnection &&
            attempt < options.download_attempts) {
          std::this_thread::sleep_for(delay);
          delay *= 2;
        }
        continue;
      }
      ++downloaded;
      Status check = CheckFrameFile(destination, got->declared_size);
      if (check.ok()) check = client.CompareRanges(file, destination, UndecodedRanges(destination));
      if (!check.ok()) {
        // Never counted, never deleted on the camera: downloaded again after a pause.
        last_error = check.error().what;
        corrupted = corrupted || client.last_failure() != camera::FailureKind::kConnection;
        Log().With("camera", serial).Warn("take {}: {}", take, last_error);
        (void)Record(
            {{"event", "failed"}, {"take", take}, {"camera", serial}, {"error", last_error}},
            /*sync=*/false);
        std::filesystem::remove(destination, ec);
        --downloaded;
        if (attempt < options.download_attempts) {
          std::this_thread::sleep_for(delay);
          delay *= 2;
        }
        continue;
      }
      largest_frame = std::max<std::uint64_t>(largest_frame.load(), got->size);
      const double rate = download_s > 0 ? static_cast<double>(got->size) / 1e6 / download_s : 0;
      if (got->size >= (1U << 20) && rate > 0 && rate < options.slow_link_mb_per_s) {
        Warning(serial,
                fmt::format("slow link: take {} came at {:.1f} MB/s (below {:.1f} MB/s)", take,
                            rate, options.slow_link_mb_per_s),
                "check the camera's network cable and switch port; the frame itself is verified");
      }
      Status recorded = Record({{"event", "verified"},
                                {"take", take},
                                {"camera", serial},
                                {"path", relative},
                                {"size", got->size},
                                {"sha256", got->sha256}});
      if (!recorded.ok()) {
        // Not journalled means not verified: the frame stays on the camera and resume fetches it
        // again into the same path.
        Problem(serial, recorded.error().what, recorded.error().todo);
        return;
      }
      ++verified;
      bytes += got->size;
      Status deleted = client.Delete(file);
      if (deleted.ok()) {
        // No fsync of its own: if it is lost, resume tries the delete again, which is harmless.
        (void)Record({{"event", "deleted"}, {"take", take}, {"camera", serial}}, /*sync=*/false);
      } else {
        Problem(serial,
                "the frame is safe on the station but could not be deleted on the camera: " +
                    deleted.error().what,
                "delete it on the card later; it does not affect this session");
      }
      return;
    }
    (void)Record({{"event", "failed"}, {"take", take}, {"camera", serial}, {"error", last_error}});
    Problem(serial,
            "no verified copy after " + std::to_string(options.download_attempts) +
                " attempts: " + last_error,
            corrupted ? "the frame is still on the camera, never deleted: check the camera's "
                        "cable or network link, then run `twinrig capture --resume`"
                      : "the frame is still on the camera: check the camera, then run "
                        "`twinrig capture --resume`");
  }

  // Waits (hardware trigger) for the camera's new file. Events are the fast path; when waiting for
  // them fails (a dropped link, libgphoto2's socket timeout on a busy host) the card is listed
  // instead, and the file that was not there before the trigger is the frame.
  Result<camera::FileRef> WaitForFrame(camera::CameraClient& client,
                                       const std::set<std::string>& before) {
    const auto deadline = std::chrono::steady_clock::now() + options.frame_wait;
    std::string last_error;
    while (std::chrono::steady_clock::now() < deadline) {
      auto files = client.WaitForFiles(500);
      if (files.ok() && !files->empty()) return files->front();
      if (!files.ok()) {
        last_error = files.error().what;
        auto listed = client.ListFiles();
        if (listed.ok()) {
          for (const auto& f : *listed) {
            if (!before.contains(FileKey(f))) return f;
          }
        }
      }
    }
    return MakeError("no new-file event within " +
                         std::to_string(options.frame_wait.count() / 1000) + " s of the trigger" +
                         (last_error.empty() ? std::string() : " (" + last_error + ")"),
                     client.port(), "");
  }

  // After a failed fire or wait, the card tells what happened: a new file the camera dates in
  // this take's window is the frame (it fired, its event or answer was lost); otherwise the cause.
  Result<camera::FileRef> FindOnCard(int take, const std::string& serial,
                                     camera::CameraClient& client,
                                     const std::set<std::string>& before, std::int64_t start_ms,
                                     const Error& failure) {
    auto listed = client.ListFilesFresh();
    if (listed.ok()) {
      std::vector<camera::FileRef> fresh;
      for (const auto& f : *listed) {
        if (!before.contains(FileKey(f)) && InWindow(serial, f, start_ms)) fresh.push_back(f);
      }
      if (fresh.size() == 1) {
        Log()
            .With("camera", serial)
            .Warn("take {}: fired but not announced ({}); its frame {} is on the card", take,
                  failure.what, FileKey(fresh.front()));
        return fresh.front();
      }
      if (fresh.size() > 1) {
        return MakeError(std::to_string(fresh.size()) + " new files on the card for take " +
                             std::to_string(take) + ": which one is the frame is not certain",
                         "camera " + serial,
                         "check the camera is not fired by anything else; then run `twinrig "
                         "capture --retake-missing`");
      }
    }
    if (client.last_failure() == camera::FailureKind::kConnection || !listed.ok()) {
      return MakeError("the camera's link dropped: " + failure.what, "camera " + serial,
                       "check its network cable or USB link, then run `twinrig capture "
                       "--retake-missing`");
    }
    auto [what, todo] = NoFrameCause(client, take,
                                     "did not fire in take " + std::to_string(take) +
                                         ": no new image on its card (" + failure.what + ")",
                                     /*fallback_is_no_fire=*/true);
    if (failure.todo.find("busy") != std::string::npos) {
      what = "the camera was busy and did not fire in take " + std::to_string(take) + " (" +
             failure.what + ")";
      todo = "wait until it is idle, then run `twinrig capture --retake-missing`";
    }
    return MakeError(what, "camera " + serial, todo);
  }

  // Warns about a battery below the threshold (nothing else: a camera without a level is fine).
  void CheckBattery(const std::string& serial, camera::CameraClient& client) {
    auto percent = client.BatteryPercent();
    if (percent.ok() && *percent < options.low_battery_percent) {
      Warning(serial,
              "battery at " + std::to_string(*percent) + " % (below " +
                  std::to_string(options.low_battery_percent) + " %)",
              "change or charge the battery before the next take; the camera may stop mid-take");
    }
  }

  TakeReport RunTake(int take, const std::vector<std::string>& serials) {
    fired = downloaded = verified = 0;
    bytes = 0;
    problems.clear();
    warnings.clear();
    const auto start = std::chrono::steady_clock::now();

    std::latch connected(static_cast<std::ptrdiff_t>(serials.size()));
    std::promise<Status> trigger;
    std::shared_future<Status> triggered = trigger.get_future().share();
    std::vector<std::string> ready_serials(serials.size());

    std::vector<std::thread> threads;
    threads.reserve(serials.size());
    for (size_t i = 0; i < serials.size(); ++i) {
      threads.emplace_back([&, i] {
        const std::string& serial = serials[i];
        auto& client = Client(serial);
        auto id = client.Connect();
        if (!id.ok()) {
          (void)Record(
              {{"event", "failed"}, {"take", take}, {"camera", serial}, {"error", id.error().what}},
              /*sync=*/false);
          Problem(serial, id.error().what, id.error().todo);
          connected.count_down();
          return;
        }
        // What is on the card before the trigger, to recognise the new frame without events;
        // a file there the journal does not know is a stray.
        // What is on the card before the trigger, journalled before the camera may fire: the new
        // frame is told apart from every older file by this list, not by dates alone (a camera
        // clock tells seconds). A camera whose card cannot be read is not fired in this take.
        std::set<std::string> before;
        auto listed = client.ListFiles();
        Status card = listed.ok() ? OkStatus() : Status(listed.error());
        if (listed.ok()) {
          const std::set<std::string> known = KnownFiles(serial);
          for (const auto& f : *listed) {
            before.insert(FileKey(f));
            if (!known.contains(FileKey(f))) Stray(serial, f, client);
          }
          card = Record({{"event", "card"},
                         {"take", take},
                         {"camera", serial},
                         {"files", std::vector<std::string>(before.begin(), before.end())}});
        }
        if (!card.ok()) {
          const std::string what =
              "not fired: its card could not be read first (" + card.error().what + ")";
          (void)Record({{"event", "failed"}, {"take", take}, {"camera", serial}, {"error", what}},
                       /*sync=*/false);
          Problem(serial, what,
                  "check the camera's link, then run `twinrig capture --retake-missing`");
          connected.count_down();
          return;
        }
        CheckBattery(serial, client);
        const std::int64_t start_ms = TakeSnapshot(take).frames[serial].window_start_ms;
        ready_serials[i] = serial;
        connected.count_down();
        connected.wait();  // every camera fires together
        Result<camera::FileRef> file = MakeError("not fired");
        if (options.software_trigger) {
          file = client.Capture();
          // A link that broke since the last take: the camera is reopened and fired once more,
          // unless the card shows it did expose (its answer or event was lost).
          if (!file.ok() && client.last_failure() == camera::FailureKind::kConnection) {
            file = FindOnCard(take, serial, client, before, start_ms, file.error());
            if (!file.ok()) file = client.Capture();
          }
        } else {
          const Status& fire = triggered.get();
          if (!fire.ok()) {
            Problem(serial, fire.error().what, fire.error().todo);
            return;
          }
          file = WaitForFrame(client, before);
        }
        if (!file.ok()) file = FindOnCard(take, serial, client, before, start_ms, file.error());
        if (!file.ok()) {
          (void)Record({{"event", "failed"},
                        {"take", take},
                        {"camera", serial},
                        {"error", file.error().what}});
          Problem(serial, file.error().what, file.error().todo);
          return;
        }
        Status recorded = Record({{"event", "fired"},
                                  {"take", take},
                                  {"camera", serial},
                                  {"folder", file->folder},
                                  {"name", file->name}});
        if (!recorded.ok()) {
          Problem(serial, recorded.error().what, recorded.error().todo);
          return;
        }
        ++fired;
        Collect(take, serial, *file);
      });
    }
    if (!options.software_trigger) {
      connected.wait();
      std::vector<std::string> fire_list;
      for (const auto& s : ready_serials) {
        if (!s.empty()) fire_list.push_back(s);
      }
      trigger.set_value(options.hardware_fire(take, fire_list));
    }

    // Progress a few times a second; woken at once when the take ends (a sleeping reporter used to
    // add up to 200 ms to every take).
    std::mutex done_mutex;
    std::condition_variable done_signal;
    bool done = false;
    std::thread progress_thread;
    if (options.progress) {
      progress_thread = std::thread([&] {
        std::unique_lock lock(done_mutex);
        while (!done_signal.wait_for(lock, std::chrono::milliseconds(200), [&] { return done; })) {
          options.progress(Snapshot(take, serials.size(), start));
        }
      });
    }
    for (auto& t : threads) t.join();
    {
      std::lock_guard lock(done_mutex);
      done = true;
    }
    done_signal.notify_all();
    if (progress_thread.joinable()) progress_thread.join();
    if (options.progress) options.progress(Snapshot(take, serials.size(), start));

    TakeReport report;
    report.take = take;
    report.cameras = static_cast<int>(serials.size());
    report.fired = fired;
    report.verified = verified;
    report.megabytes = static_cast<double>(bytes) / 1e6;
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report.problems = problems;
    report.warnings = warnings;
    return report;
  }

  Progress Snapshot(int take, size_t cameras, std::chrono::steady_clock::time_point start) const {
    Progress p;
    p.take = take;
    p.cameras = static_cast<int>(cameras);
    p.fired = fired;
    p.downloaded = downloaded;
    p.verified = verified;
    p.megabytes = static_cast<double>(bytes) / 1e6;
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return p;
  }

  // Counts a take from the journal (after resume work).
  TakeReport Summarise(int take) const {
    const TakeState& t = journal.state().takes.at(take);
    TakeReport report;
    report.take = take;
    report.cameras = static_cast<int>(t.cameras.size());
    for (const auto& serial : t.cameras) {
      auto it = t.frames.find(serial);
      if (it == t.frames.end()) continue;
      if (it->second.fired()) ++report.fired;
      if (it->second.verified()) {
        ++report.verified;
        report.megabytes += static_cast<double>(it->second.size) / 1e6;
      } else if (it->second.accepted_missing) {
        ++report.accepted_missing;
      }
    }
    for (const auto& serial : t.Missing()) {
      auto it = t.frames.find(serial);
      const FrameState frame = it == t.frames.end() ? FrameState{} : it->second;
      std::string what = frame.last_error;
      std::string todo =
          "run `twinrig capture --retake-missing`, or close the take without it: "
          "`twinrig capture --accept-missing " +
          serial + " --reason TEXT`";
      if (frame.fired()) {
        what = "fired; its frame " + *frame.camera_name + " is still on the card, not verified" +
               (frame.last_error.empty() ? std::string() : " (" + frame.last_error + ")");
        todo = "run `twinrig capture --resume` to download it again";
      } else if (what.empty()) {
        what = "no frame yet";
      }
      report.missing.push_back({serial, what, todo});
    }
    return report;
  }

  Status CloseIfComplete(int take) {
    const TakeState& t = journal.state().takes.at(take);
    if (t.Missing().empty() && !t.closed) {
      TWINRIG_RETURN_IF_ERROR(Record({{"event", "take_closed"}, {"take", take}}));
    }
    return WriteManifest(session, journal.state());
  }

  // Every take of the session that is still incomplete, and the strays seen: what the caller must
  // be told whatever this call did.
  void Finish(CaptureReport& report) {
    report.worker_spawns = pool.Spawns() - spawns_before;
    report.camera_reopens = pool.Reopens() - reopens_before;
    {
      std::lock_guard lock(stop_mutex);
      report.stopped = stopped;
      report.stopped_todo = stopped_todo;
    }
    std::lock_guard lock(journal_mutex);
    for (const auto& [take, t] : journal.state().takes) {
      if (!t.Missing().empty()) report.incomplete.push_back(Summarise(take));
    }
    std::lock_guard problems_lock(problems_mutex);
    report.strays = strays;
  }

  // Resume's work for one camera of an open take. A frame journalled as fired is downloaded; one
  // that is not is looked for on the card, read afresh, among the files the camera dates inside
  // the take's window; a window still open (the station died a moment ago, the camera may still
  // be writing) is waited out before the camera counts as not fired.
  void ResumeCamera(int take, const std::string& serial, camera::CameraClient& client,
                    const FrameState& frame) {
    if (frame.verified()) {
      if (!frame.deleted_on_camera &&
          client.Delete({*frame.camera_folder, *frame.camera_name}).ok()) {
        (void)Record({{"event", "deleted"}, {"take", take}, {"camera", serial}});
      }
      return;
    }
    if (frame.accepted_missing) return;
    if (frame.fired()) {
      Collect(take, serial, {*frame.camera_folder, *frame.camera_name});
      return;
    }
    if (!frame.card_listed) {
      // Never fired in this take: a camera fires only after its card is journalled.
      auto [what, todo] = NoFrameCause(client, take, frame.last_error);
      if (frame.last_error.empty()) {
        what = "not fired in take " + std::to_string(take) + " (the station stopped before)";
      }
      Problem(serial, what, todo);
      return;
    }
    const std::int64_t to = Window(serial, frame.window_start_ms).second;
    std::string listing_error;
    // Bounded: the window is at most frame_wait + slack long; one fresh listing a second.
    for (int round = 0; round < 3600; ++round) {
      auto files = client.ListFilesFresh();
      if (!files.ok()) {
        listing_error = files.error().what;
        break;
      }
      const std::set<std::string> known = KnownFiles(serial);
      std::vector<camera::FileRef> candidates;
      for (const auto& f : *files) {
        if (!known.contains(FileKey(f)) && !frame.card_before.contains(FileKey(f)) &&
            InWindow(serial, f, frame.window_start_ms)) {
          candidates.push_back(f);
        }
      }
      if (candidates.size() == 1) {
        Status recorded = Record({{"event", "fired"},
                                  {"take", take},
                                  {"camera", serial},
                                  {"folder", candidates[0].folder},
                                  {"name", candidates[0].name}});
        if (!recorded.ok()) {
          Problem(serial, recorded.error().what, recorded.error().todo);
          return;
        }
        Collect(take, serial, candidates[0]);
        return;
      }
      if (candidates.size() > 1) {
        Problem(serial,
                std::to_string(candidates.size()) + " files on the card were taken in take " +
                    std::to_string(take) + "'s window: which one is the frame is not certain",
                "check nothing else fires the camera; then run `twinrig capture --retake-missing`");
        return;
      }
      // A recorded failure means the station saw the take through: nothing is still being
      // written. Without one the station died mid-take, and the camera may still be writing.
      if (!frame.last_error.empty() || NowMs() / 1000 > to) break;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (!listing_error.empty()) {
      Problem(serial, "could not read the card: " + listing_error,
              "check the camera's link, then run `twinrig capture --resume` again");
      return;
    }
    auto [what, todo] = NoFrameCause(client, take, frame.last_error);
    (void)Record({{"event", "failed"}, {"take", take}, {"camera", serial}, {"error", what}});
    Problem(serial, what, todo);
  }

  // Lists every camera's card once more and reports what no take of this session knows.
  void ReportStrays(const std::vector<std::string>& serials) {
    pool.ForEach(serials, [&](const std::string& serial, camera::CameraClient& client) {
      auto files = client.ListFiles();
      if (!files.ok()) return;
      const std::set<std::string> known = KnownFiles(serial);
      for (const auto& f : *files) {
        if (!known.contains(FileKey(f))) Stray(serial, f, client);
      }
    });
  }

  // Resume() on this Impl: every open take, then the strays.
  Status ResumeOpenTakes(CaptureReport& report) {
    const JournalState snapshot = journal.state();
    for (const auto& [take, state] : snapshot.takes) {
      if (state.closed || state.Missing().empty()) {
        if (!state.closed) TWINRIG_RETURN_IF_ERROR(CloseIfComplete(take));
        continue;
      }
      if (disk_full) break;
      problems.clear();
      pool.ForEach(state.cameras, [&, take = take, &state = state](const std::string& serial,
                                                                   camera::CameraClient& client) {
        const FrameState frame =
            state.frames.count(serial) ? state.frames.at(serial) : FrameState{};
        ResumeCamera(take, serial, client, frame);
      });
      Status closed = CloseIfComplete(take);
      if (!closed.ok() && !disk_full) return closed;
      TakeReport r = Summarise(take);
      r.problems = problems;
      report.takes.push_back(std::move(r));
    }
    std::vector<std::string> serials;
    for (const auto& c : session.cameras) serials.push_back(c.serial);
    if (!disk_full) ReportStrays(serials);
    return OkStatus();
  }
};

namespace {

std::vector<camera::PoolCamera> PoolCameras(const SessionInfo& session) {
  std::vector<camera::PoolCamera> cameras;
  cameras.reserve(session.cameras.size());
  for (const auto& c : session.cameras) cameras.push_back({c.serial, c.address});
  return cameras;
}

Status CheckOptions(const CaptureOptions& options) {
  auto problems = options.Validate();
  if (problems.empty()) return OkStatus();
  std::string text;
  for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
  return MakeError("cannot capture: " + text, "capture options", "correct the options");
}

}  // namespace

CaptureRunner::CaptureRunner(SessionInfo session, CaptureOptions options)
    : session_(std::move(session)), options_(std::move(options)) {
  pool_ = std::make_unique<camera::CameraPool>(
      PoolCameras(session_), options_.worker,
      options_.worker.log_file.empty() ? session_.folder / "logs" : std::filesystem::path());
}

CaptureRunner::~CaptureRunner() = default;

std::vector<std::string> CaptureRunner::LocateMovedCameras() {
  std::vector<std::string> moved;
  const auto failed = pool_->ConnectAll();
  if (failed.empty()) return moved;
  // Some camera did not answer as itself at its port: ask every port who is there, by serial.
  // Only the ports of those cameras (a moved camera cannot be at the port of one that answered)
  // and the USB bus; their workers stop first, as a port is opened by one process at a time.
  std::vector<camera::ExpectedCamera> expected;
  for (const auto& c : pool_->cameras()) {
    if (!failed.contains(c.serial)) continue;
    expected.push_back({c.serial, c.port});
    pool_->StopWorker(c.serial);
  }
  camera::DiscoveryOptions discovery_options;
  discovery_options.usb = options_.locate_usb;
  discovery_options.worker = options_.worker;
  const camera::Discovery found = camera::DiscoverCameras(expected, discovery_options);
  for (const auto& camera : found.cameras) {
    if (camera.place != camera::CameraPlace::kMoved) continue;
    Log()
        .With("camera", camera.serial)
        .Warn("found at {} instead of {}: used there", camera.port, camera.rig_port);
    moved.push_back(camera.serial + ": " + camera.rig_port + " -> " + camera.port);
    pool_->Relocate(camera.serial, camera.port);
  }
  return moved;
}

std::vector<CameraProblem> CaptureRunner::Connect() {
  std::vector<CameraProblem> problems;
  for (const auto& [serial, error] : pool_->ConnectAll()) {
    problems.push_back({serial, error.what, error.todo});
  }
  return problems;
}

Result<CaptureReport> CaptureRunner::Capture() {
  TWINRIG_RETURN_IF_ERROR(CheckOptions(options_));
  auto journal = Journal::Open(session_.folder / "journal.jsonl");
  if (!journal.ok()) return journal.error();
  Impl impl(session_, options_, std::move(journal).value(), *pool_);
  for (const auto& [take, state] : JournalState(impl.journal.state()).takes) {
    if (!state.closed && state.Missing().empty()) {
      TWINRIG_RETURN_IF_ERROR(impl.CloseIfComplete(take));  // settled before the station stopped
      continue;
    }
    if (!state.closed) {
      return MakeError("take " + std::to_string(take) + " of this session is not finished",
                       session_.id,
                       "finish it with `twinrig capture --resume` or `--retake-missing`, or close "
                       "it with `--accept-missing SERIAL... --reason TEXT` first");
    }
  }
  std::vector<std::string> serials;
  for (const auto& c : session_.cameras) serials.push_back(c.serial);
  CaptureReport report;
  report.moved = LocateMovedCameras();
  const int first = impl.journal.state().LastTake() + 1;
  for (int take = first; take < first + options_.takes && !impl.disk_full; ++take) {
    if (options_.before_take) TWINRIG_RETURN_IF_ERROR(options_.before_take(take));
    Status started = impl.Record({{"event", "take_started"}, {"take", take}, {"cameras", serials}});
    if (!started.ok()) {
      if (impl.disk_full) break;  // nothing fired: the report says why the capture stopped
      return started.error();
    }
    TakeReport r = impl.RunTake(take, serials);
    Status closed = impl.CloseIfComplete(take);
    report.takes.push_back(std::move(r));
    if (!closed.ok() && !impl.disk_full) return closed.error();
  }
  impl.Finish(report);
  return report;
}

Result<CaptureReport> CaptureRunner::Resume() {
  camera::WorkerOptions worker = options_.worker;
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(worker, "camera worker options"));
  auto journal = Journal::Open(session_.folder / "journal.jsonl");
  if (!journal.ok()) return journal.error();
  Impl impl(session_, options_, std::move(journal).value(), *pool_);
  CaptureReport report;
  report.moved = LocateMovedCameras();
  TWINRIG_RETURN_IF_ERROR(impl.ResumeOpenTakes(report));
  impl.Finish(report);
  return report;
}

Result<CaptureReport> CaptureRunner::RetakeMissing() {
  TWINRIG_RETURN_IF_ERROR(CheckOptions(options_));
  auto journal = Journal::Open(session_.folder / "journal.jsonl");
  if (!journal.ok()) return journal.error();
  Impl impl(session_, options_, std::move(journal).value(), *pool_);
  if (impl.journal.state().takes.empty())
    return MakeError("this session has no take yet", session_.id, "run `twinrig capture`");
  CaptureReport report;
  report.moved = LocateMovedCameras();
  // What is on the cards first: a camera that did expose (its event lost, the station killed
  // while it wrote) is downloaded, not fired a second time into the same take.
  CaptureReport resumed;
  TWINRIG_RETURN_IF_ERROR(impl.ResumeOpenTakes(resumed));
  const JournalState snapshot = impl.journal.state();
  for (const auto& [take, state] : snapshot.takes) {
    if (impl.disk_full) break;
    std::vector<std::string> missing = state.Missing();
    if (missing.empty()) continue;
    if (options_.before_take) TWINRIG_RETURN_IF_ERROR(options_.before_take(take));
    for (const auto& serial : missing) {
      TWINRIG_RETURN_IF_ERROR(
          impl.Record({{"event", "retake"}, {"take", take}, {"camera", serial}}));
    }
    TakeReport partial = impl.RunTake(take, missing);
    Status closed = impl.CloseIfComplete(take);
    if (!closed.ok() && !impl.disk_full) return closed.error();
    TakeReport r = impl.Summarise(take);
    r.problems = partial.problems;
    r.warnings = partial.warnings;
    r.seconds = partial.seconds;
    report.takes.push_back(std::move(r));
  }
  if (report.takes.empty() && !snapshot.takes.empty()) {
    report.takes.push_back(impl.Summarise(snapshot.LastTake()));
  }
  impl.Finish(report);
  return report;
}

Result<CaptureReport> CaptureRunner::AcceptMissing(const std::vector<std::string>& serials,
                                                   const std::string& reason) {
  if (serials.empty()) {
    return MakeError(
        "no camera named to accept as missing", session_.id,
        "name the serials: `twinrig capture --accept-missing SERIAL... --reason TEXT`");
  }
  if (reason.find_first_not_of(" \t\n") == std::string::npos) {
    return MakeError("accepting missing frames needs a reason", session_.id,
                     "say why with --reason TEXT (it is signed into the capture seal)");
  }
  auto journal = Journal::Open(session_.folder / "journal.jsonl");
  if (!journal.ok()) return journal.error();
  Impl impl(session_, options_, std::move(journal).value(), *pool_);
  const JournalState snapshot = impl.journal.state();
  std::set<std::string> unknown(serials.begin(), serials.end());
  CaptureReport report;
  for (const auto& [take, state] : snapshot.takes) {
    const std::vector<std::string> missing = state.Missing();
    bool touched = false;
    for (const auto& serial : serials) {
      if (std::find(missing.begin(), missing.end(), serial) == missing.end()) continue;
      unknown.erase(serial);
      TWINRIG_RETURN_IF_ERROR(impl.Record(
          {{"event", "accepted_missing"}, {"take", take}, {"camera", serial}, {"reason", reason}}));
      touched = true;
    }
    if (!touched) continue;
    TWINRIG_RETURN_IF_ERROR(impl.CloseIfComplete(take));
    report.takes.push_back(impl.Summarise(take));
  }
  if (!unknown.empty()) {
    std::string names;
    for (const auto& s : unknown) names += (names.empty() ? "" : ", ") + s;
    return MakeError("no incomplete take misses camera " + names, session_.id,
                     "name only cameras listed as missing (`twinrig capture --resume` lists them)");
  }
  impl.Finish(report);
  return report;
}

}  // namespace twinrig::session
