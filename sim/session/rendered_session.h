// A studio with one rendered head24 session, as the capture stack would leave it: rig file,
// ground truth (sim/<rig>/groundtruth.json), a rig calibration written from the ground truth (the
// stand-in for `twinrig calibrate` in tests and benchmarks only), session.json that records it, and
// take-0001.jpg from every camera, rendered by the virtual studio's renderer.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "sim/layout/layout.h"
#include "util/result.h"

namespace twinrig::sim::session {

struct RenderedSessionOptions {
  int width = 400;  // camera image size (the layout's sensor size)
  int height = 300;
  std::uint64_t seed = 11;
  int supersamples = 4;
  std::string session_id = "S-TEST";
  std::string calibration_id = "C-TEST";
  bool record_calibration = true;  // session.json names the calibration
  bool write_calibration = true;
};

struct RenderedSession {
  std::filesystem::path studio;
  std::string session_id;
  sim::layout::Layout layout;
  std::filesystem::path session_folder;
};

Result<RenderedSession> MakeRenderedSession(const std::filesystem::path& studio,
                                            const RenderedSessionOptions& options = {});

// The head scan folder of the repository (sim/data/head).
std::filesystem::path HeadFolder();

}  // namespace twinrig::sim::session
