// twinrig-camera-worker: owns one camera's libgphoto2 handle and answers the supervisor.
// Requests and answers are JSON lines on stdin/stdout (see camera_worker.h); logs go to stderr.
// If libgphoto2 hangs inside a call, this process simply stops answering and the supervisor kills
// it; nothing else in the station is affected.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "host/camera/gphoto_camera.h"

namespace twinrig::camera {
namespace {

using nlohmann::json;

json ErrorJson(const Error& error, FailureKind kind = FailureKind::kNone) {
  return {{"what", error.what},
          {"where", error.where},
          {"todo", error.todo},
          {"kind", FailureKindName(kind)}};
}

// libgphoto2 2.5.30 closes descriptor 0 when it shuts a PTP/IP camera down (a socket field that
// starts at 0). Requests therefore arrive on a copy of stdin at a higher descriptor, and 0 is kept
// on /dev/null so that stray close never takes a socket or file that happens to get number 0.
void KeepDescriptorZeroHarmless() {
  if (::fcntl(0, F_GETFD) >= 0) return;  // still open
  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null > 0) {
    ::dup2(null, 0);
    ::close(null);
  }
}

// Reads request lines from a descriptor (the supervisor's pipe).
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  bool Next(std::string& line) {
    while (true) {
      auto newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return true;
      }
      char chunk[4096];
      ssize_t n = ::read(fd_, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;  // the supervisor closed the pipe (or went away)
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buffer_;
};

json IdentityJson(const CameraIdentity& id) {
  return {{"serial", id.serial},
          {"manufacturer", id.manufacturer},
          {"model", id.model},
          {"firmware", id.firmware},
          {"port", id.port}};
}

// Runs one request; returns the answer's fields (without id/ok) or an Error.
Result<json> Handle(const json& request, std::unique_ptr<GphotoCamera>& camera) {
  const std::string op = request.value("op", "");
  if (op == "open") {
    camera.reset();
    KeepDescriptorZeroHarmless();
    auto opened = GphotoCamera::Open(request.at("port").get<std::string>());
    // Not reachable is a link problem: the supervisor opens again on its next request.
    if (!opened.ok()) return opened.error();
    camera = std::move(opened).value();
    auto id = camera->Identify();
    if (!id.ok()) return id.error();
    return IdentityJson(*id);
  }
  if (op == "autodetect") {
    auto ports = AutodetectUsb();
    if (!ports.ok()) return ports.error();
    return json{{"ports", *ports}};
  }
  if (!camera) return MakeError("no camera is open in this worker", "worker", "send open first");
  camera->ClearFailure();
  if (op == "identify") {
    auto id = camera->Identify();
    if (!id.ok()) return id.error();
    return IdentityJson(*id);
  }
  if (op == "settings") {
    auto settings = camera->ReadSettings();
    if (!settings.ok()) return settings.error();
    return json{{"settings", *settings}};
  }
  if (op == "apply") {
    Status s = camera->ApplySetting(request.at("name"), request.at("value"));
    if (!s.ok()) return s.error();
    return json::object();
  }
  if (op == "storage") {
    auto storage = camera->Storage();
    if (!storage.ok()) return storage.error();
    return json{{"capacity_kb", storage->capacity_kb}, {"free_kb", storage->free_kb}};
  }
  if (op == "capture") {
    auto file = camera->Capture();
    if (!file.ok()) return file.error();
    return json{{"folder", file->folder}, {"name", file->name}};
  }
  if (op == "wait_files") {
    auto files = camera->WaitForFiles(request.value("timeout_ms", 1000));
    if (!files.ok()) return files.error();
    json list = json::array();
    for (const auto& f : *files) list.push_back({{"folder", f.folder}, {"name", f.name}});
    return json{{"files", list}};
  }
  if (op == "download") {
    auto got = camera->Download({request.at("folder"), request.at("name")},
                                request.at("dest").get<std::string>());
    if (!got.ok()) return got.error();
    return json{{"path", got->path.string()},
                {"size", got->size},
                {"sha256", got->sha256},
                {"declared_size", got->declared_size}};
  }
  if (op == "delete") {
    Status s = camera->Delete({request.at("folder"), request.at("name")});
    if (!s.ok()) return s.error();
    return json::object();
  }
  if (op == "list_files") {
    auto files = camera->ListFiles();
    if (!files.ok()) return files.error();
    json list = json::array();
    for (const auto& f : *files) {
      list.push_back(
          {{"folder", f.folder}, {"name", f.name}, {"size", f.size}, {"captured", f.captured}});
    }
    return json{{"files", list}};
  }
  if (op == "compare_ranges") {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (const auto& r : request.at("ranges")) ranges.emplace_back(r.at(0), r.at(1));
    Status s = camera->CompareRanges({request.at("folder"), request.at("name")},
                                     request.at("local").get<std::string>(), ranges);
    if (!s.ok()) return s.error();
    return json::object();
  }
  if (op == "battery") {
    auto percent = camera->BatteryPercent();
    if (!percent.ok()) return percent.error();
    return json{{"percent", *percent}};
  }
  return MakeError("unknown request '" + op + "'", "worker", "update twinrig");
}

// A worker dies with its station. PR_SET_PDEATHSIG would fire when the *thread* that spawned the
// worker ends (capture threads end after every take, while the worker serves the whole run), so a
// watchdog thread checks instead that the station process is still its parent: when the station
// is killed the worker is re-parented, and it exits within a tenth of a second, even while the
// main thread is stuck inside libgphoto2.
void DieWithStation() {
  const pid_t station = ::getppid();
  if (station <= 1) std::_Exit(1);
  std::thread([station] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (::getppid() != station) std::_Exit(1);
    }
  }).detach();
}

int Main() {
  DieWithStation();
  // libgphoto2 writes to a camera's socket with write(): closing a session on a link the camera
  // already dropped would raise SIGPIPE and end the worker silently. Ignored, the write fails and
  // the camera is reopened. (A supervisor that went away still ends the worker: stdin closes.)
  std::signal(SIGPIPE, SIG_IGN);
  const int requests = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
  if (requests < 0) return 1;
  ::close(0);
  KeepDescriptorZeroHarmless();
  LineReader reader(requests);
  std::unique_ptr<GphotoCamera> camera;
  std::string line;
  while (reader.Next(line)) {
    json answer;
    json request;
    try {
      request = json::parse(line);
    } catch (const json::exception& e) {
      answer = {{"id", nullptr},
                {"ok", false},
                {"error", ErrorJson(MakeError(std::string("bad request: ") + e.what(), "worker"))}};
      std::cout << answer.dump() << std::endl;
      continue;
    }
    if (request.value("op", "") == "quit") break;
    try {
      auto result = Handle(request, camera);
      if (result.ok()) {
        answer = *result;
        answer["ok"] = true;
      } else {
        const std::string op = request.value("op", "");
        FailureKind kind = camera ? camera->last_failure() : FailureKind::kConnection;
        if (op == "open") kind = FailureKind::kConnection;
        answer = {{"ok", false}, {"error", ErrorJson(result.error(), kind)}};
      }
    } catch (const std::exception& e) {
      answer = {{"ok", false},
                {"error", ErrorJson(MakeError(std::string("bad request: ") + e.what(), "worker"))}};
    }
    answer["id"] = request.value("id", 0);
    std::cout << answer.dump() << std::endl;
  }
  return 0;
}

}  // namespace
}  // namespace twinrig::camera

int main() { return twinrig::camera::Main(); }
