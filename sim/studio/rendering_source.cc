#include "sim/studio/rendering_source.h"

#include <string>
#include <utility>

namespace twinrig::sim::studio {

camera::ImageSource RenderingImageSource(const render::Renderer& renderer,
                                         const layout::GroundTruth& truth, int width, int height,
                                         std::function<render::SceneState()> scene) {
  const std::int64_t clock_offset = render::MonotonicToUnixOffsetNs();
  return [&renderer, &truth, width, height, clock_offset, scene = std::move(scene)](
             const camera::ExposureRequest& request) -> Result<std::vector<std::uint8_t>> {
    const auto* cam = truth.Find(request.serial);
    if (cam == nullptr) return MakeError("no truth for this camera", request.serial);
    render::Exposure exposure;
    exposure.iso = request.settings.iso;
    exposure.shutter_s = request.settings.shutter_s;
    exposure.aperture_f = request.settings.aperture_f;
    exposure.white_balance_k = request.settings.white_balance_k;
    // The render size is the camera's largest image size; a smaller ImageSize setting renders
    // smaller by the same ratio.
    const bool smaller = request.sensor_width > 0 && request.settings.width > 0 &&
                         request.settings.width < request.sensor_width;
    exposure.width = smaller ? width * request.settings.width / request.sensor_width : width;
    exposure.height = smaller ? height * request.settings.height / request.sensor_height : height;
    exposure.jpeg_quality = request.settings.jpeg_quality;
    exposure.true_time_ns = request.true_time_ns;
    exposure.clock_offset_ns = clock_offset;
    exposure.make = request.manufacturer;
    exposure.model = request.model;
    exposure.serial = request.serial;
    // Same camera and shot, same noise: a studio run is reproducible for a seed.
    const std::uint64_t seed =
        std::hash<std::string>{}(request.serial) ^ (request.sequence * 0x9E3779B97F4A7C15ULL);
    return renderer.RenderJpeg(*cam, exposure, scene(), seed);
  };
}

}  // namespace twinrig::sim::studio
