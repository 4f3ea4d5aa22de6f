// Checks of the reconstruction on published data sets (real photographs with known cameras, read
// by LoadPublishedViews): how each is reconstructed and how its result is judged, the same in the
// tests and in bench/reconstruction.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "reconstruct/pipeline.h"

namespace twinrig::reconstruct {

// Middlebury templeRing: the published cameras, the black backdrop keyed out, bundle adjustment.
ReconstructOptions TempleRingOptions();

// The fraction of `points` inside the tight bounding box of templeRing's README.txt.
double TempleRingInside(const std::vector<cv::Vec3f>& points);

}  // namespace twinrig::reconstruct
