#include "sim/render/renderer.h"

#include <embree3/rtcore.h>
#include <libexif/exif-data.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <turbojpeg.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <numbers>
#include <optional>
#include <string_view>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "calibration/board.h"
#include "util/check.h"
#include "util/clock.h"
#include "util/files.h"
#include "util/install_layout.h"
#include "util/options.h"

namespace twinrig::sim::render {
namespace {

using layout::CameraTruth;
using layout::GroundTruth;
using layout::Mat3;
using layout::TargetKind;
using layout::TargetPose;
using layout::Vec3;

struct V3 {
  double x = 0, y = 0, z = 0;
};
V3 operator+(V3 a, V3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
V3 operator-(V3 a, V3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
V3 operator*(V3 a, double s) { return {a.x * s, a.y * s, a.z * s}; }
double Dot(V3 a, V3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
V3 Cross(V3 a, V3 b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
V3 Normalize(V3 a) {
  const double n = std::sqrt(Dot(a, a));
  return n > 0 ? a * (1.0 / n) : a;
}
V3 MulR(const Mat3& R, V3 v) {
  return {R[0] * v.x + R[1] * v.y + R[2] * v.z, R[3] * v.x + R[4] * v.y + R[5] * v.z,
          R[6] * v.x + R[7] * v.y + R[8] * v.z};
}
V3 MulRt(const Mat3& R, V3 v) {
  return {R[0] * v.x + R[3] * v.y + R[6] * v.z, R[1] * v.x + R[4] * v.y + R[7] * v.z,
          R[2] * v.x + R[5] * v.y + R[8] * v.z};
}
V3 FromVec(const Vec3& v) { return {v[0], v[1], v[2]}; }

using Rgb = std::array<float, 3>;  // linear, R G B

// sRGB <-> linear light.
float SrgbToLinear(float c) {
  return c <= 0.04045F ? c / 12.92F : std::pow((c + 0.055F) / 1.055F, 2.4F);
}
float LinearToSrgb(float c) {
  return c <= 0.0031308F ? 12.92F * c : 1.055F * std::pow(c, 1.0F / 2.4F) - 0.055F;
}

// A linear-light RGB texture with bilinear lookup; (s, t) in texels, origin at the top-left texel's
// top-left corner.
class Texture {
 public:
  Texture() = default;
  // From an 8-bit BGR or grey image in sRGB.
  explicit Texture(const cv::Mat& image) : width_(image.cols), height_(image.rows) {
    std::array<float, 256> lut{};
    for (int i = 0; i < 256; ++i) lut[i] = SrgbToLinear(static_cast<float>(i) / 255.0F);
    texels_.resize(static_cast<size_t>(width_) * height_);
    for (int y = 0; y < height_; ++y) {
      for (int x = 0; x < width_; ++x) {
        Rgb& t = texels_[static_cast<size_t>(y) * width_ + x];
        if (image.channels() == 1) {
          const float g = lut[image.at<std::uint8_t>(y, x)];
          t = {g, g, g};
        } else {
          const cv::Vec3b& bgr = image.at<cv::Vec3b>(y, x);
          t = {lut[bgr[2]], lut[bgr[1]], lut[bgr[0]]};
        }
      }
    }
  }
  [[nodiscard]] int width() const { return width_; }
  [[nodiscard]] int height() const { return height_; }
  [[nodiscard]] Rgb Sample(double s, double t) const {
    const double x = std::clamp(s - 0.5, 0.0, width_ - 1.0);
    const double y = std::clamp(t - 0.5, 0.0, height_ - 1.0);
    const int x0 = std::min(static_cast<int>(x), width_ - 2);
    const int y0 = std::min(static_cast<int>(y), height_ - 2);
    const auto fx = static_cast<float>(x - x0);
    const auto fy = static_cast<float>(y - y0);
    const Rgb& a = At(x0, y0);
    const Rgb& b = At(x0 + 1, y0);
    const Rgb& c = At(x0, y0 + 1);
    const Rgb& d = At(x0 + 1, y0 + 1);
    Rgb out{};
    for (int k = 0; k < 3; ++k) {
      out[k] = (a[k] * (1 - fx) + b[k] * fx) * (1 - fy) + (c[k] * (1 - fx) + d[k] * fx) * fy;
    }
    return out;
  }

 private:
  [[nodiscard]] const Rgb& At(int x, int y) const {
    return texels_[static_cast<size_t>(y) * width_ + x];
  }
  int width_ = 0;
  int height_ = 0;
  std::vector<Rgb> texels_;
};

// The head scan: positions (world frame), smooth normals per position, UVs per triangle corner.
struct Mesh {
  std::vector<cv::Point3f> scan_vertices;  // in the scan's frame, as in the file
  std::vector<cv::Vec3i> triangles;        // position indices
  std::vector<std::array<cv::Vec2f, 3>> corner_uvs;
  std::vector<V3> world_vertices;
  std::vector<V3> world_normals;
};

Result<Mesh> LoadObj(const std::filesystem::path& path) {
  auto text = ReadFileText(path);
  if (!text.ok()) return text.error();
  Mesh mesh;
  std::vector<cv::Vec2f> uvs;
  auto bad = [&](size_t line, const std::string& why) {
    return MakeError("line " + std::to_string(line) + ": " + why, path.string(),
                     "restore head.obj from the repository (sim/data/head)");
  };
  std::string_view rest(*text);
  size_t line_number = 0;
  // Parses one 1-based (or negative, relative) OBJ index.
  auto parse_index = [](std::string_view token, size_t count, int& out) {
    int value = 0;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (ec != std::errc() || end != token.data() + token.size() || value == 0) return false;
    const long long index = value > 0 ? value - 1 : static_cast<long long>(count) + value;
    if (index < 0 || index >= static_cast<long long>(count)) return false;
    out = static_cast<int>(index);
    return true;
  };
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    ++line_number;
    // The distributed file has CRLF line ends and a stray NUL at its end.
    while (!line.empty() && (line.back() == '\r' || line.back() == '\0' || line.back() == ' ')) {
      line.remove_suffix(1);
    }
    while (!line.empty() && (line.front() == '\0' || line.front() == ' ')) line.remove_prefix(1);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string_view> tokens;
    for (size_t at = 0; at < line.size();) {
      const size_t start = line.find_first_not_of(" \t", at);
      if (start == std::string_view::npos) break;
      const size_t end = std::min(line.find_first_of(" \t", start), line.size());
      tokens.push_back(line.substr(start, end - start));
      at = end;
    }
    if (tokens.empty()) continue;
    auto number = [&](size_t i, float& out) {
      if (i >= tokens.size()) return false;
      const std::string token(tokens[i]);
      char* end = nullptr;
      out = std::strtof(token.c_str(), &end);
      return end == token.c_str() + token.size() && std::isfinite(out);
    };
    if (tokens[0] == "v") {
      cv::Point3f p;
      if (!number(1, p.x) || !number(2, p.y) || !number(3, p.z)) return bad(line_number, "bad v");
      mesh.scan_vertices.push_back(p);
    } else if (tokens[0] == "vt") {
      cv::Vec2f uv;
      if (!number(1, uv[0]) || !number(2, uv[1])) return bad(line_number, "bad vt");
      uvs.push_back(uv);
    } else if (tokens[0] == "f") {
      if (tokens.size() < 4 || tokens.size() > 5) {
        return bad(line_number, "a face must be a triangle or a quad");
      }
      std::vector<int> position(tokens.size() - 1);
      std::vector<int> uv(tokens.size() - 1);
      for (size_t k = 1; k < tokens.size(); ++k) {
        const std::string_view corner = tokens[k];
        const size_t slash = corner.find('/');
        if (slash == std::string_view::npos) return bad(line_number, "a face corner has no UV");
        const size_t slash2 = corner.find('/', slash + 1);
        const std::string_view uv_token =
            corner.substr(slash + 1, slash2 == std::string_view::npos ? std::string_view::npos
                                                                      : slash2 - slash - 1);
        if (!parse_index(corner.substr(0, slash), mesh.scan_vertices.size(), position[k - 1]) ||
            !parse_index(uv_token, uvs.size(), uv[k - 1])) {
          return bad(line_number, "a face index is out of range");
        }
      }
      for (size_t k = 1; k + 1 < position.size(); ++k) {
        mesh.triangles.emplace_back(position[0], position[k], position[k + 1]);
        mesh.corner_uvs.push_back({uvs[uv[0]], uvs[uv[k]], uvs[uv[k + 1]]});
      }
    }
    // mtllib, usemtl, g, s, vn: not needed (normals are computed smooth).
  }
  if (mesh.triangles.empty() || mesh.scan_vertices.size() < 3) {
    return MakeError("has no faces", path.string(), "restore head.obj from the repository");
  }
  return mesh;
}

// Published sRGB values of the 24 ColorChecker Classic patches (X-Rite, D65), row by row from
// dark skin to black.
constexpr std::array<std::array<int, 3>, 24> kColorChecker = {{
    {115, 82, 68},   {194, 150, 130}, {98, 122, 157}, {87, 108, 67},   {133, 128, 177},
    {103, 189, 170}, {214, 126, 44},  {80, 91, 166},  {193, 90, 99},   {94, 60, 108},
    {157, 188, 64},  {224, 163, 46},  {56, 61, 150},  {70, 148, 73},   {175, 54, 60},
    {231, 199, 31},  {187, 86, 149},  {8, 133, 161},  {243, 243, 242}, {200, 200, 200},
    {160, 160, 160}, {122, 122, 121}, {85, 85, 85},   {52, 52, 52},
}};

cv::Mat DrawColorChecker(int width_px) {
  const int height_px = width_px * 216 / 279;
  cv::Mat chart(height_px, width_px, CV_8UC3, cv::Scalar(20, 20, 20));  // black frame
  const double pitch = width_px / 6.2;
  const double patch = pitch * 0.82;
  const double x0 = (width_px - 6 * pitch) / 2 + (pitch - patch) / 2;
  const double y0 = (height_px - 4 * pitch) / 2 + (pitch - patch) / 2;
  for (int i = 0; i < 24; ++i) {
    const int row = i / 6;
    const int col = i % 6;
    const cv::Rect rect(static_cast<int>(x0 + col * pitch), static_cast<int>(y0 + row * pitch),
                        static_cast<int>(patch), static_cast<int>(patch));
    const auto& rgb = kColorChecker[i];
    cv::rectangle(chart, rect, cv::Scalar(rgb[2], rgb[1], rgb[0]), cv::FILLED);
  }
  return chart;
}

// A planar calibration target: its texture covers [0, width] x [0, height] of the target plane
// (x along texture columns, y along rows), with a white margin around it as on a mounted print.
struct Target {
  TargetKind kind = TargetKind::kCharuco;
  Mat3 R{};  // target -> world
  V3 t;
  double width = 0;
  double height = 0;
  double margin = 0;
  const Texture* texture = nullptr;
};

// The studio's lights (world directions toward the light) and their strengths, relative to the
// subject centre. Four soft boxes around at 35 degrees up plus a top light and ambient: the flat,
// even light photogrammetry studios use.
struct Light {
  V3 direction;
  float strength;
};

constexpr float kAmbient = 0.30F;
// Wrap term: a soft box's light reaches a little past the terminator, like an area light.
constexpr float kWrap = 0.25F;

std::vector<Light> StudioLights() {
  std::vector<Light> lights;
  const double elevation = 35 * std::numbers::pi / 180;
  for (int i = 0; i < 4; ++i) {
    const double azimuth = (45 + 90 * i) * std::numbers::pi / 180;
    lights.push_back({Normalize({std::sin(azimuth) * std::cos(elevation), std::sin(elevation),
                                 std::cos(azimuth) * std::cos(elevation)}),
                      i < 2 ? 0.42F : 0.34F});  // a little brighter in front
  }
  lights.push_back({{0, 1, 0}, 0.2F});
  return lights;
}

// Counter-based random numbers: each pixel's noise depends only on (seed, pixel, channel), so the
// image is the same whatever the thread schedule.
std::uint64_t SplitMix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
double UnitFromBits(std::uint64_t bits) {
  return (static_cast<double>(bits >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
double GaussianAt(std::uint64_t seed, std::uint64_t index) {
  const std::uint64_t a = SplitMix(seed ^ SplitMix(index * 2));
  const std::uint64_t b = SplitMix(seed ^ SplitMix(index * 2 + 1));
  return std::sqrt(-2.0 * std::log(UnitFromBits(a))) *
         std::cos(2 * std::numbers::pi * UnitFromBits(b));
}

// Approximate sRGB colour of a black body at `kelvin` (Tanner Helland's fit), for white balance.
Rgb KelvinRgb(double kelvin) {
  const double t = std::clamp(kelvin, 1000.0, 40000.0) / 100;
  double r = t <= 66 ? 255 : 329.698727446 * std::pow(t - 60, -0.1332047592);
  double g = t <= 66 ? 99.4708025861 * std::log(t) - 161.1195681661
                     : 288.1221695283 * std::pow(t - 60, -0.0755148492);
  double b = t >= 66 ? 255 : (t <= 19 ? 0 : 138.5177312231 * std::log(t - 10) - 305.0447927307);
  r = std::clamp(r, 1.0, 255.0);
  g = std::clamp(g, 1.0, 255.0);
  b = std::clamp(b, 1.0, 255.0);
  return {SrgbToLinear(static_cast<float>(r / 255)), SrgbToLinear(static_cast<float>(g / 255)),
          SrgbToLinear(static_cast<float>(b / 255))};
}

constexpr double kLightsKelvin = 5500;

// Rotated-grid supersample offsets from the pixel centre.
constexpr std::array<std::array<double, 2>, 4> kRgss = {
    {{-0.125, -0.375}, {0.375, -0.125}, {0.125, 0.375}, {-0.375, 0.125}}};

// The pinhole + Brown-Conrady model of cv::projectPoints with (k1, k2, p1, p2, k3).
struct Lens {
  double fx, fy, cx, cy, k1, k2, p1, p2, k3;

  // Distorted normalised coordinates of the undistorted (x, y), exactly as OpenCV computes them.
  void Distort(double x, double y, double& xd, double& yd) const {
    const double r2 = x * x + y * y;
    const double radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3));
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x);
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y;
  }

  // Inverts Distort by Newton's method; converges in a few steps for real lenses. Returns false
  // when it does not converge (far outside the lens's useful field).
  bool Undistort(double xd, double yd, double& x, double& y) const {
    x = xd;
    y = yd;
    for (int iteration = 0; iteration < 30; ++iteration) {
      double fx_ = 0;
      double fy_ = 0;
      Distort(x, y, fx_, fy_);
      const double ex = fx_ - xd;
      const double ey = fy_ - yd;
      // 1e-13 in normalised coordinates is below 1e-9 px for any real focal length.
      if (std::abs(ex) < 1e-13 && std::abs(ey) < 1e-13) return true;
      const double r2 = x * x + y * y;
      const double radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3));
      const double dradial_dr2 = k1 + r2 * (2 * k2 + 3 * k3 * r2);
      const double j11 = radial + x * dradial_dr2 * 2 * x + 2 * p1 * y + 6 * p2 * x;
      const double j12 = x * dradial_dr2 * 2 * y + 2 * p1 * x + 2 * p2 * y;
      const double j21 = y * dradial_dr2 * 2 * x + 2 * p1 * x + 2 * p2 * y;
      const double j22 = radial + y * dradial_dr2 * 2 * y + 6 * p1 * y + 2 * p2 * x;
      const double det = j11 * j22 - j12 * j21;
      if (std::abs(det) < 1e-12) return false;
      x -= (j22 * ex - j12 * ey) / det;
      y -= (-j21 * ex + j11 * ey) / det;
    }
    double check_x = 0;
    double check_y = 0;
    Distort(x, y, check_x, check_y);
    return std::abs(check_x - xd) < 1e-9 && std::abs(check_y - yd) < 1e-9;
  }
};

struct Hit {
  enum class What { kNone, kSubject, kTarget } what = What::kNone;
  Rgb radiance{};  // linear, before exposure
};

}  // namespace

struct Renderer::Impl {
  RendererOptions options;
  GroundTruth truth;
  Mesh mesh;
  Texture head_texture;
  Texture charuco_texture;
  Texture colorchecker_texture;
  calibration::BoardSpec charuco;
  std::vector<Light> lights = StudioLights();
  RTCDevice device = nullptr;
  RTCScene scene = nullptr;

