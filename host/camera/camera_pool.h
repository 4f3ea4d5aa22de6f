// Every camera of a rig for one run of work (all takes of a capture with its resume and retakes,
// a settings survey, a profile applied): one CameraClient, hence one worker process, per camera,
// spawned and connected once, a few dozen cameras at a time. Workers are respawned only after a
// hang and cameras reopened only after a broken link (host/camera/camera_worker.h).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "host/camera/camera_worker.h"
#include "util/result.h"

namespace twinrig::camera {

struct PoolCamera {
  std::string serial;  // who the camera must be
  std::string port;    // where to reach it ("ptpip:127.0.0.2", "usb:001,007")
};

class CameraPool {
 public:
  // Cameras connected at the same time by Connect (the others wait for a free slot).
  static constexpr std::ptrdiff_t kConnectAtOnce = 24;
  // `log_folder`: each worker's stderr goes to <log_folder>/camera-<serial>.log (empty: the
  // options' log_file, or nowhere).
  CameraPool(std::vector<PoolCamera> cameras, WorkerOptions options,
             std::filesystem::path log_folder = {});
  ~CameraPool();
  CameraPool(const CameraPool&) = delete;
  CameraPool& operator=(const CameraPool&) = delete;

  // The client of a camera of the pool (a broken invariant for an unknown serial).
  CameraClient& Client(const std::string& serial);
  [[nodiscard]] bool Contains(const std::string& serial) const;

  // Connects every listed camera that is not connected yet, all at once. Returns the failures by
  // serial (a camera that answers with another serial is a failure too).
  std::map<std::string, Error> Connect(const std::vector<std::string>& serials);
  std::map<std::string, Error> ConnectAll();

  // Runs `work` for every listed camera at once (a thread per camera) and returns when all are
  // done. Each camera's client is used by one thread at a time.
  void ForEach(const std::vector<std::string>& serials,
               const std::function<void(const std::string& serial, CameraClient& client)>& work);

  // Reaches `serial` at another port from now on (a camera found moved); its worker is stopped.
  void Relocate(const std::string& serial, const std::string& port);
  // Stops the worker of `serial` (a new one starts on the next request).
  void StopWorker(const std::string& serial);

  [[nodiscard]] std::vector<std::string> Serials() const;
  [[nodiscard]] const std::vector<PoolCamera>& cameras() const { return cameras_; }
  // Worker processes started and camera reopens over the pool's life (for reports and tests).
  [[nodiscard]] int Spawns() const;
  [[nodiscard]] int Reopens() const;
  // Stops every worker (they are restarted on the next request).
  void StopAll();

 private:
  std::vector<PoolCamera> cameras_;
  WorkerOptions options_;
  std::filesystem::path log_folder_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<CameraClient>> clients_;
};

}  // namespace twinrig::camera
