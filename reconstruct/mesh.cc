#include "reconstruct/mesh.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

#include <meshoptimizer.h>
#include <nanoflann.hpp>

#include "util/files.h"

namespace twinrig::reconstruct {
namespace {

namespace fs = std::filesystem;

struct Cloud {
  const std::vector<cv::Vec3f>* points;
  [[nodiscard]] size_t kdtree_get_point_count() const { return points->size(); }
  [[nodiscard]] float kdtree_get_pt(size_t i, size_t dim) const {
    return (*points)[i][static_cast<int>(dim)];
  }
  template <class Box>
  bool kdtree_get_bbox(Box& /*box*/) const {
    return false;
  }
};
using Tree =
    nanoflann::KDTreeSingleIndexAdaptor<nanoflann::L2_Simple_Adaptor<float, Cloud>, Cloud, 3>;

struct Property {
  std::string name;
  std::string type;        // scalar type, or the list's item type
  std::string count_type;  // list count type; empty for scalars
};

struct Element {
  std::string name;
  size_t count = 0;
  std::vector<Property> properties;
};

size_t TypeSize(const std::string& t) {
  if (t == "char" || t == "uchar" || t == "int8" || t == "uint8") return 1;
  if (t == "short" || t == "ushort" || t == "int16" || t == "uint16") return 2;
  if (t == "int" || t == "uint" || t == "float" || t == "int32" || t == "uint32" ||
      t == "float32") {
    return 4;
  }
  if (t == "double" || t == "float64") return 8;
  return 0;
}

double ReadBinary(const char*& p, const std::string& t) {
  double v = 0;
  if (t == "char" || t == "int8") {
    v = *reinterpret_cast<const std::int8_t*>(p);
  } else if (t == "uchar" || t == "uint8") {
    v = *reinterpret_cast<const std::uint8_t*>(p);
  } else if (t == "short" || t == "int16") {
    std::int16_t x;
    std::memcpy(&x, p, 2);
    v = x;
  } else if (t == "ushort" || t == "uint16") {
    std::uint16_t x;
    std::memcpy(&x, p, 2);
    v = x;
  } else if (t == "int" || t == "int32") {
    std::int32_t x;
    std::memcpy(&x, p, 4);
    v = x;
  } else if (t == "uint" || t == "uint32") {
    std::uint32_t x;
    std::memcpy(&x, p, 4);
    v = x;
  } else if (t == "float" || t == "float32") {
    float x;
    std::memcpy(&x, p, 4);
    v = x;
  } else {
    double x;
    std::memcpy(&x, p, 8);
    v = x;
  }
  p += TypeSize(t);
  return v;
}

}  // namespace

Result<Mesh> ReadPly(const fs::path& path) {
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.error();
  const std::string where = path.string();
  const std::string_view all(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  const size_t end = all.find("end_header");
  if (all.rfind("ply", 0) != 0 || end == std::string_view::npos) {
    return MakeError("not a PLY file", where, "run the step that writes it again");
  }
  size_t body = all.find('\n', end);
  if (body == std::string_view::npos) return MakeError("PLY header unterminated", where, "");
  ++body;
  std::istringstream header{std::string(all.substr(0, end))};
  std::string line;
  std::string format;
  std::vector<Element> elements;
  while (std::getline(header, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream f(line);
    std::string word;
    f >> word;
    if (word == "format") {
      f >> format;
    } else if (word == "element") {
      Element e;
      f >> e.name >> e.count;
      elements.push_back(e);
    } else if (word == "property" && !elements.empty()) {
      Property p;
      f >> p.type;
      if (p.type == "list") {
        f >> p.count_type >> p.type;
      }
      f >> p.name;
      elements.back().properties.push_back(p);
    }
  }
  const bool ascii = format == "ascii";
  if (!ascii && format != "binary_little_endian") {
    return MakeError("PLY format '" + format + "' is not supported", where,
                     "write the file as ASCII or binary little-endian PLY");
  }
  Mesh mesh;
  const char* p = all.data() + body;
  const char* stop = all.data() + all.size();
  std::istringstream text{ascii ? std::string(all.substr(body)) : std::string()};
  auto value = [&](const std::string& type) -> double {
    if (ascii) {
      double v = 0;
      text >> v;
      return v;
    }
    return ReadBinary(p, type);
  };
  for (const auto& e : elements) {
    for (size_t i = 0; i < e.count; ++i) {
      cv::Vec3f xyz(0, 0, 0);
      cv::Vec3b rgb(0, 0, 0);
      bool has_rgb = false;
      for (const auto& prop : e.properties) {
        if (!ascii) {
          const size_t need =
              prop.count_type.empty() ? TypeSize(prop.type) : TypeSize(prop.count_type);
          if (need == 0 || p + need > stop) {
            return MakeError("PLY file is truncated or has an unknown type", where,
                             "run the step that writes it again");
          }
        }
        if (!prop.count_type.empty()) {
          const auto n = static_cast<size_t>(value(prop.count_type));
          if (!ascii && p + n * TypeSize(prop.type) > stop) {
            return MakeError("PLY file is truncated", where, "run the step that writes it again");
          }
          std::vector<int> idx(n);
          for (size_t k = 0; k < n; ++k) idx[k] = static_cast<int>(value(prop.type));
          if (e.name == "face") {
            for (size_t k = 2; k < n; ++k) mesh.faces.push_back({idx[0], idx[k - 1], idx[k]});
          }
          continue;
        }
        const double v = value(prop.type);
        if (e.name != "vertex") continue;
        if (prop.name == "x") xyz[0] = static_cast<float>(v);
        if (prop.name == "y") xyz[1] = static_cast<float>(v);
        if (prop.name == "z") xyz[2] = static_cast<float>(v);
        if (prop.name == "red" || prop.name == "r") {
          rgb[0] = cv::saturate_cast<uchar>(v);
          has_rgb = true;
        }
        if (prop.name == "green" || prop.name == "g") rgb[1] = cv::saturate_cast<uchar>(v);
        if (prop.name == "blue" || prop.name == "b") rgb[2] = cv::saturate_cast<uchar>(v);
      }
      if (e.name == "vertex") {
        mesh.vertices.push_back(xyz);
        if (has_rgb) mesh.colours.push_back(rgb);
      }
    }
  }
  if (ascii && text.fail()) return MakeError("PLY file is truncated", where, "");
  const int nv = static_cast<int>(mesh.vertices.size());
  for (const auto& f : mesh.faces) {
    if (f[0] < 0 || f[1] < 0 || f[2] < 0 || f[0] >= nv || f[1] >= nv || f[2] >= nv) {
      return MakeError("PLY face refers to a vertex that does not exist", where, "");
    }
  }
  return mesh;
}

Status WritePly(const Mesh& mesh, const fs::path& path) {
  const bool colour = mesh.colours.size() == mesh.vertices.size() && !mesh.vertices.empty();
  std::string out = "ply\nformat binary_little_endian 1.0\ncomment twinrig\nelement vertex " +
                    std::to_string(mesh.vertices.size()) +
                    "\nproperty float x\nproperty float y\nproperty float z\n";
  if (colour) out += "property uchar red\nproperty uchar green\nproperty uchar blue\n";
  out += "element face " + std::to_string(mesh.faces.size()) +
         "\nproperty list uchar int vertex_indices\nend_header\n";
  for (size_t i = 0; i < mesh.vertices.size(); ++i) {
    out.append(reinterpret_cast<const char*>(mesh.vertices[i].val), 12);
    if (colour) out.append(reinterpret_cast<const char*>(mesh.colours[i].val), 3);
  }
  for (const auto& f : mesh.faces) {
    out.push_back(3);
    out.append(reinterpret_cast<const char*>(f.val), 12);
  }
  return WriteFileAtomic(path, out);
}

Box3 RobustBox(const std::vector<cv::Vec3f>& points, double trim, double margin) {
  Box3 box;
  if (points.empty()) return box;
  for (int a = 0; a < 3; ++a) {
    std::vector<float> v(points.size());
    for (size_t i = 0; i < points.size(); ++i) v[i] = points[i][a];
    const auto lo = static_cast<size_t>(trim * static_cast<double>(v.size() - 1));
    const size_t hi = v.size() - 1 - lo;
    std::nth_element(v.begin(), v.begin() + static_cast<long>(lo), v.end());
    const float vmin = v[lo];
    std::nth_element(v.begin(), v.begin() + static_cast<long>(hi), v.end());
    const float vmax = v[hi];
    const auto grow = static_cast<float>((vmax - vmin) * margin);
    box.min[a] = vmin - grow;
    box.max[a] = vmax + grow;
  }
  return box;
}

Mesh Compact(const Mesh& mesh) {
  Mesh out;
  std::vector<int> remap(mesh.vertices.size(), -1);
  const bool colour = mesh.colours.size() == mesh.vertices.size();
  for (const auto& f : mesh.faces) {
    if (f[0] == f[1] || f[1] == f[2] || f[0] == f[2]) continue;
    cv::Vec3i g;
    for (int k = 0; k < 3; ++k) {
      int& r = remap[static_cast<size_t>(f[k])];
      if (r < 0) {
        r = static_cast<int>(out.vertices.size());
        out.vertices.push_back(mesh.vertices[static_cast<size_t>(f[k])]);
        if (colour) out.colours.push_back(mesh.colours[static_cast<size_t>(f[k])]);
      }
      g[k] = r;
    }
    out.faces.push_back(g);
  }
  return out;
}

Mesh CropToBox(const Mesh& mesh, const Box3& box) {
  Mesh kept = mesh;
  kept.faces.clear();
  for (const auto& f : mesh.faces) {
    if (box.Contains(mesh.vertices[static_cast<size_t>(f[0])]) &&
        box.Contains(mesh.vertices[static_cast<size_t>(f[1])]) &&
        box.Contains(mesh.vertices[static_cast<size_t>(f[2])])) {
      kept.faces.push_back(f);
    }
  }
  return Compact(kept);
}

std::vector<float> NearestDistances(const std::vector<cv::Vec3f>& points,
                                    const std::vector<cv::Vec3f>& queries) {
  std::vector<float> out(queries.size(), std::numeric_limits<float>::infinity());
  if (points.empty()) return out;
  Cloud cloud{&points};
  Tree tree(3, cloud, nanoflann::KDTreeSingleIndexAdaptorParams(16));
  tree.buildIndex();
  for (size_t i = 0; i < queries.size(); ++i) {
    unsigned index = 0;
    float d2 = 0;
    tree.knnSearch(queries[i].val, 1, &index, &d2);
    out[i] = std::sqrt(d2);
  }
  return out;
}

Mesh CropToPoints(const Mesh& mesh, const std::vector<cv::Vec3f>& points, float max_distance) {
  std::vector<cv::Vec3f> centres;
  centres.reserve(mesh.faces.size());
  for (const auto& f : mesh.faces) {
    centres.push_back((mesh.vertices[static_cast<size_t>(f[0])] +
                       mesh.vertices[static_cast<size_t>(f[1])] +
                       mesh.vertices[static_cast<size_t>(f[2])]) /
                      3.0F);
  }
  const std::vector<float> distance = NearestDistances(points, centres);
  Mesh kept = mesh;
  kept.faces.clear();
  for (size_t i = 0; i < mesh.faces.size(); ++i) {
    if (distance[i] <= max_distance) kept.faces.push_back(mesh.faces[i]);
  }
  return Compact(kept);
}

Mesh RemoveIslands(const Mesh& mesh, double min_fraction) {
  std::vector<int> parent(mesh.vertices.size());
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](int x) {
    while (parent[static_cast<size_t>(x)] != x) {
      parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
      x = parent[static_cast<size_t>(x)];
    }
    return x;
  };
  for (const auto& f : mesh.faces) {
    const int a = find(f[0]);
    parent[static_cast<size_t>(find(f[1]))] = a;
    parent[static_cast<size_t>(find(f[2]))] = a;
  }
  std::vector<size_t> faces_of(mesh.vertices.size(), 0);
  for (const auto& f : mesh.faces) ++faces_of[static_cast<size_t>(find(f[0]))];
  const size_t largest = faces_of.empty() ? 0 : *std::max_element(faces_of.begin(), faces_of.end());
  Mesh kept = mesh;
  kept.faces.clear();
  for (const auto& f : mesh.faces) {
    if (static_cast<double>(faces_of[static_cast<size_t>(find(f[0]))]) >=
        min_fraction * static_cast<double>(largest)) {
      kept.faces.push_back(f);
    }
  }
  return Compact(kept);
}

Mesh Decimate(const Mesh& mesh, size_t target_faces) {
  if (mesh.faces.size() <= target_faces) return mesh;
  std::vector<unsigned> indices;
  indices.reserve(mesh.faces.size() * 3);
  for (const auto& f : mesh.faces) {
    for (int k = 0; k < 3; ++k) indices.push_back(static_cast<unsigned>(f[k]));
  }
  std::vector<unsigned> out(indices.size());
  float error = 0;
  const size_t n =
      meshopt_simplify(out.data(), indices.data(), indices.size(), &mesh.vertices[0][0],
                       mesh.vertices.size(), sizeof(cv::Vec3f), target_faces * 3, 0.05F, 0, &error);
  Mesh result = mesh;
  result.faces.clear();
  for (size_t i = 0; i + 2 < n; i += 3) {
    result.faces.push_back(
        {static_cast<int>(out[i]), static_cast<int>(out[i + 1]), static_cast<int>(out[i + 2])});
  }
  return Compact(result);
}

cv::Mat RenderDepth(const Mesh& mesh, const PinholeView& view) {
  cv::Mat depth(view.height, view.width, CV_32F,
                cv::Scalar(std::numeric_limits<double>::infinity()));
  std::vector<cv::Vec3d> cam(mesh.vertices.size());
  for (size_t i = 0; i < mesh.vertices.size(); ++i) {
    cam[i] = view.ToCamera(cv::Vec3d(mesh.vertices[i]));
  }
  for (const auto& f : mesh.faces) {
    const cv::Vec3d& a = cam[static_cast<size_t>(f[0])];
    const cv::Vec3d& b = cam[static_cast<size_t>(f[1])];
    const cv::Vec3d& c = cam[static_cast<size_t>(f[2])];
    if (a[2] <= 1e-3 || b[2] <= 1e-3 || c[2] <= 1e-3) continue;
    const cv::Point2d pa = view.Pixel(a);
    const cv::Point2d pb = view.Pixel(b);
    const cv::Point2d pc = view.Pixel(c);
    const double area = (pb.x - pa.x) * (pc.y - pa.y) - (pb.y - pa.y) * (pc.x - pa.x);
    if (std::abs(area) < 1e-12) continue;
    const int x0 = std::max(0, static_cast<int>(std::ceil(std::min({pa.x, pb.x, pc.x}))));
    const int x1 =
        std::min(view.width - 1, static_cast<int>(std::floor(std::max({pa.x, pb.x, pc.x}))));
    const int y0 = std::max(0, static_cast<int>(std::ceil(std::min({pa.y, pb.y, pc.y}))));
    const int y1 =
        std::min(view.height - 1, static_cast<int>(std::floor(std::max({pa.y, pb.y, pc.y}))));
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        const double wa = ((pb.x - x) * (pc.y - y) - (pb.y - y) * (pc.x - x)) / area;
        const double wb = ((pc.x - x) * (pa.y - y) - (pc.y - y) * (pa.x - x)) / area;
        const double wc = 1 - wa - wb;
        if (wa < -1e-9 || wb < -1e-9 || wc < -1e-9) continue;
        const double inv_z = wa / a[2] + wb / b[2] + wc / c[2];
        const auto z = static_cast<float>(1.0 / inv_z);
        float& d = depth.at<float>(y, x);
        if (z < d) d = z;
      }
    }
  }
  return depth;
}

