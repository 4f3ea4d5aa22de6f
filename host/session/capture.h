// Capture: fire every camera of a session, download each frame as it appears, verify it on disk,
// journal every step, delete it on the camera only once the host copy is verified.
//
// Triggers. Hardware (the default in a studio): the trigger nodes fire every shutter line at one
// scheduled instant (host/riglink); the workers wait for each camera's new file. Software
// (--software-trigger, for rigs without nodes): InitiateCapture on every camera at once.
//
// Resume. The journal says which frames were fired, verified, deleted. `Resume()` downloads what is
// still on the cards and adopts a frame a camera took just before the station died (one unknown
// file on its card); `RetakeMissing()` fires only the cameras whose frame of the last take is
// missing. Every frame lands exactly once: its path is fixed (images/<serial>/take-NNNN.jpg) and
// written through a temporary name and a rename.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "host/camera/camera_worker.h"
#include "host/session/journal.h"
#include "host/session/session.h"
#include "util/result.h"

namespace twinrig::session {

struct Progress {
  int take = 0;
  int cameras = 0;
  int fired = 0;
  int downloaded = 0;
  int verified = 0;
  double megabytes = 0;
  double seconds = 0;
};

struct CameraProblem {
  std::string serial;
  std::string what;
  std::string todo;
};

struct TakeReport {
  int take = 0;
  int cameras = 0;
  int fired = 0;
  int verified = 0;
  double seconds = 0;
  double megabytes = 0;
  std::vector<CameraProblem> problems;
  [[nodiscard]] bool complete() const { return verified == cameras; }
};

struct CaptureReport {
  std::vector<TakeReport> takes;
  [[nodiscard]] bool complete() const;
};

// Fires the shutter lines of `serials` at one instant (hardware trigger); set by the caller that
// owns the trigger nodes.
using HardwareFire = std::function<Status(int take, const std::vector<std::string>& serials)>;

struct CaptureOptions {
  int takes = 1;
  bool software_trigger = false;
  HardwareFire hardware_fire;  // required unless software_trigger
  camera::WorkerOptions worker;
  int download_attempts = 3;
  std::chrono::milliseconds frame_wait{std::chrono::seconds(15)};  // hardware: wait for each file
  std::function<void(const Progress&)> progress;  // called a few times a second while a take runs
  // Called before a take fires (and before a retake of it): e.g. calibration moves the board to the
  // take's pose first. An error stops the capture before anything fires.
  std::function<Status(int take)> before_take;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

class CaptureRunner {
 public:
  CaptureRunner(SessionInfo session, CaptureOptions options);
  // New takes after the last one in the journal.
  Result<CaptureReport> Capture();
  // Finishes every take the journal has open: downloads what is on the cards, adopts stray frames.
  Result<CaptureReport> Resume();
  // Fires again only the cameras whose frame of the last take is missing.
  Result<CaptureReport> RetakeMissing();

 private:
  struct Impl;
  SessionInfo session_;
  CaptureOptions options_;
};

// The per-take summary line, e.g. "take 1: 24/24 fired, 24/24 verified, 48.1 MB in 3.2 s".
std::string DescribeTake(const TakeReport& report);

}  // namespace twinrig::session
