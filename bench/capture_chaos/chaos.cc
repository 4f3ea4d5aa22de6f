#include "bench/capture_chaos/chaos.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "host/camera/camera_worker.h"
#include "host/session/capture.h"
#include "host/session/journal.h"
#include "host/session/session.h"
#include "sim/camera/camera_farm.h"
#include "sim/layout/layout.h"
#include "store/catalog.h"
#include "util/files.h"
#include "util/logging.h"
#include "util/options.h"

namespace twinrig::chaos {

namespace {

using sim::camera::Fault;
using Clock = std::chrono::steady_clock;

std::int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// The faults of the outside campaign, by number.
constexpr int kFaultKinds = 8;
Fault MakeFault(int kind) {
  switch (kind) {
    case 0:
      return Fault{.drop_connection = true};
    case 1:
      return Fault{.no_events = true};
    case 2:
      return Fault{.busy_on_capture = true};
    case 3:
      return Fault{.transfer_bytes_per_s = std::uint64_t{192} * 1024};
    case 4:
      return Fault{.corrupt_transfer = true};
    case 5:
      return Fault{.card_full = true};
    case 6:
      return Fault{.battery_level = 3};
    default:
      return Fault{.refuse_session = true};
  }
}

// Switches random faults on random cameras on and off until stopped.
class FaultInjector {
 public:
  FaultInjector(sim::camera::CameraFarm& farm, const ChaosOptions& options)
      : farm_(farm), options_(options), random_(options.seed) {
    thread_ = std::thread([this] { Run(); });
  }
  ~FaultInjector() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (std::size_t i = 0; i < farm_.size(); ++i) (void)farm_.SetFault(i, Fault{});
  }
  [[nodiscard]] int injected() const { return injected_; }

 private:
  void Run() {
    std::vector<Clock::time_point> clear_at(farm_.size(), Clock::time_point::min());
    auto next = Clock::now();
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const auto now = Clock::now();
      for (std::size_t i = 0; i < clear_at.size(); ++i) {
        if (clear_at[i] != Clock::time_point::min() && now >= clear_at[i]) {
          (void)farm_.SetFault(i, Fault{});
          clear_at[i] = Clock::time_point::min();
        }
      }
      if (now < next) continue;
      const std::size_t camera = random_() % farm_.size();
      if (clear_at[camera] == Clock::time_point::min()) {
        (void)farm_.SetFault(camera, MakeFault(static_cast<int>(random_() % kFaultKinds)));
        clear_at[camera] = now + Between(options_.fault_length_min, options_.fault_length_max);
        ++injected_;
      }
      next = now + Between(options_.fault_gap_min, options_.fault_gap_max);
    }
  }
  std::chrono::milliseconds Between(std::chrono::milliseconds a, std::chrono::milliseconds b) {
    return a +
           std::chrono::milliseconds(random_() % (b - a + std::chrono::milliseconds(1)).count());
  }
  sim::camera::CameraFarm& farm_;
  const ChaosOptions& options_;
  std::mt19937 random_;
  std::atomic<bool> stop_{false};
  std::atomic<int> injected_{0};
  std::thread thread_;
};

struct SessionRun {
  session::SessionInfo info;
  std::int64_t begin_ns = 0;
  std::int64_t end_ns = 0;
  bool abandoned = false;
  bool said_done = false;
  session::CaptureReport final_report;
};

session::CaptureOptions StationOptions(const ChaosOptions& options,
                                       const std::filesystem::path& home) {
  session::CaptureOptions capture;
  capture.software_trigger = true;
  capture.worker.home = home;
  capture.worker.worker_binary = options.worker_binary;
  capture.worker.connect_deadline = std::chrono::seconds(5);
  capture.worker.call_deadline = std::chrono::seconds(5);
  capture.worker.capture_deadline = std::chrono::seconds(3);
  capture.worker.download_deadline = std::chrono::seconds(6);
  capture.frame_wait = std::chrono::seconds(2);
  capture.download_attempts = 3;
  capture.retry_delay = std::chrono::milliseconds(150);
  return capture;
}

// A technician's finishing rounds (`capture --finish N`) and the final word (`capture --resume`).
void Finish(session::CaptureRunner& runner, int rounds, ChaosResult& result, SessionRun& run) {
  for (int round = 0; round < rounds; ++round) {
    auto resumed = runner.Resume();
    if (!resumed.ok()) {
      ++result.errors;
      result.findings.push_back(run.info.id + ": resume failed: " + resumed.error().what);
      continue;
    }
    if (resumed->complete()) break;
    auto retaken = runner.RetakeMissing();
    if (!retaken.ok()) {
      ++result.errors;
      result.findings.push_back(run.info.id + ": retake failed: " + retaken.error().what);
    }
  }
  auto last = runner.Resume();
  if (last.ok()) {
    run.final_report = *last;
    run.said_done = last->complete();
  } else {
    ++result.errors;
  }
}