  ~Impl() {
    if (scene != nullptr) rtcReleaseScene(scene);
    if (device != nullptr) rtcReleaseDevice(device);
  }

  [[nodiscard]] Target TargetAt(int index) const {
    const TargetPose& pose = truth.calibration.poses[static_cast<size_t>(index)];
    Target target;
    target.kind = pose.kind;
    target.R = pose.R;
    target.t = FromVec(pose.t);
    if (pose.kind == TargetKind::kCharuco) {
      target.width = charuco.cols * charuco.square_m;
      target.height = charuco.rows * charuco.square_m;
      target.margin = charuco.square_m * 0.5;
      target.texture = &charuco_texture;
    } else {
      target.width = truth.calibration.colorchecker_width_m;
      target.height = target.width * 216.0 / 279.0;
      target.margin = 0;
      target.texture = &colorchecker_texture;
    }
    return target;
  }

  [[nodiscard]] float Diffuse(V3 normal) const {
    float light = kAmbient;
    for (const Light& l : lights) {
      const auto cosine = static_cast<float>(Dot(normal, l.direction));
      light += l.strength * std::max(0.0F, (cosine + kWrap) / (1 + kWrap));
    }
    return light;
  }

  // The backdrop: a neutral grey cyclorama at infinity, a little brighter toward the horizon
  // where the soft boxes light it.
  [[nodiscard]] static Rgb Backdrop(V3 direction) {
    const auto v = static_cast<float>(0.20 + 0.06 * std::exp(-4 * direction.y * direction.y));
    return {v, v, v};
  }

