#include "calibration/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "util/files.h"
#include "util/markup.h"

namespace twinrig::calibration {
namespace {

const cv::Scalar kWhite(255, 255, 255);
const cv::Scalar kGrey(160, 160, 160);
const cv::Scalar kBlack(0, 0, 0);
const cv::Scalar kGreen(60, 170, 60);
const cv::Scalar kOrange(0, 140, 255);
const cv::Scalar kRed(40, 40, 220);
const cv::Scalar kBlue(200, 120, 30);

cv::Scalar VerdictColour(const std::string& verdict) {
  if (verdict == "ok") return kGreen;
  if (verdict == "check") return kOrange;
  return kRed;
}

Status WritePng(const std::filesystem::path& path, const cv::Mat& image) {
  std::vector<std::uint8_t> png;
  if (!cv::imencode(".png", image, png)) {
    return MakeError("could not encode a report picture", path.string(), "report this as a bug");
  }
  return WriteFileAtomic(path, std::span<const std::uint8_t>(png.data(), png.size()));
}

// The camera's image (scaled to 480 px wide): every detected corner as a dot, its residual as a
// line magnified `gain` times (outliers in red).
cv::Mat CoveragePicture(const CameraCalibration& cam, const RigSolution& solution, size_t index,
                        double gain) {
  const double scale = 480.0 / std::max(1, cam.width);
  cv::Mat image(static_cast<int>(std::lround(cam.height * scale)), 480, CV_8UC3, kWhite);
  cv::rectangle(image, cv::Rect(0, 0, image.cols, image.rows), kGrey, 1);
  for (const ViewResult& view : solution.views) {
    if (view.camera != static_cast<int>(index)) continue;
    for (size_t k = 0; k < view.observed.size(); ++k) {
      const cv::Point2d p(view.observed[k].x * scale, view.observed[k].y * scale);
      const cv::Point2d r(view.residual[k].x * scale * gain, view.residual[k].y * scale * gain);
      const cv::Scalar colour = view.outlier[k] ? kRed : kBlue;
      cv::line(image, p, p + r, colour, 1, cv::LINE_AA);
      cv::circle(image, p, 1, kBlack, cv::FILLED);
    }
  }
  cv::putText(image, cam.serial, {6, 16}, cv::FONT_HERSHEY_SIMPLEX, 0.45, kBlack, 1, cv::LINE_AA);
  return image;
}

cv::Mat RmsChart(const RigCalibration& calibration) {
  const int n = static_cast<int>(calibration.cameras.size());
  const int bar = std::max(6, std::min(28, 900 / std::max(1, n)));
  const int width = 60 + n * bar + 20;
  const int height = 300;
  cv::Mat image(height, width, CV_8UC3, kWhite);
  double top = 0.5;
  for (const auto& cam : calibration.cameras) top = std::max(top, cam.rms_px * 1.1);
  const int plot_h = height - 60;
  for (double tick = 0; tick <= top; tick += top > 2 ? 0.5 : 0.1) {
    const int y = 20 + plot_h - static_cast<int>(plot_h * tick / top);
    cv::line(image, {55, y}, {width - 10, y}, cv::Scalar(230, 230, 230), 1);
    char label[16];
    std::snprintf(label, sizeof(label), "%.1f", tick);
    cv::putText(image, label, {20, y + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.35, kBlack, 1, cv::LINE_AA);
  }
  for (int i = 0; i < n; ++i) {
    const auto& cam = calibration.cameras[static_cast<size_t>(i)];
    const int h = static_cast<int>(plot_h * cam.rms_px / top);
    const int x = 60 + i * bar;
    cv::rectangle(image, cv::Rect(x + 1, 20 + plot_h - h, bar - 2, h), VerdictColour(cam.verdict),
                  cv::FILLED);
    if (n <= 60 || i % 5 == 0) {
      cv::putText(image, std::to_string(i + 1), {x + 1, height - 24}, cv::FONT_HERSHEY_SIMPLEX, 0.3,
                  kBlack, 1, cv::LINE_AA);
    }
  }
  cv::putText(image, "reprojection RMS (px) per camera, numbered as in the table", {60, 14},
              cv::FONT_HERSHEY_SIMPLEX, 0.4, kBlack, 1, cv::LINE_AA);
  return image;
}

// A view of the rig along one world axis: camera centres with their optical axes, board centres.
cv::Mat RigView(const RigCalibration& calibration, const RigSolution& solution, int axis_u,
                int axis_v, bool flip_v, const std::string& title) {
  const int size = 480;
  cv::Mat image(size, size, CV_8UC3, kWhite);
  std::vector<cv::Point2d> points;
  for (const auto& cam : calibration.cameras) {
    const auto c = cam.Centre();
    points.emplace_back(c[static_cast<size_t>(axis_u)], c[static_cast<size_t>(axis_v)]);
  }
  for (const auto& [pose, p] : solution.board_poses) {
    points.emplace_back(p.second[axis_u], p.second[axis_v]);
  }
  double lo_u = 1e9, hi_u = -1e9, lo_v = 1e9, hi_v = -1e9;
  for (const auto& p : points) {
    lo_u = std::min(lo_u, p.x);
    hi_u = std::max(hi_u, p.x);
    lo_v = std::min(lo_v, p.y);
    hi_v = std::max(hi_v, p.y);
  }
  const double span = std::max({hi_u - lo_u, hi_v - lo_v, 0.1}) * 1.25;
  const double mid_u = (lo_u + hi_u) / 2;
  const double mid_v = (lo_v + hi_v) / 2;
  auto to_px = [&](double u, double v) {
    const double y = (v - mid_v) / span * size;
    return cv::Point2d(size / 2.0 + (u - mid_u) / span * size, size / 2.0 + (flip_v ? -y : y));
  };
  for (const auto& [pose, p] : solution.board_poses) {
    cv::drawMarker(image, to_px(p.second[axis_u], p.second[axis_v]), kGrey, cv::MARKER_SQUARE, 6);
  }
  for (const auto& cam : calibration.cameras) {
    const auto c = cam.Centre();
    // Optical axis: the third row of R (camera z in world), 10 cm long.
    const double axis[3] = {cam.R[6], cam.R[7], cam.R[8]};
    const cv::Point2d a = to_px(c[static_cast<size_t>(axis_u)], c[static_cast<size_t>(axis_v)]);
    const cv::Point2d b = to_px(c[static_cast<size_t>(axis_u)] + 0.1 * axis[axis_u],
                                c[static_cast<size_t>(axis_v)] + 0.1 * axis[axis_v]);
    cv::line(image, a, b, kBlue, 1, cv::LINE_AA);
    cv::circle(image, a, 3, VerdictColour(cam.verdict), cv::FILLED, cv::LINE_AA);
  }
  cv::putText(image, title, {8, 16}, cv::FONT_HERSHEY_SIMPLEX, 0.45, kBlack, 1, cv::LINE_AA);
  char scale[64];
  std::snprintf(scale, sizeof(scale), "width %.2f m; squares: board poses", span);
  cv::putText(image, scale, {8, size - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.4, kBlack, 1, cv::LINE_AA);
  return image;
}

// Where camera `i`'s rays land on the subject, 1 sigma in mm ("-" when the solve gave none).
std::string SubjectMm(const RigSolution& solution, size_t i) {
  return i < solution.uncertainty.size() ? cv::format("%.3f", solution.uncertainty[i].subject_mm)
                                         : std::string("-");
}

// Each camera's uncertainty from the solve's covariance, and the cameras short of the twin's
// accuracy with where to show them the board.
std::string UncertaintySection(const RigCalibration& calibration, const RigSolution& solution) {
  std::ostringstream html;
  html << "<h2>Uncertainty</h2>\n<p>One standard deviation from the covariance of the joint "
       << "solve, relative to the rig as a whole. <i>On the subject</i>: where the camera's rays "
       << "land at the board's distance, lens and pose together; the twin's accuracy follows "
       << "it.</p>\n";
  if (solution.too_uncertain.empty()) {
    html << "<p class=\"ok\">Every camera is sure enough for the twin.</p>\n";
  }
  for (const auto& cam : solution.too_uncertain) {
    html << "<p class=\"check\">Camera <b>" << EscapeMarkup(cam.serial)
         << "</b>: " << EscapeMarkup(cam.reason) << ". What to do: " << EscapeMarkup(cam.todo)
         << ".</p>\n";
  }
  html << "<table><tr><th>camera</th><th>focal %</th><th>rotation deg</th><th>position mm</th>"
       << "<th>on the subject mm</th></tr>\n";
  for (size_t i = 0; i < calibration.cameras.size() && i < solution.uncertainty.size(); ++i) {
    const CameraUncertainty& u = solution.uncertainty[i];
    html << "<tr><td>" << EscapeMarkup(calibration.cameras[i].serial) << "</td><td>"
         << cv::format("%.4f", u.focal_pct) << "</td><td>" << cv::format("%.4f", u.rotation_deg)
         << "</td><td>" << cv::format("%.3f", u.position_mm) << "</td><td>"
         << cv::format("%.3f", u.subject_mm) << "</td></tr>\n";
  }
  html << "</table>\n";
  return html.str();
}

}  // namespace

std::string FormatCameraTable(const RigCalibration& calibration, const RigSolution& solution) {
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof(line), "%-3s %-14s %5s %8s %9s %10s %7s  %s\n", "#", "camera", "views",
                "RMS px", "coverage", "+-mm (1s)", "verdict", "note");
  out << line;
  for (size_t i = 0; i < calibration.cameras.size(); ++i) {
    const auto& cam = calibration.cameras[i];
    std::snprintf(line, sizeof(line), "%-3zu %-14s %5d %8.3f %8.0f%% %10s %7s  ", i + 1,
                  cam.serial.c_str(), cam.views, cam.rms_px,
                  i < solution.coverage.size() ? 100 * solution.coverage[i] : 0.0,
                  SubjectMm(solution, i).c_str(), cam.verdict.c_str());
    out << line << (i < solution.notes.size() ? solution.notes[i] : "") << "\n";
  }
  for (const auto& cam : calibration.uncalibrated) {
    std::snprintf(line, sizeof(line), "%-3s %-14s %5s %8s %9s %10s %7s  ", "-", cam.serial.c_str(),
                  "-", "-", "-", "-", "none");
    out << line << "not calibrated: " << cam.reason << "\n";
  }
  std::snprintf(
      line, sizeof(line),
      "all cameras: RMS %.3f px over %d corners (%d outliers dropped), solved in %.1f s; +-mm: "
      "where each camera's rays land on the subject, 1 sigma from the solve's covariance\n",
      solution.rms_px, solution.corners, solution.outliers, solution.seconds);
  out << line;
  for (const auto& cam : solution.too_uncertain) {
    out << "camera " << cam.serial << " is not sure enough for the twin: " << cam.reason
        << ". What to do: " << cam.todo << "\n";
  }
  return out.str();
}

Status WriteReport(const RigCalibration& calibration, const RigSolution& solution,
                   const std::filesystem::path& folder) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) {
    return MakeError("cannot create the report folder: " + ec.message(), folder.string(),
                     "check permissions and free space");
  }
  constexpr double kGain = 100;
  TWINRIG_RETURN_IF_ERROR(WritePng(folder / "rms.png", RmsChart(calibration)));
  TWINRIG_RETURN_IF_ERROR(WritePng(
      folder / "rig-top.png",
      RigView(calibration, solution, 0, 2, true, "rig from above (x right, z up the page)")));
  TWINRIG_RETURN_IF_ERROR(
      WritePng(folder / "rig-side.png",
               RigView(calibration, solution, 0, 1, true, "rig from the side (x right, y up)")));
  std::ostringstream html;
  html << "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Rig calibration "
       << EscapeMarkup(calibration.id) << "</title>\n<style>body{font-family:sans-serif;margin:2em}"
       << "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;"
       << "text-align:left}.ok{color:#3a3}.check{color:#e80}.bad{color:#d22}"
       << "figure{display:inline-block;margin:4px}</style></head><body>\n";
  html << "<h1>Rig calibration " << EscapeMarkup(calibration.id) << "</h1>\n<p>Rig <b>"
       << EscapeMarkup(calibration.rig) << "</b>, " << EscapeMarkup(calibration.created_at)
       << ", board <code>" << EscapeMarkup(calibration.board) << "</code>. "
       << calibration.cameras.size() << " cameras, " << solution.board_poses.size()
       << " board poses; reprojection RMS " << cv::format("%.3f", solution.rms_px) << " px over "
       << solution.corners << " corners (" << solution.outliers << " outliers dropped; "
       << cv::format("%.3f", solution.initial_rms_px) << " px before the joint solve).</p>\n";
  html << "<h2>Cameras</h2>\n<table><tr><th>#</th><th>camera</th><th>views</th><th>RMS px</th>"
       << "<th>coverage</th><th>fx</th><th>fy</th><th>cx</th><th>cy</th><th>verdict</th>"
       << "<th>note</th></tr>\n";
  for (size_t i = 0; i < calibration.cameras.size(); ++i) {
    const auto& cam = calibration.cameras[i];
    html << "<tr><td>" << i + 1 << "</td><td>" << EscapeMarkup(cam.serial) << "</td><td>"
         << cam.views << "</td><td>" << cv::format("%.3f", cam.rms_px) << "</td><td>"
         << cv::format("%.0f%%", i < solution.coverage.size() ? 100 * solution.coverage[i] : 0.0)
         << "</td><td>" << cv::format("%.2f", cam.fx) << "</td><td>" << cv::format("%.2f", cam.fy)
         << "</td><td>" << cv::format("%.2f", cam.cx) << "</td><td>" << cv::format("%.2f", cam.cy)
         << "</td><td class=\"" << cam.verdict << "\">" << cam.verdict << "</td><td>"
         << EscapeMarkup(i < solution.notes.size() ? solution.notes[i] : "") << "</td></tr>\n";
  }
  for (const auto& cam : calibration.uncalibrated) {
    html << "<tr><td>-</td><td>" << EscapeMarkup(cam.serial)
         << "</td><td colspan=\"7\"></td><td class=\"bad\">not calibrated</td><td>"
         << EscapeMarkup(cam.reason) << ". What to do: " << EscapeMarkup(cam.todo)
         << "</td></tr>\n";
  }
  html << "</table>\n" << UncertaintySection(calibration, solution);
  html << "<h2>Reprojection error per camera</h2>\n<img src=\"rms.png\">\n";
  html << "<h2>The recovered rig</h2>\n<img src=\"rig-top.png\"> <img src=\"rig-side.png\">\n";
  html << "<h2>Coverage and residuals</h2>\n<p>Each detected corner is a dot; its residual "
       << "(observed minus projected) is drawn " << kGain
       << " times longer (blue; red: dropped as an outlier).</p>\n";
  for (size_t i = 0; i < calibration.cameras.size(); ++i) {
    const auto& cam = calibration.cameras[i];
    const std::string name = "coverage-" + cam.serial + ".png";
    TWINRIG_RETURN_IF_ERROR(WritePng(folder / name, CoveragePicture(cam, solution, i, kGain)));
    html << "<figure><img src=\"" << EscapeMarkup(name) << "\"><figcaption>" << i + 1 << " "
         << EscapeMarkup(cam.serial) << " <span class=\"" << cam.verdict << "\">" << cam.verdict
         << "</span></figcaption></figure>\n";
  }
  html << "<h2>Views</h2>\n<table><tr><th>camera</th><th>pose</th><th>image</th><th>RMS px</th>"
       << "</tr>\n";
  for (const ViewResult& view : solution.views) {
    html << "<tr><td>" << EscapeMarkup(calibration.cameras[static_cast<size_t>(view.camera)].serial)
         << "</td><td>" << view.pose << "</td><td>" << EscapeMarkup(view.source) << "</td><td>"
         << cv::format("%.3f", view.rms_px) << "</td></tr>\n";
  }
  html << "</table>\n</body></html>\n";
  return WriteFileAtomic(folder / "index.html", html.str());
}

}  // namespace twinrig::calibration
