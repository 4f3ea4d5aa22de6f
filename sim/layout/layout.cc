#include "sim/layout/layout.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numbers>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "calibration/board.h"
#include "host/studio/studio_paths.h"
#include "util/check.h"
#include "util/files.h"
#include "util/options.h"

namespace twinrig::sim::layout {
namespace {

constexpr double kDeg = std::numbers::pi / 180.0;
constexpr int kTruthSchema = 1;

// ---- small vector maths ----
Vec3 Add(const Vec3& a, const Vec3& b) { return {a[0] + b[0], a[1] + b[1], a[2] + b[2]}; }
Vec3 Sub(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec3 Scale(const Vec3& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }
double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
Vec3 Normalized(const Vec3& a) {
  const double n = std::sqrt(Dot(a, a));
  TWINRIG_CHECK(n > 0) << "zero vector";
  return Scale(a, 1.0 / n);
}
// Rotation about a unit axis by `angle` (Rodrigues), row-major.
Mat3 AxisAngle(const Vec3& axis, double angle) {
  const Vec3 k = Normalized(axis);
  const double c = std::cos(angle);
  const double s = std::sin(angle);
  const double v = 1 - c;
  return {k[0] * k[0] * v + c,        k[0] * k[1] * v - k[2] * s, k[0] * k[2] * v + k[1] * s,
          k[1] * k[0] * v + k[2] * s, k[1] * k[1] * v + c,        k[1] * k[2] * v - k[0] * s,
          k[2] * k[0] * v - k[1] * s, k[2] * k[1] * v + k[0] * s, k[2] * k[2] * v + c};
}
Mat3 Transposed(const Mat3& m) { return {m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]}; }

// A seeded generator with its own uniform and normal draws, so a layout is the same bit for bit
// whatever the standard library's distributions do.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed ^ 0x7477696e726967ULL) {}
  double Uniform(double lo, double hi) {
    const double u = static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0);
    return lo + (hi - lo) * u;
  }
  double Normal(double sigma) {
    const double u1 = Uniform(1e-300, 1.0);
    const double u2 = Uniform(0.0, 1.0);
    return sigma * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
  }
  std::uint64_t Next() { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

Result<std::uint32_t> ParseIpv4(const std::string& text, const std::string& what) {
  in_addr address{};
  if (inet_pton(AF_INET, text.c_str(), &address) != 1) {
    return MakeError(what + " '" + text + "' is not an IPv4 address", what,
                     "use a dotted address such as 127.0.0.1");
  }
  return ntohl(address.s_addr);
}
std::string FormatIpv4(std::uint32_t host_order) {
  in_addr address{};
  address.s_addr = htonl(host_order);
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &address, text, sizeof(text));
  return text;
}

// The camera body and lens every generated camera gets (APS-C, 30 mm prime).
constexpr double kSensorWidthMm = 22.3;
constexpr double kLensMm = 30.0;

struct Planned {
  Vec3 position;
  Vec3 look_at;
};

// The truth of one camera: the planned pose disturbed as a real rig is built, and a real lens.
CameraTruth MakeTruth(const Planned& plan, int width, int height, Rng& rng) {
  CameraTruth truth;
  const Vec3 eye = Add(plan.position, {rng.Normal(0.003), rng.Normal(0.003), rng.Normal(0.003)});
  const Vec3 aim = Add(plan.look_at, {rng.Normal(0.005), rng.Normal(0.005), rng.Normal(0.005)});
  Mat3 R = LookAtRotation(eye, aim, {0, 1, 0});
  // Roll about the optical axis: a camera is never mounted perfectly level.
  R = Multiply(AxisAngle({0, 0, 1}, rng.Normal(0.3 * kDeg)), R);
  truth.R = R;
  const Vec3 Rc = Apply(R, eye);
  truth.t = {-Rc[0], -Rc[1], -Rc[2]};

  Intrinsics& in = truth.intrinsics;
  in.width = width;
  in.height = height;
  const double nominal = kLensMm / kSensorWidthMm * width;
  in.fx = nominal * (1 + rng.Normal(0.004));
  in.fy = in.fx * (1 + rng.Normal(0.0005));
  in.cx = (width - 1) / 2.0 + rng.Normal(0.004 * width);
  in.cy = (height - 1) / 2.0 + rng.Normal(0.004 * width);
  // Radial distortion of 1-2 px (either sign) at the image corner, a little tangential.
  const double corner_x = std::max(in.cx, width - 1 - in.cx) / in.fx;
  const double corner_y = std::max(in.cy, height - 1 - in.cy) / in.fy;
  const double r2 = corner_x * corner_x + corner_y * corner_y;
  const double r = std::sqrt(r2);
  const double shift_px = rng.Uniform(1.0, 2.0) * (rng.Uniform(0, 1) < 0.5 ? -1 : 1);
  // shift = f * r * (k1 r^2 + k2 r^4 + k3 r^6) with k2 = -0.25 k1, k3 = 0.05 k1.
  const double per_k1 = in.fx * r * (r2 - 0.25 * r2 * r2 + 0.05 * r2 * r2 * r2);
  in.k1 = shift_px / per_k1;
  in.k2 = -0.25 * in.k1;
  in.k3 = 0.05 * in.k1;
  in.p1 = rng.Normal(5e-5);
  in.p2 = rng.Normal(5e-5);

  truth.sensor_width_mm = kSensorWidthMm;
  truth.focal_length_mm = in.fx * kSensorWidthMm / width;
  truth.shutter_lag_s = 0.060 + rng.Uniform(-0.0005, 0.0005);
  return truth;
}

std::string MakeSerial(Rng& rng, std::set<std::string>& used) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    std::ostringstream out;
    // Twelve digits like a Canon body's; the leading "0" keeps leading zeros visible.
    out << "0" << (rng.Next() % 90000000000ULL + 10000000000ULL);
    if (used.insert(out.str()).second) return out.str();
  }
  TWINRIG_CHECK(false) << "could not draw a unique serial";
  return {};
}

