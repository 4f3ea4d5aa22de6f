// What a virtual camera is (CameraConfig), what can go wrong with it on purpose (Fault), and what
// it tells the rest of the virtual studio when it exposes (ExposureRequest, ExposureRecord).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sim/wire/remote_port.h"
#include "util/result.h"

namespace twinrig::sim::camera {

inline constexpr std::uint16_t kDefaultPtpIpPort = 15740;

struct CameraConfig {
  std::string serial;                                // unique in the farm; DeviceInfo SerialNumber
  std::string manufacturer = "twinrig";              // DeviceInfo Manufacturer
  std::string model = "Virtual DSLR";                // DeviceInfo Model
  std::string firmware_version = "1.0.0";            // DeviceInfo DeviceVersion
  std::string address = "127.0.0.2";                 // IPv4 loopback address the camera listens on
  std::uint16_t port = kDefaultPtpIpPort;            // PTP/IP command and event port (TCP)
  std::uint16_t remote_port = wire::kRemotePortUdp;  // remote-port datagrams (UDP)
  std::int64_t shutter_lag_ns = 60'000'000;  // shutter line closed -> exposure, in true time
  std::int64_t shutter_lag_jitter_ns = 0;    // +- uniform jitter per shot on top of the lag
  // 0: the shutter line alone fires (manual focus, as studio rigs run). > 0: the focus line must
  // have been closed at least this long before the shutter edge, otherwise the shot is refused
  // (logged and recorded in the truth log with stored = false), like a camera that would not lock.
  std::int64_t focus_lead_ns = 0;
  std::uint64_t storage_capacity_bytes = 32ULL << 30;  // card size
  int battery_level = 100;                             // percent
  std::size_t synthetic_jpeg_bytes = 2U << 20;         // exact size of synthetic-mode images
  // The largest image it delivers. Its ImageSize property offers this (L), about 2/3 of it (M) and
  // half of it (S), as a body does, and each exposure is made at the size that is set.
  int sensor_width = 6000;
  int sensor_height = 4000;
  std::uint32_t seed = 1;  // shot-to-shot jitter and synthetic patterns

  [[nodiscard]] std::vector<std::string> Validate() const;
};

// Faults a test or the studio switches on and off while the camera runs (CameraFarm::SetFault).
// A default-constructed Fault is a healthy camera.
struct Fault {
  bool drop_connection = false;  // close the camera's connections now, and each new one at once
  bool no_events = false;        // swallow every event (libgphoto2 then waits forever in capture)
  bool busy_on_capture = false;  // InitiateCapture answers DeviceBusy (0x2019)
  std::uint64_t transfer_bytes_per_s = 0;  // > 0: GetObject/GetPartialObject paced to this rate
  bool corrupt_transfer = false;     // flip bytes in GetObject/GetPartialObject data on the wire
  bool card_full = false;            // no free space: StoreFull on capture, shots not stored
  std::optional<int> battery_level;  // overrides the battery level (percent) while set
  bool refuse_session = false;       // InitFail to every InitCommandRequest
};

// The camera's settings at the moment of an exposure, in the units a renderer wants.
struct ExposureSettings {
  int iso = 100;
  double shutter_s = 1.0 / 125.0;
  double aperture_f = 8.0;
  std::uint16_t white_balance = 4;  // PTP code: 1 manual, 2 auto, 4 daylight, 5 fluorescent, ...
  double white_balance_k = 5500;
  std::string image_size = "6000x4000";
  int width = 6000;
  int height = 4000;
  int compression = 3;  // 1 basic, 2 normal, 3 fine
  int jpeg_quality = 92;
  int capture_target = 1;  // 0 camera RAM, 1 card
};

// What the image source is asked to produce.
struct ExposureRequest {
  std::string serial;
  std::string manufacturer;
  std::string model;
  std::size_t camera_index = 0;   // 0-based position in the farm
  std::uint64_t sequence = 0;     // this camera's exposure count, 1-based
  std::uint32_t capture_id = 0;   // the remote-port edge's capture id (0 for PTP InitiateCapture)
  std::int64_t true_time_ns = 0;  // true exposure time (CLOCK_MONOTONIC ns)
  ExposureSettings settings;
  int sensor_width = 0;  // the camera's largest image size (settings.width/height: the one set)
  int sensor_height = 0;
};

// Produces the image file (a JPEG) of one exposure. Called from the farm's image workers, possibly
// for several cameras at once, so it must be thread-safe. An Error is logged and recorded.
using ImageSource = std::function<Result<std::vector<std::uint8_t>>(const ExposureRequest&)>;

// The truth about one exposure (CameraFarm::OnExposure and the JSON-lines truth log).
struct ExposureRecord {
  std::string serial;
  std::size_t camera_index = 0;
  std::uint64_t sequence = 0;
  std::uint32_t capture_id = 0;
  std::string trigger;              // "remote" (shutter line) or "ptp" (InitiateCapture)
  std::int64_t edge_time_ns = 0;    // shutter edge (remote) or InitiateCapture arrival (ptp)
  std::int64_t shutter_lag_ns = 0;  // lag used for this shot (configured lag + jitter)
  std::int64_t true_time_ns = 0;    // edge_time_ns + shutter_lag_ns: when the sensor exposed
  std::int64_t os_wake_ns = 0;      // when the simulation actually got there (CLOCK_MONOTONIC)
  std::int64_t os_lateness_ns = 0;  // os_wake_ns - true_time_ns (scheduling, not camera, delay)
  ExposureSettings settings;
  bool stored = false;       // the image is on the camera and was announced with ObjectAdded
  std::uint32_t handle = 0;  // PTP object handle when stored
  std::string filename;      // e.g. TWR_0001.JPG
  std::size_t bytes = 0;
  std::string sha256;  // of the image bytes as the image source produced them
  std::string error;   // why nothing was stored (card full, image source error, focus), if so
};

}  // namespace twinrig::sim::camera
