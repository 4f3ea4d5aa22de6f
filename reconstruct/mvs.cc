#include "reconstruct/mvs.h"
#include "reconstruct/colmap.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <mutex>
#include <numbers>
#include <sstream>
#include <string>
#include <thread>

#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "util/check.h"
#include "util/logging.h"
#include "util/options.h"

namespace twinrig::reconstruct {
namespace {

namespace fs = std::filesystem;

struct ViewPlan {
  std::vector<int> sources;
  double min_depth = 0;
  double max_depth = 0;
  int planes = 0;
  cv::Rect region;  // the part of the reference image swept: where the subject is
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

struct Visible {
  std::vector<double> depths;
  std::vector<double> xs;
  std::vector<double> ys;
};

Visible VisiblePoints(const PinholeView& v, const std::vector<cv::Vec3d>& points) {
  Visible out;
  for (const auto& p : points) {
    const cv::Vec3d xc = v.ToCamera(p);
    if (xc[2] <= 0) continue;
    const cv::Point2d px = v.Pixel(xc);
    if (px.x >= 0 && px.y >= 0 && px.x < v.width && px.y < v.height) {
      out.depths.push_back(xc[2]);
      out.xs.push_back(px.x);
      out.ys.push_back(px.y);
    }
  }
  return out;
}

// The subject's part of the image: the box of the sparse points it sees, widened by a quarter of
// its size on each side (the subject's edges and bare skin carry fewer features than its middle).
// The subject fills a fraction of a studio frame, so the sweep costs that fraction.
cv::Rect SubjectRegion(const PinholeView& v, const Visible& seen) {
  const cv::Rect whole(0, 0, v.width, v.height);
  if (seen.xs.size() < 30) return whole;
  const double x0 = Percentile(seen.xs, 0.005);
  const double x1 = Percentile(seen.xs, 0.995);
  const double y0 = Percentile(seen.ys, 0.005);
  const double y1 = Percentile(seen.ys, 0.995);
  const double pad = 0.25 * std::max(x1 - x0, y1 - y0) + 16;
  const cv::Rect box(cv::Point(static_cast<int>(x0 - pad), static_cast<int>(y0 - pad)),
                     cv::Point(static_cast<int>(x1 + pad) + 1, static_cast<int>(y1 + pad) + 1));
  return box & whole;
}

ViewPlan Plan(const std::vector<PinholeView>& views, size_t r, const std::vector<cv::Vec3d>& points,
              const cv::Vec3d& centre, const MvsOptions& o) {
  ViewPlan plan;
  const PinholeView& ref = views[r];
  std::vector<std::pair<double, int>> candidates;
  for (size_t s = 0; s < views.size(); ++s) {
    if (s == r) continue;
    const double angle =
        std::acos(std::clamp(ref.Axis().dot(views[s].Axis()), -1.0, 1.0)) * 180 / std::numbers::pi;
    if (angle >= o.min_angle_deg && angle <= o.max_angle_deg) {
      candidates.push_back({angle, static_cast<int>(s)});
    }
  }
  std::sort(candidates.begin(), candidates.end());
  for (const auto& [angle, s] : candidates) {
    if (static_cast<int>(plan.sources.size()) < o.sources) plan.sources.push_back(s);
  }
  const Visible seen = VisiblePoints(ref, points);
  const std::vector<double>& depths = seen.depths;
  plan.region = SubjectRegion(ref, seen);
  if (depths.size() >= 30) {
    plan.min_depth = Percentile(depths, 0.01) * 0.93;
    plan.max_depth = Percentile(depths, 0.99) * 1.07;
  } else {
    // Too few sparse points in this view: the volume the rig converges on bounds the depth.
    const double z = ref.ToCamera(centre)[2];
    if (z <= o.fallback_radius_m) return plan;
    plan.min_depth = z - o.fallback_radius_m;
    plan.max_depth = z + o.fallback_radius_m;
  }
  // Planes: one disparity step apart in the source where the depth range moves the most.
  double span = 0;
  const cv::Vec3d ray((ref.width / 2.0 - ref.cx) / ref.fx, (ref.height / 2.0 - ref.cy) / ref.fy, 1);
  for (int s : plan.sources) {
    const PinholeView& src = views[static_cast<size_t>(s)];
    const cv::Vec3d a = ref.R.t() * (ray * plan.min_depth - ref.t);
    const cv::Vec3d b = ref.R.t() * (ray * plan.max_depth - ref.t);
    const cv::Vec3d ca = src.ToCamera(a);
    const cv::Vec3d cb = src.ToCamera(b);
    if (ca[2] <= 0 || cb[2] <= 0) continue;
    const cv::Point2d d = src.Pixel(ca) - src.Pixel(cb);
    span = std::max(span, std::hypot(d.x, d.y));
  }
  plan.planes = std::clamp(static_cast<int>(std::ceil(span / o.disparity_step_px)) + 1,
                           o.min_planes, o.max_planes);
  return plan;
}

// Mean over a w x w window (into `out`, whose memory is reused when it fits).
void BoxInto(const cv::Mat& m, int w, cv::Mat& out) {
  cv::boxFilter(m, out, CV_32F, {w, w}, {-1, -1}, true, cv::BORDER_REFLECT);
}

cv::Mat Box(const cv::Mat& m, int w) {
  cv::Mat out;
  BoxInto(m, w, out);
  return out;
}

struct DepthResult {
  cv::Mat depth;   // CV_32F, 0 = none
  cv::Mat normal;  // CV_32FC3, camera frame, toward the camera
};

// The reference region's window statistics: the image, its local mean and variance.
struct Reference {
  cv::Mat image;
  cv::Mat mean;
  cv::Mat var;
  cv::Matx33d K_inv;  // pixels of the swept region to the reference camera's rays
};

// Per pixel of the swept region: the best plane's score and index, and the scores of the planes
// either side of it (for the sub-plane fit; -2 when none).
struct PlaneScores {
  std::vector<float> best;
  std::vector<int> best_index;
  std::vector<float> left;
  std::vector<float> right;
};

// The plane's inverse depth between the plan's far (0) and near (planes - 1) ends.
double InverseDepth(const ViewPlan& plan, double p) {
  const double inv_near = 1.0 / plan.min_depth;
  const double inv_far = 1.0 / plan.max_depth;
  return inv_far + (inv_near - inv_far) * p / (plan.planes - 1);
}

// NCC of the reference window with every source warped onto the plane at `depth` (into `ncc`).
class PlaneNcc {
 public:
  PlaneNcc(const std::vector<PinholeView>& views, const std::vector<cv::Mat>& grey,
           const Reference& ref, const PinholeView& ref_view, const ViewPlan& plan,
           const MvsOptions& o)
      : views_(views), grey_(grey), ref_(ref), ref_view_(ref_view), plan_(plan), w_(o.window) {}

