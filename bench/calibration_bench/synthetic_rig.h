// A synthetic rig for scoring the rig solve against exact truth: cameras on rings around a
// capture volume with lenses like the virtual studio's (distortion of 1-2 px at the image corner,
// a little tangential), a ChArUco board at random poses turned toward each part of the rig, and
// every visible corner projected through the true camera with Gaussian noise. Same seed -> same
// rig.
#pragma once

#include <cstdint>
#include <vector>

#include "calibration/board.h"
#include "calibration/rig_calibration.h"
#include "calibration/solver.h"

namespace twinrig::calibration_bench {

struct SyntheticRigOptions {
  int cameras = 48;
  // The procedure that meets the rig targets (focal < 0.1 %, rotation < 0.05 deg, position
  // < 0.5 mm for every camera): 80 board positions of a dense board (10x14 squares of 28 mm, the
  // same 0.28 x 0.39 m as a 5x7 of 60 mm, with 117 inner corners instead of 24).
  int poses = 80;
  int rings = 3;
  int width = 1600;
  int height = 1200;
  // RMS length of the 2-D corner error (each axis: noise_px / sqrt 2). twinrig's corners on the
  // virtual studio's renders measure 0.10 px (tests/calibration/rendered_test, which holds them
  // below 0.15 px); 0.15 px leaves that margin.
  double noise_px = 0.15;
  double distance_m = 0.85;
  std::uint64_t seed = 1;
  std::string board = "charuco:10x14:0.028:0.021:DICT_6X6_250";
};

struct SyntheticRig {
  calibration::BoardSpec board;
  std::vector<calibration::CameraCalibration> truth;          // true lenses and poses
  std::vector<calibration::CameraObservations> observations;  // noisy corners per camera
};

SyntheticRig MakeSyntheticRig(const SyntheticRigOptions& options);

}  // namespace twinrig::calibration_bench