double SurfaceArea(const Mesh& mesh) {
  double area = 0;
  for (const auto& f : mesh.faces) {
    const cv::Vec3d a(mesh.vertices[static_cast<size_t>(f[0])]);
    const cv::Vec3d b(mesh.vertices[static_cast<size_t>(f[1])]);
    const cv::Vec3d c(mesh.vertices[static_cast<size_t>(f[2])]);
    area += 0.5 * cv::norm((b - a).cross(c - a));
  }
  return area;
}

std::vector<cv::Vec3f> SampleSurface(const Mesh& mesh, double per_m2, unsigned seed,
                                     std::vector<int>* face_of_sample) {
  std::vector<double> cumulative(mesh.faces.size());
  double total = 0;
  for (size_t i = 0; i < mesh.faces.size(); ++i) {
    const auto& f = mesh.faces[i];
    const cv::Vec3d a(mesh.vertices[static_cast<size_t>(f[0])]);
    const cv::Vec3d b(mesh.vertices[static_cast<size_t>(f[1])]);
    const cv::Vec3d c(mesh.vertices[static_cast<size_t>(f[2])]);
    total += 0.5 * cv::norm((b - a).cross(c - a));
    cumulative[i] = total;
  }
  std::vector<cv::Vec3f> samples;
  if (total <= 0) return samples;
  const auto n = static_cast<size_t>(std::min(2e7, total * per_m2));
  samples.reserve(n);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (size_t i = 0; i < n; ++i) {
    const double r = u(rng) * total;
    const auto it = std::lower_bound(cumulative.begin(), cumulative.end(), r);
    const auto fi = static_cast<size_t>(
        std::min<long>(it - cumulative.begin(), static_cast<long>(cumulative.size()) - 1));
    const auto& f = mesh.faces[fi];
    double s = u(rng);
    double t = u(rng);
    if (s + t > 1) {
      s = 1 - s;
      t = 1 - t;
    }
    const cv::Vec3f& a = mesh.vertices[static_cast<size_t>(f[0])];
    const cv::Vec3f& b = mesh.vertices[static_cast<size_t>(f[1])];
    const cv::Vec3f& c = mesh.vertices[static_cast<size_t>(f[2])];
    samples.push_back(a + static_cast<float>(s) * (b - a) + static_cast<float>(t) * (c - a));
    if (face_of_sample != nullptr) face_of_sample->push_back(static_cast<int>(fi));
  }
  return samples;
}

}  // namespace twinrig::reconstruct