  void Score(double depth, std::vector<cv::Mat>& ncc) {
    const cv::Size size = ref_.image.size();
    const int n = size.area();
    for (size_t si = 0; si < plan_.sources.size(); ++si) {
      const PinholeView& src = views_[static_cast<size_t>(plan_.sources[si])];
      const cv::Matx33d R_rel = src.R * ref_view_.R.t();
      const cv::Vec3d t_rel = src.t - R_rel * ref_view_.t;
      // Plane z = depth in the reference frame: X_src = (R_rel + t_rel n^T / depth) X_ref.
      cv::Matx33d A = R_rel;
      for (int row = 0; row < 3; ++row) A(row, 2) += t_rel[row] / depth;
      const cv::Matx33d H = src.K() * A * ref_.K_inv;
      cv::warpPerspective(grey_[static_cast<size_t>(plan_.sources[si])], warped_, cv::Mat(H), size,
                          cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT, 0);
      BoxInto(warped_, w_, mean_s_);
      cv::multiply(warped_, warped_, squares_);
      BoxInto(squares_, w_, mean_ss_);
      cv::multiply(ref_.image, warped_, products_);
      BoxInto(products_, w_, mean_rs_);
      const float* ms = mean_s_.ptr<float>();
      const float* mss = mean_ss_.ptr<float>();
      const float* mrs = mean_rs_.ptr<float>();
      const float* mr = ref_.mean.ptr<float>();
      const float* vr = ref_.var.ptr<float>();
      float* out = ncc[si].ptr<float>();
      for (int i = 0; i < n; ++i) {
        const float var_s = std::max(mss[i] - ms[i] * ms[i], 0.0F);
        const float cov = mrs[i] - mr[i] * ms[i];
        out[i] = cov / std::sqrt(vr[i] * var_s + 1e-3F);
      }
    }
  }

