// Synthetic payload mode: a real baseline JPEG (libturbojpeg) of a small pattern unique to each
// camera and exposure, padded with COM segments to an exact byte size, so that transfer tests and
// benchmarks move realistic sizes and every file still passes a structural JPEG check.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "sim/camera/camera_config.h"
#include "util/jpeg.h"
#include "util/result.h"

namespace twinrig::sim::camera {

// The JPEG of `request`, exactly `size_bytes` long. The pattern depends on the serial, the
// sequence number and the capture id, so no two exposures give the same bytes. Sizes below the
// unpadded JPEG (about 2 KB) or 1-3 bytes above it cannot be hit exactly and are an Error.
Result<std::vector<std::uint8_t>> SyntheticJpeg(const ExposureRequest& request,
                                                std::size_t size_bytes);

using ::twinrig::CheckJpegStructure;  // util/jpeg.h

// An image source that produces SyntheticJpeg of the camera's configured size.
ImageSource SyntheticImageSource(std::size_t size_bytes);

}  // namespace twinrig::sim::camera
