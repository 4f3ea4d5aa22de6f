// Preflight: everything a capture needs, checked before the subject steps in. Every camera of the
// rig present and identified by serial, battery, free card space for the planned takes, the same
// exposure settings on every camera, trigger nodes in sync; and a list of what to fix.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "host/camera/camera_worker.h"
#include "host/session/session.h"
#include "util/result.h"

namespace twinrig::session {

struct PreflightOptions {
  int takes = 3;                // planned takes, for the card space check
  double frame_megabytes = 30;  // expected size of one frame on the card
  int min_battery_percent = 30;
  // Settings that must agree on every camera (libgphoto2 widget names).
  std::vector<std::string> uniform = {"iso",          "shutterspeed", "f-number",
                                      "whitebalance", "imagesize",    "imagequality"};
  bool check_nodes = true;
  camera::WorkerOptions worker;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

struct CameraCheck {
  std::string serial;  // from the rig file
  std::string port;
  bool present = false;
  std::string battery;  // as the camera says it ("85%")
  double free_frames = 0;
  std::map<std::string, std::string> settings;  // the uniform ones
  std::vector<std::string> problems;
};

struct NodeCheck {
  std::string endpoint;
  bool online = false;
  double sync_error_us = -1;
  std::vector<std::string> problems;
};

struct PreflightReport {
  std::vector<CameraCheck> cameras;
  std::vector<NodeCheck> nodes;
  std::map<std::string, std::string> majority;  // the value most cameras have, per setting
  std::vector<std::string> to_fix;              // one line per thing to fix
  [[nodiscard]] bool ready() const { return to_fix.empty(); }
};

// Checks the cameras and nodes of `rig_file` (rigs/<rig>/rig.toml).
Result<PreflightReport> RunPreflight(const std::filesystem::path& rig_file,
                                     const PreflightOptions& options);

// The table a technician reads.
std::string FormatPreflight(const PreflightReport& report);
// The same report as one line of JSON (`twinrig preflight --json`, what the review station reads):
// {"ready", "cameras": [{"serial", "port", "state" (ok|FIX|MISSING), "battery", "free_frames",
// "settings": {name: value}, "problems": [...]}], "nodes": [{"endpoint", "online",
// "sync_error_us", "problems"}], "to_fix": [...]}.
std::string PreflightJson(const PreflightReport& report);
// What a camera's line says: MISSING, FIX (problems to fix) or ok.
std::string CameraState(const CameraCheck& camera);

}  // namespace twinrig::session
