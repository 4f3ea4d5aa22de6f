#include "calibration/rig_calibration.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include <opencv2/core.hpp>

#include "util/check.h"
#include "util/files.h"

namespace twinrig::calibration {
namespace {

using nlohmann::json;

const char* kRerun = "run `twinrig calibrate` again to write a new calibration";

// The rotation must be one: R R^T = I and det R = +1 (a reflection or a scaled matrix would make
// reconstruction silently wrong).
bool IsRotation(const std::array<double, 9>& R) {
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double dot = 0;
      for (int k = 0; k < 3; ++k) dot += R[i * 3 + k] * R[j * 3 + k];
      if (std::abs(dot - (i == j ? 1.0 : 0.0)) > 1e-6) return false;
    }
  }
  const double det = R[0] * (R[4] * R[8] - R[5] * R[7]) - R[1] * (R[3] * R[8] - R[5] * R[6]) +
                     R[2] * (R[3] * R[7] - R[4] * R[6]);
  return std::abs(det - 1.0) < 1e-6;
}

// Every problem with a calibration, as one list (empty when fine).
std::vector<std::string> Problems(const RigCalibration& c) {
  std::vector<std::string> problems;
  if (c.id.empty()) problems.push_back("the calibration has no id");
  if (c.rig.empty()) problems.push_back("the calibration names no rig");
  if (c.cameras.empty()) problems.push_back("the calibration has no cameras");
  std::set<std::string> serials;
  for (const CameraCalibration& cam : c.cameras) {
    const std::string who =
        "camera " + (cam.serial.empty() ? std::string("(no serial)") : cam.serial);
    if (cam.serial.empty()) problems.push_back("a camera has no serial");
    if (!serials.insert(cam.serial).second) problems.push_back(who + " appears twice");
    if (cam.width <= 0 || cam.height <= 0) problems.push_back(who + ": image size is not positive");
    if (!(cam.fx > 0) || !(cam.fy > 0)) problems.push_back(who + ": focal length is not positive");
    for (double v :
         {cam.fx, cam.fy, cam.cx, cam.cy, cam.k1, cam.k2, cam.p1, cam.p2, cam.k3, cam.rms_px}) {
      if (!std::isfinite(v)) {
        problems.push_back(who + ": a number is not finite");
        break;
      }
    }
    if (!IsRotation(cam.R)) problems.push_back(who + ": R is not a rotation matrix");
    if (!std::all_of(cam.t.begin(), cam.t.end(), [](double v) { return std::isfinite(v); })) {
      problems.push_back(who + ": t is not finite");
    }
    if (cam.verdict != "ok" && cam.verdict != "check" && cam.verdict != "bad") {
      problems.push_back(who + ": verdict '" + cam.verdict + "' is not ok, check or bad");
    }
  }
  for (const UncalibratedCamera& cam : c.uncalibrated) {
    if (!serials.insert(cam.serial).second) {
      problems.push_back("camera " + cam.serial + " is both calibrated and not");
    }
  }
  return problems;
}

std::string JoinProblems(const std::vector<std::string>& problems) {
  std::string out;
  for (const std::string& p : problems) out += (out.empty() ? "" : "; ") + p;
  return out;
}

template <size_t N>
Result<std::array<double, N>> NumberArray(const json& j, const char* key, const std::string& who,
                                          const std::string& where) {
  if (!j.contains(key) || !j[key].is_array() || j[key].size() != N) {
    return MakeError(who + ": '" + key + "' must be an array of " + std::to_string(N) + " numbers",
                     where, kRerun);
  }
  std::array<double, N> out{};
  for (size_t i = 0; i < N; ++i) {
    if (!j[key][i].is_number()) {
      return MakeError(who + ": '" + key + "' holds something that is not a number", where, kRerun);
    }
    out[i] = j[key][i].get<double>();
  }
  return out;
}

Result<double> Number(const json& j, const char* key, const std::string& who,
                      const std::string& where) {
  if (!j.contains(key) || !j[key].is_number()) {
    return MakeError(who + ": '" + key + "' is missing or not a number", where, kRerun);
  }
  return j[key].get<double>();
}

