// One camera through libgphoto2 (USB or PTP/IP). Used only inside a camera worker process
// (worker_main.cc): libgphoto2 2.5.30 can block forever inside a call, so the process that owns a
// handle must be one the supervisor can kill without disturbing any other camera.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/result.h"

namespace twinrig::camera {

struct CameraIdentity {
  std::string serial;
  std::string manufacturer;
  std::string model;
  std::string firmware;
  std::string port;  // where it answered this time ("ptpip:127.0.0.2", "usb:001,007")
};

// Parses libgphoto2's summary text ("Manufacturer: …", "Serial Number: …").
CameraIdentity ParseSummary(const std::string& summary);

struct StorageState {
  std::uint64_t capacity_kb = 0;
  std::uint64_t free_kb = 0;
};

struct FileRef {
  std::string folder;  // "/store_00010001/DCIM/100TWRIG"
  std::string name;    // "IMG_0001.JPG"
  // The camera's own record of the file (object info), when listed: its size in bytes and when it
  // was taken (seconds since the epoch by the camera's clock). 0: unknown.
  std::uint64_t size = 0;
  std::int64_t captured = 0;
};

struct Downloaded {
  std::filesystem::path path;
  std::uint64_t size = 0;
  std::string sha256;
  std::uint64_t declared_size = 0;  // the size the camera declared for the object; 0: unknown
};

// Why the last operation failed, as far as the station must act on it differently.
enum class FailureKind {
  kNone,
  kCamera,      // the camera refused or reported an error; its connection is still good
  kConnection,  // the link broke (I/O error, timeout): reopen the camera before the next request
  kDiskFull,  // the station's disk has no room for the file: stop capturing, keep what is verified
};

// The kind's name on the worker's wire ("connection", …; "" for kNone) and back.
inline std::string FailureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kNone:
      return "";
    case FailureKind::kCamera:
      return "camera";
    case FailureKind::kConnection:
      return "connection";
    case FailureKind::kDiskFull:
      return "disk_full";
  }
  return "";
}

inline FailureKind FailureKindFromName(const std::string& name) {
  if (name == "camera") return FailureKind::kCamera;
  if (name == "connection") return FailureKind::kConnection;
  if (name == "disk_full") return FailureKind::kDiskFull;
  return FailureKind::kNone;
}

class GphotoCamera {
 public:
  // `port` is a libgphoto2 port path: "ptpip:<ipv4>[:<port>:<port>]" or "usb:BUS,DEV".
  static Result<std::unique_ptr<GphotoCamera>> Open(const std::string& port);
  ~GphotoCamera();
  GphotoCamera(const GphotoCamera&) = delete;
  GphotoCamera& operator=(const GphotoCamera&) = delete;

  Result<CameraIdentity> Identify();
  // Every leaf setting the camera exposes, by libgphoto2 widget name ("iso", "shutterspeed", …).
  Result<std::map<std::string, std::string>> ReadSettings();
  Status ApplySetting(const std::string& name, const std::string& value);
  Result<StorageState> Storage();
  // Software trigger (InitiateCapture); returns the new file on the camera.
  Result<FileRef> Capture();
  // Drains camera events for up to `timeout_ms`; returns the files that appeared.
  Result<std::vector<FileRef>> WaitForFiles(int timeout_ms);
  // Streams the file to `destination` through a ".part" file: the space is reserved first (a full
  // disk fails before a byte moves, naming the file), libgphoto2 writes straight into it, one
  // fsync, then the copy on disk is hashed and renamed into place.
  Result<Downloaded> Download(const FileRef& file, const std::filesystem::path& destination);
  // Reads the byte ranges (offset, length) of `file` from the camera once more and compares them
  // with the same ranges of the local copy `local`; an Error names the first differing offset.
  Status CompareRanges(const FileRef& file, const std::filesystem::path& local,
                       const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges);
  Status Delete(const FileRef& file);
  // Every file on the camera's storage (for resuming after a crash: what is still on the card),
  // with its size and capture time from the camera's object info.
  Result<std::vector<FileRef>> ListFiles();
  // The camera's battery level in percent; an Error when the camera does not report one.
  Result<int> BatteryPercent();

  // What kind of failure the last failed call was (kNone after a success).
  [[nodiscard]] FailureKind last_failure() const { return last_failure_; }
  void ClearFailure() { last_failure_ = FailureKind::kNone; }

 private:
  GphotoCamera(void* camera, void* context, std::string port)
      : camera_(camera), context_(context), port_(std::move(port)) {}
  Error GpError(int code, const std::string& doing);
  // A text setting from the camera's status section ("serialnumber"); "" when absent.
  std::string StatusText(const char* name);
  void* camera_;   // Camera*
  void* context_;  // GPContext*
  std::string port_;
  FailureKind last_failure_ = FailureKind::kNone;
};

// USB cameras libgphoto2 detects now, as port paths ("usb:001,007").
Result<std::vector<std::string>> AutodetectUsb();

}  // namespace twinrig::camera