// A studio with a rig file for the farm's cameras.
Status WriteChaosRig(const std::filesystem::path& studio, const sim::camera::CameraFarm& farm,
                     const ChaosOptions& options) {
  sim::layout::Rig rig;
  rig.name = "chaos";
  rig.nodes.push_back({1, "127.0.2.1", 15800, std::max(8, options.cameras)});
  for (int k = 0; k < options.cameras; ++k) {
    sim::layout::CameraSpec spec;
    spec.serial = farm.config(k).serial;
    spec.model = farm.config(k).model;
    spec.address = farm.config(k).address;
    spec.node_id = 1;
    spec.node_port = k;
    spec.position = {std::cos(k * 1.0), 0.0, std::sin(k * 1.0)};
    rig.cameras.push_back(spec);
  }
  std::error_code ec;
  std::filesystem::create_directories(studio / "rigs" / "chaos", ec);
  return sim::layout::WriteRigFile(studio / "rigs" / "chaos" / "rig.toml", rig);
}

// The station's side of the run: sessions captured under injected faults, some stations killed
// mid-capture (then restarted, or the session abandoned), now and then a stray shot.
class SessionDriver {
 public:
  SessionDriver(const ChaosOptions& options, sim::camera::CameraFarm& farm, store::Catalog& catalog,
                session::CaptureOptions base, std::mt19937& random, ChaosResult& result)
      : options_(options),
        farm_(farm),
        catalog_(catalog),
        base_(std::move(base)),
        random_(random),
        result_(result) {}

  // Session i of the run.
  Result<SessionRun> Run(int i) {
    // Now and then someone fires a camera outside any session.
    if (random_() % 4 == 0) {
      camera::CameraClient client(farm_.GphotoPort(random_() % farm_.size()), base_.worker);
      if (client.Capture().ok()) ++result_.stray_shots;
    }
    TWINRIG_ASSIGN_OR_RETURN(
        const session::SessionInfo info,
        session::CreateSession(catalog_, session::SessionKind::kCalibration, "", "chaos"));
    SessionRun run;
    run.info = info;
    run.begin_ns = MonotonicNs();
    session::CaptureOptions capture = base_;
    capture.takes = options_.takes_per_session;
    const bool kill = options_.kill_every > 0 && i % options_.kill_every == options_.kill_every - 1;
    if (kill) TWINRIG_RETURN_IF_ERROR(KillStationMidCapture(capture, run));
    if (run.abandoned) {
      ++result_.abandoned;
    } else if (kill) {
      Restart(capture, run);
    } else {
      session::CaptureRunner runner(run.info, capture);
      auto report = runner.Capture();
      if (!report.ok()) {
        ++result_.errors;
        result_.findings.push_back(run.info.id + ": capture failed: " + report.error().what);
      } else {
        NoteStrays(*report);
      }
      Finish(runner, options_.finish_rounds, result_, run);
      NoteStrays(run.final_report);
    }
    run.end_ns = MonotonicNs();
    return run;
  }

  [[nodiscard]] int strays_reported() const { return static_cast<int>(strays_seen_.size()); }

 private:
  void NoteStrays(const session::CaptureReport& report) {
    for (const auto& s : report.strays) strays_seen_.insert(s.serial + ":" + s.file);
  }

  // A station process killed a moment into its capture; every other killed session is
  // abandoned: its frames stay on the cards.
  Status KillStationMidCapture(const session::CaptureOptions& capture, SessionRun& run) {
    const pid_t station = ::fork();
    if (station < 0) return MakeError("could not fork the station", "chaos");
    if (station == 0) {
      session::CaptureRunner runner(run.info, capture);
      (void)runner.Capture();
      std::_Exit(0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(600 + random_() % 2500));
    ::kill(station, SIGKILL);
    while (::waitpid(station, nullptr, 0) < 0 && errno == EINTR) {
    }
    ++result_.kills;
    run.abandoned = result_.kills % 2 == 0;
    return {};
  }

  // The technician restarts the station: finish what is open, then the remaining takes.
  void Restart(session::CaptureOptions capture, SessionRun& run) {
    session::CaptureRunner runner(run.info, capture);
    Finish(runner, options_.finish_rounds, result_, run);
    NoteStrays(run.final_report);
    auto journal = session::Journal::Open(run.info.folder / "journal.jsonl");
    const int done = journal.ok() ? journal->state().LastTake() : 0;
    if (done < options_.takes_per_session && run.said_done) {
      capture.takes = options_.takes_per_session - done;
      session::CaptureRunner rest(run.info, capture);
      auto report = rest.Capture();
      if (report.ok()) NoteStrays(*report);
      Finish(rest, options_.finish_rounds, result_, run);
    }
    NoteStrays(run.final_report);
  }

  const ChaosOptions& options_;
  sim::camera::CameraFarm& farm_;
  store::Catalog& catalog_;
  const session::CaptureOptions base_;
  std::mt19937& random_;
  ChaosResult& result_;
  std::set<std::string> strays_seen_;
};

// The check against the truth: every frame the sessions verified is matched to the exposure that
// made it (by SHA-256), and every frame they lack to what they reported.
class TruthCheck {
 public:
  TruthCheck(const std::vector<SessionRun>& runs,
             const std::vector<sim::camera::ExposureRecord>& truth,
             std::int64_t wall_minus_monotonic_ms, ChaosResult& result)
      : runs_(runs),
        truth_(truth),
        wall_minus_monotonic_ms_(wall_minus_monotonic_ms),
        result_(result) {
    for (const auto& r : truth) {
      if (r.stored) by_sha_[r.sha256] = &r;
    }
  }

