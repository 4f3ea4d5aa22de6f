#include "reconstruct/texture.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "reconstruct/mesh.h"
#include "util/files.h"
#include "util/options.h"

namespace twinrig::reconstruct {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

cv::Vec3f Bilinear(const cv::Mat& bgr, double x, double y) {
  x = std::clamp(x, 0.0, bgr.cols - 1.001);
  y = std::clamp(y, 0.0, bgr.rows - 1.001);
  const int x0 = static_cast<int>(x);
  const int y0 = static_cast<int>(y);
  const auto fx = static_cast<float>(x - x0);
  const auto fy = static_cast<float>(y - y0);
  const cv::Vec3b* r0 = bgr.ptr<cv::Vec3b>(y0);
  const cv::Vec3b* r1 = bgr.ptr<cv::Vec3b>(y0 + 1);
  const cv::Vec3f a = cv::Vec3f(r0[x0]) * (1 - fx) + cv::Vec3f(r0[x0 + 1]) * fx;
  const cv::Vec3f b = cv::Vec3f(r1[x0]) * (1 - fx) + cv::Vec3f(r1[x0 + 1]) * fx;
  return a * (1 - fy) + b * fy;
}

struct FaceView {
  int view = -1;
  float weight = 0;
};

void Append(std::vector<std::uint8_t>& bin, const void* data, size_t bytes) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  bin.insert(bin.end(), p, p + bytes);
  while (bin.size() % 4 != 0) bin.push_back(0);
}

