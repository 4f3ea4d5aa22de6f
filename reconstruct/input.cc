#include "reconstruct/input.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "util/files.h"

namespace twinrig::reconstruct {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string TakeName(int take) {
  char name[32];
  std::snprintf(name, sizeof(name), "take-%04d.jpg", take);
  return name;
}

// Sharpness: variance of the Laplacian of the grey image at about 400 px wide, so that the figure
// does not depend on the image size.
double Sharpness(const cv::Mat& bgr) {
  cv::Mat grey;
  cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
  const double f = 400.0 / std::max(1, grey.cols);
  if (f < 1.0) cv::resize(grey, grey, {}, f, f, cv::INTER_AREA);
  cv::Mat lap;
  cv::Laplacian(grey, lap, CV_32F);
  cv::Scalar mean;
  cv::Scalar stddev;
  cv::meanStdDev(lap, mean, stddev);
  return stddev[0] * stddev[0];
}

}  // namespace

Result<SessionInput> LoadSessionInput(const fs::path& studio, const std::string& session_id,
                                      int take) {
  SessionInput input;
  input.session_id = session_id;
  input.session_folder = studio / "sessions" / session_id;
  const fs::path session_json = input.session_folder / "session.json";
  auto text = ReadFileText(session_json);
  if (!text.ok()) {
    return MakeError("no session " + session_id + " in this studio", session_json.string(),
                     "list sessions with `twinrig session list`");
  }
  const json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError("session.json is not valid JSON", session_json.string(),
                     "restore it from a backup");
  }
  input.rig = j.value("rig", "");
  if (input.rig.empty()) {
    return MakeError("session.json names no rig", session_json.string(),
                     "restore session.json from a backup");
  }
  std::vector<std::string> serials;
  if (j.contains("cameras") && j["cameras"].is_array()) {
    for (const auto& c : j["cameras"]) {
      if (c.is_object()) serials.push_back(c.value("serial", ""));
    }
  }
  if (static_cast<int>(serials.size()) < kMinCameras) {
    return MakeError("the session lists " + std::to_string(serials.size()) +
                         " cameras; a twin needs at least " + std::to_string(kMinCameras),
                     session_json.string(), "capture with the whole rig");
  }

  // The calibration: the one the session recorded, else the rig's current one.
  const fs::path root = calibration::CalibrationRoot(studio, input.rig);
  const std::string recorded = j.value("calibration", "");
  if (!recorded.empty()) {
    input.calibration_json = root / recorded / "calibration.json";
    if (!fs::exists(input.calibration_json)) {
      return MakeError("the calibration " + recorded + " this session was captured with is missing",
                       input.calibration_json.string(),
                       "restore that calibration folder, or calibrate the rig with "
                       "`twinrig calibrate` and capture again");
    }
  } else {
    auto current = calibration::CurrentCalibrationPath(studio, input.rig);
    if (!current.ok()) {
      return MakeError("rig " + input.rig + " has no calibration: " + current.error().what,
                       current.error().where, "calibrate the rig with `twinrig calibrate` first");
    }
    input.calibration_json = *current;
  }
  auto calib = calibration::LoadRigCalibration(input.calibration_json);
  if (!calib.ok()) return calib.error();
  input.calibration_id = calib->id;
  if (calib->rig != input.rig) {
    return MakeError("the calibration " + calib->id + " is of rig '" + calib->rig +
                         "' but the session was captured on rig '" + input.rig + "'",
                     input.calibration_json.string(),
                     "calibrate rig " + input.rig + " with `twinrig calibrate`");
  }
  // Every session camera is in the calibration: calibrated, or left out with a reason.
  std::vector<std::string> unknown;
  for (const auto& s : serials) {
    if (calib->Find(s) != nullptr) continue;
    if (const auto* known = calib->FindUncalibrated(s); known != nullptr) {
      input.left_out.push_back(*known);
    } else {
      unknown.push_back(s);
    }
  }
  if (!unknown.empty()) {
    std::string list;
    for (const auto& s : unknown) list += (list.empty() ? "" : ", ") + s;
    return MakeError("the calibration " + calib->id + " has no camera " + list +
                         " of this session (a calibration of another rig or an older one)",
                     input.calibration_json.string(),
                     "calibrate the rig as it is now with `twinrig calibrate`");
  }
  std::erase_if(serials, [&](const std::string& s) { return calib->Find(s) == nullptr; });
  if (static_cast<int>(serials.size()) < kMinCameras) {
    return MakeError("only " + std::to_string(serials.size()) +
                         " cameras of this session are in the calibration " + calib->id +
                         "; a twin needs " + std::to_string(kMinCameras),
                     input.calibration_json.string(),
                     "calibrate the cameras `twinrig calibrate` listed as not calibrated");
  }

  // The take: given, or the last one every camera has.
  if (take <= 0) {
    std::map<int, int> counts;  // take -> cameras that have it
    for (const auto& s : serials) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(input.session_folder / "images" / s, ec)) {
        int n = 0;
        if (std::sscanf(entry.path().filename().c_str(), "take-%d.jpg", &n) == 1 && n > 0) {
          ++counts[n];
        }
      }
    }
    for (const auto& [n, count] : counts) {
      if (count == static_cast<int>(serials.size())) take = n;
    }
    if (take <= 0) {
      if (counts.empty()) {
        return MakeError("the session has no images", (input.session_folder / "images").string(),
                         "capture a take with `twinrig capture`");
      }
      const int last = counts.rbegin()->first;
      std::string missing;
      for (const auto& s : serials) {
        if (!fs::exists(input.session_folder / "images" / s / TakeName(last))) {
          missing += (missing.empty() ? "" : ", ") + s;
        }
      }
      return MakeError("no take has an image from every camera; take " + std::to_string(last) +
                           " is missing cameras " + missing,
                       input.session_folder.string(),
                       "finish the take with `twinrig capture --resume`, or retake it");
    }
  }
  input.take = take;
  for (const auto& cam : calib->cameras) {
    if (std::find(serials.begin(), serials.end(), cam.serial) == serials.end()) continue;
    input.views.push_back({input.session_folder / "images" / cam.serial / TakeName(take), cam});
  }
  return input;
}

