// Capture: fire every camera of a session, download each frame as it appears, verify it on disk,
// journal every step, delete it on the camera only once the host copy is verified.
//
// Triggers. Hardware (the default in a studio): the trigger nodes fire every shutter line at one
// scheduled instant (host/riglink); the workers wait for each camera's new file. Software
// (--software-trigger, for rigs without nodes): InitiateCapture on every camera at once.
//
// Resume. The journal says which frames were fired, verified, deleted. `Resume()` reads every card
// afresh, downloads what is still on them and adopts a frame a camera took just before the station
// died: only a file the camera itself dates inside that take's window (from when the station
// fired it to frame_wait later); a camera whose window is still open is waited for, not fired
// again. Any other unknown file is a stray: reported and journalled, never filed in this session.
// `RetakeMissing()` fires only the cameras whose frame is still missing, in every incomplete take;
// `AcceptMissing()` closes them as missing with a reason.
//
// Verification. A frame counts only when it is whole (host/session/frame_check.h: the declared
// size, the JPEG structure, a full decode); a frame that is not is downloaded again, and the
// camera's copy is deleted only after a verified copy is journalled. Every frame lands exactly
// once: its path is fixed (images/<serial>/take-NNNN.jpg) and written through a temporary name and
// a rename.
//
// Workers. A CaptureRunner keeps one worker per camera (host/camera/camera_pool.h) for its whole
// life: every take of Capture(), and Resume() and RetakeMissing() on the same runner, use the same
// connected cameras. A dropped link reopens that camera and the download is tried again.
//
// A full disk stops the capture: no further download or take starts, the report names the file
// that did not fit, every frame already verified stays as it is, and the frames that did not fit
// stay on the cameras for `twinrig capture --resume` once there is space.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/camera/camera_pool.h"
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
  int accepted_missing = 0;  // closed as missing on purpose (--accept-missing)
  double seconds = 0;
  double megabytes = 0;
  std::vector<CameraProblem> problems;
  // Not failures: a low battery, a slow link. The frame may still be verified.
  std::vector<CameraProblem> warnings;
  // Cameras whose frame is neither verified nor accepted as missing, each with its last cause.
  std::vector<CameraProblem> missing;
  [[nodiscard]] bool complete() const { return verified + accepted_missing == cameras; }
};

// A file on a camera's card that belongs to no take of this session: left by another session
// (its event lost) or taken outside any take. Never filed here; reported and journalled, and
// deleted on the camera when no open take of any session can claim it.
struct StrayFrame {
  std::string serial;
  std::string file;           // folder/name on the camera
  std::int64_t captured = 0;  // seconds since the epoch by the camera's clock; 0 unknown
  // The other session of this studio whose open take fired this camera when the frame was taken
  // ("" when none does): its own `--resume` adopts it.
  std::string session;
  int take = 0;
  // Deleted on the camera: dated, and in no open take of any session of the studio (a shot
  // outside any session, or a frame already verified in its own). The journal records it.
  bool deleted = false;
};

struct CaptureReport {
  std::vector<TakeReport> takes;
  // Set when the capture stopped early (a full disk): what happened, naming the file, and what to
  // do.
  std::string stopped;
  std::string stopped_todo;
  // Worker processes started and cameras reopened during this call (1 spawn per camera per runner
  // when nothing hangs).
  int worker_spawns = 0;
  int camera_reopens = 0;
  // Cameras found at another port than the session's (USB ports renumber, addresses change):
  // "SERIAL: OLD -> NEW". They are used where they are now.
  std::vector<std::string> moved;
  // Every take of the session (not only those this call touched) that is still incomplete, from
  // the journal: a run is done only when this is empty.
  std::vector<TakeReport> incomplete;
  std::vector<StrayFrame> strays;
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
  // Transfers at once. Every camera fires together, but 160 downloads at once only compete for
  // the station's cores and links: on a 2-core host libgphoto2's port timeouts start to fire. A
  // real camera sends 10-40 MB/s over PTP/IP, so a couple of dozen keep a 10 GbE link busy.
  // Waiting cameras keep their frame on the card.
  int downloads_at_once = 24;
  // Pause before trying a download again after a broken link (doubled each attempt): a camera that
  // dropped off the network gets a moment to come back.
  std::chrono::milliseconds retry_delay{std::chrono::milliseconds(300)};
  // From the trigger to the new file on the card. Also the width of the window in which a frame
  // on a card counts as this take's (plus a clock slack on both sides).
  std::chrono::milliseconds frame_wait{std::chrono::seconds(15)};
  // How far a camera's clock may be from the station's (they are set from it). A frame counts
  // for a take only if the camera dates it inside the take's window widened by this.
  std::chrono::seconds camera_clock_slack{1};
  // A camera whose battery is below this (percent) is warned about before a take fires.
  int low_battery_percent = 20;
  // A download slower than this (MB/s) is warned about: a bad cable or a crowded link.
  double slow_link_mb_per_s = 2.0;
  std::function<void(const Progress&)> progress;  // called a few times a second while a take runs
  // Called before a take fires (and before a retake of it): e.g. calibration moves the board to the
  // take's pose first. An error stops the capture before anything fires.
  std::function<Status(int take)> before_take;
  // A camera that does not answer at its port is looked for by serial at the session's other
  // ports and, with this set, among libgphoto2's USB cameras.
  bool locate_usb = true;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

class CaptureRunner {
 public:
  CaptureRunner(SessionInfo session, CaptureOptions options);
  ~CaptureRunner();
  CaptureRunner(const CaptureRunner&) = delete;
  CaptureRunner& operator=(const CaptureRunner&) = delete;
  // Starts every camera's worker and connects them all at once (each call below does it too, for
  // the cameras it needs). Returns the cameras that could not be connected.
  std::vector<CameraProblem> Connect();
  // New takes after the last one in the journal.
  Result<CaptureReport> Capture();
  // Finishes every take the journal has open: downloads what is on the cards, adopts stray frames.
  Result<CaptureReport> Resume();
  // Finishes every open take as Resume() does, then fires again only the cameras whose frame is
  // still missing, in every incomplete take (not only the last).
  Result<CaptureReport> RetakeMissing();
  // Closes the missing frames of `serials` in every incomplete take as accepted missing, with the
  // reason (journalled, listed in the manifest and so signed into the capture seal).
  Result<CaptureReport> AcceptMissing(const std::vector<std::string>& serials,
                                      const std::string& reason);

 private:
  struct Impl;
  // Connects every camera; one that does not answer as itself at its port is looked for by serial
  // (see CaptureOptions::locate_usb) and used where it is found. Returns "SERIAL: OLD -> NEW"
  // lines.
  std::vector<std::string> LocateMovedCameras();
  SessionInfo session_;
  CaptureOptions options_;
  std::unique_ptr<camera::CameraPool> pool_;
};

// The per-take summary line, e.g. "take 1: 24/24 fired, 24/24 verified, 48.1 MB in 3.2 s".
std::string DescribeTake(const TakeReport& report);
// The session's incomplete takes, one line per take and one per missing camera with its cause and
// what to do; "" when every take is complete.
std::string DescribeIncomplete(const CaptureReport& report);

}  // namespace twinrig::session
