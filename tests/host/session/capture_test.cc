// Capture sessions against virtual PTP/IP cameras through the real libgphoto2: every frame lands
// exactly once and verified, and each fault ends in a report that names the camera.
#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "host/session/capture.h"
#include "host/session/session.h"
#include "sim/camera/camera_farm.h"
#include "sim/layout/layout.h"
#include "tests/host/session/capture_fixture.h"
#include "tests/test_support.h"
#include "util/files.h"

extern char** environ;

namespace twinrig::session {
namespace {

using sim::camera::Fault;
using testing_support::Fixture;

TEST_CASE("software-triggered takes land every frame once, verified, and clear the cards",
          "[integration]") {
  Fixture f("127.0.44.2", 6);
  auto options = f.Options();
  options.takes = 2;
  options.downloads_at_once = 2;  // fewer than the cameras: four wait their turn on their cards
  CaptureRunner runner(f.session, options);
  auto report = runner.Capture();
  REQUIRE(report.ok());
  REQUIRE(report->takes.size() == 2);
  for (const auto& take : report->takes) {
    INFO(DescribeTake(take));
    CHECK(take.complete());
    CHECK(take.fired == 6);
  }
  CHECK(f.FilesOnStation().size() == 12);
  auto manifest = nlohmann::json::parse(*ReadFileText(f.session.folder / "manifest.json"));
  REQUIRE(manifest.at("count") == 12);
  for (const auto& file : manifest.at("files")) {
    const std::string serial = file.at("camera");
    const int take = file.at("take");
    CHECK(file.at("sha256") == f.Produced(serial, static_cast<std::uint64_t>(take)));
    CHECK(*Sha256File(f.session.folder / file.at("path").get<std::string>()) == file.at("sha256"));
  }
  for (size_t i = 0; i < f.farm->size(); ++i) CHECK(f.farm->Stats(i).images_on_card == 0);
}

TEST_CASE("busy, full and hung cameras are named, and resume plus retake complete the take",
          "[integration]") {
  Fixture f("127.0.45.2", 5);
  const std::string busy = f.farm->config(0).serial;
  const std::string full = f.farm->config(1).serial;
  const std::string slow = f.farm->config(2).serial;
  REQUIRE(f.farm->SetFault(busy, Fault{.busy_on_capture = true}).ok());
  REQUIRE(f.farm->SetFault(full, Fault{.card_full = true}).ok());
  REQUIRE(f.farm->SetFault(slow, Fault{.transfer_bytes_per_s = std::uint64_t{16} * 1024}).ok());

  auto options = f.Options();
  options.download_attempts = 1;
  auto first = CaptureRunner(f.session, options).Capture();
  REQUIRE(first.ok());
  const TakeReport& take = first->takes.at(0);
  INFO(DescribeTake(take));
  CHECK(take.verified == 2);
  CHECK_FALSE(take.complete());
  std::set<std::string> named;
  for (const auto& p : take.problems) {
    named.insert(p.serial);
    CHECK_FALSE(p.todo.empty());
  }
  CHECK(named == std::set<std::string>{busy, full, slow});

  // A new take is refused while this one is open.
  auto refused = CaptureRunner(f.session, options).Capture();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().todo.find("--resume") != std::string::npos);

  for (const auto& serial : {busy, full, slow}) REQUIRE(f.farm->SetFault(serial, Fault{}).ok());
  // Resume fetches the frame the slow camera took; retake fires only the two that did not.
  auto resumed = CaptureRunner(f.session, options).Resume();
  REQUIRE(resumed.ok());
  CHECK(resumed->takes.at(0).verified == 3);
  auto retaken = CaptureRunner(f.session, options).RetakeMissing();
  REQUIRE(retaken.ok());
  INFO(DescribeTake(retaken->takes.at(0)));
  CHECK(retaken->takes.at(0).complete());

