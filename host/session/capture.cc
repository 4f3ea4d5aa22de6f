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

#include "host/camera/discovery.h"
#include "util/jpeg.h"
#include "util/logging.h"
#include "util/options.h"

namespace twinrig::session {

using nlohmann::json;

bool CaptureReport::complete() const {
  if (!stopped.empty()) return false;
  for (const auto& t : takes) {
    if (!t.complete()) return false;
  }
  return true;
}

std::vector<std::string> CaptureOptions::Validate() const {
  std::vector<std::string> problems = worker.Validate();
  if (takes < 1) problems.push_back("takes must be at least 1");
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
  return out.str();
}

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

  void Finish(CaptureReport& report) {
    report.worker_spawns = pool.Spawns() - spawns_before;
    report.camera_reopens = pool.Reopens() - reopens_before;
    std::lock_guard lock(stop_mutex);
    report.stopped = stopped;
    report.stopped_todo = stopped_todo;
  }

  void Problem(const std::string& serial, const std::string& what, const std::string& todo) {
    Log().With("camera", serial).Warn("{} ({})", what, todo);
    std::lock_guard lock(problems_mutex);
    problems.push_back({serial, what, todo});
  }

  // Downloads a fired frame, verifies it on disk, journals it, deletes it on the camera.
  void Collect(int take, const std::string& serial, const camera::FileRef& file) {
    auto& client = Client(serial);
    const std::string relative = FramePath(serial, take);
    const auto destination = session.folder / relative;
    std::error_code ec;
    std::filesystem::create_directories(destination.parent_path(), ec);
    std::string last_error;
    auto delay = options.retry_delay;
    for (int attempt = 1; attempt <= options.download_attempts; ++attempt) {
      if (disk_full) {
        Problem(
            serial, "not downloaded: the capture stopped because the disk is full",
            "free space, then run `twinrig capture --resume` (the frame is still on the camera)");
        return;
      }
      download_slots.acquire();
      auto got = client.Download(file, destination);
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
      Status check = CheckJpegFile(destination);
      if (!check.ok()) {
        last_error = "the transfer was corrupt (" + check.error().what + ")";
        std::filesystem::remove(destination, ec);
        --downloaded;
        continue;
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
    Problem(
        serial,
        "no verified copy after " + std::to_string(options.download_attempts) +
            " attempts: " + last_error,
        "the frame is still on the camera: check the camera, then run `twinrig capture --resume`");
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
            if (!before.contains(f.folder + "/" + f.name)) return f;
          }
        }
      }
    }
    return MakeError("no new image within " + std::to_string(options.frame_wait.count() / 1000) +
                         " s of the trigger: the camera did not fire" +
                         (last_error.empty() ? std::string() : " (" + last_error + ")"),
                     client.port(),
                     "check its remote cable and that it is not in a menu; then run "
                     "`twinrig capture --retake-missing`");
  }

  TakeReport RunTake(int take, const std::vector<std::string>& serials) {
    fired = downloaded = verified = 0;
    bytes = 0;
    problems.clear();
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
          Problem(serial, id.error().what, id.error().todo);
          connected.count_down();
          return;
        }
        // What is on the card before the trigger, to recognise the new frame without events.
        std::set<std::string> before;
        if (!options.software_trigger) {
          auto listed = client.ListFiles();
          if (listed.ok()) {
            for (const auto& f : *listed) before.insert(f.folder + "/" + f.name);
          }
        }
        ready_serials[i] = serial;
        connected.count_down();
        connected.wait();  // every camera fires together
        Result<camera::FileRef> file = MakeError("not fired");
        if (options.software_trigger) {
          file = client.Capture();
          // A link that broke since the last take: the camera is reopened and fired once more (it
          // did not expose: the request never reached it or its answer was lost before the event).
          if (!file.ok() && client.last_failure() == camera::FailureKind::kConnection) {
            file = client.Capture();
          }
        } else {
          const Status& fire = triggered.get();
          if (!fire.ok()) {
            Problem(serial, fire.error().what, fire.error().todo);
            return;
          }
          file = WaitForFrame(client, before);
        }
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
      }
    }
    return report;
  }

  Status CloseIfComplete(int take) {
    TakeReport r = Summarise(take);
    if (r.complete() && !journal.state().takes.at(take).closed) {
      TWINRIG_RETURN_IF_ERROR(Record({{"event", "take_closed"}, {"take", take}}));
    }
    return WriteManifest(session, journal.state());
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
  for (const auto& [take, state] : impl.journal.state().takes) {
    if (!state.closed) {
      return MakeError("take " + std::to_string(take) + " of this session is not finished",
                       session_.id,
                       "finish it with `twinrig capture --resume` (and --retake-missing) first");
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
  const JournalState snapshot = impl.journal.state();
  for (const auto& [take, state] : snapshot.takes) {
    if (state.closed) continue;
    if (impl.disk_full) break;
    impl.problems.clear();
    // Every camera of the take at once; each camera's frames are its own.
    pool_->ForEach(state.cameras, [&, take = take, &state = state](const std::string& serial,
                                                                   camera::CameraClient& client) {
      const FrameState frame = state.frames.count(serial) ? state.frames.at(serial) : FrameState{};
      if (frame.verified()) {
        if (!frame.deleted_on_camera &&
            client.Delete({*frame.camera_folder, *frame.camera_name}).ok()) {
          (void)impl.Record({{"event", "deleted"}, {"take", take}, {"camera", serial}});
        }
        return;
      }
      if (frame.fired()) {
        impl.Collect(take, serial, {*frame.camera_folder, *frame.camera_name});
        return;
      }
      // Not journalled as fired: the station may have died between the shot and the journal.
      // A single file on the card that no journal entry knows is that frame.
      auto files = client.ListFiles();
      if (!files.ok()) {
        impl.Problem(serial, files.error().what, files.error().todo);
        return;
      }
      std::set<std::string> known;
      {
        std::lock_guard lock(impl.journal_mutex);
        for (const auto& [other_take, other] : impl.journal.state().takes) {
          auto it = other.frames.find(serial);
          if (it != other.frames.end() && it->second.fired()) known.insert(*it->second.camera_name);
        }
      }
      std::vector<camera::FileRef> unknown;
      for (const auto& f : *files) {
        if (!known.contains(f.name)) unknown.push_back(f);
      }
      if (unknown.size() == 1) {
        Status recorded = impl.Record({{"event", "fired"},
                                       {"take", take},
                                       {"camera", serial},
                                       {"folder", unknown[0].folder},
                                       {"name", unknown[0].name}});
        if (!recorded.ok()) {
          impl.Problem(serial, recorded.error().what, recorded.error().todo);
          return;
        }
        impl.Collect(take, serial, unknown[0]);
      } else {
        impl.Problem(serial, "did not fire in take " + std::to_string(take),
                     "check the camera, then run `twinrig capture --retake-missing`");
      }
    });
    Status closed = impl.CloseIfComplete(take);
    if (!closed.ok() && !impl.disk_full) return closed.error();
    TakeReport r = impl.Summarise(take);
    r.problems = impl.problems;
    report.takes.push_back(std::move(r));
  }
  impl.Finish(report);
  return report;
}

Result<CaptureReport> CaptureRunner::RetakeMissing() {
  TWINRIG_RETURN_IF_ERROR(CheckOptions(options_));
  auto journal = Journal::Open(session_.folder / "journal.jsonl");
  if (!journal.ok()) return journal.error();
  Impl impl(session_, options_, std::move(journal).value(), *pool_);
  const int take = impl.journal.state().LastTake();
  if (take == 0)
    return MakeError("this session has no take yet", session_.id, "run `twinrig capture`");
  const TakeState state = impl.journal.state().takes.at(take);
  std::vector<std::string> missing;
  for (const auto& serial : state.cameras) {
    auto it = state.frames.find(serial);
    if (it == state.frames.end() || !it->second.verified()) missing.push_back(serial);
  }
  CaptureReport report;
  if (missing.empty()) {
    report.takes.push_back(impl.Summarise(take));
    impl.Finish(report);
    return report;
  }
  report.moved = LocateMovedCameras();
  if (options_.before_take) TWINRIG_RETURN_IF_ERROR(options_.before_take(take));
  for (const auto& serial : missing) {
    TWINRIG_RETURN_IF_ERROR(impl.Record({{"event", "retake"}, {"take", take}, {"camera", serial}}));
  }
  TakeReport partial = impl.RunTake(take, missing);
  Status closed = impl.CloseIfComplete(take);
  if (!closed.ok() && !impl.disk_full) return closed.error();
  TakeReport r = impl.Summarise(take);
  r.problems = partial.problems;
  r.seconds = partial.seconds;
  report.takes.push_back(std::move(r));
  impl.Finish(report);
  return report;
}

}  // namespace twinrig::session