// A target pose whose printed face looks along `facing` (unit, toward the cameras it is shown
// to), centred at `centre`, rolled by `roll` about its normal. OpenCV board frame: x right, y down
// as the print is read, z into the board.
TargetPose FacingPose(TargetKind kind, const Vec3& centre, const Vec3& facing, double roll,
                      double width, double height) {
  const Vec3 front = Normalized(facing);
  Vec3 up{0, 1, 0};
  if (std::abs(Dot(up, front)) > 0.95) up = {0, 0, 1};
  const Vec3 up0 = Normalized(Sub(up, Scale(front, Dot(up, front))));
  const Vec3 right0 = Cross(up0, front);  // to the right of a viewer facing the print
  const Vec3 x = Add(Scale(right0, std::cos(roll)), Scale(up0, std::sin(roll)));
  const Vec3 z = Scale(front, -1);
  const Vec3 y = Cross(z, x);  // down the print
  TargetPose pose;
  pose.kind = kind;
  pose.R = {x[0], y[0], z[0], x[1], y[1], z[1], x[2], y[2], z[2]};  // columns: target axes
  pose.t = Sub(centre, Apply(pose.R, {width / 2, height / 2, 0}));
  return pose;
}

Vec3 Direction(double azimuth, double elevation) {
  return {std::sin(azimuth) * std::cos(elevation), std::sin(elevation),
          std::cos(azimuth) * std::cos(elevation)};
}

}  // namespace

// ---- maths ----

