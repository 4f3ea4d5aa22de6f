// Helpers for the virtual camera tests: a libgphoto2 camera handle with RAII, the gphoto2 CLI
// under a hard deadline, a remote-port edge sender, and an image source that remembers its output.
#pragma once

#include <gphoto2/gphoto2.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "sim/camera/camera_farm.h"
#include "sim/wire/remote_port.h"
#include "util/result.h"
#include "util/subprocess.h"

namespace twinrig::sim::camera::testing {

// One libgphoto2 camera on a PTP/IP port, opened like the product opens one ("PTP/IP Camera").
class GphotoCamera {
 public:
  GphotoCamera() = default;
  ~GphotoCamera();
  GphotoCamera(const GphotoCamera&) = delete;
  GphotoCamera& operator=(const GphotoCamera&) = delete;

  // gp_camera_init on `port` ("ptpip:127.0.0.2"). Returns the libgphoto2 error code (GP_OK = 0).
  int Open(const std::string& port);
  [[nodiscard]] Camera* get() const { return camera_; }
  [[nodiscard]] GPContext* context() const { return context_; }

  Result<std::string> Summary();
  // Capture (InitiateCapture + events), download, delete on the camera.
  Result<std::vector<std::uint8_t>> CaptureAndDownload();
  Result<std::vector<std::uint8_t>> Download(const std::string& folder, const std::string& name);

 private:
  Camera* camera_ = nullptr;
  GPContext* context_ = nullptr;
};

// Runs `gphoto2 args...` under `timeout -s KILL <seconds>` with HOME set to `home`.
SubprocessResult RunGphoto2(const std::string& home, const std::vector<std::string>& args,
                            int seconds = 60);

// Sends one remote-port datagram to `address`:`port`.
void SendEdge(const std::string& address, std::uint16_t port, const wire::LineEdge& edge);

std::int64_t MonotonicNs();

// Wraps the synthetic source and keeps every image it produced by (serial, sequence).
class RecordingSource {
 public:
  explicit RecordingSource(std::size_t size_bytes) : size_hint(size_bytes) {}
  ImageSource Source();
  std::vector<std::uint8_t> Get(const std::string& serial, std::uint64_t sequence);
  std::size_t Count();

 private:
  const std::size_t size_hint;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::uint64_t>, std::vector<std::uint8_t>> images_;
};

// Collects exposure records; Wait blocks (bounded) until `count` records have arrived.
class RecordLog {
 public:
  std::function<void(const ExposureRecord&)> Callback();
  bool Wait(std::size_t count, int timeout_ms);
  std::vector<ExposureRecord> Records();

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<ExposureRecord> records_;
};

}  // namespace twinrig::sim::camera::testing
