// Capture under the faults of the outside chaos campaign (issue: "capture you can trust"): a
// corrupted transfer is never accepted and the camera keeps its copy; a frame left on a card by
// another session is never adopted; a full card in take 1 of 2 leaves a run that says so and a
// session that can be finished; lost events, refused sessions, low batteries and slow links are
// named for what they are; a camera worker does not outlive its station.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "host/camera/camera_worker.h"
#include "host/session/capture.h"
#include "host/session/frame_check.h"
#include "host/session/journal.h"
#include "host/session/preflight.h"
#include "sim/camera/synthetic_jpeg.h"
#include "sim/wire/remote_port.h"
#include "tests/host/session/capture_fixture.h"
#include "util/files.h"

namespace twinrig::session {
namespace {

using sim::camera::Fault;
using testing_support::Fixture;

bool Mentions(const std::vector<CameraProblem>& problems, const std::string& serial,
              const std::string& words) {
  for (const auto& p : problems) {
    if (p.serial == serial && p.what.find(words) != std::string::npos) return true;
  }
  return false;
}

std::string Describe(const CaptureReport& report) {
  std::string text;
  for (const auto& t : report.takes) {
    text += DescribeTake(t) + "\n";
    for (const auto& p : t.problems) text += "  " + p.serial + ": " + p.what + "\n";
  }
  return text + DescribeIncomplete(report);
}

TEST_CASE("a frame is whole only with the declared size and every pixel decoding", "[unit]") {
  testing::TempDir dir;
  sim::camera::ExposureRequest request;
  request.serial = "TWR00001";
  request.sequence = 1;
  auto jpeg = sim::camera::SyntheticJpeg(request, std::size_t{64} * 1024);
  REQUIRE(jpeg.ok());
  const auto path = dir.path() / "frame.jpg";
  REQUIRE(WriteFileAtomic(path, std::string(jpeg->begin(), jpeg->end())).ok());
  CHECK(CheckFrameFile(path, jpeg->size()).ok());
  CHECK(CheckFrameFile(path, 0).ok());

  Status short_of_declared = CheckFrameFile(path, jpeg->size() + 10);
  REQUIRE_FALSE(short_of_declared.ok());
  CHECK(short_of_declared.error().what.find("declared") != std::string::npos);

  // Flipped bytes inside the entropy-coded data: the markers stay, the decoder loses step.
  const auto ranges = UndecodedRanges(path);
  REQUIRE(ranges.size() == 2);
  const std::size_t scan_begin = ranges[0].first + ranges[0].second;
  const std::size_t scan_end = ranges[1].first;
  REQUIRE(scan_end > scan_begin + 16);
  int caught = 0;
  for (std::size_t at = scan_begin + 4; at + 4 < scan_end; at += 97) {
    auto bad = *jpeg;
    bad[at] ^= 0x5A;
    if (bad[at] == 0xFF || bad[at] == 0x00) continue;  // would be a marker: the structure check
    REQUIRE(WriteFileAtomic(path, std::string(bad.begin(), bad.end())).ok());
    if (!CheckFrameFile(path, bad.size()).ok()) ++caught;
  }
  INFO("single flips in the scan caught: " << caught);
  CHECK(caught > 0);

  // A padded file is mostly outside its scan: the ranges the decoder does not read cover every
  // other byte, so the second read from the camera sees those.
  std::uint64_t covered = scan_end - scan_begin;
  for (const auto& [offset, length] : ranges) covered += length;
  CHECK(covered == jpeg->size());
}

TEST_CASE("a corrupted transfer is refused, the camera keeps the frame, and resume lands it whole",
          "[integration]") {
  Fixture f("127.0.61.2", 3);
  const std::string bad = f.farm->config(1).serial;
  REQUIRE(f.farm->SetFault(bad, Fault{.corrupt_transfer = true}).ok());
  auto options = f.Options();
  options.download_attempts = 2;
  options.retry_delay = std::chrono::milliseconds(50);
  auto report = CaptureRunner(f.session, options).Capture();
  REQUIRE(report.ok());
  INFO(Describe(*report));
  CHECK_FALSE(report->complete());
  CHECK(report->takes.at(0).verified == 2);
  CHECK(Mentions(report->takes.at(0).problems, bad, "corrupted"));
  REQUIRE(report->incomplete.size() == 1);
  CHECK(report->incomplete.at(0).missing.at(0).serial == bad);
  // Not on the station, not in the manifest, still on the camera.
  CHECK_FALSE(std::filesystem::exists(f.session.folder / FramePath(bad, 1)));
  CHECK(ReadFileText(f.session.folder / "manifest.json")->find(bad) == std::string::npos);
  CHECK(f.farm->Stats(1).images_on_card == 1);

  REQUIRE(f.farm->SetFault(bad, Fault{}).ok());
  auto resumed = CaptureRunner(f.session, options).Resume();
  REQUIRE(resumed.ok());
  INFO(Describe(*resumed));
  CHECK(resumed->complete());
  CHECK(*Sha256File(f.session.folder / FramePath(bad, 1)) == f.Produced(bad, 1));
  CHECK(f.farm->Stats(1).images_on_card == 0);
  CHECK(f.farm->Stats(1).exposures == 1);
}

TEST_CASE("a frame left on a card by another session is a stray, never adopted", "[integration]") {
  Fixture f("127.0.62.2", 2);
  const std::string serial = f.farm->config(0).serial;
  auto options = f.Options();
  options.frame_wait = std::chrono::seconds(1);

  // Session A (another person) fired the camera for its take 1 and died before the frame's event
  // was journalled.
  auto catalog = store::Catalog::Open(f.studio());
  REQUIRE(catalog.ok());
  auto other = CreateSession(*catalog, SessionKind::kCalibration, "", "test");
  REQUIRE(other.ok());
  {
    auto journal = Journal::Open(other->folder / "journal.jsonl");
    REQUIRE(journal.ok());
    REQUIRE(journal->Append({{"event", "take_started"}, {"take", 1}, {"cameras", {serial}}}).ok());
    REQUIRE(journal
                ->Append({{"event", "card"},
                          {"take", 1},
                          {"camera", serial},
                          {"files", nlohmann::json::array()}})
                .ok());
    camera::CameraClient client(f.farm->GphotoPort(0), options.worker);
    REQUIRE(client.Capture().ok());
  }
  // The camera clock tells seconds: a clear gap between that frame and this session's take.
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  {
    // This session's station died right after it started take 1, before anything fired.
    auto journal = Journal::Open(f.session.folder / "journal.jsonl");
    REQUIRE(journal.ok());
    REQUIRE(journal
                ->Append({{"event", "take_started"},
                          {"take", 1},
                          {"cameras", {serial, f.farm->config(1).serial}}})
                .ok());
    // It had journalled both cards before it died. Session A's frame is left out of the list on
    // purpose: the camera's own date alone must keep it out of this take.
    REQUIRE(journal
                ->Append({{"event", "card"},
                          {"take", 1},
                          {"camera", f.farm->config(1).serial},
                          {"files", nlohmann::json::array()}})
                .ok());
    REQUIRE(journal
                ->Append({{"event", "card"},
                          {"take", 1},
                          {"camera", serial},
                          {"files", nlohmann::json::array()}})
                .ok());
  }
  // Camera 2 did fire for take 1 (its event never reached the dead station).
  {
    camera::CameraClient client(f.farm->GphotoPort(1), options.worker);
    REQUIRE(client.Capture().ok());
  }
  auto resumed = CaptureRunner(f.session, options).Resume();
  REQUIRE(resumed.ok());
  INFO(Describe(*resumed));
  CHECK_FALSE(resumed->complete());
  // The fired camera's frame is adopted; the other session's frame is not.
  CHECK(std::filesystem::exists(f.session.folder / FramePath(f.farm->config(1).serial, 1)));
  CHECK_FALSE(std::filesystem::exists(f.session.folder / FramePath(serial, 1)));
  REQUIRE(resumed->strays.size() == 1);
  CHECK(resumed->strays.at(0).serial == serial);
  CHECK(resumed->strays.at(0).captured > 0);
  CHECK(resumed->strays.at(0).session == other->id);  // whose it is
  CHECK(resumed->strays.at(0).take == 1);
  CHECK(f.farm->Stats(0).images_on_card == 1);  // left for its own session
  REQUIRE(resumed->incomplete.size() == 1);
  CHECK(resumed->incomplete.at(0).missing.at(0).serial == serial);
  CHECK(ReadFileText(f.session.folder / "journal.jsonl")->find("\"stray\"") != std::string::npos);

  // Its own session's resume files it there.
  auto returned = CaptureRunner(*other, options).Resume();
  REQUIRE(returned.ok());
  INFO(Describe(*returned));
  CHECK(returned->complete());
  CHECK(*Sha256File(other->folder / FramePath(serial, 1)) == f.Produced(serial, 1));
  CHECK(f.farm->Stats(0).images_on_card == 0);
}

TEST_CASE("a resume right after the station died waits for a camera still writing",
          "[integration]") {
  Fixture f("127.0.69.2", 1);
  const std::string serial = f.farm->config(0).serial;
  auto options = f.Options();
  options.frame_wait = std::chrono::seconds(2);
  {
    // The station started take 1 and died as it fired.
    auto journal = Journal::Open(f.session.folder / "journal.jsonl");
    REQUIRE(journal.ok());
    REQUIRE(journal->Append({{"event", "take_started"}, {"take", 1}, {"cameras", {serial}}}).ok());
    REQUIRE(journal
                ->Append({{"event", "card"},
                          {"take", 1},
                          {"camera", serial},
                          {"files", nlohmann::json::array()}})
                .ok());
  }
  // The camera's frame reaches its card only 1.5 s later.
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    camera::CameraClient client(f.farm->GphotoPort(0), options.worker);
    CHECK(client.Capture().ok());
  });
  auto resumed = CaptureRunner(f.session, options).Resume();
  late.join();
  REQUIRE(resumed.ok());
  INFO(Describe(*resumed));
  CHECK(resumed->complete());
  CHECK(f.farm->Stats(0).exposures == 1);  // waited for, not fired again
  CHECK(*Sha256File(f.session.folder / FramePath(serial, 1)) == f.Produced(serial, 1));
}