Mat3 LookAtRotation(const Vec3& eye, const Vec3& target, const Vec3& up) {
  const Vec3 z = Normalized(Sub(target, eye));  // forward
  const Vec3 x = Normalized(Cross(z, up));      // right (camera y is down)
  const Vec3 y = Cross(z, x);                   // down
  return {x[0], x[1], x[2], y[0], y[1], y[2], z[0], z[1], z[2]};
}
Vec3 Apply(const Mat3& R, const Vec3& x) {
  return {R[0] * x[0] + R[1] * x[1] + R[2] * x[2], R[3] * x[0] + R[4] * x[1] + R[5] * x[2],
          R[6] * x[0] + R[7] * x[1] + R[8] * x[2]};
}
Vec3 ApplyTransposed(const Mat3& R, const Vec3& x) { return Apply(Transposed(R), x); }
Mat3 Multiply(const Mat3& a, const Mat3& b) {
  Mat3 out{};
  for (size_t i = 0; i < 3; ++i) {
    for (size_t j = 0; j < 3; ++j) {
      out[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
    }
  }
  return out;
}

Intrinsics Intrinsics::Scaled(int new_width, int new_height) const {
  Intrinsics out = *this;
  const double sx = static_cast<double>(new_width) / width;
  const double sy = static_cast<double>(new_height) / height;
  out.width = new_width;
  out.height = new_height;
  out.fx = fx * sx;
  out.fy = fy * sy;
  // Pixel centres: the continuous image edge at -0.5 maps to -0.5.
  out.cx = (cx + 0.5) * sx - 0.5;
  out.cy = (cy + 0.5) * sy - 0.5;
  return out;
}

Vec3 CameraTruth::Centre() const {
  const Vec3 c = ApplyTransposed(R, t);
  return {-c[0], -c[1], -c[2]};
}

const CameraTruth* GroundTruth::Find(const std::string& serial) const {
  for (const CameraTruth& camera : cameras) {
    if (camera.serial == serial) return &camera;
  }
  return nullptr;
}

std::vector<std::string> LayoutOptions::Validate() const {
  std::vector<std::string> problems;
  if (kind != "head24" && kind != "body160") {
    problems.push_back("kind '" + kind + "' is not a known layout (head24 or body160)");
  }
  if (!ParseIpv4(camera_base_address, "camera_base_address").ok()) {
    problems.push_back("camera_base_address '" + camera_base_address + "' is not an IPv4 address");
  }
  if (!ParseIpv4(node_base_address, "node_base_address").ok()) {
    problems.push_back("node_base_address '" + node_base_address + "' is not an IPv4 address");
  }
  if (node_udp_port == 0) problems.push_back("node_udp_port must be 1..65535");
  if (cameras_per_node < 1 || cameras_per_node > 64) {
    problems.push_back("cameras_per_node must be 1..64");
  }
  if ((image_width == 0) != (image_height == 0) || image_width < 0 || image_height < 0 ||
      image_width > 8192 || image_height > 8192) {
    problems.push_back("image_width and image_height must both be 0 (default) or 1..8192");
  }
  if (camera_model.empty()) problems.push_back("camera_model is empty");
  if (board_poses < 0 || board_poses > 1000) problems.push_back("board_poses must be 0..1000");
  return problems;
}

Result<Layout> GenerateLayout(const LayoutOptions& options) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "layout options"));
  Rng rng(options.seed);
  const bool head = options.kind == "head24";
  const int width = options.image_width > 0 ? options.image_width : 1600;
  const int height = options.image_height > 0 ? options.image_height : 1200;

  std::vector<Planned> plans;
  Layout layout;
  GroundTruth& truth = layout.truth;
  calibration::BoardSpec board;
  Vec3 volume_centre;
  double board_spread = 0;
  double board_distance_y = 0;
  if (head) {
    // Three rings of 8 around the head, each ring offset so that the views interleave.
    const Vec3 centre{0.005, -0.02, -0.07};
    const double elevation[3] = {-20 * kDeg, 5 * kDeg, 32 * kDeg};
    const double distance[3] = {0.85, 0.75, 0.9};
    for (int ring = 0; ring < 3; ++ring) {
      for (int i = 0; i < 8; ++i) {
        const double azimuth = (i * 45.0 + ring * 15.0) * kDeg;
        plans.push_back(
            {Add(centre, Scale(Direction(azimuth, elevation[ring]), distance[ring])), centre});
      }
    }
    board = {calibration::BoardSpec::Kind::kCharuco, 5, 7, 0.06, 0.03, "DICT_6X6_250"};
    volume_centre = centre;
    board_spread = 0.04;
    board_distance_y = 0.05;
  } else {
    // 20 columns of 8 around a 1 m x 2 m (diameter x height) volume standing on the floor; each
    // camera aims at the axis, pulled toward mid-height so that the rows overlap.
    constexpr int kColumns = 20;
    constexpr int kRows = 8;
    for (int column = 0; column < kColumns; ++column) {
      const double azimuth = column * (360.0 / kColumns) * kDeg;
      for (int row = 0; row < kRows; ++row) {
        const double y = 0.2 + row * (1.8 / (kRows - 1));
        const Vec3 eye{1.5 * std::sin(azimuth), y, 1.5 * std::cos(azimuth)};
        plans.push_back({eye, {0, 0.85 * y + 0.15, 0}});
      }
    }
    // The head scan stands where a person's head would be.
    truth.subject_t = {0, 1.62, 0};
    board = {calibration::BoardSpec::Kind::kCharuco, 5, 7, 0.12, 0.06, "DICT_6X6_250"};
    volume_centre = {0, 1.0, 0};
    board_spread = 0.15;
    board_distance_y = 0.6;
  }

  // Rig file: nodes and cameras with their planned poses.
  Rig& rig = layout.rig;
  rig.name = options.kind;
  const auto camera_base = ParseIpv4(options.camera_base_address, "camera_base_address");
  const auto node_base = ParseIpv4(options.node_base_address, "node_base_address");
  const int count = static_cast<int>(plans.size());
  const int node_count = (count + options.cameras_per_node - 1) / options.cameras_per_node;
  for (int n = 1; n <= node_count; ++n) {
    rig.nodes.push_back({n, FormatIpv4(*node_base + static_cast<std::uint32_t>(n - 1)),
                         options.node_udp_port, options.cameras_per_node});
    truth.nodes.push_back({n, rng.Uniform(-1.0, 1.0), rng.Uniform(-100.0, 100.0)});
  }
  std::set<std::string> serials;
  for (int k = 0; k < count; ++k) {
    CameraSpec spec;
    spec.serial = MakeSerial(rng, serials);
    spec.model = options.camera_model;
    spec.address = FormatIpv4(*camera_base + static_cast<std::uint32_t>(k + 1));
    spec.node_id = k / options.cameras_per_node + 1;
    spec.node_port = k % options.cameras_per_node;
    spec.position = plans[k].position;
    spec.look_at = plans[k].look_at;
    CameraTruth camera = MakeTruth(plans[k], width, height, rng);
    camera.serial = spec.serial;
    camera.node_id = spec.node_id;
    camera.node_port = spec.node_port;
    rig.cameras.push_back(spec);
    truth.cameras.push_back(camera);
  }

  // Calibration script: the board turned toward each part of the rig in turn, tilted and rolled
  // (landscape-ish so that it fits a view), then the ColorChecker toward four sides.
  truth.rig_name = options.kind;
  truth.seed = options.seed;
  CalibrationScript& script = truth.calibration;
  std::ostringstream spec;
  spec << "charuco:" << board.cols << "x" << board.rows << ":" << board.square_m << ":"
       << board.marker_m << ":" << board.dictionary;
  script.charuco = spec.str();
  const double board_w = board.cols * board.square_m;
  const double board_h = board.rows * board.square_m;
  for (int i = 0; i < options.board_poses; ++i) {
    const double azimuth =
        (360.0 * i / std::max(1, options.board_poses)) * kDeg + rng.Uniform(-10, 10) * kDeg;
    const double elevation = rng.Uniform(-10, 25) * kDeg;
    const Vec3 facing = Normalized(
        Add(Direction(azimuth, elevation), {rng.Normal(0.25), rng.Normal(0.15), rng.Normal(0.25)}));
    const Vec3 centre = Add(volume_centre, {rng.Normal(board_spread), rng.Normal(board_distance_y),
                                            rng.Normal(board_spread)});
    const double roll = (90 + rng.Uniform(-20, 20)) * kDeg;
    script.poses.push_back(
        FacingPose(TargetKind::kCharuco, centre, facing, roll, board_w, board_h));
  }
  const double chart_w = head ? script.colorchecker_width_m : script.colorchecker_width_m * 2;
  script.colorchecker_width_m = chart_w;
  for (int side = 0; side < 4; ++side) {
    const Vec3 facing = Direction(side * 90 * kDeg + rng.Uniform(-10, 10) * kDeg, 5 * kDeg);
    script.poses.push_back(FacingPose(TargetKind::kColorChecker, volume_centre, facing,
                                      rng.Uniform(-5, 5) * kDeg, chart_w, chart_w * 216.0 / 279.0));
  }
  return layout;
}