  CHECK(f.FilesOnStation().size() == 5);
  auto manifest = nlohmann::json::parse(*ReadFileText(f.session.folder / "manifest.json"));
  for (const auto& file : manifest.at("files")) {
    if (file.at("camera") == slow) CHECK(file.at("sha256") == f.Produced(slow, 1));
  }
}

TEST_CASE("a station killed during download resumes with every frame exactly once",
          "[integration]") {
  Fixture f("127.0.46.2", 4, std::size_t{512} * 1024);
  // Two cameras transfer slowly, so the kill lands while they download.
  REQUIRE(f.farm->SetFault(2, Fault{.transfer_bytes_per_s = std::uint64_t{128} * 1024}).ok());
  REQUIRE(f.farm->SetFault(3, Fault{.transfer_bytes_per_s = std::uint64_t{128} * 1024}).ok());

  std::vector<std::string> args = {testing::TwinrigBinary().string(), "--studio",
                                   f.studio().string(), "capture", "--software-trigger"};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) == 0);
  // Kill it (SIGKILL: no chance to clean up) once the first frame is verified.
  const auto journal = f.session.folder / "journal.jsonl";
  bool saw_verified = false;
  for (int i = 0; i < 300 && !saw_verified; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto text = ReadFileText(journal);
    saw_verified = text.ok() && text->find("\"verified\"") != std::string::npos;
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  REQUIRE(saw_verified);

  REQUIRE(f.farm->SetFault(2, Fault{}).ok());
  REQUIRE(f.farm->SetFault(3, Fault{}).ok());
  auto resumed = CaptureRunner(f.session, f.Options()).Resume();
  REQUIRE(resumed.ok());
  REQUIRE(resumed->takes.size() == 1);
  INFO(DescribeTake(resumed->takes.at(0)));
  CHECK(resumed->takes.at(0).complete());

  CHECK(f.FilesOnStation() ==
        std::vector<std::string>{f.farm->config(0).serial + "/take-0001.jpg",
                                 f.farm->config(1).serial + "/take-0001.jpg",
                                 f.farm->config(2).serial + "/take-0001.jpg",
                                 f.farm->config(3).serial + "/take-0001.jpg"});
  for (size_t i = 0; i < 4; ++i) {
    const std::string serial = f.farm->config(i).serial;
    CHECK(*Sha256File(f.session.folder / FramePath(serial, 1)) == f.Produced(serial, 1));
    CHECK(f.farm->Stats(i).exposures == 1);
    CHECK(f.farm->Stats(i).images_on_card == 0);
  }
  // No stray partial downloads are left in the session.
  for (const auto& e : std::filesystem::recursive_directory_iterator(f.session.folder)) {
    CHECK(e.path().extension() != ".part");
  }
}

}  // namespace
}  // namespace twinrig::session

#include "host/session/preflight.h"

namespace twinrig::session {
namespace {

TEST_CASE("preflight names the missing, low, full and odd cameras", "[integration]") {
  Fixture f("127.0.47.2", 4);
  REQUIRE(f.farm->SetFault(0, Fault{.battery_level = 12}).ok());
  REQUIRE(f.farm->SetFault(1, Fault{.card_full = true}).ok());
  camera::WorkerOptions worker = f.Options().worker;
  camera::CameraClient odd(f.farm->GphotoPort(2), worker);
  REQUIRE(odd.Apply("iso", "800").ok());
  odd.Stop();
  // A fifth camera in the rig file that is not there.
  auto rig = sim::layout::ReadRigFile(f.studio() / "rigs" / "test" / "rig.toml");
  REQUIRE(rig.ok());
  sim::layout::CameraSpec ghost = rig->cameras.back();
  ghost.serial = "GHOST0001";
  ghost.address = "127.0.47.200";
  ghost.node_port = 4;
  rig->cameras.push_back(ghost);
  REQUIRE(sim::layout::WriteRigFile(f.studio() / "rigs" / "test" / "rig.toml", *rig).ok());

  PreflightOptions options;
  options.worker = worker;
  options.check_nodes = false;
  auto report = RunPreflight(f.studio() / "rigs" / "test" / "rig.toml", options);
  REQUIRE(report.ok());
  INFO(FormatPreflight(*report));
  CHECK_FALSE(report->ready());
  auto mentions = [&](const std::string& serial, const std::string& word) {
    for (const auto& line : report->to_fix) {
      if (line.find(serial) != std::string::npos && line.find(word) != std::string::npos)
        return true;
    }
    return false;
  };
  CHECK(mentions(f.farm->config(0).serial, "battery"));
  CHECK(mentions(f.farm->config(1).serial, "card"));
  CHECK(mentions(f.farm->config(2).serial, "iso is 800"));
  CHECK(mentions("GHOST0001", "not reachable"));
  CHECK_FALSE(mentions(f.farm->config(3).serial, ""));
}

}  // namespace
}  // namespace twinrig::session