TEST_CASE("a frame taken outside any session is reported, deleted on the camera and recorded",
          "[integration]") {
  Fixture f("127.0.70.2", 1);
  auto options = f.Options();
  {
    camera::CameraClient client(f.farm->GphotoPort(0), options.worker);
    REQUIRE(client.Capture().ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // clear of the take's window
  auto report = CaptureRunner(f.session, options).Capture();
  REQUIRE(report.ok());
  INFO(Describe(*report));
  CHECK(report->complete());
  REQUIRE(report->strays.size() == 1);
  CHECK(report->strays.at(0).deleted);
  CHECK(report->strays.at(0).session.empty());
  CHECK(f.farm->Stats(0).images_on_card == 0);
  CHECK(f.FilesOnStation().size() == 1);
  CHECK(*Sha256File(f.session.folder / FramePath(f.farm->config(0).serial, 1)) ==
        f.Produced(f.farm->config(0).serial, 2));
  CHECK(ReadFileText(f.session.folder / "journal.jsonl")->find("\"deleted\":true") !=
        std::string::npos);
}

// Fires the shutter lines of `serials` as a trigger node does: one remote-port datagram per edge.
HardwareFire RemotePortFire(Fixture& f) {
  return [&f](int take, const std::vector<std::string>& serials) -> Status {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return MakeError("no socket", "test");
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const std::int64_t at = now.tv_sec * 1'000'000'000LL + now.tv_nsec + 50'000'000;
    for (const auto& serial : serials) {
      const auto& config = f.farm->config(*f.farm->Find(serial));
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(config.remote_port);
      ::inet_pton(AF_INET, config.address.c_str(), &to.sin_addr);
      for (bool closed : {true, false}) {
        sim::wire::LineEdge edge{
            sim::wire::Line::kShutter,        closed, at + (closed ? 0 : 20'000'000),
            static_cast<std::uint32_t>(take), 1,      0};
        const auto bytes = sim::wire::Encode(edge);
        (void)::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to),
                       sizeof to);
      }
    }
    ::close(fd);
    return OkStatus();
  };
}