// Runs `work` on `threads` threads (this one included) and waits for them.
void OnThreads(int threads, const std::function<void()>& work) {
  std::vector<std::thread> pool;
  for (int k = 1; k < threads; ++k) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

// Smooth vertex normals (area weighted) into `out.normals`; returns the face normals.
std::vector<cv::Vec3d> ComputeNormals(const Mesh& mesh, TexturedMesh& out) {
  const size_t F = mesh.faces.size();
  std::vector<cv::Vec3d> face_normal(F);
  std::vector<cv::Vec3d> vertex_normal(mesh.vertices.size(), cv::Vec3d(0, 0, 0));
  for (size_t i = 0; i < F; ++i) {
    const auto& f = mesh.faces[i];
    const cv::Vec3d a(mesh.vertices[static_cast<size_t>(f[0])]);
    const cv::Vec3d b(mesh.vertices[static_cast<size_t>(f[1])]);
    const cv::Vec3d c(mesh.vertices[static_cast<size_t>(f[2])]);
    const cv::Vec3d n = (b - a).cross(c - a);
    for (int k = 0; k < 3; ++k) vertex_normal[static_cast<size_t>(f[k])] += n;
    const double len = cv::norm(n);
    face_normal[i] = len > 0 ? n / len : cv::Vec3d(0, 0, 0);
  }
  out.normals.resize(mesh.vertices.size());
  for (size_t i = 0; i < vertex_normal.size(); ++i) {
    const double len = cv::norm(vertex_normal[i]);
    out.normals[i] = len > 0 ? cv::Vec3f(vertex_normal[i] / len) : cv::Vec3f(0, 1, 0);
  }
  return face_normal;
}

// Which views see which points: the mesh's depth buffer in every view.
class Visibility {
 public:
  Visibility(const Mesh& mesh, const std::vector<PinholeView>& views, const TextureOptions& options)
      : views_(views), depth_(views.size()), tolerance_(options.depth_tolerance) {
    std::atomic<size_t> next{0};
    OnThreads(options.threads, [&] {
      for (size_t v = next++; v < views.size(); v = next++) depth_[v] = RenderDepth(mesh, views[v]);
    });
  }

  [[nodiscard]] bool Visible(size_t v, const cv::Vec3d& x) const {
    const cv::Vec3d xc = views_[v].ToCamera(x);
    if (xc[2] <= 0) return false;
    const cv::Point2d p = views_[v].Pixel(xc);
    const int px = static_cast<int>(std::lround(p.x));
    const int py = static_cast<int>(std::lround(p.y));
    if (px < 0 || py < 0 || px >= views_[v].width || py >= views_[v].height) return false;
    // The nearest surface in a 3x3 neighbourhood: the vertex itself is on an edge of the buffer.
    float nearest = std::numeric_limits<float>::infinity();
    for (int dy = -1; dy <= 1; ++dy) {
      for (int dx = -1; dx <= 1; ++dx) {
        const int qx = std::clamp(px + dx, 0, views_[v].width - 1);
        const int qy = std::clamp(py + dy, 0, views_[v].height - 1);
        nearest = std::min(nearest, depth_[v].at<float>(qy, qx));
      }
    }
    return xc[2] <= nearest * (1 + tolerance_);
  }

 private:
  const std::vector<PinholeView>& views_;
  std::vector<cv::Mat> depth_;
  double tolerance_;
};

// Views per face: visible, facing, weighted by obliqueness and resolution; the best view
// dominates, the others blend in.
std::vector<std::vector<FaceView>> ChooseViews(const Mesh& mesh,
                                               const std::vector<cv::Vec3d>& face_normal,
                                               const std::vector<PinholeView>& views,
                                               const Visibility& visibility,
                                               const TextureOptions& options) {
  const size_t F = mesh.faces.size();
  std::vector<std::vector<FaceView>> chosen(F);
  std::atomic<size_t> next{0};
  OnThreads(options.threads, [&] {
    for (size_t i = next++; i < F; i = next++) {
      const auto& f = mesh.faces[i];
      const cv::Vec3d a(mesh.vertices[static_cast<size_t>(f[0])]);
      const cv::Vec3d b(mesh.vertices[static_cast<size_t>(f[1])]);
      const cv::Vec3d c(mesh.vertices[static_cast<size_t>(f[2])]);
      const cv::Vec3d centre = (a + b + c) / 3.0;
      std::vector<FaceView> candidates;
      for (size_t v = 0; v < views.size(); ++v) {
        const cv::Vec3d to_camera = views[v].Centre() - centre;
        const double distance = cv::norm(to_camera);
        const double cosine = face_normal[i].dot(to_camera) / distance;
        if (cosine < options.min_cos) continue;
        if (!visibility.Visible(v, centre) || !visibility.Visible(v, a) ||
            !visibility.Visible(v, b) || !visibility.Visible(v, c)) {
          continue;
        }
        const double resolution = views[v].fx / distance;
        candidates.push_back({static_cast<int>(v), static_cast<float>(cosine * resolution)});
      }
      std::sort(candidates.begin(), candidates.end(),
                [](const FaceView& x, const FaceView& y) { return x.weight > y.weight; });
      if (static_cast<int>(candidates.size()) > options.views_blended) {
        candidates.resize(static_cast<size_t>(options.views_blended));
      }
      if (!candidates.empty()) {
        const float best = candidates.front().weight;
        for (auto& cv : candidates) cv.weight = std::pow(cv.weight / best, 8.0F);
      }
      chosen[i] = std::move(candidates);
    }
  });
  return chosen;
}

// The atlas layout: two triangles per square cell, face i in the upper (even i) or lower half of
// cell i / 2.
struct AtlasLayout {
  int size = 0;     // atlas side, pixels
  int per_row = 0;  // cells per row
  int cell = 0;     // cell side, pixels
};

// A face's colour from the views that see it (the mean of its texels), or none.
struct FaceColour {
  cv::Vec3f colour{0, 0, 0};
  bool seen = false;
};

// Lays face i into its half-cell (its UVs into `out.uv`) and fills its texels from the views
// chosen for it.
FaceColour FillFace(size_t i, const AtlasLayout& layout, const Mesh& mesh,
                    const std::vector<FaceView>& use, const std::vector<PinholeView>& views,
                    const std::vector<cv::Mat>& images, TexturedMesh& out) {
  const double g = 1.0;  // gap to the cell border
  const double d = 1.5;  // gap to the diagonal
  const int A = layout.size;
  const int cell = layout.cell;
  const int c_index = static_cast<int>(i / 2);
  const bool upper = i % 2 == 0;
  const int column = c_index % layout.per_row;
  const int row = c_index / layout.per_row;  // whole cells: integer division on purpose
  const double x0 = column * cell;
  const double y0 = row * cell;
  const double s = cell;
  cv::Point2d P[3];
  if (upper) {
    P[0] = {x0 + g, y0 + g};
    P[1] = {x0 + s - g - d, y0 + g};
    P[2] = {x0 + g, y0 + s - g - d};
  } else {
    P[0] = {x0 + s - g, y0 + s - g};
    P[1] = {x0 + g + d, y0 + s - g};
    P[2] = {x0 + s - g, y0 + g + d};
  }
  for (int k = 0; k < 3; ++k) {
    out.uv[i * 3 + static_cast<size_t>(k)] =
        cv::Vec2f(static_cast<float>(P[k].x / A), static_cast<float>(P[k].y / A));
  }
  const auto& f = mesh.faces[i];
  const cv::Vec3d V[3] = {cv::Vec3d(mesh.vertices[static_cast<size_t>(f[0])]),
                          cv::Vec3d(mesh.vertices[static_cast<size_t>(f[1])]),
                          cv::Vec3d(mesh.vertices[static_cast<size_t>(f[2])])};
  const double area = (P[1].x - P[0].x) * (P[2].y - P[0].y) - (P[1].y - P[0].y) * (P[2].x - P[0].x);
  cv::Vec3f sum(0, 0, 0);
  int count = 0;
  const int cx0 = static_cast<int>(x0);
  const int cy0 = static_cast<int>(y0);
  for (int y = cy0; y < cy0 + cell; ++y) {
    for (int x = cx0; x < cx0 + cell; ++x) {
      const double px = x + 0.5;
      const double py = y + 0.5;
      const bool in_upper = (px - x0) + (py - y0) < s;
      if (in_upper != upper) continue;
      double w1 = ((px - P[0].x) * (P[2].y - P[0].y) - (py - P[0].y) * (P[2].x - P[0].x)) / area;
      double w2 = ((P[1].x - P[0].x) * (py - P[0].y) - (P[1].y - P[0].y) * (px - P[0].x)) / area;
      w1 = std::max(0.0, w1);
      w2 = std::max(0.0, w2);
      if (w1 + w2 > 1) {
        const double t = w1 + w2;
        w1 /= t;
        w2 /= t;
      }
      const cv::Vec3d X = V[0] + w1 * (V[1] - V[0]) + w2 * (V[2] - V[0]);
      if (use.empty()) continue;
      cv::Vec3f colour(0, 0, 0);
      float total = 0;
      for (const auto& fv : use) {
        const auto& view = views[static_cast<size_t>(fv.view)];
        const cv::Point2d p = view.Pixel(view.ToCamera(X));
        colour += Bilinear(images[static_cast<size_t>(fv.view)], p.x, p.y) * fv.weight;
        total += fv.weight;
      }
      colour /= total;
      out.atlas.at<cv::Vec3b>(y, x) = cv::Vec3b(colour);
      sum += colour;
      ++count;
    }
  }
  if (count == 0) return {};
  return {sum / static_cast<float>(count), true};
}

// Faces no camera sees take the mean colour (in the atlas too); vertices the mean of their faces.
void ColourUnseenAndVertices(const Mesh& mesh, const AtlasLayout& layout,
                             std::vector<FaceColour>& faces, TexturedMesh& out) {
  const size_t F = mesh.faces.size();
  const int cell = layout.cell;
  cv::Vec3f mean(0, 0, 0);
  size_t coloured = 0;
  for (size_t i = 0; i < F; ++i) {
    if (faces[i].seen) {
      mean += faces[i].colour;
      ++coloured;
    }
  }
  if (coloured > 0) mean /= static_cast<float>(coloured);
  out.faces_without_view = F - coloured;
  std::vector<cv::Vec3f> vsum(mesh.vertices.size(), cv::Vec3f(0, 0, 0));
  std::vector<int> vcount(mesh.vertices.size(), 0);
  for (size_t i = 0; i < F; ++i) {
    if (!faces[i].seen) {
      faces[i].colour = mean;
      const int c_index = static_cast<int>(i / 2);
      const int x0 = (c_index % layout.per_row) * cell;
      const int y0 = (c_index / layout.per_row) * cell;
      const bool upper = i % 2 == 0;
      for (int y = y0; y < y0 + cell; ++y) {
        for (int x = x0; x < x0 + cell; ++x) {
          if (((x - x0) + (y - y0) + 1 < cell) == upper)
            out.atlas.at<cv::Vec3b>(y, x) = cv::Vec3b(mean);
        }
      }
    }
    for (int k = 0; k < 3; ++k) {
      vsum[static_cast<size_t>(mesh.faces[i][k])] += faces[i].colour;
      ++vcount[static_cast<size_t>(mesh.faces[i][k])];
    }
  }
  out.mesh.colours.resize(mesh.vertices.size());
  for (size_t i = 0; i < mesh.vertices.size(); ++i) {
    const cv::Vec3f bgr = vcount[i] > 0 ? vsum[i] / static_cast<float>(vcount[i]) : mean;
    out.mesh.colours[i] =
        cv::Vec3b(cv::saturate_cast<uchar>(bgr[2]), cv::saturate_cast<uchar>(bgr[1]),
                  cv::saturate_cast<uchar>(bgr[0]));
  }
}

}  // namespace