// ---- groundtruth.json ----

namespace {

Error FileProblems(const std::filesystem::path& path, const std::vector<std::string>& problems,
                   const std::string& todo) {
  std::string what = std::to_string(problems.size()) + " problem(s): ";
  for (size_t i = 0; i < problems.size() && i < 10; ++i) {
    if (i > 0) what += "; ";
    what += problems[i];
  }
  if (problems.size() > 10) what += "; ...";
  return MakeError(what, path.string(), todo);
}

using nlohmann::json;

json ToJson(const Vec3& v) { return json::array({v[0], v[1], v[2]}); }
json ToJson(const Mat3& m) { return json(std::vector<double>(m.begin(), m.end())); }

const char* KindName(TargetKind kind) {
  return kind == TargetKind::kCharuco ? "charuco" : "colorchecker";
}

// Reads typed fields of a JSON object and collects problems named by their path.
class JsonReader {
 public:
  JsonReader(const json& object, std::string where, std::vector<std::string>& problems)
      : object_(object), where_(std::move(where)), problems_(problems) {
    if (!object_.is_object()) problems_.push_back(where_ + " is not an object");
  }
  double Number(const char* key, double lo, double hi) {
    const json* value = Get(key);
    if (value == nullptr) return lo;
    if (!value->is_number() || !std::isfinite(value->get<double>())) {
      problems_.push_back(where_ + "." + key + " is not a finite number");
      return lo;
    }
    const double v = value->get<double>();
    if (v < lo || v > hi) {
      std::ostringstream what;
      what << where_ << "." << key << " = " << v << " is outside " << lo << ".." << hi;
      problems_.push_back(what.str());
    }
    return v;
  }
  std::int64_t Int(const char* key, std::int64_t lo, std::int64_t hi) {
    const json* value = Get(key);
    if (value == nullptr) return lo;
    if (!value->is_number_integer()) {
      problems_.push_back(where_ + "." + key + " is not an integer");
      return lo;
    }
    const auto v = value->get<std::int64_t>();
    if (v < lo || v > hi) {
      problems_.push_back(where_ + "." + key + " = " + std::to_string(v) + " is outside " +
                          std::to_string(lo) + ".." + std::to_string(hi));
    }
    return v;
  }
  std::string String(const char* key) {
    const json* value = Get(key);
    if (value == nullptr) return {};
    if (!value->is_string() || value->get<std::string>().empty()) {
      problems_.push_back(where_ + "." + key + " is not a non-empty string");
      return {};
    }
    return value->get<std::string>();
  }
  template <size_t N>
  std::array<double, N> Numbers(const char* key) {
    std::array<double, N> out{};
    const json* value = Get(key);
    if (value == nullptr) return out;
    if (!value->is_array() || value->size() != N) {
      problems_.push_back(where_ + "." + key + " is not an array of " + std::to_string(N) +
                          " numbers");
      return out;
    }
    for (size_t i = 0; i < N; ++i) {
      if (!(*value)[i].is_number() || !std::isfinite((*value)[i].get<double>())) {
        problems_.push_back(where_ + "." + key + "[" + std::to_string(i) + "] is not a number");
      } else {
        out[i] = (*value)[i].get<double>();
      }
    }
    return out;
  }
  Mat3 Rotation(const char* key) {
    const Mat3 R = Numbers<9>(key);
    const Mat3 RtR = Multiply(Transposed(R), R);
    double error = 0;
    for (int i = 0; i < 9; ++i) error = std::max(error, std::abs(RtR[i] - (i % 4 == 0 ? 1 : 0)));
    const double det = R[0] * (R[4] * R[8] - R[5] * R[7]) - R[1] * (R[3] * R[8] - R[5] * R[6]) +
                       R[2] * (R[3] * R[7] - R[4] * R[6]);
    if (error > 1e-6 || det < 0) {
      problems_.push_back(where_ + "." + key + " is not a rotation (orthonormal, det +1)");
    }
    return R;
  }
  const json* Get(const char* key) {
    if (!object_.is_object()) return nullptr;
    const auto it = object_.find(key);
    if (it == object_.end()) {
      problems_.push_back(where_ + "." + key + " is missing");
      return nullptr;
    }
    return &*it;
  }