TEST_CASE("through the shutter lines: a lost event is found on the card, a full card is named",
          "[integration]") {
  Fixture f("127.0.73.2", 3);
  const std::string quiet = f.farm->config(1).serial;
  const std::string full = f.farm->config(2).serial;
  REQUIRE(f.farm->SetFault(quiet, Fault{.no_events = true}).ok());
  REQUIRE(f.farm->SetFault(full, Fault{.card_full = true}).ok());
  auto options = f.Options();
  options.software_trigger = false;
  options.hardware_fire = RemotePortFire(f);
  options.frame_wait = std::chrono::seconds(2);
  auto report = CaptureRunner(f.session, options).Capture();
  REQUIRE(report.ok());
  INFO(Describe(*report));
  const TakeReport& take = report->takes.at(0);
  CHECK(take.verified == 2);
  CHECK(*Sha256File(f.session.folder / FramePath(quiet, 1)) == f.Produced(quiet, 1));
  CHECK(Mentions(take.problems, full, "card is full"));
  CHECK_FALSE(Mentions(take.problems, full, "remote cable"));
  for (std::size_t i = 0; i < 3; ++i) CHECK(f.farm->Stats(i).exposures == 1);
}

TEST_CASE("preflight reports images left on a card", "[integration]") {
  Fixture f("127.0.68.2", 2);
  {
    camera::CameraClient client(f.farm->GphotoPort(1), f.Options().worker);
    REQUIRE(client.Capture().ok());
  }
  PreflightOptions options;
  options.worker = f.Options().worker;
  options.check_nodes = false;
  auto report = RunPreflight(f.studio() / "rigs" / "test" / "rig.toml", options);
  REQUIRE(report.ok());
  INFO(FormatPreflight(*report));
  bool named = false;
  for (const auto& line : report->to_fix) {
    named = named || (line.find(f.farm->config(1).serial) != std::string::npos &&
                      line.find("left on the card") != std::string::npos);
  }
  CHECK(named);
  CHECK(report->cameras.at(0).problems.empty());
}

