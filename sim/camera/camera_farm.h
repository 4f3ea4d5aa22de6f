// The virtual camera farm: many PTP/IP cameras in one process that the real, unmodified
// libgphoto2 drives exactly as networked DSLRs (`ptpip:127.0.0.2`, model "PTP/IP Camera").
//
//   auto configs = MakeCameraConfigs(24, {.base_address = "127.0.1.2"});
//   CameraFarm farm(configs);
//   farm.SetImageSource(render_jpeg);                 // default: synthetic JPEGs
//   farm.OnExposure([](const ExposureRecord& r) { ... });
//   TWINRIG_RETURN_IF_ERROR(farm.Start());
//   farm.SetFault("TWR00003", Fault{.busy_on_capture = true});
//
// Each camera listens on its own loopback address: PTP/IP (command and event channel) on TCP
// `port` (15740), and the remote port (sim/wire/remote_port.h) on UDP `remote_port` (15741).
//
// Exposures. A shutter-line close on the remote port exposes at edge.true_time_ns + the camera's
// shutter lag (plus optional jitter); a PTP InitiateCapture exposes at its arrival + the lag. The
// farm's shutter thread sleeps until that true time (clock_nanosleep, CLOCK_MONOTONIC, absolute),
// records the true time and, separately, how late the OS woke it. An image worker then asks the
// image source for the JPEG, keeps it in DCIM/100TWRIG/ and announces ObjectAdded and
// CaptureComplete on the event channel. Every exposure is reported to OnExposure callbacks and, if
// `truth_log` is set, appended as one JSON line to that file.
//
// Threads: a fixed pool, whatever the camera count: `io_threads` for all sockets (Boost.Asio), one
// shutter thread, `image_threads` image workers.
//
// Capture target is the vendor property 0xD0C0 (UINT8; 0 camera RAM, 1 card): RAM images are
// kept until deleted but do not use card space.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/camera/camera_config.h"
#include "util/result.h"

namespace twinrig::sim::camera {

struct FarmOptions {
  int io_threads = 2;               // socket threads for all cameras
  int image_threads = 2;            // image source calls run here, not on the socket threads
  std::filesystem::path truth_log;  // append-only JSON lines of ExposureRecord; empty: none
  std::size_t data_chunk_bytes = 1U << 20;  // PTP/IP Data packet payload for GetObject
  // A connection that sends no InitCommandRequest/InitEventRequest within this is closed.
  std::chrono::milliseconds handshake_timeout{10'000};
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// Where a studio of cameras lives. Camera k (1-based) gets base_address + (k - 1), so the default
// puts camera 1 on 127.0.0.2, camera 2 on 127.0.0.3, and so on (wrapping into the next octet).
// Tests give every studio its own base address (e.g. 127.0.7.2) so they never collide.
struct StudioAddressing {
  std::string base_address = "127.0.0.2";
  std::uint16_t port = kDefaultPtpIpPort;
  std::uint16_t remote_port = wire::kRemotePortUdp;
  std::string serial_prefix = "TWR";  // serials TWR00001, TWR00002, ...
  std::int64_t shutter_lag_ns = 60'000'000;
  // Each camera's lag is spread deterministically over lag +- this (real bodies differ).
  std::int64_t shutter_lag_spread_ns = 500'000;
  std::size_t synthetic_jpeg_bytes = 2U << 20;
};

// `count` configs with consecutive addresses and serials. An Error when an address would leave
// 127.0.0.0/8.
Result<std::vector<CameraConfig>> MakeCameraConfigs(int count, const StudioAddressing& addressing);

// Per-camera counters (CameraFarm::Stats), for tests and status displays.
struct CameraStats {
  std::uint64_t connections = 0;       // command connections accepted
  std::uint64_t refused_sessions = 0;  // InitFail sent
  std::uint64_t dropped_connections = 0;
  std::uint64_t malformed_packets = 0;  // connections closed for malformed input
  std::uint64_t operations = 0;
  std::uint64_t busy_refusals = 0;  // InitiateCapture answered DeviceBusy
  std::uint64_t store_full_refusals = 0;
  std::uint64_t exposures = 0;
  std::uint64_t images_stored = 0;
  std::uint64_t events_sent = 0;
  std::uint64_t events_suppressed = 0;  // swallowed by the no_events fault
  std::uint64_t bytes_sent = 0;         // object data sent
  std::uint64_t remote_edges = 0;       // well-formed remote-port datagrams
  std::uint64_t remote_rejected = 0;    // malformed remote-port datagrams
  std::uint64_t free_bytes = 0;         // card free space now
  std::size_t images_on_card = 0;
};

class CameraFarm {
 public:
  explicit CameraFarm(std::vector<CameraConfig> cameras, FarmOptions options = {});
  ~CameraFarm();  // Stop()s
  CameraFarm(const CameraFarm&) = delete;
  CameraFarm& operator=(const CameraFarm&) = delete;

  // Validates the configs, binds every camera's sockets and starts the threads. An Error (bad
  // config, address in use) leaves nothing running. Start once.
  Status Start();
  // Drops exposures still waiting for their true time, finishes the images of exposures already
  // taken (image source, truth log, callbacks), closes every socket and joins the threads.
  // Idempotent.
  void Stop();

  // Replaces the image source for every camera (default: SyntheticJpeg of the camera's
  // synthetic_jpeg_bytes). Safe while running.
  void SetImageSource(ImageSource source);
  // Adds a callback for every exposure (called on an image worker after the image is stored or
  // refused). Safe while running.
  void OnExposure(std::function<void(const ExposureRecord&)> callback);

  // Switches a camera's faults (the whole set at once). Safe while running. An Error for an
  // unknown serial or index.
  Status SetFault(const std::string& serial, const Fault& fault);
  Status SetFault(std::size_t index, const Fault& fault);

  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] const CameraConfig& config(std::size_t index) const;
  // Index of `serial`, or an Error.
  [[nodiscard]] Result<std::size_t> Find(const std::string& serial) const;
  [[nodiscard]] CameraStats Stats(std::size_t index) const;
  // "ptpip:127.0.0.2" (with ":port:port" when the port is not 15740), for libgphoto2.
  [[nodiscard]] std::string GphotoPort(std::size_t index) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace twinrig::sim::camera