  [[nodiscard]] Hit TraceSubject(V3 origin, V3 direction) const {
    RTCIntersectContext context;
    rtcInitIntersectContext(&context);
    RTCRayHit ray{};
    ray.ray.org_x = static_cast<float>(origin.x);
    ray.ray.org_y = static_cast<float>(origin.y);
    ray.ray.org_z = static_cast<float>(origin.z);
    ray.ray.dir_x = static_cast<float>(direction.x);
    ray.ray.dir_y = static_cast<float>(direction.y);
    ray.ray.dir_z = static_cast<float>(direction.z);
    ray.ray.tnear = 0;
    ray.ray.tfar = std::numeric_limits<float>::infinity();
    ray.ray.mask = 0xFFFFFFFFU;
    ray.hit.geomID = RTC_INVALID_GEOMETRY_ID;
    ray.hit.instID[0] = RTC_INVALID_GEOMETRY_ID;
    rtcIntersect1(scene, &context, &ray);
    Hit hit;
    if (ray.hit.geomID == RTC_INVALID_GEOMETRY_ID) return hit;
    hit.what = Hit::What::kSubject;
    const size_t prim = ray.hit.primID;
    const cv::Vec3i& tri = mesh.triangles[prim];
    const double u = ray.hit.u;
    const double v = ray.hit.v;
    const double w = 1 - u - v;
    V3 normal = Normalize(mesh.world_normals[tri[0]] * w + mesh.world_normals[tri[1]] * u +
                          mesh.world_normals[tri[2]] * v);
    // Seen from inside (a grazing ray through a crease): shade the side facing the camera.
    if (Dot(normal, direction) > 0) normal = normal * -1.0;
    const auto& uv = mesh.corner_uvs[prim];
    const double s = uv[0][0] * w + uv[1][0] * u + uv[2][0] * v;
    const double t = uv[0][1] * w + uv[1][1] * u + uv[2][1] * v;
    // OBJ UVs have their origin bottom-left.
    const Rgb albedo =
        head_texture.Sample(s * head_texture.width(), (1 - t) * head_texture.height());
    const float light = Diffuse(normal);
    for (int k = 0; k < 3; ++k) hit.radiance[k] = albedo[k] * light;
    return hit;
  }