  Status Check() {
    for (std::size_t k = 0; k < runs_.size(); ++k) {
      if (runs_[k].abandoned) continue;
      TWINRIG_RETURN_IF_ERROR(CheckRun(k));
    }
    return {};
  }

 private:
  // The session whose capture spanned the exposure, or -1 for a shot outside any session.
  [[nodiscard]] int Owner(const sim::camera::ExposureRecord& r) const {
    for (std::size_t k = 0; k < runs_.size(); ++k) {
      if (r.true_time_ns >= runs_[k].begin_ns && r.true_time_ns <= runs_[k].end_ns) {
        return static_cast<int>(k);
      }
    }
    return -1;
  }

  // Did `serial` expose after the station last fired it for `take`, before its next firing?
  [[nodiscard]] bool ExposedFor(const SessionRun& run, const session::JournalState& state, int take,
                                const std::string& serial) const {
    const auto& frames = state.takes.at(take).frames;
    const auto it = frames.find(serial);
    if (it == frames.end() || !it->second.card_listed) return false;  // never fired
    const std::int64_t from = it->second.window_start_ms;
    std::int64_t to = run.end_ns / 1000000 + wall_minus_monotonic_ms_;
    for (const auto& [other_take, t] : state.takes) {
      const auto other = t.frames.find(serial);
      if (other_take != take && other != t.frames.end() && other->second.window_start_ms > from) {
        to = std::min(to, other->second.window_start_ms);
      }
    }
    for (const auto& r : truth_) {
      const std::int64_t wall = r.true_time_ns / 1000000 + wall_minus_monotonic_ms_;
      if (r.serial == serial && r.stored && wall >= from && wall < to) return true;
    }
    return false;
  }

  Status CheckRun(std::size_t k) {
    const SessionRun& run = runs_[k];
    TWINRIG_ASSIGN_OR_RETURN(const auto journal,
                             session::Journal::Open(run.info.folder / "journal.jsonl"));
    bool defect = false;
    std::map<std::string, std::string> reported_missing;  // "take:serial" -> the cause given
    for (const auto& t : run.final_report.incomplete) {
      for (const auto& m : t.missing) {
        if (!m.what.empty()) reported_missing[std::to_string(t.take) + ":" + m.serial] = m.what;
      }
    }
    for (const auto& [take, state] : journal.state().takes) {
      ++result_.takes;
      for (const auto& serial : state.cameras) {
        ++result_.frames_expected;
        const auto it = state.frames.find(serial);
        const std::string where = run.info.id + " take " + std::to_string(take) + " " + serial;
        if (it == state.frames.end() || !it->second.verified()) {
          ++result_.lost;
          defect = true;
          const auto reported = reported_missing.find(std::to_string(take) + ":" + serial);
          if (reported == reported_missing.end()) {
            ++result_.lost_unreported;
            result_.findings.push_back(where + ": missing and not reported");
          } else if (ExposedFor(run, journal.state(), take, serial)) {
            ++result_.lost_exposed;
            result_.findings.push_back(where +
                                       ": exposed, not delivered, reported: " + reported->second);
          }
          continue;
        }
        if (!CheckVerifiedFrame(k, where, serial, run.info.folder / *it->second.path)) {
          defect = true;
        }
      }
    }
    if (run.said_done && defect) {
      ++result_.false_done;
      result_.findings.push_back(run.info.id + ": reported complete but is not");
    }
    return {};
  }