#include "util/subprocess.h"

namespace twinrig::session {
namespace {

SubprocessResult Twinrig(const std::filesystem::path& studio, std::vector<std::string> args) {
  args.insert(args.begin(), {testing::TwinrigBinary().string(), "--studio", studio.string()});
  auto r = RunSubprocess(args);
  REQUIRE(r.ok());
  return *r;
}

TEST_CASE("a person is not captured without their signed consent for the session",
          "[integration]") {
  Fixture f("127.0.48.2", 2);
  auto no_subject = Twinrig(f.studio(), {"session", "new", "--rig", "test"});
  CHECK(no_subject.exit_code == 1);
  CHECK(no_subject.output.find("--subject") != std::string::npos);
  auto unknown =
      Twinrig(f.studio(), {"session", "new", "--rig", "test", "--subject", "SUB-999999"});
  CHECK(unknown.exit_code == 1);

  auto subject = Twinrig(f.studio(), {"subject", "add", "--name", "Ada Example"});
  REQUIRE(subject.exit_code == 0);
  std::string subject_id;
  for (const std::string word : {"SUB-"}) {
    auto at = subject.output.find(word);
    REQUIRE(at != std::string::npos);
    subject_id = subject.output.substr(at, subject.output.find_first_of(" \n", at) - at);
  }
  auto session = Twinrig(f.studio(), {"session", "new", "--rig", "test", "--subject", subject_id});
  REQUIRE(session.exit_code == 0);
  std::string id = session.output.substr(0, session.output.find('\n'));

  auto refused = Twinrig(f.studio(), {"capture", "--session", id, "--software-trigger"});
  INFO(refused.output);
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("consent") != std::string::npos);
  // As found: --resume and --finish fired cameras without the gate. Every mode passes it now.
  for (const std::vector<std::string>& mode :
       {std::vector<std::string>{"--resume"},
        {"--retake-missing"},
        {"--finish", "1"},
        {"--accept-missing", f.farm->config(0).serial, "--reason", "test"}}) {
    std::vector<std::string> command = {"capture", "--session", id, "--software-trigger"};
    command.insert(command.end(), mode.begin(), mode.end());
    auto gated = Twinrig(f.studio(), command);
    INFO(mode.front() << ": " << gated.output);
    CHECK(gated.exit_code == 1);
    CHECK(gated.output.find("capture refused: there is no consent record") != std::string::npos);
  }
  for (size_t i = 0; i < f.farm->size(); ++i) CHECK(f.farm->Stats(i).exposures == 0);
}

TEST_CASE("capture exits 1 while any take is incomplete, and --accept-missing closes it",
          "[integration]") {
  Fixture f("127.0.49.2", 2);
  const std::string full = f.farm->config(1).serial;
  REQUIRE(f.farm->SetFault(full, Fault{.card_full = true}).ok());
  auto two = Twinrig(f.studio(), {"capture", "--session", f.session.id, "--software-trigger",
                                  "--takes", "2", "--finish", "1", "--capture-timeout", "3"});
  INFO(two.output);
  CHECK(two.exit_code == 1);
  CHECK(two.output.find("take 1 is incomplete") != std::string::npos);
  CHECK(two.output.find("take 2 is incomplete") != std::string::npos);
  CHECK(two.output.find("card is full") != std::string::npos);

  auto no_reason =
      Twinrig(f.studio(), {"capture", "--session", f.session.id, "--accept-missing", full});
  CHECK(no_reason.exit_code != 0);
  auto accepted = Twinrig(f.studio(), {"capture", "--session", f.session.id, "--accept-missing",
                                       full, "--reason", "card failed"});
  INFO(accepted.output);
  CHECK(accepted.exit_code == 0);
  auto manifest = nlohmann::json::parse(*ReadFileText(f.session.folder / "manifest.json"));
  CHECK(manifest.at("accepted_missing").size() == 2);
}

}  // namespace
}  // namespace twinrig::session