 private:
  const std::vector<PinholeView>& views_;
  const std::vector<cv::Mat>& grey_;
  const Reference& ref_;
  const PinholeView& ref_view_;
  const ViewPlan& plan_;
  const int w_;
  // Buffers reused for every plane and source: the sweep allocates nothing per plane.
  cv::Mat warped_;
  cv::Mat mean_s_;
  cv::Mat squares_;
  cv::Mat mean_ss_;
  cv::Mat products_;
  cv::Mat mean_rs_;
};

// The sweep: every plane scored by the mean NCC of its best k sources per pixel.
PlaneScores SweepPlanes(const std::vector<PinholeView>& views, const std::vector<cv::Mat>& grey,
                        const Reference& ref, const PinholeView& ref_view, const ViewPlan& plan,
                        const MvsOptions& o) {
  const cv::Size size = ref.image.size();
  const int n = size.area();
  const auto S = plan.sources.size();
  PlaneScores scores{std::vector<float>(static_cast<size_t>(n), -2.0F),
                     std::vector<int>(static_cast<size_t>(n), -1),
                     std::vector<float>(static_cast<size_t>(n), -2.0F),
                     std::vector<float>(static_cast<size_t>(n), -2.0F)};
  std::vector<float> previous(static_cast<size_t>(n), -2.0F);
  std::vector<cv::Mat> ncc(S);
  for (auto& m : ncc) m.create(size, CV_32F);
  const int k = std::min<int>(o.top_k, static_cast<int>(S));
  PlaneNcc plane_ncc(views, grey, ref, ref_view, plan, o);
  for (int p = 0; p < plan.planes; ++p) {
    plane_ncc.Score(1.0 / InverseDepth(plan, p), ncc);
    float top[16];
    for (int i = 0; i < n; ++i) {
      for (size_t si = 0; si < S; ++si) top[si] = ncc[si].ptr<float>()[i];
      std::partial_sort(top, top + k, top + S, std::greater<>());
      float s = 0;
      for (int j = 0; j < k; ++j) s += top[j];
      s /= static_cast<float>(std::max(1, k));
      const auto u = static_cast<size_t>(i);
      if (s > scores.best[u]) {
        scores.best[u] = s;
        scores.best_index[u] = p;
        scores.left[u] = previous[u];
        scores.right[u] = -2.0F;
      } else if (scores.best_index[u] == p - 1) {
        scores.right[u] = s;
      }
      previous[u] = s;
    }
  }
  return scores;
}

// The depth of the best plane refined by a parabola through its neighbours; none where the best
// plane is at either end, scores too low, the texture too flat or the backdrop shows.
cv::Mat DepthFromScores(const PlaneScores& scores, const Reference& ref, const cv::Mat& backdrop,
                        const cv::Rect& region, const ViewPlan& plan, const MvsOptions& o) {
  const cv::Size size = ref.image.size();
  cv::Mat depth = cv::Mat::zeros(size, CV_32F);
  const float min_var = o.min_texture * o.min_texture;
  const int P = plan.planes;
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      const auto u =
          static_cast<size_t>(y) * static_cast<size_t>(size.width) + static_cast<size_t>(x);
      const int b = scores.best_index[u];
      if (b <= 0 || b >= P - 1 || scores.best[u] < o.min_ncc) continue;
      if (ref.var.at<float>(y, x) < min_var) continue;
      if (!backdrop.empty() && backdrop.at<uchar>(y + region.y, x + region.x) != 0) continue;
      double offset = 0;
      const double denom = scores.left[u] - 2.0 * scores.best[u] + scores.right[u];
      if (denom < -1e-6) {
        offset = std::clamp(0.5 * (scores.left[u] - scores.right[u]) / denom, -0.5, 0.5);
      }
      depth.at<float>(y, x) = static_cast<float>(1.0 / InverseDepth(plan, b + offset));
    }
  }
  return depth;
}

// Speckles: a depth that disagrees with its neighbourhood's median by more than 1% goes.
void RemoveSpeckles(cv::Mat& depth) {
  cv::Mat median;
  cv::medianBlur(depth, median, 5);
  for (int y = 0; y < depth.rows; ++y) {
    for (int x = 0; x < depth.cols; ++x) {
      float& d = depth.at<float>(y, x);
      if (d > 0 && std::abs(d - median.at<float>(y, x)) > 0.01F * d) d = 0;
    }
  }
}

// Normals from the depth map smoothed over valid pixels, by central differences 2 px apart; a
// depth at a jump, without a normal or on a grazing surface goes.
cv::Mat NormalsFromDepth(cv::Mat& depth, const cv::Matx33d& K_inv) {
  const cv::Size size = depth.size();
  cv::Mat mask;
  cv::threshold(depth, mask, 0, 1, cv::THRESH_BINARY);
  cv::Mat sum_d;
  cv::Mat sum_m;
  cv::GaussianBlur(depth, sum_d, {5, 5}, 1.2);
  cv::GaussianBlur(mask, sum_m, {5, 5}, 1.2);
  cv::Mat normal = cv::Mat::zeros(size, CV_32FC3);
  auto point = [&](int x, int y) -> cv::Vec3d {
    const float m = sum_m.at<float>(y, x);
    const double d = m > 1e-3F ? sum_d.at<float>(y, x) / m : 0.0;
    return d * (K_inv * cv::Vec3d(x, y, 1));
  };
  constexpr int kStep = 2;
  const cv::Mat before = depth.clone();  // neighbours as found, not as being erased
  for (int y = kStep; y < size.height - kStep; ++y) {
    for (int x = kStep; x < size.width - kStep; ++x) {
      float& d = depth.at<float>(y, x);
      if (d <= 0) continue;
      const float dl = before.at<float>(y, x - kStep);
      const float dr = before.at<float>(y, x + kStep);
      const float du = before.at<float>(y - kStep, x);
      const float dd = before.at<float>(y + kStep, x);
      const float jump = 0.02F * d;
      if (dl <= 0 || dr <= 0 || du <= 0 || dd <= 0 || std::abs(dl - dr) > jump ||
          std::abs(du - dd) > jump) {
        d = 0;
        continue;
      }
      const cv::Vec3d dx = point(x + kStep, y) - point(x - kStep, y);
      const cv::Vec3d dy = point(x, y + kStep) - point(x, y - kStep);
      cv::Vec3d nrm = dx.cross(dy);
      const double len = cv::norm(nrm);
      if (len <= 0) {
        d = 0;
        continue;
      }
      nrm /= len;
      const cv::Vec3d P3 = point(x, y);
      if (nrm.dot(P3) > 0) nrm = -nrm;
      // Grazing surfaces are unreliable.
      if (-nrm.dot(P3) / cv::norm(P3) < 0.15) {
        d = 0;
        continue;
      }
      normal.at<cv::Vec3f>(y, x) = cv::Vec3f(nrm);
    }
  }
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      if (normal.at<cv::Vec3f>(y, x) == cv::Vec3f()) depth.at<float>(y, x) = 0;
    }
  }
  return normal;
}