  // A verified frame must be an exposure of that camera during session k, verified once.
  bool CheckVerifiedFrame(std::size_t k, const std::string& where, const std::string& serial,
                          const std::filesystem::path& file) {
    const SessionRun& run = runs_[k];
    auto sha = Sha256File(file);
    const auto found = sha.ok() ? by_sha_.find(*sha) : by_sha_.end();
    if (found == by_sha_.end()) {
      ++result_.corrupt_accepted;
      result_.findings.push_back(where + ": verified bytes are no exposure's");
      return false;
    }
    if (found->second->serial != serial || Owner(*found->second) != static_cast<int>(k)) {
      ++result_.foreign_adopted;
      const int from = Owner(*found->second);
      std::ostringstream why;
      why << where << ": verified frame is " << found->second->serial << "'s exposure "
          << found->second->sequence << " of "
          << (from < 0 ? std::string("no session") : runs_[from].info.id) << ", "
          << (found->second->true_time_ns - run.begin_ns) / 1000000
          << " ms after this session began";
      result_.findings.push_back(why.str());
      return false;
    }
    if (!verified_shas_.insert(*sha).second) {
      ++result_.duplicated;
      result_.findings.push_back(where + ": the same exposure verified twice");
      return false;
    }
    ++result_.frames_verified;
    return true;
  }

  const std::vector<SessionRun>& runs_;
  const std::vector<sim::camera::ExposureRecord>& truth_;
  const std::int64_t wall_minus_monotonic_ms_;
  ChaosResult& result_;
  std::map<std::string, const sim::camera::ExposureRecord*> by_sha_;
  std::set<std::string> verified_shas_;
};

}  // namespace

std::vector<std::string> ChaosOptions::Validate() const {
  std::vector<std::string> problems;
  if (sessions < 1) problems.push_back("sessions must be at least 1");
  if (takes_per_session < 1) problems.push_back("takes_per_session must be at least 1");
  if (cameras < 1) problems.push_back("cameras must be at least 1");
  if (kill_every < 0) problems.push_back("kill_every must not be negative");
  if (fault_gap_max < fault_gap_min || fault_length_max < fault_length_min) {
    problems.push_back("fault gaps and lengths need min <= max");
  }
  if (work_dir.empty()) problems.push_back("work_dir is required");
  return problems;
}

std::string ChaosResult::ResultLine() const {
  std::ostringstream out;
  out << "RESULT capture-chaos takes=" << takes << " faults=" << faults
      << " frames_expected=" << frames_expected << " frames_verified=" << frames_verified
      << " lost=" << lost << " duplicated=" << duplicated
      << " corrupt_accepted=" << corrupt_accepted << " foreign_adopted=" << foreign_adopted
      << " false_done=" << false_done << " lost_exposed=" << lost_exposed
      << " lost_unreported=" << lost_unreported << " kills=" << kills << " abandoned=" << abandoned
      << " stray_shots=" << stray_shots << " strays_reported=" << strays_reported
      << " errors=" << errors << " seconds=" << seconds;
  return out.str();
}

Result<ChaosResult> RunChaos(const ChaosOptions& options) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "chaos options"));
  const auto started = Clock::now();
  // Journals date events by the wall clock, the truth log by CLOCK_MONOTONIC.
  const std::int64_t wall_minus_monotonic_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count() -
      MonotonicNs() / 1000000;
  std::mt19937 random(options.seed ^ 0x9e3779b9U);
  ChaosResult result;

  sim::camera::StudioAddressing addressing;
  addressing.base_address = options.base_address;
  addressing.synthetic_jpeg_bytes = options.image_bytes;
  TWINRIG_ASSIGN_OR_RETURN(const auto configs,
                           sim::camera::MakeCameraConfigs(options.cameras, addressing));
  sim::camera::CameraFarm farm(configs);
  std::mutex truth_mutex;
  std::vector<sim::camera::ExposureRecord> truth;
  farm.OnExposure([&](const sim::camera::ExposureRecord& r) {
    std::lock_guard lock(truth_mutex);
    truth.push_back(r);
  });
  TWINRIG_RETURN_IF_ERROR(farm.Start());

  const auto studio = options.work_dir / "studio";
  TWINRIG_RETURN_IF_ERROR(WriteChaosRig(studio, farm, options));
  TWINRIG_ASSIGN_OR_RETURN(auto catalog, store::Catalog::Open(studio));
  SessionDriver driver(options, farm, catalog, StationOptions(options, options.work_dir / "home"),
                       random, result);
  std::vector<SessionRun> runs;
  {
    FaultInjector faults(farm, options);
    for (int i = 0; i < options.sessions; ++i) {
      TWINRIG_ASSIGN_OR_RETURN(SessionRun run, driver.Run(i));
      runs.push_back(std::move(run));
    }
    faults.Stop();
    result.faults = faults.injected();
  }
  farm.Stop();  // every exposure's record is in

  TWINRIG_RETURN_IF_ERROR(TruthCheck(runs, truth, wall_minus_monotonic_ms, result).Check());
  result.strays_reported = driver.strays_reported();
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return result;
}

}  // namespace twinrig::chaos