std::vector<std::string> TextureOptions::Validate() const {
  std::vector<std::string> problems;
  if (atlas_size < 64 || atlas_size > 16384) problems.push_back("atlas_size must be 64..16384");
  if (views_blended < 1) problems.push_back("views_blended must be at least 1");
  if (min_cos < 0 || min_cos >= 1) problems.push_back("min_cos must be in [0, 1)");
  if (threads < 1) problems.push_back("threads must be at least 1");
  return problems;
}

Result<TexturedMesh> TextureMesh(const Mesh& mesh, const std::vector<PinholeView>& views,
                                 const std::vector<cv::Mat>& images,
                                 const TextureOptions& options) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "texture options"));
  if (mesh.faces.empty()) {
    return MakeError("the mesh has no faces to texture", "", "check the fused point cloud");
  }
  TexturedMesh out;
  out.mesh = mesh;
  const size_t F = mesh.faces.size();
  const std::vector<cv::Vec3d> face_normal = ComputeNormals(mesh, out);
  const Visibility visibility(mesh, views, options);
  const std::vector<std::vector<FaceView>> chosen =
      ChooseViews(mesh, face_normal, views, visibility, options);
  AtlasLayout layout;
  layout.size = options.atlas_size;
  const auto cells = static_cast<int>((F + 1) / 2);
  layout.per_row = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(cells))));
  layout.cell = layout.size / layout.per_row;
  if (layout.cell < 6) {
    return MakeError("the texture atlas of " + std::to_string(layout.size) +
                         " px is too small for " + std::to_string(F) + " faces",
                     "", "decimate to fewer faces or use a larger atlas");
  }
  out.atlas = cv::Mat(layout.size, layout.size, CV_8UC3, cv::Scalar(128, 128, 128));
  out.uv.resize(F * 3);
  std::vector<FaceColour> faces(F);
  std::atomic<size_t> next{0};
  OnThreads(options.threads, [&] {
    for (size_t i = next++; i < F; i = next++) {
      faces[i] = FillFace(i, layout, mesh, chosen[i], views, images, out);
    }
  });
  ColourUnseenAndVertices(mesh, layout, faces, out);
  return out;
}