DepthResult SweepView(const std::vector<PinholeView>& views, const std::vector<cv::Mat>& grey,
                      const cv::Mat& backdrop, size_t r, const ViewPlan& plan,
                      const MvsOptions& o) {
  const PinholeView& ref_view = views[r];
  const cv::Rect region = plan.region;
  Reference ref;
  ref.image = grey[r](region).clone();
  ref.mean = Box(ref.image, o.window);
  ref.var = Box(ref.image.mul(ref.image), o.window) - ref.mean.mul(ref.mean);
  cv::max(ref.var, 0, ref.var);
  ref.K_inv = ref_view.K().inv() * cv::Matx33d(1, 0, region.x, 0, 1, region.y, 0, 0, 1);

  const PlaneScores scores = SweepPlanes(views, grey, ref, ref_view, plan, o);
  DepthResult result;
  result.depth = DepthFromScores(scores, ref, backdrop, region, plan, o);
  const int after_sweep = cv::countNonZero(result.depth);
  RemoveSpeckles(result.depth);
  const int after_speckles = cv::countNonZero(result.depth);
  result.normal = NormalsFromDepth(result.depth, ref.K_inv);
  Log()
      .With("view", ref_view.serial)
      .Debug(
          "{} planes {:.3f}..{:.3f} m over {}x{} px: {} px after the sweep, {} after speckles, {} "
          "with normals",
          plan.planes, plan.min_depth, plan.max_depth, region.width, region.height, after_sweep,
          after_speckles, cv::countNonZero(result.depth));
  // The maps cover the whole image; nothing outside the region.
  DepthResult whole;
  whole.depth = cv::Mat::zeros(grey[r].size(), CV_32F);
  whole.normal = cv::Mat::zeros(grey[r].size(), CV_32FC3);
  result.depth.copyTo(whole.depth(region));
  result.normal.copyTo(whole.normal(region));
  return whole;
}

}  // namespace