Result<std::string> Text(const json& j, const char* key, const std::string& who,
                         const std::string& where) {
  if (!j.contains(key) || !j[key].is_string()) {
    return MakeError(who + ": '" + key + "' is missing or not text", where, kRerun);
  }
  return j[key].get<std::string>();
}

Result<CameraCalibration> ParseCamera(const json& j, size_t index, const std::string& where) {
  std::string who = "camera #" + std::to_string(index + 1);
  if (!j.is_object()) return MakeError(who + " is not an object", where, kRerun);
  CameraCalibration cam;
  auto serial = Text(j, "serial", who, where);
  if (!serial) return serial.error();
  cam.serial = *serial;
  who = "camera " + cam.serial;
  for (auto [key, out] : {std::pair<const char*, int*>{"width", &cam.width},
                          {"height", &cam.height},
                          {"views", &cam.views}}) {
    if (!j.contains(key) || !j[key].is_number_integer()) {
      return MakeError(who + ": '" + key + "' is missing or not an integer", where, kRerun);
    }
    *out = j[key].get<int>();
  }
  for (auto [key, out] : {std::pair<const char*, double*>{"fx", &cam.fx},
                          {"fy", &cam.fy},
                          {"cx", &cam.cx},
                          {"cy", &cam.cy},
                          {"k1", &cam.k1},
                          {"k2", &cam.k2},
                          {"p1", &cam.p1},
                          {"p2", &cam.p2},
                          {"k3", &cam.k3},
                          {"rms_px", &cam.rms_px}}) {
    auto v = Number(j, key, who, where);
    if (!v) return v.error();
    *out = *v;
  }
  auto R = NumberArray<9>(j, "R", who, where);
  if (!R) return R.error();
  cam.R = *R;
  auto t = NumberArray<3>(j, "t", who, where);
  if (!t) return t.error();
  cam.t = *t;
  auto verdict = Text(j, "verdict", who, where);
  if (!verdict) return verdict.error();
  cam.verdict = *verdict;
  if (j.contains("colour") && !j["colour"].is_null()) {
    auto m = NumberArray<12>(j["colour"], "matrix", who + " colour", where);
    if (!m) return m.error();
    cam.colour = ColourCorrection{*m};
  }
  return cam;
}

json CameraToJson(const CameraCalibration& cam) {
  json j = {{"serial", cam.serial},
            {"width", cam.width},
            {"height", cam.height},
            {"fx", cam.fx},
            {"fy", cam.fy},
            {"cx", cam.cx},
            {"cy", cam.cy},
            {"k1", cam.k1},
            {"k2", cam.k2},
            {"p1", cam.p1},
            {"p2", cam.p2},
            {"k3", cam.k3},
            {"R", cam.R},
            {"t", cam.t},
            {"rms_px", cam.rms_px},
            {"views", cam.views},
            {"verdict", cam.verdict}};
  if (cam.colour) j["colour"] = {{"matrix", cam.colour->matrix}};
  return j;
}

// sRGB transfer function (IEC 61966-2-1) and its inverse, on 0..1.
double SrgbToLinear(double v) {
  return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
}
double LinearToSrgb(double v) {
  v = std::clamp(v, 0.0, 1.0);
  return v <= 0.0031308 ? v * 12.92 : 1.055 * std::pow(v, 1.0 / 2.4) - 0.055;
}

std::string Fixed(double v, int digits) {
  std::ostringstream out;
  out << std::setprecision(digits) << v;
  return out.str();
}

}  // namespace

cv::Matx33d CameraCalibration::CameraMatrix() const { return Lens().K(); }

std::vector<double> CameraCalibration::Distortion() const { return Lens().Distortion(); }

std::array<double, 3> CameraCalibration::Centre() const {
  std::array<double, 3> c{};
  for (int i = 0; i < 3; ++i)
    c[i] = -(R[0 * 3 + i] * t[0] + R[1 * 3 + i] * t[1] + R[2 * 3 + i] * t[2]);
  return c;
}

const CameraCalibration* RigCalibration::Find(const std::string& serial) const {
  for (const CameraCalibration& cam : cameras) {
    if (cam.serial == serial) return &cam;
  }
  return nullptr;
}

const UncalibratedCamera* RigCalibration::FindUncalibrated(const std::string& serial) const {
  for (const UncalibratedCamera& cam : uncalibrated) {
    if (cam.serial == serial) return &cam;
  }
  return nullptr;
}

