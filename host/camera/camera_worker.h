// The supervisor's side of a camera worker: one `twinrig-camera-worker` process per camera, spoken
// to with JSON lines over pipes, every request under a deadline. A worker that misses its deadline
// is killed (SIGKILL: libgphoto2 ignores SIGTERM while it is stuck in a capture loop) and the
// camera is reported with the operation that hung; the next request starts a fresh worker and
// reconnects. A worker lives as long as its CameraClient: spawned and connected once, it serves
// every take of a capture run; a broken link (I/O error, dropped connection) only reopens the
// camera inside the same worker.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "host/camera/gphoto_camera.h"
#include "util/logging.h"
#include "util/result.h"

namespace twinrig::camera {

struct WorkerOptions {
  std::filesystem::path worker_binary;  // empty: next to this executable, or TWINRIG_CAMERA_WORKER
  std::filesystem::path log_file;       // the worker's stderr (libgphoto2 messages); empty: discard
  std::filesystem::path home;           // HOME for libgphoto2's settings file; empty: inherit
  std::chrono::milliseconds connect_deadline{std::chrono::seconds(30)};
  std::chrono::milliseconds call_deadline{std::chrono::seconds(10)};
  std::chrono::milliseconds capture_deadline{std::chrono::seconds(15)};
  std::chrono::milliseconds download_deadline{std::chrono::seconds(60)};
  std::vector<std::string> Validate() const;
};

std::filesystem::path DefaultWorkerBinary();

// One worker process. Not thread-safe: one owner thread per camera.
class WorkerProcess {
 public:
  static Result<std::unique_ptr<WorkerProcess>> Spawn(const WorkerOptions& options,
                                                      const std::string& label);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  // Sends a request and waits for its answer until the deadline; on a miss the worker is killed.
  Result<nlohmann::json> Call(nlohmann::json request, std::chrono::milliseconds deadline);
  [[nodiscard]] bool alive() const { return pid_ > 0; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  // The kind the worker gave its last failed answer (kConnection when it hung or died).
  [[nodiscard]] FailureKind last_failure() const { return last_failure_; }
  void Kill();

 private:
  WorkerProcess(pid_t pid, int to_worker, int from_worker, std::string label)
      : pid_(pid), to_worker_(to_worker), from_worker_(from_worker), label_(std::move(label)) {}
  pid_t pid_;
  int to_worker_;
  int from_worker_;
  std::string label_;
  std::string pending_;  // bytes read past the last answer line
  std::uint64_t next_id_ = 1;
  FailureKind last_failure_ = FailureKind::kNone;
};

// A camera as the station sees it: connects by port, knows itself by serial number, and survives
// its worker being killed (the next call reconnects).
class CameraClient {
 public:
  CameraClient(std::string port, WorkerOptions options);

  // Spawns the worker and opens the camera the first time; afterwards answers from what it knows
  // (no round trip) unless the last request broke the link, which reopens the camera.
  Result<CameraIdentity> Connect();
  Result<std::map<std::string, std::string>> Settings();
  Status Apply(const std::string& name, const std::string& value);
  Result<StorageState> Storage();
  Result<FileRef> Capture();
  Result<std::vector<FileRef>> WaitForFiles(int timeout_ms);
  Result<Downloaded> Download(const FileRef& file, const std::filesystem::path& destination);
  // GphotoCamera::CompareRanges in the worker, under the download deadline.
  Status CompareRanges(const FileRef& file, const std::filesystem::path& local,
                       const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges);
  Status Delete(const FileRef& file);
  Result<std::vector<FileRef>> ListFiles();
  // The card as it is now, read in a new session (not from what events told the open one).
  Result<std::vector<FileRef>> ListFilesFresh();
  Result<int> BatteryPercent();
  void Stop();

  [[nodiscard]] const std::string& port() const { return port_; }
  [[nodiscard]] const CameraIdentity& identity() const { return identity_; }
  [[nodiscard]] int restarts() const { return restarts_; }
  // Worker processes started by this client (1 for a whole run without hangs).
  [[nodiscard]] int spawns() const { return spawns_; }
  // Reopens of the camera inside a live worker after a broken link.
  [[nodiscard]] int reopens() const { return reopens_; }
  // Why the last failed request failed (kNone after a success).
  [[nodiscard]] FailureKind last_failure() const { return last_failure_; }
  [[nodiscard]] bool connected() const { return worker_ && worker_->alive() && !needs_open_; }
  [[nodiscard]] pid_t worker_pid() const { return worker_ ? worker_->pid() : -1; }

 private:
  Result<nlohmann::json> Request(nlohmann::json request, std::chrono::milliseconds deadline);
  Status Open();
  std::string port_;
  WorkerOptions options_;
  std::unique_ptr<WorkerProcess> worker_;
  CameraIdentity identity_;
  int restarts_ = 0;
  int reopens_ = 0;
  int spawns_ = 0;
  bool needs_open_ = true;
  FailureKind last_failure_ = FailureKind::kNone;
  ContextLogger log_;
};

// USB cameras libgphoto2 autodetects now, as port paths ("usb:001,007"), asked through a worker
// (USB probing can hang like any libgphoto2 call).
Result<std::vector<std::string>> AutodetectUsbPorts(const WorkerOptions& options);

}  // namespace twinrig::camera