Result<BackdropKey> ParseBackdropKey(const std::string& text) {
  const auto fail = [&] {
    return MakeError("not a backdrop colour: '" + text + "'", "--backdrop",
                     "give black, white, grey or R,G,B (0..255 each), optionally :TOLERANCE, "
                     "e.g. black:40 or 30,120,60:35");
  };
  BackdropKey key;
  key.enabled = true;
  std::string colour = text;
  if (const auto colon = text.find(':'); colon != std::string::npos) {
    colour = text.substr(0, colon);
    const std::string tolerance = text.substr(colon + 1);
    char* end = nullptr;
    const long value = std::strtol(tolerance.c_str(), &end, 10);
    if (tolerance.empty() || *end != '\0' || value < 0 || value > 255) return fail();
    key.tolerance = static_cast<int>(value);
  }
  if (colour == "black") {
    key.rgb = {0, 0, 0};
  } else if (colour == "white") {
    key.rgb = {255, 255, 255};
  } else if (colour == "grey" || colour == "gray") {
    key.rgb = {128, 128, 128};
  } else {
    int channel[3];
    std::istringstream in(colour);
    char comma1 = 0;
    char comma2 = 0;
    in >> channel[0] >> comma1 >> channel[1] >> comma2 >> channel[2];
    if (!in || comma1 != ',' || comma2 != ',' || in.peek() != std::char_traits<char>::eof())
      return fail();
    for (int c = 0; c < 3; ++c) {
      if (channel[c] < 0 || channel[c] > 255) return fail();
      key.rgb[c] = static_cast<uchar>(channel[c]);
    }
  }
  return key;
}

