// Mesh files and clean-up: PLY in and out, cropping to the subject, removing islands, decimating
// to a face count, and a z-buffer that says which faces a camera sees.
#pragma once

#include <filesystem>
#include <vector>

#include "reconstruct/types.h"
#include "util/result.h"

namespace twinrig::reconstruct {

// Reads vertices (x, y, z as float or double; red, green, blue when present) and triangle faces
// of an ASCII or binary little-endian PLY (COLMAP's fused.ply and meshes, and twinrig's own).
Result<Mesh> ReadPly(const std::filesystem::path& path);
// Binary little-endian PLY with vertex colours when present.
Status WritePly(const Mesh& mesh, const std::filesystem::path& path);

// Axis-aligned box.
struct Box3 {
  cv::Vec3f min{0, 0, 0};
  cv::Vec3f max{0, 0, 0};
  [[nodiscard]] bool Contains(const cv::Vec3f& p) const {
    return p[0] >= min[0] && p[1] >= min[1] && p[2] >= min[2] && p[0] <= max[0] && p[1] <= max[1] &&
           p[2] <= max[2];
  }
};

// The subject's box: per axis the `trim` .. 1-`trim` quantiles of the points, grown by `margin`
// of its size on every side.
Box3 RobustBox(const std::vector<cv::Vec3f>& points, double trim, double margin);

// Drops faces with a vertex outside the box and unused vertices.
Mesh CropToBox(const Mesh& mesh, const Box3& box);
// Drops faces whose centre is farther than `max_distance` from every one of `points`: the surface
// Poisson invents where there was no data, while the small holes it bridges between points stay.
Mesh CropToPoints(const Mesh& mesh, const std::vector<cv::Vec3f>& points, float max_distance);
// Distance from every query to the nearest of `points` (a k-d tree).
std::vector<float> NearestDistances(const std::vector<cv::Vec3f>& points,
                                    const std::vector<cv::Vec3f>& queries);
// Keeps the connected components (by shared vertices) with at least `min_fraction` of the
// largest one's faces.
Mesh RemoveIslands(const Mesh& mesh, double min_fraction);
// Quadric edge-collapse decimation (meshoptimizer) to at most `target_faces`.
Mesh Decimate(const Mesh& mesh, size_t target_faces);
// Drops unused vertices and faces with repeated vertices.
Mesh Compact(const Mesh& mesh);

// Depth buffer of a mesh seen by a view (CV_32F, camera-frame z, +inf where nothing).
cv::Mat RenderDepth(const Mesh& mesh, const PinholeView& view);

// Surface area of a mesh and uniform random samples on it (`per_m2` points per square metre).
double SurfaceArea(const Mesh& mesh);
std::vector<cv::Vec3f> SampleSurface(const Mesh& mesh, double per_m2, unsigned seed,
                                     std::vector<int>* face_of_sample = nullptr);

}  // namespace twinrig::reconstruct