std::string RigCalibrationToJson(const RigCalibration& calibration) {
  json cameras = json::array();
  for (const CameraCalibration& cam : calibration.cameras) cameras.push_back(CameraToJson(cam));
  json uncalibrated = json::array();
  for (const UncalibratedCamera& cam : calibration.uncalibrated) {
    uncalibrated.push_back({{"serial", cam.serial}, {"reason", cam.reason}, {"todo", cam.todo}});
  }
  const json j = {{"format", kCalibrationFormat},
                  {"version", kCalibrationVersion},
                  {"id", calibration.id},
                  {"rig", calibration.rig},
                  {"created_at", calibration.created_at},
                  {"board", calibration.board},
                  {"cameras", cameras},
                  {"uncalibrated", uncalibrated}};
  return j.dump(2) + "\n";
}

Result<RigCalibration> ParseRigCalibration(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return MakeError(
        std::string("not a rig calibration: the file is not valid JSON (") + e.what() + ")", where,
        "give the calibration.json that `twinrig calibrate` wrote");
  }
  if (!j.is_object() || !j.contains("format") || !j["format"].is_string()) {
    std::string guess;
    if (j.is_object() && j.contains("calibration") && j.contains("cameras") &&
        j.contains("subject_R")) {
      guess = " (it looks like the virtual studio's ground truth, which calibration never reads)";
    } else if (j.is_object() && j.contains("kind") && j.contains("subject")) {
      guess = " (it looks like a session.json)";
    }
    return MakeError(
        "not a rig calibration: no \"format\": \"" + std::string(kCalibrationFormat) + "\"" + guess,
        where,
        "give rigs/<rig>/calibration/<id>/calibration.json, written by "
        "`twinrig calibrate`");
  }
  if (j["format"] != kCalibrationFormat) {
    return MakeError("not a rig calibration: format is '" + j["format"].get<std::string>() + "'",
                     where, "give the calibration.json that `twinrig calibrate` wrote");
  }
  if (!j.contains("version") || !j["version"].is_number_integer()) {
    return MakeError("the calibration has no integer 'version'", where, kRerun);
  }
  if (j["version"].get<int>() > kCalibrationVersion) {
    return MakeError("the calibration is version " + std::to_string(j["version"].get<int>()) +
                         ", newer than this twinrig reads (" + std::to_string(kCalibrationVersion) +
                         ")",
                     where, "update twinrig");
  }
  RigCalibration c;
  for (auto [key, out] : {std::pair<const char*, std::string*>{"id", &c.id},
                          {"rig", &c.rig},
                          {"created_at", &c.created_at},
                          {"board", &c.board}}) {
    auto v = Text(j, key, "calibration", where);
    if (!v) return v.error();
    *out = *v;
  }
  if (!j.contains("cameras") || !j["cameras"].is_array()) {
    return MakeError("the calibration has no 'cameras' array", where, kRerun);
  }
  for (size_t i = 0; i < j["cameras"].size(); ++i) {
    auto cam = ParseCamera(j["cameras"][i], i, where);
    if (!cam) return cam.error();
    c.cameras.push_back(std::move(*cam));
  }
  // Optional (older calibrations have none): the cameras this calibration could not calibrate.
  if (j.contains("uncalibrated")) {
    if (!j["uncalibrated"].is_array()) {
      return MakeError("the calibration's 'uncalibrated' is not an array", where, kRerun);
    }
    for (const json& u : j["uncalibrated"]) {
      if (!u.is_object() || !u.contains("serial") || !u["serial"].is_string()) {
        return MakeError("an entry of the calibration's 'uncalibrated' has no serial", where,
                         kRerun);
      }
      c.uncalibrated.push_back({u["serial"].get<std::string>(), u.value("reason", std::string()),
                                u.value("todo", std::string())});
    }
  }
  if (auto problems = Problems(c); !problems.empty()) {
    return MakeError("the calibration is not usable: " + JoinProblems(problems), where, kRerun);
  }
  return c;
}

