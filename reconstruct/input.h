// What a reconstruction starts from: one take of a session (an image per camera) and the rig
// calibration that says what each camera's lens is and where it is. Everything a person can get
// wrong here (a missing or blurred image, too few cameras, no calibration, a calibration of another
// rig) is refused with an error that names the camera, file or rig concerned.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "calibration/rig_calibration.h"
#include "reconstruct/types.h"
#include "util/result.h"

namespace twinrig::reconstruct {

// One camera's image and calibration (intrinsics for the image's own size).
struct InputView {
  std::filesystem::path image;
  calibration::CameraCalibration camera;
};

struct SessionInput {
  std::string session_id;
  std::filesystem::path session_folder;
  std::string rig;
  std::string calibration_id;
  std::filesystem::path calibration_json;
  int take = 0;
  std::vector<InputView> views;  // in calibration order
  // Cameras of the session that its calibration could not calibrate: left out, and said.
  std::vector<calibration::UncalibratedCamera> left_out;
};

// The fewest cameras a twin is made from.
inline constexpr int kMinCameras = 3;

// Reads <studio>/sessions/<id>/session.json, picks the take (`take` > 0, else the last take every
// camera has an image of), and the calibration the session recorded (else the rig's current one).
Result<SessionInput> LoadSessionInput(const std::filesystem::path& studio,
                                      const std::string& session_id, int take = 0);

// A published multi-view data set in the Middlebury format (<name>_par.txt: the number of images,
// then per image "file k11..k33 r11..r33 t1 t2 t3", P = K [R | t], and the images beside it or in
// images/): the views whose image is there, with their published cameras. The way to check the
// reconstruction on real photographs with known cameras (templeRing).
Result<std::vector<InputView>> LoadPublishedViews(const std::filesystem::path& par_file);

// Refuses views whose image is missing, unreadable, or much blurrier than the others (variance of
// the Laplacian below `blur_ratio` times the median of all views), and fewer than kMinCameras.
Status CheckImages(const std::vector<InputView>& views, double blur_ratio = 0.25);

// Undistorts, colour-corrects and scales each image by `scale` into `folder`/<serial>.jpg and
// returns the ideal pinhole cameras of the written images (same order as `views`).
Result<std::vector<PinholeView>> PrepareImages(const std::vector<InputView>& views, double scale,
                                               const std::filesystem::path& folder, int threads);

}  // namespace twinrig::reconstruct
