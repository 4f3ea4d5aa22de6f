// The twin's texture and files: every face gets its own half-cell of a UV atlas, filled from the
// colour-corrected views that see it (the best view weighted most, the next ones blended in so
// that seams between faces textured from different cameras fade), then written as twin.glb (glTF
// 2.0 binary with the JPEG embedded), twin.obj (+ twin.mtl, twin.jpg) and twin.ply (vertex
// colours).
#pragma once

#include <filesystem>
#include <vector>

#include <opencv2/core.hpp>

#include "reconstruct/types.h"
#include "util/result.h"

namespace twinrig::reconstruct {

struct TextureOptions {
  int atlas_size = 2048;          // square atlas side, pixels
  int views_blended = 3;          // views averaged per face (the best weighted most)
  double min_cos = 0.15;          // a view sees a face at most this obliquely
  double depth_tolerance = 0.01;  // relative depth margin of the visibility test
  int threads = 2;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

struct TexturedMesh {
  Mesh mesh;                       // shared vertices with colours, faces
  std::vector<cv::Vec3f> normals;  // per vertex
  std::vector<cv::Vec2f> uv;       // per face corner (3 per face); glTF convention, origin top-left
  cv::Mat atlas;                   // BGR 8-bit
  size_t faces_without_view = 0;   // faces no camera sees (filled with the mean colour)
};

// `images` are the BGR images of `views` (same order, same size as the views).
Result<TexturedMesh> TextureMesh(const Mesh& mesh, const std::vector<PinholeView>& views,
                                 const std::vector<cv::Mat>& images, const TextureOptions& options);

// Writes twin.glb, twin.obj, twin.mtl, twin.jpg and twin.ply into `folder`.
Status ExportTwin(const TexturedMesh& twin, const std::filesystem::path& folder);

// Binary glTF container: header, JSON chunk (space-padded), BIN chunk (zero-padded).
std::vector<std::uint8_t> PackGlb(const std::string& json, const std::vector<std::uint8_t>& bin);

}  // namespace twinrig::reconstruct