Result<std::vector<InputView>> LoadPublishedViews(const fs::path& par_file) {
  auto text = ReadFileText(par_file);
  if (!text.ok()) {
    return MakeError("cannot read the camera file", par_file.string(),
                     "give the data set's <name>_par.txt");
  }
  std::istringstream in(*text);
  long count = 0;
  in >> count;
  if (!in || count <= 0 || count > 100000) {
    return MakeError("the camera file does not start with the number of images", par_file.string(),
                     "give a Middlebury <name>_par.txt");
  }
  const fs::path folder = par_file.parent_path();
  std::vector<InputView> views;
  for (long i = 0; i < count; ++i) {
    std::string name;
    std::array<double, 9> k{};
    std::array<double, 9> r{};
    std::array<double, 3> t{};
    in >> name;
    for (double& v : k) in >> v;
    for (double& v : r) in >> v;
    for (double& v : t) in >> v;
    if (!in) {
      return MakeError("camera " + std::to_string(i + 1) + " of " + std::to_string(count) +
                           " is cut short or not numbers",
                       par_file.string(), "check the camera file against the data set's README");
    }
    fs::path image = folder / "images" / name;
    if (!fs::exists(image)) image = folder / name;
    if (!fs::exists(image)) continue;  // data sets are often shipped with a subset of the views
    const cv::Mat full = cv::imread(image.string(), cv::IMREAD_UNCHANGED);
    if (full.empty()) return MakeError("cannot read the image", image.string(), "replace the file");
    InputView v;
    v.image = image;
    v.camera.serial = fs::path(name).stem().string();
    v.camera.width = full.cols;
    v.camera.height = full.rows;
    v.camera.fx = k[0];
    v.camera.fy = k[4];
    v.camera.cx = k[2];
    v.camera.cy = k[5];
    v.camera.R = r;
    v.camera.t = t;
    views.push_back(v);
  }
  if (views.empty()) {
    return MakeError("none of the " + std::to_string(count) + " images of the camera file is there",
                     folder.string(), "put the images beside the camera file or in images/");
  }
  return views;
}

Status CheckImages(const std::vector<InputView>& views, double blur_ratio) {
  if (static_cast<int>(views.size()) < kMinCameras) {
    return MakeError("only " + std::to_string(views.size()) + " cameras; a twin needs at least " +
                         std::to_string(kMinCameras),
                     "", "capture with the whole rig");
  }
  std::vector<double> sharpness(views.size(), 0);
  std::vector<std::string> problems;
  for (size_t i = 0; i < views.size(); ++i) {
    const auto& v = views[i];
    if (!fs::exists(v.image)) {
      problems.push_back("camera " + v.camera.serial + ": image missing (" + v.image.string() +
                         ")");
      continue;
    }
    const cv::Mat image = cv::imread(v.image.string(), cv::IMREAD_COLOR);
    if (image.empty()) {
      problems.push_back("camera " + v.camera.serial + ": image unreadable (" + v.image.string() +
                         ")");
      continue;
    }
    const double aspect_image = static_cast<double>(image.cols) / image.rows;
    const double aspect_calib = static_cast<double>(v.camera.width) / v.camera.height;
    if (std::abs(aspect_image - aspect_calib) > 0.01) {
      problems.push_back("camera " + v.camera.serial + ": image is " + std::to_string(image.cols) +
                         "x" + std::to_string(image.rows) + " but its calibration is for " +
                         std::to_string(v.camera.width) + "x" + std::to_string(v.camera.height));
      continue;
    }
    sharpness[i] = Sharpness(image);
  }
  if (!problems.empty()) {
    std::string what;
    for (const auto& p : problems) what += (what.empty() ? "" : "; ") + p;
    return MakeError(what, views.front().image.parent_path().parent_path().string(),
                     "retake the images of those cameras");
  }
  std::vector<double> sorted = sharpness;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(sorted.size() / 2),
                   sorted.end());
  const double median = sorted[sorted.size() / 2];
  std::string blurred;
  for (size_t i = 0; i < views.size(); ++i) {
    if (sharpness[i] < blur_ratio * median) {
      blurred += (blurred.empty() ? "" : ", ") + views[i].camera.serial;
    }
  }
  if (!blurred.empty()) {
    return MakeError("blurred images from cameras " + blurred +
                         " (far less detail than the other cameras' images)",
                     views.front().image.parent_path().parent_path().string(),
                     "check focus and shutter speed of those cameras, then retake");
  }
  return OkStatus();
}