TEST_CASE("a full card in take 1 of 2 makes an incomplete run that can still be finished",
          "[integration]") {
  Fixture f("127.0.63.2", 2);
  const std::string full = f.farm->config(0).serial;
  REQUIRE(f.farm->SetFault(full, Fault{.card_full = true}).ok());
  auto options = f.Options();
  options.takes = 2;
  options.before_take = [&](int take) {
    if (take == 2) return f.farm->SetFault(full, Fault{});
    return OkStatus();
  };
  CaptureRunner runner(f.session, options);
  auto report = runner.Capture();
  REQUIRE(report.ok());
  INFO(Describe(*report));
  CHECK_FALSE(report->complete());  // the CLI exits 1 on this
  CHECK(report->takes.at(1).complete());
  REQUIRE(report->incomplete.size() == 1);
  CHECK(report->incomplete.at(0).take == 1);
  CHECK(Mentions(report->takes.at(0).problems, full, "card is full"));
  CHECK(DescribeIncomplete(*report).find("take 1 is incomplete") != std::string::npos);

  // --retake-missing reaches take 1 although take 2 is the last.
  auto retaken = runner.RetakeMissing();
  REQUIRE(retaken.ok());
  INFO(Describe(*retaken));
  CHECK(retaken->complete());
  CHECK(f.FilesOnStation().size() == 4);
  auto next = runner.Capture();
  REQUIRE(next.ok());
  CHECK(next->complete());
}

TEST_CASE("missing frames accepted with a reason close the take and are listed in the manifest",
          "[integration]") {
  Fixture f("127.0.64.2", 2);
  const std::string full = f.farm->config(1).serial;
  REQUIRE(f.farm->SetFault(full, Fault{.card_full = true}).ok());
  CaptureRunner runner(f.session, f.Options());
  auto report = runner.Capture();
  REQUIRE(report.ok());
  CHECK_FALSE(report->complete());

  auto no_reason = runner.AcceptMissing({full}, " ");
  REQUIRE_FALSE(no_reason.ok());
  CHECK(no_reason.error().todo.find("--reason") != std::string::npos);
  auto not_missing = runner.AcceptMissing({f.farm->config(0).serial}, "broken");
  REQUIRE_FALSE(not_missing.ok());

  auto accepted = runner.AcceptMissing({full}, "card failed; subject could not stay");
  REQUIRE(accepted.ok());
  CHECK(accepted->complete());
  CHECK(accepted->takes.at(0).accepted_missing == 1);
  auto manifest = nlohmann::json::parse(*ReadFileText(f.session.folder / "manifest.json"));
  REQUIRE(manifest.contains("accepted_missing"));
  CHECK(manifest["accepted_missing"][0]["camera"] == full);
  CHECK(manifest["accepted_missing"][0]["reason"] == "card failed; subject could not stay");
  REQUIRE(f.farm->SetFault(full, Fault{}).ok());
  auto next = runner.Capture();
  REQUIRE(next.ok());
  CHECK(next->complete());
}

