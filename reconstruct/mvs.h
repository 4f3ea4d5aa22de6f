// twinrig's CPU multi-view stereo (COLMAP's patch_match_stereo needs CUDA): a plane sweep per
// reference view over its best-placed source views, scored by normalised cross-correlation and
// aggregated over the best `top_k` sources per pixel (so that a view where the point is hidden
// does not veto it), with sub-plane refinement. It writes COLMAP-format depth and normal maps
// (stereo/depth_maps/<image>.geometric.bin, stereo/normal_maps/...) so that `colmap
// stereo_fusion` fuses them with its own multi-view consistency checks.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "reconstruct/types.h"
#include "util/result.h"

namespace twinrig::reconstruct {

// The studio's backdrop, keyed out before the sweep: a pixel within `tolerance` of `rgb` in every
// channel belongs to the backdrop when its keyed region is large (at least `min_area` of the
// image), so that a small dark or grey patch on the subject (a pupil, a shadow) is kept. A keyed
// pixel gets no depth, so a backdrop with texture (folds of a black cloth) makes no points.
struct BackdropKey {
  bool enabled = false;
  cv::Vec3b rgb{0, 0, 0};
  int tolerance = 40;
  double min_area = 0.005;
};

// "black", "white", "grey" or "R,G,B", each with an optional ":TOLERANCE" (0..255).
Result<BackdropKey> ParseBackdropKey(const std::string& text);

// 255 where `bgr` (an 8-bit colour image) shows the backdrop, 0 elsewhere.
cv::Mat BackdropMask(const cv::Mat& bgr, const BackdropKey& key);

struct MvsOptions {
  int sources = 4;                 // source views per reference view
  int top_k = 2;                   // best sources averaged per pixel
  int window = 5;                  // NCC window side (odd)
  double disparity_step_px = 1.0;  // plane spacing: this shift in the widest-baseline source
  int min_planes = 32;
  int max_planes = 384;
  float min_ncc = 0.3F;      // aggregated NCC a depth must reach
  float min_texture = 0.8F;  // grey-level standard deviation of the reference window
  double min_angle_deg = 4;  // source views: viewing directions this far apart, at least
  double max_angle_deg = 60;
  double fallback_radius_m = 0.35;  // depth range around the rig's convergence point when a view
                                    // sees too few sparse points
  BackdropKey backdrop;
  int threads = 2;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

struct MvsStats {
  int views = 0;  // reference views
  double mean_planes = 0;
  double valid_fraction = 0;     // of all reference pixels, those with a depth
  double backdrop_fraction = 0;  // of all pixels, those keyed out as backdrop
};

// The reference views one call makes depth maps for: views[first] up to views[last - 1]. Every
// view can still be a source view, so that ranges computed apart (a farm's job array) give the
// maps one call over all views gives.
struct ViewRange {
  size_t first = 0;
  size_t last = static_cast<size_t>(-1);  // clamped to the number of views
};

// Depth and normal maps for the views of `references`. `images` holds views[i].name (the
// undistorted images); `points` are the sparse points that bound each view's depth range.
Result<MvsStats> ComputeDepthMaps(const std::vector<PinholeView>& views,
                                  const std::filesystem::path& images,
                                  const std::vector<cv::Vec3d>& points,
                                  const std::filesystem::path& dense, const MvsOptions& options,
                                  const ViewRange& references = {});

// COLMAP's mvs::Mat file: "width&height&channels&" then little-endian float32, channel-planar.
Status WriteColmapMat(const std::filesystem::path& path, const cv::Mat& image);
Result<cv::Mat> ReadColmapMat(const std::filesystem::path& path);

}  // namespace twinrig::reconstruct