  [[nodiscard]] Hit TraceTarget(const Target& target, V3 origin, V3 direction) const {
    Hit hit;
    // Into the target frame; intersect the plane z = 0 in double precision.
    const V3 o = MulRt(target.R, origin - target.t);
    const V3 d = MulRt(target.R, direction);
    if (std::abs(d.z) < 1e-12) return hit;
    const double distance = -o.z / d.z;
    if (distance <= 0) return hit;
    const double x = o.x + distance * d.x;
    const double y = o.y + distance * d.y;
    if (x < -target.margin || y < -target.margin || x > target.width + target.margin ||
        y > target.height + target.margin) {
      return hit;
    }
    hit.what = Hit::What::kTarget;
    const bool front = d.z > 0;       // the printed face is seen from -z (OpenCV board frame)
    Rgb albedo{0.05F, 0.05F, 0.05F};  // the back of the mount
    if (front) {
      if (x < 0 || y < 0 || x > target.width || y > target.height) {
        albedo = {0.80F, 0.80F, 0.80F};  // white margin of the print
      } else {
        const Texture& texture = *target.texture;
        albedo = texture.Sample(x / target.width * texture.width(),
                                y / target.height * texture.height());
      }
    }
    // The normal on the side the ray comes from.
    V3 normal{target.R[2], target.R[5], target.R[8]};
    if (front) normal = normal * -1.0;
    const float light = Diffuse(normal);
    for (int k = 0; k < 3; ++k) hit.radiance[k] = albedo[k] * light;
    return hit;
  }

