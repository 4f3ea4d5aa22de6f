// The image source of a rendering studio: every exposure a virtual camera makes is rendered through
// that camera's true lens, with its settings, at the instant it really exposed. Shared by the
// studio process and the tests that run cameras in-process.
#pragma once

#include <functional>

#include "sim/camera/camera_config.h"
#include "sim/layout/layout.h"
#include "sim/render/renderer.h"

namespace twinrig::sim::studio {

// `renderer` and `truth` must outlive the source. `scene` says what is in front of the cameras at
// the moment of each exposure (the control socket changes it while the studio runs).
camera::ImageSource RenderingImageSource(const render::Renderer& renderer,
                                         const layout::GroundTruth& truth, int width, int height,
                                         std::function<render::SceneState()> scene);

}  // namespace twinrig::sim::studio