std::vector<std::uint8_t> PackGlb(const std::string& json_text,
                                  const std::vector<std::uint8_t>& bin) {
  std::string j = json_text;
  while (j.size() % 4 != 0) j.push_back(' ');
  std::vector<std::uint8_t> b = bin;
  while (b.size() % 4 != 0) b.push_back(0);
  const auto total = static_cast<std::uint32_t>(12 + 8 + j.size() + (b.empty() ? 0 : 8 + b.size()));
  std::vector<std::uint8_t> out;
  auto u32 = [&](std::uint32_t v) {
    for (int k = 0; k < 4; ++k) out.push_back(static_cast<std::uint8_t>(v >> (8 * k)));
  };
  u32(0x46546C67);  // "glTF"
  u32(2);
  u32(total);
  u32(static_cast<std::uint32_t>(j.size()));
  u32(0x4E4F534A);  // "JSON"
  out.insert(out.end(), j.begin(), j.end());
  if (!b.empty()) {
    u32(static_cast<std::uint32_t>(b.size()));
    u32(0x004E4942);  // "BIN\0"
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

Status ExportTwin(const TexturedMesh& twin, const fs::path& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return MakeError("cannot create the twin folder: " + ec.message(), folder.string(), "");
  std::vector<std::uint8_t> jpeg;
  cv::imencode(".jpg", twin.atlas, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90});
  const auto& m = twin.mesh;
  const size_t F = m.faces.size();

  // glTF: one vertex per face corner (each corner has its own UV).
  std::vector<float> positions;
  std::vector<float> normals;
  std::vector<float> uvs;
  std::vector<std::uint32_t> indices;
  positions.reserve(F * 9);
  float lo[3] = {1e30F, 1e30F, 1e30F};
  float hi[3] = {-1e30F, -1e30F, -1e30F};
  for (size_t i = 0; i < F; ++i) {
    for (int k = 0; k < 3; ++k) {
      const auto v = static_cast<size_t>(m.faces[i][k]);
      for (int a = 0; a < 3; ++a) {
        positions.push_back(m.vertices[v][a]);
        lo[a] = std::min(lo[a], m.vertices[v][a]);
        hi[a] = std::max(hi[a], m.vertices[v][a]);
        normals.push_back(twin.normals[v][a]);
      }
      uvs.push_back(twin.uv[i * 3 + static_cast<size_t>(k)][0]);
      uvs.push_back(twin.uv[i * 3 + static_cast<size_t>(k)][1]);
      indices.push_back(static_cast<std::uint32_t>(i * 3 + static_cast<size_t>(k)));
    }
  }
  std::vector<std::uint8_t> bin;
  json views = json::array();
  auto add_view = [&](const void* data, size_t bytes, int target) {
    json v = {{"buffer", 0}, {"byteOffset", bin.size()}, {"byteLength", bytes}};
    if (target != 0) v["target"] = target;
    views.push_back(v);
    Append(bin, data, bytes);
    return static_cast<int>(views.size() - 1);
  };
  const int vp = add_view(positions.data(), positions.size() * 4, 34962);
  const int vn = add_view(normals.data(), normals.size() * 4, 34962);
  const int vt = add_view(uvs.data(), uvs.size() * 4, 34962);
  const int vi = add_view(indices.data(), indices.size() * 4, 34963);
  const int vimg = add_view(jpeg.data(), jpeg.size(), 0);
  const size_t corners = F * 3;
  json doc = {
      {"asset", {{"version", "2.0"}, {"generator", "twinrig reconstruct"}}},
      {"scene", 0},
      {"scenes", json::array({{{"nodes", json::array({0})}}})},
      {"nodes", json::array({{{"mesh", 0}, {"name", "twin"}}})},
      {"meshes",
       json::array(
           {{{"name", "twin"},
             {"primitives",
              json::array({{{"attributes", {{"POSITION", 0}, {"NORMAL", 1}, {"TEXCOORD_0", 2}}},
                            {"indices", 3},
                            {"material", 0},
                            {"mode", 4}}})}}})},
      {"materials", json::array({{{"name", "twin"},
                                  {"pbrMetallicRoughness",
                                   {{"baseColorTexture", {{"index", 0}}},
                                    {"metallicFactor", 0.0},
                                    {"roughnessFactor", 1.0}}}}})},
      {"textures", json::array({{{"source", 0}, {"sampler", 0}}})},
      {"samplers",
       json::array(
           {{{"magFilter", 9729}, {"minFilter", 9987}, {"wrapS", 33071}, {"wrapT", 33071}}})},
      {"images", json::array({{{"bufferView", vimg}, {"mimeType", "image/jpeg"}}})},
      {"accessors",
       json::array(
           {{{"bufferView", vp},
             {"componentType", 5126},
             {"count", corners},
             {"type", "VEC3"},
             {"min", {lo[0], lo[1], lo[2]}},
             {"max", {hi[0], hi[1], hi[2]}}},
            {{"bufferView", vn}, {"componentType", 5126}, {"count", corners}, {"type", "VEC3"}},
            {{"bufferView", vt}, {"componentType", 5126}, {"count", corners}, {"type", "VEC2"}},
            {{"bufferView", vi},
             {"componentType", 5125},
             {"count", corners},
             {"type", "SCALAR"}}})},
      {"bufferViews", views},
      {"buffers", json::array({{{"byteLength", bin.size()}}})}};
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(folder / "twin.glb", PackGlb(doc.dump(), bin)));

  // OBJ + MTL + JPEG (OBJ's UV origin is bottom-left).
  std::string obj = "# twinrig twin\nmtllib twin.mtl\nusemtl twin\n";
  obj.reserve(F * 120);
  char line[160];
  for (const auto& v : m.vertices) {
    std::snprintf(line, sizeof(line), "v %.6f %.6f %.6f\n", v[0], v[1], v[2]);
    obj += line;
  }
  for (const auto& n : twin.normals) {
    std::snprintf(line, sizeof(line), "vn %.4f %.4f %.4f\n", n[0], n[1], n[2]);
    obj += line;
  }
  for (const auto& t : twin.uv) {
    std::snprintf(line, sizeof(line), "vt %.6f %.6f\n", t[0], 1.0 - t[1]);
    obj += line;
  }
  for (size_t i = 0; i < F; ++i) {
    const auto& f = m.faces[i];
    std::snprintf(line, sizeof(line), "f %d/%zu/%d %d/%zu/%d %d/%zu/%d\n", f[0] + 1, i * 3 + 1,
                  f[0] + 1, f[1] + 1, i * 3 + 2, f[1] + 1, f[2] + 1, i * 3 + 3, f[2] + 1);
    obj += line;
  }
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(folder / "twin.obj", obj));
  TWINRIG_RETURN_IF_ERROR(
      WriteFileAtomic(folder / "twin.mtl",
                      std::string("newmtl twin\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nmap_Kd twin.jpg\n")));
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(folder / "twin.jpg", jpeg));
  return WritePly(m, folder / "twin.ply");
}

}  // namespace twinrig::reconstruct
