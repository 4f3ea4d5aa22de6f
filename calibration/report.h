// The calibration report: report/index.html with PNG pictures — each camera's coverage by its
// detected corners with the residual vectors drawn on it (magnified), the reprojection error per
// camera as a bar chart, a top and a side view of the recovered rig with the board poses, and a
// table with one verdict line per camera.
#pragma once

#include <filesystem>
#include <string>

#include "calibration/rig_calibration.h"
#include "calibration/solver.h"
#include "util/result.h"

namespace twinrig::calibration {

// Writes `folder`/index.html and its pictures (folder is created).
Status WriteReport(const RigCalibration& calibration, const RigSolution& solution,
                   const std::filesystem::path& folder);

// The per-camera table printed by `twinrig calibrate`: serial, views, RMS px, verdict, note.
std::string FormatCameraTable(const RigCalibration& calibration, const RigSolution& solution);

}  // namespace twinrig::calibration