TEST_CASE("a camera that fired but lost its event is found on its card, not fired again",
          "[integration]") {
  Fixture f("127.0.65.2", 2);
  const std::string quiet = f.farm->config(0).serial;
  REQUIRE(f.farm->SetFault(quiet, Fault{.no_events = true}).ok());
  auto options = f.Options();
  auto report = CaptureRunner(f.session, options).Capture();
  REQUIRE(report.ok());
  INFO(Describe(*report));
  CHECK(report->complete());
  CHECK(f.farm->Stats(0).exposures == 1);
  CHECK(*Sha256File(f.session.folder / FramePath(quiet, 1)) == f.Produced(quiet, 1));
}

TEST_CASE("refused sessions, low batteries and slow links are named for what they are",
          "[integration]") {
  Fixture f("127.0.66.2", 3, std::size_t{1536} * 1024);
  const std::string refusing = f.farm->config(0).serial;
  const std::string weak = f.farm->config(1).serial;
  const std::string slow = f.farm->config(2).serial;
  REQUIRE(f.farm->SetFault(refusing, Fault{.refuse_session = true}).ok());
  REQUIRE(f.farm->SetFault(weak, Fault{.battery_level = 3}).ok());
  REQUIRE(f.farm->SetFault(slow, Fault{.transfer_bytes_per_s = std::uint64_t{1024} * 1024}).ok());
  auto options = f.Options();
  options.worker.download_deadline = std::chrono::seconds(8);
  auto report = CaptureRunner(f.session, options).Capture();
  REQUIRE(report.ok());
  INFO(Describe(*report));
  const TakeReport& take = report->takes.at(0);
  CHECK(take.verified == 2);
  bool refused_named = false;
  for (const auto& p : take.problems) {
    if (p.serial != refusing) continue;
    refused_named = p.what.find("refused") != std::string::npos &&
                    p.what.find(f.farm->config(0).address) != std::string::npos &&
                    p.todo.find("192.0.2") == std::string::npos;
  }
  CHECK(refused_named);
  CHECK(Mentions(take.warnings, weak, "battery at 3 %"));
  CHECK(Mentions(take.warnings, slow, "slow link"));
}

TEST_CASE("a camera worker dies with its station even while stuck in a capture", "[integration]") {
  Fixture f("127.0.67.2", 1);
  REQUIRE(f.farm->SetFault(0, Fault{.no_events = true}).ok());
  auto options = f.Options();
  options.worker.capture_deadline = std::chrono::seconds(60);
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t station = ::fork();
  REQUIRE(station >= 0);
  if (station == 0) {
    // The "station": connects, tells its worker's pid, then waits in a capture that never ends.
    ::close(pipe_fds[0]);
    camera::CameraClient client(f.farm->GphotoPort(0), options.worker);
    pid_t worker = client.Connect().ok() ? client.worker_pid() : -1;
    (void)!::write(pipe_fds[1], &worker, sizeof worker);
    (void)client.Capture();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  pid_t worker = -1;
  REQUIRE(::read(pipe_fds[0], &worker, sizeof worker) == sizeof worker);
  ::close(pipe_fds[0]);
  REQUIRE(worker > 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // the capture is under way
  ::kill(station, SIGKILL);
  ::waitpid(station, nullptr, 0);
  // The worker is re-parented; it must be gone (or a zombie of its new parent) within a second.
  bool gone = false;
  for (int i = 0; i < 20 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream status("/proc/" + std::to_string(worker) + "/status");
    std::string line;
    gone = true;
    while (std::getline(status, line)) {
      if (line.rfind("State:", 0) == 0) gone = line.find('Z') != std::string::npos;
    }
  }
  CHECK(gone);
  if (!gone) ::kill(worker, SIGKILL);
}

}  // namespace
}  // namespace twinrig::session
