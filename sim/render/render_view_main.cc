// twinrig-render-view: renders what a virtual camera of a layout sees, for people and docs.
//
//   twinrig-render-view --layout head24 --camera 3 --out view.jpg
//   twinrig-render-view --layout head24 --contact-sheet docs/images/head24-contact-sheet.jpg
//   twinrig-render-view --layout head24 --write-layout /tmp/rig     # rig.toml + groundtruth.json
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "host/studio/studio_paths.h"
#include "sim/layout/layout.h"
#include "sim/render/renderer.h"
#include "util/files.h"

namespace {

using twinrig::Error;
using namespace twinrig::sim;  // NOLINT(google-build-using-namespace): a small tool

int Fail(const Error& error) {
  std::cerr << "error: " << error.Describe() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Renders views of the virtual studio (sim/render)"};
  std::string layout_name = "head24";
  std::uint64_t seed = 1;
  std::filesystem::path head;
  int camera_index = 0;
  int width = 0;
  int height = 0;
  int pose = -1;
  bool empty = false;
  std::filesystem::path out;
  std::filesystem::path sheet;
  std::filesystem::path write_layout;
  int sheet_columns = 6;
  int tile_width = 320;
  app.add_option("--layout", layout_name,
                 "head24, body160, or a folder with rig.toml and "
                 "groundtruth.json");
  app.add_option("--seed", seed, "layout and noise seed");
  app.add_option("--head", head,
                 "folder with head.obj and Map-COL.jpg (default: found from the repository)");
  app.add_option("--camera", camera_index, "camera index in the layout (0-based)");
  app.add_option("--width", width, "output width (default: the camera's full size)");
  app.add_option("--height", height, "output height");
  app.add_option("--calibration-pose", pose,
                 "render calibration target pose i instead of the "
                 "head");
  app.add_flag("--empty", empty, "render the empty studio");
  app.add_option("--out", out, "write one view here: JPEG with EXIF, or PNG (.png)");
  app.add_option("--contact-sheet", sheet, "write every view of the layout into one JPEG grid");
  app.add_option("--columns", sheet_columns, "contact sheet columns")->check(CLI::Range(1, 40));
  app.add_option("--tile-width", tile_width, "contact sheet tile width")
      ->check(CLI::Range(32, 1600));
  app.add_option("--write-layout", write_layout, "write rig.toml and groundtruth.json here");
  CLI11_PARSE(app, argc, argv);

  twinrig::sim::layout::Layout layout;
  if (layout_name == "head24" || layout_name == "body160") {
    layout::LayoutOptions options;
    options.kind = layout_name;
    options.seed = seed;
    auto generated = layout::GenerateLayout(options);
    if (!generated.ok()) return Fail(generated.error());
    layout = std::move(*generated);
  } else {
    auto read = layout::ReadLayout(layout_name);
    if (!read.ok()) return Fail(read.error());
    layout = std::move(*read);
  }
  if (!write_layout.empty()) {
    const auto status = layout::WriteLayout(write_layout, layout);
    if (!status.ok()) return Fail(status.error());
    std::cout << "wrote " << (write_layout / twinrig::studio::kRigFileName).string() << " and "
              << (write_layout / "groundtruth.json").string() << "\n";
  }
  if (out.empty() && sheet.empty()) return 0;

  auto head_folder = render::FindHeadData(head);
  if (!head_folder.ok()) return Fail(head_folder.error());
  auto renderer = render::Renderer::Create(*head_folder, layout.truth);
  if (!renderer.ok()) return Fail(renderer.error());
  render::SceneState scene;
  if (pose >= 0) {
    scene.mode = render::SceneState::Mode::kCalibration;
    scene.board_pose = pose;
  } else if (empty) {
    scene.mode = render::SceneState::Mode::kEmpty;
  }

  if (!out.empty()) {
    if (camera_index < 0 || camera_index >= static_cast<int>(layout.truth.cameras.size())) {
      return Fail(twinrig::MakeError("camera index out of range", "--camera",
                                     "use 0.." + std::to_string(layout.truth.cameras.size() - 1)));
    }
    const auto& camera = layout.truth.cameras[static_cast<size_t>(camera_index)];
    render::Exposure exposure;
    exposure.width = width;
    exposure.height = height;
    exposure.serial = camera.serial;
    exposure.model = layout.rig.cameras[static_cast<size_t>(camera_index)].model;
    if (out.extension() == ".png") {
      // Lossless, without EXIF: for looking closely.
      auto image = (*renderer)->RenderImage(camera, exposure, scene, seed);
      if (!image.ok()) return Fail(image.error());
      if (!cv::imwrite(out.string(), *image)) {
        return Fail(twinrig::MakeError("cannot write the PNG", out.string(), "check the folder"));
      }
      std::cout << "wrote " << out.string() << "\n";
      return 0;
    }
    auto jpeg = (*renderer)->RenderJpeg(camera, exposure, scene, seed);
    if (!jpeg.ok()) return Fail(jpeg.error());
    const auto status = twinrig::WriteFileAtomic(out, *jpeg);
    if (!status.ok()) return Fail(status.error());
    std::cout << "wrote " << out.string() << " (" << jpeg->size() << " bytes)\n";
  }

  if (!sheet.empty()) {
    const auto& first = layout.truth.cameras.front().intrinsics;
    const int tile_height = tile_width * first.height / first.width;
    const int count = static_cast<int>(layout.truth.cameras.size());
    const int rows = (count + sheet_columns - 1) / sheet_columns;
    cv::Mat grid(rows * tile_height, sheet_columns * tile_width, CV_8UC3, cv::Scalar(0, 0, 0));
    for (int i = 0; i < count; ++i) {
      const auto& camera = layout.truth.cameras[static_cast<size_t>(i)];
      render::Exposure exposure;
      exposure.width = tile_width;
      exposure.height = tile_height;
      auto image = (*renderer)->RenderImage(camera, exposure, scene, seed);
      if (!image.ok()) return Fail(image.error());
      cv::putText(*image, camera.serial, {6, tile_height - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.4,
                  cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
      image->copyTo(grid(cv::Rect((i % sheet_columns) * tile_width,
                                  (i / sheet_columns) * tile_height, tile_width, tile_height)));
      std::fprintf(stderr, "\rrendered %d/%d", i + 1, count);
    }
    std::fprintf(stderr, "\n");
    std::vector<std::uint8_t> jpeg;
    cv::imencode(".jpg", grid, jpeg, {cv::IMWRITE_JPEG_QUALITY, 85});
    const auto status = twinrig::WriteFileAtomic(sheet, jpeg);
    if (!status.ok()) return Fail(status.error());
    std::cout << "wrote " << sheet.string() << " (" << jpeg.size() << " bytes, " << count
              << " views)\n";
  }
  return 0;
}
