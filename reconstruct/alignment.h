// Two sets of cameras in two frames: the similarity (scale, rotation, translation) that best maps
// one set's camera centres onto the other's (Umeyama's least squares), and how far the poses
// still differ once it is applied. Bundle adjustment fixes one camera and lets the scale drift, so
// its poses are brought back into the rig's metric frame this way; and a reconstruction's cameras
// are compared with published ones (the templeRing check) the same way.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "geometry/geometry.h"
#include "reconstruct/types.h"
#include "util/result.h"

namespace twinrig::reconstruct {

// The similarity between two frames and its estimate: the shared geometry vocabulary's.
using geometry::EstimateSimilarity;
using geometry::Similarity;

struct PoseDifference {
  int cameras = 0;
  double rotation_median_deg = 0;
  double rotation_max_deg = 0;
  double position_median_mm = 0;
  double position_max_mm = 0;
  Similarity alignment;  // estimated -> reference
};

// `estimated` and `reference` hold the same cameras in the same order; the estimated ones are
// aligned onto the reference by their centres before the angles and distances are measured.
Result<PoseDifference> ComparePoses(const std::vector<PinholeView>& estimated,
                                    const std::vector<PinholeView>& reference);

}  // namespace twinrig::reconstruct
