// A small JSON-lines server on a Unix socket: one request line in, one answer line out. Used by the
// virtual studio for `sim status`, `sim down`, scene changes and fault switches.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "util/result.h"

namespace twinrig::sim::studio {

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json&)>;
  ControlServer() = default;
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds `path` (an old socket file left by a crashed studio is replaced) and serves on a thread.
  Status Start(const std::filesystem::path& path, Handler handler);
  void Stop();

 private:
  void Serve();
  int listen_fd_ = -1;
  std::filesystem::path path_;
  Handler handler_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// One request to a control socket; an Error when nothing answers in time.
Result<nlohmann::json> ControlRequest(const std::filesystem::path& path,
                                      const nlohmann::json& request, int timeout_ms);

}  // namespace twinrig::sim::studio