  // Traces one output image: radiance per pixel (averaged over supersamples) and coverage.
  Status Trace(const CameraTruth& camera, int width, int height, const SceneState& scene_state,
               cv::Mat& radiance, cv::Mat& coverage) const {
    const layout::Intrinsics in = camera.intrinsics.Scaled(width, height);
    const Lens lens{in.fx, in.fy, in.cx, in.cy, in.k1, in.k2, in.p1, in.p2, in.k3};
    const V3 centre = FromVec(camera.Centre());
    std::optional<Target> target;
    if (scene_state.mode == SceneState::Mode::kCalibration) {
      if (scene_state.board_pose < 0 ||
          scene_state.board_pose >= static_cast<int>(truth.calibration.poses.size())) {
        return MakeError("calibration pose " + std::to_string(scene_state.board_pose) +
                             " is not in the layout's script (it has " +
                             std::to_string(truth.calibration.poses.size()) + ")",
                         camera.serial, "use a pose index from groundtruth.json");
      }
      target = TargetAt(scene_state.board_pose);
    }
    radiance.create(height, width, CV_32FC3);
    coverage.create(height, width, CV_32F);
    const int samples = options.supersamples;
    auto trace_rows = [&](const tbb::blocked_range<int>& rows) {
      for (int row = rows.begin(); row < rows.end(); ++row) {
        auto* out = radiance.ptr<cv::Vec3f>(row);
        auto* cover = coverage.ptr<float>(row);
        for (int col = 0; col < width; ++col) {
          Rgb sum{};
          int hits = 0;
          for (int s = 0; s < samples; ++s) {
            const double u = col + (samples == 1 ? 0.0 : kRgss[s][0]);
            const double v = row + (samples == 1 ? 0.0 : kRgss[s][1]);
            double x = 0;
            double y = 0;
            Hit hit;
            V3 direction{0, 0, 1};
            if (lens.Undistort((u - lens.cx) / lens.fx, (v - lens.cy) / lens.fy, x, y)) {
              direction = Normalize(MulRt(camera.R, {x, y, 1}));
              if (scene_state.mode == SceneState::Mode::kSubject) {
                hit = TraceSubject(centre, direction);
              } else if (target) {
                hit = TraceTarget(*target, centre, direction);
              }
            }
            if (hit.what == Hit::What::kNone) {
              hit.radiance = Backdrop(direction);
            } else {
              ++hits;
            }
            for (int k = 0; k < 3; ++k) sum[k] += hit.radiance[k];
          }
          out[col] = cv::Vec3f(sum[0], sum[1], sum[2]) / static_cast<float>(samples);
          cover[col] = static_cast<float>(hits) / static_cast<float>(samples);
        }
      }
    };
    ForRows(height, 4, trace_rows);
    return OkStatus();
  }

  // Runs `body` over row ranges on options.threads threads (0: TBB's default, all cores).
  template <typename Body>
  void ForRows(int rows, int grain, const Body& body) const {
    const tbb::blocked_range<int> all(0, rows, grain);
    if (options.threads > 0) {
      tbb::task_arena arena(options.threads);
      arena.execute([&] { tbb::parallel_for(all, body); });
    } else {
      tbb::parallel_for(all, body);
    }
  }
};

std::vector<std::string> Exposure::Validate() const {
  std::vector<std::string> problems;
  if (iso < 50 || iso > 102400) problems.push_back("iso must be 50..102400");
  if (!(shutter_s >= 1.0 / 16000) || !(shutter_s <= 30)) {
    problems.push_back("shutter_s must be 1/16000..30 s");
  }
  if (!(aperture_f >= 1.0) || !(aperture_f <= 32)) problems.push_back("aperture_f must be 1..32");
  if (!(white_balance_k >= 2000) || !(white_balance_k <= 12000)) {
    problems.push_back("white_balance_k must be 2000..12000");
  }
  if (width < 0 || height < 0 || width > 8192 || height > 8192 || (width == 0) != (height == 0)) {
    problems.push_back("width and height must both be 0 (full size) or 1..8192");
  }
  if (jpeg_quality < 1 || jpeg_quality > 100) problems.push_back("jpeg_quality must be 1..100");
  if (make.empty() || model.empty()) problems.push_back("make and model must be set");
  return problems;
}

std::vector<std::string> RendererOptions::Validate() const {
  std::vector<std::string> problems;
  if (supersamples != 1 && supersamples != 4) problems.push_back("supersamples must be 1 or 4");
  if (threads < 0 || threads > 1024) problems.push_back("threads must be 0..1024");
  if (board_texture_px_per_square < 16 || board_texture_px_per_square > 1024) {
    problems.push_back("board_texture_px_per_square must be 16..1024");
  }
  return problems;
}

Renderer::Renderer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Renderer::~Renderer() = default;

Result<std::unique_ptr<Renderer>> Renderer::Create(const std::filesystem::path& head_folder,
                                                   const GroundTruth& truth,
                                                   const RendererOptions& options) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "renderer options"));
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->truth = truth;

  auto mesh = LoadObj(head_folder / "head.obj");
  if (!mesh.ok()) return mesh.error();
  impl->mesh = std::move(*mesh);
  const auto texture_path = head_folder / "Map-COL.jpg";
  const cv::Mat texture = cv::imread(texture_path.string(), cv::IMREAD_COLOR);
  if (texture.empty() || texture.cols < 2 || texture.rows < 2) {
    return MakeError("cannot read the colour map (missing or not a JPEG)", texture_path.string(),
                     "restore Map-COL.jpg from the repository (sim/data/head)");
  }
  impl->head_texture = Texture(texture);

  // Calibration targets drawn once at high resolution; the renderer samples them bilinearly.
  auto spec = calibration::ParseBoardSpec(truth.calibration.charuco);
  if (!spec.ok()) return spec.error();
  impl->charuco = *spec;
  auto board = calibration::MakeCharuco(*spec);
  if (!board.ok()) return board.error();
  cv::Mat board_image;
  const int px = options.board_texture_px_per_square;
  (*board)->draw(cv::Size(spec->cols * px, spec->rows * px), board_image, 0, 1);
  impl->charuco_texture = Texture(board_image);
  impl->colorchecker_texture = Texture(DrawColorChecker(744));

  // The head in the world: X_world = R_subject * X_scan + t_subject; smooth normals from the
  // area-weighted face normals around each position.
  Mesh& m = impl->mesh;
  m.world_vertices.resize(m.scan_vertices.size());
  for (size_t i = 0; i < m.scan_vertices.size(); ++i) {
    const cv::Point3f& p = m.scan_vertices[i];
    m.world_vertices[i] = MulR(truth.subject_R, {p.x, p.y, p.z}) + FromVec(truth.subject_t);
  }
  m.world_normals.assign(m.world_vertices.size(), V3{});
  for (const cv::Vec3i& tri : m.triangles) {
    const V3 a = m.world_vertices[tri[0]];
    const V3 face = Cross(m.world_vertices[tri[1]] - a, m.world_vertices[tri[2]] - a);
    for (int k = 0; k < 3; ++k) m.world_normals[tri[k]] = m.world_normals[tri[k]] + face;
  }
  for (V3& n : m.world_normals) n = Normalize(n);

  impl->device = rtcNewDevice(nullptr);
  if (impl->device == nullptr) {
    return MakeError("Embree could not create a device", "renderer",
                     "check that libembree3 is installed (scripts/setup)");
  }
  impl->scene = rtcNewScene(impl->device);
  RTCGeometry geometry = rtcNewGeometry(impl->device, RTC_GEOMETRY_TYPE_TRIANGLE);
  auto* vertices = static_cast<float*>(rtcSetNewGeometryBuffer(geometry, RTC_BUFFER_TYPE_VERTEX, 0,
                                                               RTC_FORMAT_FLOAT3, 3 * sizeof(float),
                                                               m.world_vertices.size()));
  auto* indices = static_cast<unsigned*>(
      rtcSetNewGeometryBuffer(geometry, RTC_BUFFER_TYPE_INDEX, 0, RTC_FORMAT_UINT3,
                              3 * sizeof(unsigned), m.triangles.size()));
  TWINRIG_CHECK(vertices != nullptr && indices != nullptr) << "Embree buffer allocation failed";
  for (size_t i = 0; i < m.world_vertices.size(); ++i) {
    vertices[3 * i] = static_cast<float>(m.world_vertices[i].x);
    vertices[3 * i + 1] = static_cast<float>(m.world_vertices[i].y);
    vertices[3 * i + 2] = static_cast<float>(m.world_vertices[i].z);
  }
  for (size_t i = 0; i < m.triangles.size(); ++i) {
    for (int k = 0; k < 3; ++k) indices[3 * i + k] = static_cast<unsigned>(m.triangles[i][k]);
  }
  rtcCommitGeometry(geometry);
  rtcAttachGeometry(impl->scene, geometry);
  rtcReleaseGeometry(geometry);
  rtcSetSceneBuildQuality(impl->scene, RTC_BUILD_QUALITY_HIGH);
  rtcCommitScene(impl->scene);
  if (rtcGetDeviceError(impl->device) != RTC_ERROR_NONE) {
    return MakeError("Embree could not build the scene", (head_folder / "head.obj").string(),
                     "check the mesh file");
  }
  return std::unique_ptr<Renderer>(new Renderer(std::move(impl)));
}