Result<std::vector<PinholeView>> PrepareImages(const std::vector<InputView>& views, double scale,
                                               const fs::path& folder, int threads) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return MakeError("cannot create folder: " + ec.message(), folder.string(), "check space");
  std::vector<PinholeView> out(views.size());
  std::vector<std::string> errors(views.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < views.size(); i = next++) {
      const auto& v = views[i];
      const auto& c = v.camera;
      cv::Mat image = cv::imread(v.image.string(), cv::IMREAD_COLOR);
      if (image.empty()) {
        errors[i] = "camera " + c.serial + ": image unreadable (" + v.image.string() + ")";
        continue;
      }
      // Intrinsics are for the calibration's size; images may be any size of the same aspect.
      const double sx = static_cast<double>(image.cols) / c.width;
      const double sy = static_cast<double>(image.rows) / c.height;
      const cv::Matx33d K(c.fx * sx, 0, (c.cx + 0.5) * sx - 0.5, 0, c.fy * sy,
                          (c.cy + 0.5) * sy - 0.5, 0, 0, 1);
      const int w = std::max(8, static_cast<int>(std::lround(image.cols * scale)));
      const int h = std::max(8, static_cast<int>(std::lround(image.rows * scale)));
      const double s = static_cast<double>(w) / image.cols;
      const cv::Matx33d K_new(K(0, 0) * s, 0, (K(0, 2) + 0.5) * s - 0.5, 0, K(1, 1) * s,
                              (K(1, 2) + 0.5) * s - 0.5, 0, 0, 1);
      // Area-average first when shrinking a lot, so that the remap does not alias.
      cv::Mat source = image;
      cv::Matx33d K_source = K;
      if (s < 0.75) {
        const double pre = std::min(1.0, 2 * s);
        cv::resize(image, source, {}, pre, pre, cv::INTER_AREA);
        const double px = static_cast<double>(source.cols) / image.cols;
        const double py = static_cast<double>(source.rows) / image.rows;
        K_source = cv::Matx33d(K(0, 0) * px, 0, (K(0, 2) + 0.5) * px - 0.5, 0, K(1, 1) * py,
                               (K(1, 2) + 0.5) * py - 0.5, 0, 0, 1);
      }
      cv::Mat map1;
      cv::Mat map2;
      cv::initUndistortRectifyMap(K_source, c.Distortion(), cv::Matx33d::eye(), K_new, {w, h},
                                  CV_32FC1, map1, map2);
      cv::Mat undistorted;
      cv::remap(source, undistorted, map1, map2, cv::INTER_LINEAR, cv::BORDER_CONSTANT);
      calibration::ApplyColourCorrection(c, undistorted);
      PinholeView& p = out[i];
      p.serial = c.serial;
      p.name = c.serial + ".jpg";
      p.width = w;
      p.height = h;
      p.fx = K_new(0, 0);
      p.fy = K_new(1, 1);
      p.cx = K_new(0, 2);
      p.cy = K_new(1, 2);
      p.SetPose(c.R, c.t);
      std::vector<std::uint8_t> bytes;
      cv::imencode(".jpg", undistorted, bytes, {cv::IMWRITE_JPEG_QUALITY, 95});
      auto written = WriteFileAtomic(folder / p.name, bytes);
      if (!written.ok()) errors[i] = written.error().Describe();
    }
  };
  std::vector<std::thread> pool;
  for (int k = 1; k < std::max(1, threads); ++k) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (const auto& e : errors) {
    if (!e.empty()) return MakeError(e, folder.string(), "retake the image, or free disk space");
  }
  return out;
}

}  // namespace twinrig::reconstruct
