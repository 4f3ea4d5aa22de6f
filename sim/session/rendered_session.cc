#include "sim/session/rendered_session.h"

#include <nlohmann/json.hpp>

#include "calibration/rig_calibration.h"
#include "sim/render/renderer.h"
#include "util/files.h"

namespace twinrig::sim::session {

namespace fs = std::filesystem;

fs::path HeadFolder() {
  auto found = sim::render::FindHeadData();
  return found.ok() ? *found : fs::path("sim/data/head");
}

Result<RenderedSession> MakeRenderedSession(const fs::path& studio,
                                            const RenderedSessionOptions& options) {
  sim::layout::LayoutOptions lo;
  lo.kind = "head24";
  lo.seed = options.seed;
  lo.image_width = options.width;
  lo.image_height = options.height;
  auto layout = sim::layout::GenerateLayout(lo);
  if (!layout.ok()) return layout.error();
  RenderedSession out;
  out.studio = studio;
  out.session_id = options.session_id;
  out.layout = *layout;
  const std::string rig = layout->rig.name.empty() ? "head24" : layout->rig.name;
  for (const fs::path& folder :
       {studio / "rigs" / rig, studio / "sim" / rig, studio / "sessions" / options.session_id}) {
    fs::create_directories(folder);
  }
  TWINRIG_RETURN_IF_ERROR(
      sim::layout::WriteRigFile(studio / "rigs" / rig / "rig.toml", layout->rig));
  TWINRIG_RETURN_IF_ERROR(
      sim::layout::WriteGroundTruth(studio / "sim" / rig / "groundtruth.json", layout->truth));

  if (options.write_calibration) {
    calibration::RigCalibration calib;
    calib.id = options.calibration_id;
    calib.rig = rig;
    calib.created_at = "2026-11-28T07:00:00Z";
    calib.board = layout->truth.calibration.charuco;
    for (const auto& c : layout->truth.cameras) {
      calibration::CameraCalibration cc;
      cc.serial = c.serial;
      cc.width = c.intrinsics.width;
      cc.height = c.intrinsics.height;
      cc.fx = c.intrinsics.fx;
      cc.fy = c.intrinsics.fy;
      cc.cx = c.intrinsics.cx;
      cc.cy = c.intrinsics.cy;
      cc.k1 = c.intrinsics.k1;
      cc.k2 = c.intrinsics.k2;
      cc.p1 = c.intrinsics.p1;
      cc.p2 = c.intrinsics.p2;
      cc.k3 = c.intrinsics.k3;
      cc.R = c.R;
      cc.t = c.t;
      cc.views = 10;
      calib.cameras.push_back(cc);
    }
    const fs::path root = calibration::CalibrationRoot(studio, rig);
    fs::create_directories(root / calib.id);
    TWINRIG_RETURN_IF_ERROR(
        calibration::WriteRigCalibration(calib, root / calib.id / "calibration.json"));
    TWINRIG_RETURN_IF_ERROR(calibration::SetCurrentCalibration(studio, rig, calib.id));
  }

  out.session_folder = studio / "sessions" / options.session_id;
  nlohmann::json cams = nlohmann::json::array();
  for (const auto& c : layout->rig.cameras) {
    cams.push_back({{"serial", c.serial},
                    {"address", "ptpip:" + c.address},
                    {"node_id", c.node_id},
                    {"node_port", c.node_port}});
  }
  nlohmann::json session = {{"id", options.session_id},
                            {"kind", "subject"},
                            {"subject_id", "SUBJ-TEST"},
                            {"rig", rig},
                            {"created_at", "2026-11-28T07:10:00Z"},
                            {"cameras", cams}};
  if (options.record_calibration) session["calibration"] = options.calibration_id;
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(out.session_folder / "session.json", session.dump(2)));

  sim::render::RendererOptions ro;
  ro.supersamples = options.supersamples;
  auto renderer = sim::render::Renderer::Create(HeadFolder(), layout->truth, ro);
  if (!renderer.ok()) return renderer.error();
  for (const auto& c : layout->truth.cameras) {
    sim::render::Exposure exposure;
    exposure.serial = c.serial;
    auto jpeg = (*renderer)->RenderJpeg(c, exposure, {}, options.seed);
    if (!jpeg.ok()) return jpeg.error();
    fs::create_directories(out.session_folder / "images" / c.serial);
    TWINRIG_RETURN_IF_ERROR(
        WriteFileAtomic(out.session_folder / "images" / c.serial / "take-0001.jpg", *jpeg));
  }
  return out;
}

}  // namespace twinrig::sim::session
