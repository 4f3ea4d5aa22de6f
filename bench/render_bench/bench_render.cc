// Render time per megapixel of head24 views through the full product path (ray tracing with
// 4 rotated-grid supersamples, exposure, noise, JPEG + EXIF). Baseline, in the same run: the same
// frames rendered on one thread (Embree BVH in both; the speedup is the parallel one over rows).
#include <cstdio>
#include <string>
#include <thread>

#include "bench/harness/harness.h"
#include "sim/layout/layout.h"
#include "sim/render/renderer.h"

namespace {

using namespace twinrig;  // NOLINT(google-build-using-namespace): a small benchmark

int Fail(const Error& error) {
  std::fprintf(stderr, "error: %s\n", error.Describe().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = bench::QuickMode(argc, argv);
  const int width = quick ? 800 : 1600;
  const int height = quick ? 600 : 1200;
  const int views = quick ? 3 : 8;
  const int repeats = quick ? 1 : 2;

  sim::layout::LayoutOptions layout_options;
  layout_options.kind = "head24";
  auto layout = sim::layout::GenerateLayout(layout_options);
  if (!layout.ok()) return Fail(layout.error());
  auto head = sim::render::FindHeadData();
  if (!head.ok()) return Fail(head.error());
  bench::Stopwatch load;
  auto parallel = sim::render::Renderer::Create(*head, layout->truth);
  if (!parallel.ok()) return Fail(parallel.error());
  const double load_s = load.Seconds();
  sim::render::RendererOptions one;
  one.threads = 1;
  auto serial = sim::render::Renderer::Create(*head, layout->truth, one);
  if (!serial.ok()) return Fail(serial.error());

  // Views spread over the three rings.
  std::size_t bytes = 0;
  auto render_all = [&](const sim::render::Renderer& renderer) {
    for (int v = 0; v < views; ++v) {
      const auto& camera = layout->truth.cameras[static_cast<size_t>(v * 24 / views)];
      sim::render::Exposure exposure;
      exposure.width = width;
      exposure.height = height;
      exposure.serial = camera.serial;
      auto jpeg = renderer.RenderJpeg(camera, exposure, sim::render::SceneState{}, 1);
      if (!jpeg.ok()) {
        std::fprintf(stderr, "error: %s\n", jpeg.error().Describe().c_str());
        std::exit(1);
      }
      bytes = jpeg->size();
    }
  };
  const auto [candidate, baseline] =
      bench::MeasurePair([&] { render_all(**parallel); }, [&] { render_all(**serial); }, repeats);
  const double megapixels = static_cast<double>(width) * height * views / 1e6;
  const double ms_per_mp = candidate.Median() * 1000 / megapixels;
  const double baseline_ms_per_mp = baseline.Median() * 1000 / megapixels;

  std::printf("render: head24, %d views of %dx%d (%.2f MP per pass), 4 supersamples, JPEG q92\n",
              views, width, height, megapixels);
  std::printf("%-28s %12s %12s\n", "", "s per pass", "ms per MP");
  std::printf("%-28s %12.3f %12.1f\n", "all cores (TBB, Embree)", candidate.Median(), ms_per_mp);
  std::printf("%-28s %12.3f %12.1f\n", "baseline: one thread", baseline.Median(),
              baseline_ms_per_mp);
  std::printf(
      "scene load + BVH build %.2f s; last JPEG %zu bytes; %u hardware threads; peak RSS "
      "%.0f MiB\n",
      load_s, bytes, std::thread::hardware_concurrency(), bench::PeakRssMb());
  bench::ResultLine("render")
      .Add("ms_per_mp", ms_per_mp, 1)
      .Add("baseline_ms_per_mp", baseline_ms_per_mp, 1)
      .Add("speedup", baseline_ms_per_mp / ms_per_mp, 2)
      .Add("width", width, 0)
      .Add("height", height, 0)
      .Add("views", views, 0)
      .Print();
  return 0;
}