const std::vector<cv::Point3f>& Renderer::HeadVertices() const { return impl_->mesh.scan_vertices; }
const std::vector<cv::Vec3i>& Renderer::HeadTriangles() const { return impl_->mesh.triangles; }

namespace {

Status CheckCamera(const CameraTruth& camera) {
  const layout::Intrinsics& in = camera.intrinsics;
  if (in.width <= 0 || in.height <= 0 || !(in.fx > 0) || !(in.fy > 0)) {
    return MakeError("the camera's intrinsics are not set (size or focal length is zero)",
                     camera.serial.empty() ? "camera" : camera.serial,
                     "take the camera from the layout's groundtruth.json");
  }
  return OkStatus();
}

}  // namespace

Result<cv::Mat> Renderer::RenderCoverage(const CameraTruth& camera, int width, int height,
                                         const SceneState& scene) const {
  TWINRIG_RETURN_IF_ERROR(CheckCamera(camera));
  if (width <= 0 || height <= 0 || width > 8192 || height > 8192) {
    return MakeError("coverage size must be 1..8192 each way", camera.serial, "pass a real size");
  }
  cv::Mat radiance;
  cv::Mat coverage;
  TWINRIG_RETURN_IF_ERROR(impl_->Trace(camera, width, height, scene, radiance, coverage));
  return coverage;
}

Result<cv::Mat> Renderer::RenderImage(const CameraTruth& camera, const Exposure& exposure,
                                      const SceneState& scene, std::uint64_t seed) const {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(exposure, "exposure of camera " + camera.serial));
  TWINRIG_RETURN_IF_ERROR(CheckCamera(camera));
  const int width = exposure.width > 0 ? exposure.width : camera.intrinsics.width;
  const int height = exposure.height > 0 ? exposure.height : camera.intrinsics.height;
  cv::Mat radiance;
  cv::Mat coverage;
  TWINRIG_RETURN_IF_ERROR(impl_->Trace(camera, width, height, scene, radiance, coverage));

  // Exposure relative to the reference (ISO 100, 1/125 s, f/8), which maps a white surface facing
  // a soft box to about 85% of the sensor's range.
  const double gain = (exposure.iso / 100.0) * (exposure.shutter_s * 125.0) *
                      (64.0 / (exposure.aperture_f * exposure.aperture_f));
  // White balance: the camera neutralises `white_balance_k`; lights of another temperature tint.
  const Rgb light = KelvinRgb(kLightsKelvin);
  const Rgb balance = KelvinRgb(exposure.white_balance_k);
  std::array<double, 3> channel{};
  for (int k = 0; k < 3; ++k) {
    channel[k] = (light[k] / light[1]) / (balance[k] / balance[1]);
  }
  // Sensor noise (shot + read) grows with ISO: the signal is amplified after the photons are
  // counted.
  const double iso_gain = exposure.iso / 100.0;
  const double shot = 0.00025 * iso_gain;
  const double read = 0.0012 * iso_gain;
  const bool noise = impl_->options.noise;
  const std::uint64_t noise_seed = SplitMix(seed ^ 0x6e6f697365ULL);

  std::array<std::uint8_t, 4097> encode{};
  for (int i = 0; i <= 4096; ++i) {
    encode[i] = static_cast<std::uint8_t>(
        std::lround(255.0F * LinearToSrgb(static_cast<float>(i) / 4096.0F)));
  }
  cv::Mat image(height, width, CV_8UC3);
  impl_->ForRows(height, 8, [&](const tbb::blocked_range<int>& rows) {
    for (int row = rows.begin(); row < rows.end(); ++row) {
      const auto* in = radiance.ptr<cv::Vec3f>(row);
      auto* out = image.ptr<cv::Vec3b>(row);
      for (int col = 0; col < width; ++col) {
        for (int k = 0; k < 3; ++k) {
          double value = in[col][k] * gain * channel[k];
          if (noise) {
            const auto index = (static_cast<std::uint64_t>(row) * width + col) * 3 + k;
            const double sigma = std::sqrt(shot * std::max(0.0, value) + read * read);
            value += sigma * GaussianAt(noise_seed, index);
          }
          const int level = static_cast<int>(std::lround(std::clamp(value, 0.0, 1.0) * 4096));
          out[col][2 - k] = encode[level];  // BGR
        }
      }
    }
  });
  return image;
}