cv::Mat BackdropMask(const cv::Mat& bgr, const BackdropKey& key) {
  TWINRIG_CHECK(bgr.type() == CV_8UC3) << "an 8-bit colour image";
  const int t = key.tolerance;
  const cv::Scalar lo(key.rgb[2] - t, key.rgb[1] - t, key.rgb[0] - t);
  const cv::Scalar hi(key.rgb[2] + t, key.rgb[1] + t, key.rgb[0] + t);
  cv::Mat keyed;
  cv::inRange(bgr, lo, hi, keyed);
  cv::Mat labels;
  cv::Mat stats;
  cv::Mat centroids;
  const int n = cv::connectedComponentsWithStats(keyed, labels, stats, centroids, 8, CV_32S);
  const double min_area = key.min_area * static_cast<double>(bgr.total());
  std::vector<uchar> large(static_cast<size_t>(n), 0);
  for (int i = 1; i < n; ++i) {
    if (stats.at<int>(i, cv::CC_STAT_AREA) >= min_area) large[static_cast<size_t>(i)] = 255;
  }
  cv::Mat mask(bgr.size(), CV_8U);
  for (int y = 0; y < bgr.rows; ++y) {
    const int* l = labels.ptr<int>(y);
    uchar* m = mask.ptr<uchar>(y);
    for (int x = 0; x < bgr.cols; ++x) m[x] = large[static_cast<size_t>(l[x])];
  }
  return mask;
}

std::vector<std::string> MvsOptions::Validate() const {
  std::vector<std::string> problems;
  if (sources < 2 || sources > 16) problems.push_back("sources must be 2..16");
  if (top_k < 1 || top_k > sources) problems.push_back("top_k must be 1..sources");
  if (window < 3 || window % 2 == 0) problems.push_back("window must be odd and at least 3");
  if (disparity_step_px <= 0) problems.push_back("disparity_step_px must be positive");
  if (min_planes < 3 || max_planes < min_planes) problems.push_back("planes: 3 <= min <= max");
  if (min_ncc < -1 || min_ncc > 1) problems.push_back("min_ncc must be in [-1, 1]");
  if (threads < 1) problems.push_back("threads must be at least 1");
  if (backdrop.enabled && (backdrop.tolerance < 0 || backdrop.tolerance > 255 ||
                           backdrop.min_area < 0 || backdrop.min_area > 1)) {
    problems.push_back("backdrop: tolerance 0..255, min_area 0..1");
  }
  if (min_angle_deg < 0 || max_angle_deg <= min_angle_deg) {
    problems.push_back("angles: 0 <= min_angle_deg < max_angle_deg");
  }
  return problems;
}

