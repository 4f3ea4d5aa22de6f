// The capture chaos campaign (bench/capture-chaos and the [slow] chaos test): sessions of takes on
// a farm of virtual cameras while camera faults are switched on and off at random moments, some
// stations are SIGKILLed mid-take (and some of those sessions abandoned, their frames left on the
// cards), and now and then a camera is fired outside any session. Each session is then finished
// the way a technician would (--resume, --retake-missing), and every take is checked against the
// virtual studio's truth: exactly one verified frame per camera, byte-identical to an exposure
// that camera made during this session, or an absence the station reported with its cause.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/result.h"

namespace twinrig::chaos {

struct ChaosOptions {
  int sessions = 30;
  int takes_per_session = 3;
  int cameras = 6;
  std::size_t image_bytes = std::size_t{256} * 1024;
  std::string base_address = "127.0.71.2";
  std::uint32_t seed = 26;
  int kill_every = 5;  // every Nth session's station is SIGKILLed during its capture
  // Pause between two injected faults (uniform in [min, max]) and how long one lasts.
  std::chrono::milliseconds fault_gap_min{250};
  std::chrono::milliseconds fault_gap_max{900};
  std::chrono::milliseconds fault_length_min{400};
  std::chrono::milliseconds fault_length_max{2500};
  int finish_rounds = 3;           // resume + retake-missing rounds after a run, as --finish does
  std::filesystem::path work_dir;  // the studio lives here
  std::filesystem::path worker_binary;  // twinrig-camera-worker
  [[nodiscard]] std::vector<std::string> Validate() const;
};

struct ChaosResult {
  int takes = 0;   // takes checked (of sessions that were finished, not abandoned)
  int faults = 0;  // faults switched on
  int kills = 0;   // stations SIGKILLed
  int abandoned = 0;
  int stray_shots = 0;  // exposures made outside any session on purpose
  int frames_expected = 0;
  int frames_verified = 0;
  int lost = 0;              // frames not verified
  int lost_exposed = 0;      // of those, the camera did expose after the station last fired it
                             // for that take (each listed in findings with the reported cause)
  int lost_unreported = 0;   // of those, the station's final report did not list with a cause
  int duplicated = 0;        // one exposure verified twice
  int corrupt_accepted = 0;  // a verified file that is no exposure's bytes
  int foreign_adopted = 0;   // a verified file from another camera, session or a stray shot
  int false_done = 0;        // sessions whose final report said complete when it was not
  int strays_reported = 0;
  int errors = 0;  // capture calls that failed outright
  double seconds = 0;
  std::vector<std::string> findings;  // one line per defect found, for the log
  [[nodiscard]] std::string ResultLine() const;
};

Result<ChaosResult> RunChaos(const ChaosOptions& options);

}  // namespace twinrig::chaos