 private:
  const json& object_;
  std::string where_;
  std::vector<std::string>& problems_;
};

}  // namespace

Status WriteGroundTruth(const std::filesystem::path& path, const GroundTruth& truth) {
  json root;
  root["schema"] = kTruthSchema;
  root["rig"] = truth.rig_name;
  root["seed"] = truth.seed;
  root["subject"] = {{"R", ToJson(truth.subject_R)}, {"t", ToJson(truth.subject_t)}};
  json cameras = json::array();
  for (const CameraTruth& c : truth.cameras) {
    const Intrinsics& in = c.intrinsics;
    cameras.push_back({{"serial", c.serial},
                       {"width", in.width},
                       {"height", in.height},
                       {"fx", in.fx},
                       {"fy", in.fy},
                       {"cx", in.cx},
                       {"cy", in.cy},
                       {"k1", in.k1},
                       {"k2", in.k2},
                       {"p1", in.p1},
                       {"p2", in.p2},
                       {"k3", in.k3},
                       {"R", ToJson(c.R)},
                       {"t", ToJson(c.t)},
                       {"focal_length_mm", c.focal_length_mm},
                       {"sensor_width_mm", c.sensor_width_mm},
                       {"shutter_lag_s", c.shutter_lag_s},
                       {"node", c.node_id},
                       {"node_port", c.node_port}});
  }
  root["cameras"] = std::move(cameras);
  json nodes = json::array();
  for (const NodeTruth& n : truth.nodes) {
    nodes.push_back(
        {{"id", n.id}, {"clock_offset_s", n.clock_offset_s}, {"drift_ppm", n.drift_ppm}});
  }
  root["nodes"] = std::move(nodes);
  json poses = json::array();
  for (const TargetPose& p : truth.calibration.poses) {
    poses.push_back({{"kind", KindName(p.kind)}, {"R", ToJson(p.R)}, {"t", ToJson(p.t)}});
  }
  root["calibration"] = {{"charuco", truth.calibration.charuco},
                         {"colorchecker_width_m", truth.calibration.colorchecker_width_m},
                         {"poses", std::move(poses)}};
  // 17 significant digits: a double survives the round trip exactly.
  return WriteFileAtomic(path, root.dump(1) + "\n");
}

