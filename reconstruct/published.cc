#include "reconstruct/published.h"

#include "reconstruct/mvs.h"
#include "reconstruct/score.h"

namespace twinrig::reconstruct {

ReconstructOptions TempleRingOptions() {
  ReconstructOptions options;
  options.scale = 1.0;
  options.target_faces = 20000;
  options.atlas_size = 1024;
  // The temple stands on a black cloth in front of black: the backdrop is keyed out.
  options.backdrop = *ParseBackdropKey("black:45");
  options.bundle_adjust = true;
  return options;
}

double TempleRingInside(const std::vector<cv::Vec3f>& points) {
  return FractionInside(points, {-0.023121F, -0.038009F, -0.091940F},
                        {0.078626F, 0.121636F, -0.017395F});
}

}  // namespace twinrig::reconstruct
