// Capture runs that keep their workers, and the faults a studio meets mid-run: a camera that
// drops off the network in the middle of a download, and a disk that fills up.
#include <catch2/catch.hpp>

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "host/session/capture.h"
#include "host/session/journal.h"
#include "tests/host/session/capture_fixture.h"
#include "util/files.h"

namespace twinrig::session {
namespace {

using sim::camera::Fault;
using testing_support::Fixture;

TEST_CASE("one worker per camera serves every take, the resume and the retake of a runner",
          "[integration]") {
  Fixture f("127.0.51.2", 3);
  auto options = f.Options();
  options.takes = 3;
  CaptureRunner runner(f.session, options);
  CHECK(runner.Connect().empty());
  auto report = runner.Capture();
  REQUIRE(report.ok());
  CHECK(report->complete());
  CHECK(report->takes.size() == 3);
  // Connected once before the takes: no worker started during them, no camera reopened.
  CHECK(report->worker_spawns == 0);
  CHECK(report->camera_reopens == 0);
  auto resumed = runner.Resume();
  REQUIRE(resumed.ok());
  CHECK(resumed->worker_spawns == 0);
  CHECK(f.FilesOnStation().size() == 9);
  for (size_t i = 0; i < f.farm->size(); ++i) CHECK(f.farm->Stats(i).exposures == 3);
}

TEST_CASE("a camera that drops its connection mid-download comes back and its frame lands once",
          "[integration]") {
  Fixture f("127.0.52.2", 3, std::size_t{512} * 1024);
  const std::string flaky = f.farm->config(1).serial;
  // Slow enough that the drop lands in the middle of the transfer.
  const Fault slow{.transfer_bytes_per_s = std::uint64_t{256} * 1024};
  REQUIRE(f.farm->SetFault(flaky, slow).ok());
  auto options = f.Options();
  options.download_attempts = 4;
  options.retry_delay = std::chrono::milliseconds(400);
  CaptureRunner runner(f.session, options);
  REQUIRE(runner.Connect().empty());

  std::thread dropper([&] {
    const auto part = f.session.folder / FramePath(flaky, 1);
    auto part_file = part;
    part_file += ".part";
    for (int i = 0; i < 200 && !std::filesystem::exists(part_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    (void)f.farm->SetFault(flaky, Fault{.drop_connection = true});
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    (void)f.farm->SetFault(flaky, Fault{});  // back on the network
  });
  auto report = runner.Capture();
  dropper.join();
  auto worker_log = ReadFileText(f.session.folder / "logs" / ("camera-" + flaky + ".log"));
  INFO("worker log: " << (worker_log.ok() ? worker_log->substr(0, 4000) : std::string("none")));
  REQUIRE(report.ok());
  INFO(DescribeTake(report->takes.at(0)));
  for (const auto& p : report->takes.at(0).problems) INFO(p.serial + ": " + p.what);
  CHECK(report->complete());
  // The same worker reopened the camera: no process was started during the capture.
  CHECK(report->camera_reopens >= 1);
  CHECK(report->worker_spawns == 0);
  CHECK(f.FilesOnStation().size() == 3);
  CHECK(*Sha256File(f.session.folder / FramePath(flaky, 1)) == f.Produced(flaky, 1));
  const auto index = *f.farm->Find(flaky);
  CHECK(f.farm->Stats(index).exposures == 1);
  CHECK(f.farm->Stats(index).images_on_card == 0);
  // The journal verified the frame exactly once.
  auto journal = Journal::Open(f.session.folder / "journal.jsonl");
  REQUIRE(journal.ok());
  int verified_events = 0;
  std::ifstream in(f.session.folder / "journal.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"verified\"") != std::string::npos && line.find(flaky) != std::string::npos) {
      ++verified_events;
    }
  }
  CHECK(verified_events == 1);
}

// A small tmpfs mounted over the session folder: a real full disk (ENOSPC) for the station.
class SmallDisk {
 public:
  SmallDisk(const std::filesystem::path& folder, std::size_t bytes) : folder_(folder) {
    const std::string data = "size=" + std::to_string(bytes);
    mounted_ = ::mount("twinrig-test", folder.c_str(), "tmpfs", 0, data.c_str()) == 0;
    if (!mounted_) reason_ = std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(folder_.c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;
  [[nodiscard]] bool mounted() const { return mounted_; }
  [[nodiscard]] const std::string& reason() const { return reason_; }
  bool Grow(std::size_t bytes) {
    const std::string data = "size=" + std::to_string(bytes);
    return ::mount("twinrig-test", folder_.c_str(), "tmpfs", MS_REMOUNT, data.c_str()) == 0;
  }

 private:
  std::filesystem::path folder_;
  bool mounted_ = false;
  std::string reason_;
};

TEST_CASE(
    "a full disk stops the capture naming the file, keeps what is verified, and resume ends it",
    "[integration]") {
  Fixture f("127.0.53.2", 4, std::size_t{512} * 1024);
  const auto session_json = *ReadFileText(f.session.folder / "session.json");
  // Room for two frames and the journal, not for four.
  SmallDisk disk(f.session.folder, std::size_t{1300} * 1024);
  if (!disk.mounted()) {
    WARN("cannot mount a tmpfs here (" << disk.reason() << "): run as root to test a full disk");
    return;
  }
  REQUIRE(WriteFileAtomic(f.session.folder / "session.json", session_json).ok());
  auto options = f.Options();
  options.takes = 3;
  CaptureRunner runner(f.session, options);
  auto report = runner.Capture();
  REQUIRE(report.ok());
  INFO(report->stopped);
  CHECK_FALSE(report->complete());
  CHECK(report->takes.size() == 1);  // no further take once the disk is full
  CHECK(report->stopped.find("disk is full") != std::string::npos);
  CHECK(report->stopped.find("take-0001.jpg") != std::string::npos);
  CHECK(report->stopped_todo.find("--resume") != std::string::npos);
  const TakeReport& take = report->takes.at(0);
  CHECK(take.fired == 4);
  // Room for two whole frames; downloads run in parallel, so under load the partial files of
  // the others can leave room for only one before the disk fills.
  CHECK(take.verified >= 1);
  CHECK(take.verified <= 2);

  // What was verified is on disk, whole, with the hash the camera produced.
  auto journal = Journal::Open(f.session.folder / "journal.jsonl");
  REQUIRE(journal.ok());
  int verified = 0;
  for (const auto& [serial, frame] : journal->state().takes.at(1).frames) {
    if (!frame.verified()) continue;
    ++verified;
    CHECK(*Sha256File(f.session.folder / *frame.path) == f.Produced(serial, 1));
  }
  CHECK(verified == take.verified);
  for (const auto& e : std::filesystem::recursive_directory_iterator(f.session.folder)) {
    CHECK(e.path().extension() != ".part");
  }
  for (size_t i = 0; i < f.farm->size(); ++i) CHECK(f.farm->Stats(i).exposures == 1);

  // Space freed: resume fetches the frames still on the cameras, nothing is fired again.
  REQUIRE(disk.Grow(std::size_t{8} << 20));
  auto resumed = runner.Resume();
  REQUIRE(resumed.ok());
  REQUIRE(resumed->takes.size() == 1);
  INFO(DescribeTake(resumed->takes.at(0)));
  CHECK(resumed->complete());
  CHECK(f.FilesOnStation().size() == 4);
  for (size_t i = 0; i < f.farm->size(); ++i) {
    const std::string serial = f.farm->config(i).serial;
    CHECK(*Sha256File(f.session.folder / FramePath(serial, 1)) == f.Produced(serial, 1));
    CHECK(f.farm->Stats(i).exposures == 1);
    CHECK(f.farm->Stats(i).images_on_card == 0);
  }
}

TEST_CASE("cameras whose addresses changed are found by serial and used where they are",
          "[integration]") {
  Fixture f("127.0.54.2", 3);
  // The session expects camera 1 where camera 2 is and camera 2 where camera 1 is (a re-patched
  // switch, renumbered USB ports).
  std::swap(f.session.cameras[0].address, f.session.cameras[1].address);
  auto options = f.Options();
  options.locate_usb = false;  // no USB cameras on a test machine
  CaptureRunner runner(f.session, options);
  auto report = runner.Capture();
  REQUIRE(report.ok());
  CHECK(report->complete());
  REQUIRE(report->moved.size() == 2);
  CHECK(report->moved[0].find(f.session.cameras[0].serial) == 0);
  // Each camera's frame is in its own folder: the bytes are the ones that camera produced.
  for (const auto& camera : f.session.cameras) {
    const auto file = f.session.folder / FramePath(camera.serial, 1);
    auto hash = Sha256File(file);
    REQUIRE(hash.ok());
    CHECK(*hash == f.Produced(camera.serial, 1));
  }
}

}  // namespace
}  // namespace twinrig::session