namespace {

// libexif entries for the tags a camera writes.
class ExifWriter {
 public:
  ExifWriter() : data_(exif_data_new()) {
    TWINRIG_CHECK(data_ != nullptr) << "libexif out of memory";
    exif_data_set_option(data_, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_set_data_type(data_, EXIF_DATA_TYPE_COMPRESSED);
    exif_data_set_byte_order(data_, EXIF_BYTE_ORDER_INTEL);
  }
  ~ExifWriter() { exif_data_unref(data_); }
  ExifWriter(const ExifWriter&) = delete;
  ExifWriter& operator=(const ExifWriter&) = delete;

  void Ascii(ExifIfd ifd, ExifTag tag, const std::string& text) {
    ExifEntry* entry = New(ifd, tag, EXIF_FORMAT_ASCII, text.size() + 1);
    std::memcpy(entry->data, text.c_str(), text.size() + 1);
  }
  void Undefined(ExifIfd ifd, ExifTag tag, const std::string& bytes) {
    ExifEntry* entry = New(ifd, tag, EXIF_FORMAT_UNDEFINED, bytes.size());
    std::memcpy(entry->data, bytes.data(), bytes.size());
  }
  void Short(ExifIfd ifd, ExifTag tag, std::uint16_t value) {
    ExifEntry* entry = New(ifd, tag, EXIF_FORMAT_SHORT, 1);
    exif_set_short(entry->data, EXIF_BYTE_ORDER_INTEL, value);
  }
  void Rational(ExifIfd ifd, ExifTag tag, std::uint32_t numerator, std::uint32_t denominator) {
    ExifEntry* entry = New(ifd, tag, EXIF_FORMAT_RATIONAL, 1);
    exif_set_rational(entry->data, EXIF_BYTE_ORDER_INTEL, ExifRational{numerator, denominator});
  }

  Result<std::vector<std::uint8_t>> Save() {
    unsigned char* bytes = nullptr;
    unsigned int size = 0;
    exif_data_save_data(data_, &bytes, &size);
    if (bytes == nullptr || size == 0) {
      return MakeError("libexif could not write the EXIF block", "renderer", "report this bug");
    }
    std::vector<std::uint8_t> out(bytes, bytes + size);
    std::free(bytes);  // NOLINT(cppcoreguidelines-no-malloc): libexif allocates with malloc
    return out;
  }

 private:
  ExifEntry* New(ExifIfd ifd, ExifTag tag, ExifFormat format, size_t components) {
    ExifEntry* entry = exif_entry_new();
    TWINRIG_CHECK(entry != nullptr) << "libexif out of memory";
    entry->tag = tag;
    entry->format = format;
    entry->components = components;
    entry->size = exif_format_get_size(format) * components;
    ExifMem* mem = exif_mem_new_default();
    entry->data = static_cast<unsigned char*>(exif_mem_alloc(mem, entry->size));
    exif_mem_unref(mem);
    TWINRIG_CHECK(entry->data != nullptr) << "libexif out of memory";
    exif_content_add_entry(data_->ifd[ifd], entry);
    exif_entry_unref(entry);
    return entry;
  }
  ExifData* data_;
};

// A rational close to `value` with a small denominator: exposure times as cameras write them.
std::pair<std::uint32_t, std::uint32_t> ToRational(double value, std::uint32_t denominator) {
  if (value > 0 && value < 1 && std::abs(1 / value - std::round(1 / value)) < 1e-6) {
    return {1, static_cast<std::uint32_t>(std::lround(1 / value))};
  }
  return {static_cast<std::uint32_t>(std::lround(value * denominator)), denominator};
}

}  // namespace

Result<std::vector<std::uint8_t>> Renderer::RenderJpeg(const CameraTruth& camera,
                                                       const Exposure& exposure,
                                                       const SceneState& scene,
                                                       std::uint64_t seed) const {
  auto image = RenderImage(camera, exposure, scene, seed);
  if (!image.ok()) return image.error();

  tjhandle compressor = tjInitCompress();
  if (compressor == nullptr) {
    return MakeError("libturbojpeg could not start", camera.serial, "check libturbojpeg0");
  }
  unsigned char* jpeg = nullptr;
  unsigned long jpeg_size = 0;  // NOLINT(google-runtime-int): turbojpeg's type
  const int rc = tjCompress2(compressor, image->data, image->cols, static_cast<int>(image->step),
                             image->rows, TJPF_BGR, &jpeg, &jpeg_size, TJSAMP_420,
                             exposure.jpeg_quality, TJFLAG_ACCURATEDCT);
  std::vector<std::uint8_t> compressed;
  if (rc == 0) compressed.assign(jpeg, jpeg + jpeg_size);
  const std::string error = rc == 0 ? "" : tjGetErrorStr2(compressor);
  tjFree(jpeg);
  tjDestroy(compressor);
  if (rc != 0) return MakeError("JPEG compression failed: " + error, camera.serial, "report this");

  // EXIF as the camera writes it. The calendar time comes from the true exposure time.
  const std::int64_t unix_ns = exposure.true_time_ns + exposure.clock_offset_ns;
  const std::time_t seconds = static_cast<std::time_t>(
      unix_ns >= 0 ? unix_ns / 1000000000 : (unix_ns - 999999999) / 1000000000);
  const std::int64_t sub_ns = unix_ns - static_cast<std::int64_t>(seconds) * 1000000000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char date[32] = {};
  std::strftime(date, sizeof(date), "%Y:%m:%d %H:%M:%S", &utc);
  char subsec[32] = {};
  std::snprintf(subsec, sizeof(subsec), "%06lld", static_cast<long long>(sub_ns / 1000));

  ExifWriter exif;
  exif.Ascii(EXIF_IFD_0, EXIF_TAG_MAKE, exposure.make);
  exif.Ascii(EXIF_IFD_0, EXIF_TAG_MODEL, exposure.model);
  exif.Ascii(EXIF_IFD_0, EXIF_TAG_DATE_TIME, date);
  exif.Undefined(EXIF_IFD_EXIF, EXIF_TAG_EXIF_VERSION, "0230");
  exif.Ascii(EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_ORIGINAL, date);
  exif.Ascii(EXIF_IFD_EXIF, EXIF_TAG_SUB_SEC_TIME_ORIGINAL, subsec);
  exif.Ascii(EXIF_IFD_EXIF, EXIF_TAG_OFFSET_TIME_ORIGINAL, "+00:00");
  if (!exposure.serial.empty()) {
    exif.Ascii(EXIF_IFD_EXIF, EXIF_TAG_BODY_SERIAL_NUMBER, exposure.serial);
  }
  const auto [exposure_n, exposure_d] = ToRational(exposure.shutter_s, 1000000);
  exif.Rational(EXIF_IFD_EXIF, EXIF_TAG_EXPOSURE_TIME, exposure_n, exposure_d);
  exif.Rational(EXIF_IFD_EXIF, EXIF_TAG_FNUMBER,
                static_cast<std::uint32_t>(std::lround(exposure.aperture_f * 10)), 10);
  exif.Short(EXIF_IFD_EXIF, EXIF_TAG_ISO_SPEED_RATINGS, static_cast<std::uint16_t>(exposure.iso));
  exif.Rational(EXIF_IFD_EXIF, EXIF_TAG_FOCAL_LENGTH,
                static_cast<std::uint32_t>(std::lround(camera.focal_length_mm * 100)), 100);
  auto exif_bytes = exif.Save();
  if (!exif_bytes.ok()) return exif_bytes.error();
  if (exif_bytes->size() + 2 > 65535) {
    return MakeError("EXIF block too large", camera.serial, "shorten make, model or serial");
  }

  // APP1 after SOI and the JFIF APP0 segment that turbojpeg writes.
  size_t insert_at = 2;
  if (compressed.size() > 6 && compressed[2] == 0xFF && compressed[3] == 0xE0) {
    insert_at = 4 + ((static_cast<size_t>(compressed[4]) << 8) | compressed[5]);
  }
  const size_t segment_length = exif_bytes->size() + 2;
  std::vector<std::uint8_t> out;
  out.reserve(compressed.size() + segment_length + 2);
  out.insert(out.end(), compressed.begin(), compressed.begin() + static_cast<long>(insert_at));
  out.push_back(0xFF);
  out.push_back(0xE1);
  out.push_back(static_cast<std::uint8_t>(segment_length >> 8));
  out.push_back(static_cast<std::uint8_t>(segment_length & 0xFF));
  out.insert(out.end(), exif_bytes->begin(), exif_bytes->end());
  out.insert(out.end(), compressed.begin() + static_cast<long>(insert_at), compressed.end());
  return out;
}

Result<std::filesystem::path> FindHeadData(const std::filesystem::path& hint) {
  auto has_head = [](const std::filesystem::path& folder) {
    std::error_code ec;
    return std::filesystem::is_regular_file(folder / "head.obj", ec) &&
           std::filesystem::is_regular_file(folder / "Map-COL.jpg", ec);
  };
  std::vector<std::filesystem::path> tried;
  if (!hint.empty()) {
    if (has_head(hint)) return hint;
    return MakeError("no head.obj and Map-COL.jpg in the given folder", hint.string(),
                     "point it at the repository's sim/data/head");
  }
  // Installed or built: the data folder beside the program; then a source tree (tests, benches).
  tried.push_back(DataDir() / "head");
  tried.push_back(std::filesystem::current_path() / "sim" / "data" / "head");
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto folder = exe.parent_path(); !folder.empty(); folder = folder.parent_path()) {
      tried.push_back(folder / "sim" / "data" / "head");
      if (folder == folder.root_path()) break;
    }
  }
  std::string where;
  for (const auto& folder : tried) {
    if (has_head(folder)) return folder;
    where += (where.empty() ? "" : ", ") + folder.string();
  }
  return MakeError(
      "the head scan (head.obj, Map-COL.jpg) was not found", where,
      "reinstall twinrig (share/twinrig/head) or set TWINRIG_DATA to a folder holding head/");
}

std::int64_t MonotonicToUnixOffsetNs() { return RealtimeMinusMonotonicNs(); }

}  // namespace twinrig::sim::render