Result<GroundTruth> ReadGroundTruth(const std::filesystem::path& path) {
  auto text = ReadFileText(path);
  if (!text.ok()) return text.error();
  json root;
  try {
    root = json::parse(*text);
  } catch (const json::parse_error& e) {
    return MakeError(std::string("not valid JSON: ") + e.what(), path.string(),
                     "regenerate the layout (twinrig sim up writes it)");
  }
  std::vector<std::string> problems;
  GroundTruth truth;
  JsonReader top(root, "groundtruth", problems);
  top.Int("schema", kTruthSchema, kTruthSchema);  // another schema is reported as a problem
  truth.rig_name = top.String("rig");
  if (const json* seed = top.Get("seed"); seed != nullptr) {
    if (seed->is_number_unsigned() || seed->is_number_integer()) {
      truth.seed = seed->get<std::uint64_t>();
    } else {
      problems.push_back("groundtruth.seed is not an integer");
    }
  }
  if (const json* subject = top.Get("subject"); subject != nullptr) {
    JsonReader field(*subject, "subject", problems);
    truth.subject_R = field.Rotation("R");
    truth.subject_t = field.Numbers<3>("t");
  }
  if (const json* cameras = top.Get("cameras"); cameras != nullptr) {
    if (!cameras->is_array() || cameras->empty()) problems.push_back("cameras is not a list");
    for (size_t i = 0; cameras->is_array() && i < cameras->size(); ++i) {
      JsonReader field((*cameras)[i], "cameras[" + std::to_string(i) + "]", problems);
      CameraTruth c;
      c.serial = field.String("serial");
      Intrinsics& in = c.intrinsics;
      in.width = static_cast<int>(field.Int("width", 16, 16384));
      in.height = static_cast<int>(field.Int("height", 16, 16384));
      in.fx = field.Number("fx", 1, 1e6);
      in.fy = field.Number("fy", 1, 1e6);
      in.cx = field.Number("cx", -1e5, 1e5);
      in.cy = field.Number("cy", -1e5, 1e5);
      in.k1 = field.Number("k1", -10, 10);
      in.k2 = field.Number("k2", -100, 100);
      in.p1 = field.Number("p1", -1, 1);
      in.p2 = field.Number("p2", -1, 1);
      in.k3 = field.Number("k3", -1000, 1000);
      c.R = field.Rotation("R");
      c.t = field.Numbers<3>("t");
      c.focal_length_mm = field.Number("focal_length_mm", 0.1, 10000);
      c.sensor_width_mm = field.Number("sensor_width_mm", 0.1, 1000);
      c.shutter_lag_s = field.Number("shutter_lag_s", 0, 10);
      c.node_id = static_cast<int>(field.Int("node", 1, 65535));
      c.node_port = static_cast<int>(field.Int("node_port", 0, 63));
      truth.cameras.push_back(c);
    }
  }
  if (const json* nodes = top.Get("nodes"); nodes != nullptr) {
    if (!nodes->is_array()) problems.push_back("nodes is not a list");
    for (size_t i = 0; nodes->is_array() && i < nodes->size(); ++i) {
      JsonReader field((*nodes)[i], "nodes[" + std::to_string(i) + "]", problems);
      NodeTruth n;
      n.id = static_cast<int>(field.Int("id", 1, 65535));
      n.clock_offset_s = field.Number("clock_offset_s", -1e6, 1e6);
      n.drift_ppm = field.Number("drift_ppm", -1e4, 1e4);
      truth.nodes.push_back(n);
    }
  }
  if (const json* calibration = top.Get("calibration"); calibration != nullptr) {
    JsonReader field(*calibration, "calibration", problems);
    truth.calibration.charuco = field.String("charuco");
    if (!truth.calibration.charuco.empty()) {
      auto spec = calibration::ParseBoardSpec(truth.calibration.charuco);
      if (!spec.ok()) {
        problems.push_back("calibration.charuco: " + spec.error().what);
      } else if (spec->kind != calibration::BoardSpec::Kind::kCharuco) {
        problems.push_back("calibration.charuco is not a ChArUco board");
      }
    }
    truth.calibration.colorchecker_width_m = field.Number("colorchecker_width_m", 0.01, 10);
    if (const json* poses = field.Get("poses"); poses != nullptr && poses->is_array()) {
      for (size_t i = 0; i < poses->size(); ++i) {
        const std::string where = "calibration.poses[" + std::to_string(i) + "]";
        JsonReader pose_field((*poses)[i], where, problems);
        TargetPose pose;
        const std::string kind = pose_field.String("kind");
        if (kind == "colorchecker") {
          pose.kind = TargetKind::kColorChecker;
        } else if (kind != "charuco") {
          problems.push_back(where + ".kind '" + kind + "' is not charuco or colorchecker");
        }
        pose.R = pose_field.Rotation("R");
        pose.t = pose_field.Numbers<3>("t");
        truth.calibration.poses.push_back(pose);
      }
    } else if (poses != nullptr) {
      problems.push_back("calibration.poses is not a list");
    }
  }
  std::set<std::string> serials;
  for (const CameraTruth& c : truth.cameras) {
    if (!c.serial.empty() && !serials.insert(c.serial).second) {
      problems.push_back("camera " + c.serial + " appears twice");
    }
  }
  if (!problems.empty()) {
    return FileProblems(path, problems, "fix these fields or regenerate the layout");
  }
  return truth;
}

