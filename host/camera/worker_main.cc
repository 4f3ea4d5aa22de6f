// twinrig-camera-worker: owns one camera's libgphoto2 handle and answers the supervisor.
// Requests and answers are JSON lines on stdin/stdout (see camera_worker.h); logs go to stderr.
// If libgphoto2 hangs inside a call, this process simply stops answering and the supervisor kills
// it; nothing else in the station is affected.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

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
    return json{{"path", got->path.string()}, {"size", got->size}, {"sha256", got->sha256}};
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
    for (const auto& f : *files) list.push_back({{"folder", f.folder}, {"name", f.name}});
    return json{{"files", list}};
  }
  return MakeError("unknown request '" + op + "'", "worker", "update twinrig");
}

int Main() {
  std::unique_ptr<GphotoCamera> camera;
  std::string line;
  while (std::getline(std::cin, line)) {
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
