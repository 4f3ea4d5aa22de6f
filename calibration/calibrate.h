// Calibration from images on disk: one sub-folder per camera (the folder name is the camera's
// serial; a capture session's images/<serial>/ folders are exactly this), or a single folder of
// one camera's images. Images with the same file name in different camera folders are the same
// board pose (the same take). Detection runs on `threads` threads; the solve is SolveRig.
//
//   auto folders = ListImageFolders(dir);
//   auto observations = DetectBoards(*folders, board, {});
//   auto solution = SolveRig(*observations, board, {});
//   auto written = WriteCalibration(studio_rig_calibration_root, "head24", board, *solution, ...);
#pragma once

#include <array>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "calibration/board.h"
#include "calibration/colour.h"
#include "calibration/rig_calibration.h"
#include "calibration/solver.h"
#include "util/result.h"

namespace twinrig::calibration {

struct CameraImages {
  std::string serial;                        // the folder's name
  std::vector<std::filesystem::path> files;  // .jpg/.jpeg/.png/.tif, sorted by name
};

// Errors: the folder is missing, holds no images, or mixes images with camera folders.
Result<std::vector<CameraImages>> ListImageFolders(const std::filesystem::path& dir);

struct DetectAllOptions {
  DetectOptions detect;
  int threads = 2;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// Detects the board in every image. Board pose index = the rank of the file name among all file
// names. Errors: an image that cannot be read (named), images of one camera of different sizes.
// A camera that sees the board nowhere is returned with no views (SolveRig names it).
Result<std::vector<CameraObservations>> DetectBoards(const std::vector<CameraImages>& cameras,
                                                     const BoardSpec& board,
                                                     const DetectAllOptions& options = {});

// Colour: in each camera's images where no board was found, the first that shows a ColorChecker;
// when two or more cameras saw one, every camera that did gets a colour correction (the others
// none, with a note). Returns how many cameras got one.
Result<int> SolveColour(const std::vector<CameraImages>& cameras,
                        const std::vector<CameraObservations>& observations, RigSolution& solution,
                        int threads);

// A new calibration id from the current UTC time: "C-20261128-074012" (and the ISO time).
std::pair<std::string, std::string> NewCalibrationId();

// Writes <root>/<id>/calibration.json, colmap/ (image names "<serial>.jpg") and report/; returns
// the calibration. `root` is e.g. CalibrationRoot(studio, rig). Does not change `current`.
Result<RigCalibration> WriteCalibration(const std::filesystem::path& root, const std::string& rig,
                                        const BoardSpec& board, const RigSolution& solution);

}  // namespace twinrig::calibration