Status WriteLayout(const std::filesystem::path& folder, const Layout& layout) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) {
    return MakeError("cannot create the folder: " + ec.message(), folder.string(),
                     "check the path and its permissions");
  }
  TWINRIG_RETURN_IF_ERROR(
      ::twinrig::studio::WriteRigFile(folder / ::twinrig::studio::kRigFileName, layout.rig));
  return WriteGroundTruth(folder / "groundtruth.json", layout.truth);
}

Result<Layout> ReadLayout(const std::filesystem::path& folder) {
  auto rig = ::twinrig::studio::ReadRigFile(folder / ::twinrig::studio::kRigFileName);
  if (!rig.ok()) return rig.error();
  auto truth = ReadGroundTruth(folder / "groundtruth.json");
  if (!truth.ok()) return truth.error();
  std::vector<std::string> problems;
  if (rig->cameras.size() != truth->cameras.size()) {
    problems.push_back("rig.toml has " + std::to_string(rig->cameras.size()) +
                       " cameras but groundtruth.json has " +
                       std::to_string(truth->cameras.size()));
  }
  for (const CameraSpec& camera : rig->cameras) {
    if (truth->Find(camera.serial) == nullptr) {
      problems.push_back("camera " + camera.serial + " of rig.toml has no ground truth");
    }
  }
  if (!problems.empty()) {
    return FileProblems(folder, problems, "write both files from the same layout");
  }
  return Layout{std::move(*rig), std::move(*truth)};
}

}  // namespace twinrig::sim::layout