Status WriteColmapMat(const fs::path& path, const cv::Mat& image) {
  TWINRIG_CHECK(image.depth() == CV_32F) << "float maps only";
  std::vector<cv::Mat> planes;
  cv::split(image, planes);
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << image.cols << "&" << image.rows << "&" << image.channels() << "&";
    for (const auto& p : planes) {
      const cv::Mat c = p.isContinuous() ? p : p.clone();
      out.write(reinterpret_cast<const char*>(c.ptr<float>()),
                static_cast<std::streamsize>(c.total() * sizeof(float)));
    }
    if (!out) {
      return MakeError("cannot write depth map", path.string(), "free disk space and run again");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return MakeError("cannot write depth map: " + ec.message(), path.string(), "");
  return OkStatus();
}

Result<cv::Mat> ReadColmapMat(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  int w = 0;
  int h = 0;
  int c = 0;
  char sep = 0;
  in >> w >> sep >> h >> sep >> c >> sep;
  if (!in || w <= 0 || h <= 0 || c <= 0 || c > 4) {
    return MakeError("not a COLMAP map file", path.string(), "run the reconstruction again");
  }
  std::vector<cv::Mat> planes;
  for (int k = 0; k < c; ++k) {
    cv::Mat p(h, w, CV_32F);
    in.read(reinterpret_cast<char*>(p.ptr<float>()),
            static_cast<std::streamsize>(p.total() * sizeof(float)));
    planes.push_back(p);
  }
  if (!in) return MakeError("COLMAP map file is truncated", path.string(), "");
  cv::Mat out;
  cv::merge(planes, out);
  return out;
}

Result<MvsStats> ComputeDepthMaps(const std::vector<PinholeView>& views, const fs::path& images,
                                  const std::vector<cv::Vec3d>& points, const fs::path& dense,
                                  const MvsOptions& options, const ViewRange& references) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "multi-view stereo options"));
  const size_t last = std::min(references.last, views.size());
  const size_t first = std::min(references.first, last);
  if (first == last) {
    return MakeError("no reference views to make depth maps for", dense.string(),
                     "pass a range inside the " + std::to_string(views.size()) + " views");
  }
  std::error_code ec;
  fs::create_directories(dense / "stereo" / "depth_maps", ec);
  fs::create_directories(dense / "stereo" / "normal_maps", ec);
  std::vector<cv::Mat> grey(views.size());
  std::vector<cv::Mat> backdrop(views.size());
  double backdrop_sum = 0;
  for (size_t i = 0; i < views.size(); ++i) {
    const cv::Mat colour = cv::imread((images / views[i].name).string(), cv::IMREAD_COLOR);
    if (colour.empty()) {
      return MakeError("cannot read the undistorted image", (images / views[i].name).string(),
                       "run the reconstruction again");
    }
    cv::Mat g;
    cv::cvtColor(colour, g, cv::COLOR_BGR2GRAY);
    g.convertTo(grey[i], CV_32F);
    if (options.backdrop.enabled && i >= first && i < last) {
      backdrop[i] = BackdropMask(colour, options.backdrop);
      backdrop_sum += cv::countNonZero(backdrop[i]) / static_cast<double>(backdrop[i].total());
    }
  }
  std::vector<ViewPlan> plans(views.size());
  const cv::Vec3d centre = Convergence(views);
  for (size_t i = first; i < last; ++i) {
    plans[i] = Plan(views, i, points, centre, options);
    if (plans[i].sources.size() < 2 || plans[i].planes == 0) {
      return MakeError("camera " + views[i].serial +
                           " has fewer than two neighbouring cameras or sees no sparse point",
                       views[i].name, "check that the calibration matches the rig");
    }
    if (!backdrop[i].empty()) {
      // Nothing to sweep where the whole neighbourhood is backdrop.
      cv::Mat subject;
      cv::bitwise_not(backdrop[i], subject);
      const cv::Rect box = cv::boundingRect(subject);
      const int pad = options.window;
      const cv::Rect wide(box.x - pad, box.y - pad, box.width + 2 * pad, box.height + 2 * pad);
      plans[i].region &= wide;
      if (plans[i].region.area() == 0) {
        return MakeError("camera " + views[i].serial + " shows only the backdrop", views[i].name,
                         "check the backdrop colour (--backdrop) and that the subject is in view");
      }
    }
  }
  // One reference view per thread; OpenCV's own threads stay off meanwhile.
  const int cv_threads = cv::getNumThreads();
  cv::setNumThreads(1);
  std::atomic<size_t> next{first};
  std::mutex mutex;
  std::vector<std::string> errors;
  double valid = 0;
  auto work = [&] {
    for (size_t r = next++; r < last; r = next++) {
      DepthResult d = SweepView(views, grey, backdrop[r], r, plans[r], options);
      const double fraction = cv::countNonZero(d.depth) / static_cast<double>(d.depth.total());
      const std::string stem = views[r].name + ".geometric.bin";
      auto a = WriteColmapMat(dense / "stereo" / "depth_maps" / stem, d.depth);
      auto b = WriteColmapMat(dense / "stereo" / "normal_maps" / stem, d.normal);
      const std::lock_guard<std::mutex> lock(mutex);
      valid += fraction;
      if (!a.ok()) errors.push_back(a.error().Describe());
      if (!b.ok()) errors.push_back(b.error().Describe());
    }
  };
  std::vector<std::thread> pool;
  for (int k = 1; k < options.threads; ++k) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  cv::setNumThreads(cv_threads);
  if (!errors.empty()) return MakeError(errors.front(), dense.string(), "free disk space");
  MvsStats stats;
  const auto count = static_cast<double>(last - first);
  stats.views = static_cast<int>(last - first);
  for (size_t i = first; i < last; ++i) stats.mean_planes += plans[i].planes;
  stats.mean_planes /= count;
  stats.valid_fraction = valid / count;
  stats.backdrop_fraction = backdrop_sum / count;
  return stats;
}

}  // namespace twinrig::reconstruct