Result<RigCalibration> LoadRigCalibration(const std::filesystem::path& calibration_json) {
  auto text = ReadFileText(calibration_json);
  if (!text) {
    return MakeError("cannot read the rig calibration: " + text.error().what,
                     calibration_json.string(),
                     "check the path; `twinrig calibrate` writes "
                     "rigs/<rig>/calibration/<id>/calibration.json");
  }
  return ParseRigCalibration(*text, calibration_json.string());
}

Status WriteRigCalibration(const RigCalibration& calibration,
                           const std::filesystem::path& calibration_json) {
  if (auto problems = Problems(calibration); !problems.empty()) {
    return MakeError("refusing to write an unusable calibration: " + JoinProblems(problems),
                     calibration_json.string(), kRerun);
  }
  std::error_code ec;
  std::filesystem::create_directories(calibration_json.parent_path(), ec);
  if (ec) {
    return MakeError("cannot create the calibration folder: " + ec.message(),
                     calibration_json.parent_path().string(), "check permissions and free space");
  }
  return WriteFileAtomic(calibration_json, RigCalibrationToJson(calibration));
}

std::filesystem::path CalibrationRoot(const std::filesystem::path& studio, const std::string& rig) {
  return studio / "rigs" / rig / "calibration";
}

Result<std::filesystem::path> CurrentCalibrationPath(const std::filesystem::path& studio,
                                                     const std::string& rig) {
  const std::filesystem::path current = CalibrationRoot(studio, rig) / "current";
  std::error_code ec;
  if (!std::filesystem::exists(current, ec)) {
    return MakeError("rig " + rig + " has no calibration yet", current.string(),
                     "run `twinrig calibrate` with the board in the capture volume");
  }
  auto text = ReadFileText(current);
  if (!text) return text.error();
  std::string id = *text;
  id.erase(std::remove_if(id.begin(), id.end(), [](unsigned char ch) { return std::isspace(ch); }),
           id.end());
  if (id.empty() || id.find('/') != std::string::npos || id == "." || id == "..") {
    return MakeError("the current-calibration file does not hold a calibration id",
                     current.string(), kRerun);
  }
  const std::filesystem::path json_path = CalibrationRoot(studio, rig) / id / "calibration.json";
  if (!std::filesystem::exists(json_path, ec)) {
    return MakeError("the current calibration '" + id + "' has no calibration.json",
                     json_path.string(), kRerun);
  }
  return json_path;
}

Status SetCurrentCalibration(const std::filesystem::path& studio, const std::string& rig,
                             const std::string& id) {
  const std::filesystem::path json_path = CalibrationRoot(studio, rig) / id / "calibration.json";
  std::error_code ec;
  if (id.empty() || id.find('/') != std::string::npos || !std::filesystem::exists(json_path, ec)) {
    return MakeError("no calibration '" + id + "' to make current", json_path.string(),
                     "list rigs/<rig>/calibration/ and give an id that exists");
  }
  return WriteFileAtomic(CalibrationRoot(studio, rig) / "current", id + "\n");
}

std::array<double, 4> RotationToQuaternion(const std::array<double, 9>& R) {
  // Shepperd's method: pick the largest of the four to divide by (stable for every rotation).
  const double trace = R[0] + R[4] + R[8];
  std::array<double, 4> q{};
  if (trace > 0) {
    const double s = 2.0 * std::sqrt(trace + 1.0);
    q = {0.25 * s, (R[7] - R[5]) / s, (R[2] - R[6]) / s, (R[3] - R[1]) / s};
  } else if (R[0] > R[4] && R[0] > R[8]) {
    const double s = 2.0 * std::sqrt(1.0 + R[0] - R[4] - R[8]);
    q = {(R[7] - R[5]) / s, 0.25 * s, (R[1] + R[3]) / s, (R[2] + R[6]) / s};
  } else if (R[4] > R[8]) {
    const double s = 2.0 * std::sqrt(1.0 + R[4] - R[0] - R[8]);
    q = {(R[2] - R[6]) / s, (R[1] + R[3]) / s, 0.25 * s, (R[5] + R[7]) / s};
  } else {
    const double s = 2.0 * std::sqrt(1.0 + R[8] - R[0] - R[4]);
    q = {(R[3] - R[1]) / s, (R[2] + R[6]) / s, (R[5] + R[7]) / s, 0.25 * s};
  }
  if (q[0] < 0) {
    for (double& v : q) v = -v;
  }
  const double norm = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  for (double& v : q) v /= norm;
  return q;
}

