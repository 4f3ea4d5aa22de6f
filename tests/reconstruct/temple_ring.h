// The Middlebury templeRing check, the same in the test and in bench/reconstruction: how the real
// photographs are reconstructed (published cameras, the black backdrop keyed out, bundle
// adjustment) and how many dense points fall inside the data set's tight bounding box.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "reconstruct/mvs.h"
#include "reconstruct/pipeline.h"
#include "reconstruct/score.h"

namespace twinrig::testing {

inline reconstruct::ReconstructOptions TempleRingOptions() {
  reconstruct::ReconstructOptions options;
  options.scale = 1.0;
  options.target_faces = 20000;
  options.atlas_size = 1024;
  // The temple stands on a black cloth in front of black: the backdrop is keyed out.
  options.backdrop = *reconstruct::ParseBackdropKey("black:45");
  options.bundle_adjust = true;
  return options;
}

// The fraction of `points` inside the tight bounding box of the data set's README.txt.
inline double TempleRingInside(const std::vector<cv::Vec3f>& points) {
  return reconstruct::FractionInside(points, {-0.023121F, -0.038009F, -0.091940F},
                                     {0.078626F, 0.121636F, -0.017395F});
}

}  // namespace twinrig::testing