Status WriteColmapTextModel(
    const RigCalibration& calibration, const std::filesystem::path& dir,
    const std::function<std::string(const std::string& serial)>& image_name) {
  if (auto problems = Problems(calibration); !problems.empty()) {
    return MakeError(
        "cannot write a COLMAP model of an unusable calibration: " + JoinProblems(problems),
        calibration.id, kRerun);
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return MakeError("cannot create the COLMAP model folder: " + ec.message(), dir.string(),
                     "check permissions and free space");
  }
  std::ostringstream cameras;
  std::ostringstream images;
  cameras << "# Camera list with one line of data per camera:\n"
          << "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
          << "# Number of cameras: " << calibration.cameras.size() << "\n";
  images << "# Image list with two lines of data per image:\n"
         << "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n"
         << "#   POINTS2D[] as (X, Y, POINT3D_ID)\n"
         << "# Number of images: " << calibration.cameras.size() << "\n";
  for (size_t i = 0; i < calibration.cameras.size(); ++i) {
    const CameraCalibration& cam = calibration.cameras[i];
    const size_t id = i + 1;
    // OPENCV model: fx, fy, cx, cy, k1, k2, p1, p2 (COLMAP's OPENCV has no k3; FULL_OPENCV has
    // it but is not what reconstruction is written against, and k3 of a DSLR lens is small).
    cameras << id << " OPENCV " << cam.width << " " << cam.height;
    for (double v : {cam.fx, cam.fy, cam.cx, cam.cy, cam.k1, cam.k2, cam.p1, cam.p2}) {
      cameras << " " << Fixed(v, 17);
    }
    cameras << "\n";
    const auto q = RotationToQuaternion(cam.R);
    images << id;
    for (double v : q) images << " " << Fixed(v, 17);
    for (double v : cam.t) images << " " << Fixed(v, 17);
    images << " " << id << " " << image_name(cam.serial) << "\n\n";
  }
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(dir / "cameras.txt", cameras.str()));
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(dir / "images.txt", images.str()));
  return WriteFileAtomic(dir / "points3D.txt",
                         std::string_view("# 3D point list with one line of data per point:\n"
                                          "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, "
                                          "TRACK[] as (IMAGE_ID, POINT2D_IDX)\n"
                                          "# Number of points: 0, mean track length: 0\n"));
}

void ApplyColourCorrection(const CameraCalibration& camera, cv::Mat& bgr8) {
  if (!camera.colour || bgr8.empty()) return;
  TWINRIG_CHECK(bgr8.type() == CV_8UC3)
      << "ApplyColourCorrection wants 8-bit BGR, got type " << bgr8.type();
  // A table per channel value both ways keeps this cheap on 24-megapixel images.
  std::array<double, 256> to_linear{};
  for (int v = 0; v < 256; ++v) to_linear[v] = SrgbToLinear(v / 255.0);
  constexpr int kOutSteps = 4096;
  std::array<std::uint8_t, kOutSteps + 1> to_srgb{};
  for (int v = 0; v <= kOutSteps; ++v) {
    to_srgb[v] = cv::saturate_cast<std::uint8_t>(LinearToSrgb(double(v) / kOutSteps) * 255.0);
  }
  const auto& m = camera.colour->matrix;
  for (int y = 0; y < bgr8.rows; ++y) {
    auto* row = bgr8.ptr<cv::Vec3b>(y);
    for (int x = 0; x < bgr8.cols; ++x) {
      const double r = to_linear[row[x][2]];
      const double g = to_linear[row[x][1]];
      const double b = to_linear[row[x][0]];
      double out[3];
      for (int c = 0; c < 3; ++c) {
        out[c] = m[c * 4 + 0] * r + m[c * 4 + 1] * g + m[c * 4 + 2] * b + m[c * 4 + 3];
      }
      for (int c = 0; c < 3; ++c) {
        const int index = static_cast<int>(std::lround(std::clamp(out[c], 0.0, 1.0) * kOutSteps));
        row[x][2 - c] = to_srgb[index];
      }
    }
  }
}

}  // namespace twinrig::calibration
