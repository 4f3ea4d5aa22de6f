#include "calibration/board.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include <opencv2/calib3d.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "util/files.h"

namespace twinrig::calibration {
namespace {

constexpr const char* kSpecForm =
    "write it as charuco:<COLS>x<ROWS>:<square m>:<marker m>:<DICT_...> (e.g. "
    "charuco:5x7:0.04:0.02:DICT_6X6_250) or chessboard:<COLS>x<ROWS>:<square m> with inner "
    "corners (e.g. chessboard:9x6:0.025)";

struct NamedDictionary {
  const char* name;
  cv::aruco::PREDEFINED_DICTIONARY_NAME id;
};
constexpr NamedDictionary kDictionaries[] = {
    {"DICT_4X4_50", cv::aruco::DICT_4X4_50},
    {"DICT_4X4_100", cv::aruco::DICT_4X4_100},
    {"DICT_4X4_250", cv::aruco::DICT_4X4_250},
    {"DICT_4X4_1000", cv::aruco::DICT_4X4_1000},
    {"DICT_5X5_50", cv::aruco::DICT_5X5_50},
    {"DICT_5X5_100", cv::aruco::DICT_5X5_100},
    {"DICT_5X5_250", cv::aruco::DICT_5X5_250},
    {"DICT_5X5_1000", cv::aruco::DICT_5X5_1000},
    {"DICT_6X6_50", cv::aruco::DICT_6X6_50},
    {"DICT_6X6_100", cv::aruco::DICT_6X6_100},
    {"DICT_6X6_250", cv::aruco::DICT_6X6_250},
    {"DICT_6X6_1000", cv::aruco::DICT_6X6_1000},
    {"DICT_7X7_50", cv::aruco::DICT_7X7_50},
    {"DICT_7X7_100", cv::aruco::DICT_7X7_100},
    {"DICT_7X7_250", cv::aruco::DICT_7X7_250},
    {"DICT_7X7_1000", cv::aruco::DICT_7X7_1000},
    {"DICT_ARUCO_ORIGINAL", cv::aruco::DICT_ARUCO_ORIGINAL},
};

bool ParseInt(const std::string& text, int& out) {
  try {
    size_t used = 0;
    out = std::stoi(text, &used);
    return used == text.size();
  } catch (const std::exception&) {
    return false;
  }
}

bool ParseDouble(const std::string& text, double& out) {
  try {
    size_t used = 0;
    out = std::stod(text, &used);
    return used == text.size() && std::isfinite(out);
  } catch (const std::exception&) {
    return false;
  }
}

std::uint32_t Crc32(const std::uint8_t* data, size_t size) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFU;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xFFU] ^ (c >> 8);
  return c ^ 0xFFFFFFFFU;
}

void PutBigEndian(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

}  // namespace

std::string BoardSpec::ToString() const {
  std::ostringstream out;
  out << (kind == Kind::kCharuco ? "charuco:" : "chessboard:") << cols << "x" << rows << ":"
      << square_m;
  if (kind == Kind::kCharuco) out << ":" << marker_m << ":" << dictionary;
  return out.str();
}

int BoardSpec::CornerCount() const {
  return kind == Kind::kCharuco ? (cols - 1) * (rows - 1) : cols * rows;
}

std::vector<cv::Point3f> BoardSpec::Corners() const {
  std::vector<cv::Point3f> corners;
  if (kind == Kind::kCharuco) {
    // As cv::aruco::CharucoBoard: inner corner (x, y) of the squares, row by row.
    for (int y = 0; y < rows - 1; ++y) {
      for (int x = 0; x < cols - 1; ++x) {
        corners.emplace_back(static_cast<float>((x + 1) * square_m),
                             static_cast<float>((y + 1) * square_m), 0.0F);
      }
    }
  } else {
    for (int y = 0; y < rows; ++y) {
      for (int x = 0; x < cols; ++x) {
        corners.emplace_back(static_cast<float>(x * square_m), static_cast<float>(y * square_m),
                             0.0F);
      }
    }
  }
  return corners;
}

cv::Size2d BoardSpec::PatternSize() const {
  if (kind == Kind::kCharuco) return {cols * square_m, rows * square_m};
  return {(cols + 1) * square_m, (rows + 1) * square_m};
}

Result<BoardSpec> ParseBoardSpec(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return MakeError("board spec '" + text + "': " + why, "--board", kSpecForm);
  };
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
  if (parts.empty()) return bad("empty");
  BoardSpec spec;
  if (parts[0] == "charuco") {
    spec.kind = BoardSpec::Kind::kCharuco;
    if (parts.size() != 5) return bad("a ChArUco spec has five fields separated by ':'");
  } else if (parts[0] == "chessboard") {
    spec.kind = BoardSpec::Kind::kChessboard;
    if (parts.size() != 3) return bad("a chessboard spec has three fields separated by ':'");
  } else {
    return bad("the board kind must be charuco or chessboard");
  }
  const auto x = parts[1].find('x');
  if (x == std::string::npos || !ParseInt(parts[1].substr(0, x), spec.cols) ||
      !ParseInt(parts[1].substr(x + 1), spec.rows)) {
    return bad("'" + parts[1] + "' is not COLSxROWS");
  }
  const int minimum = spec.kind == BoardSpec::Kind::kCharuco ? 3 : 2;
  if (spec.cols < minimum || spec.rows < minimum || spec.cols > 200 || spec.rows > 200) {
    return bad("COLS and ROWS must be " + std::to_string(minimum) + "..200");
  }
  if (!ParseDouble(parts[2], spec.square_m) || spec.square_m <= 0 || spec.square_m > 10) {
    return bad("the square size '" + parts[2] + "' is not a length in metres (0..10]");
  }
  if (spec.kind == BoardSpec::Kind::kCharuco) {
    if (!ParseDouble(parts[3], spec.marker_m) || spec.marker_m <= 0 ||
        spec.marker_m >= spec.square_m) {
      return bad("the marker size '" + parts[3] + "' must be positive and smaller than a square");
    }
    spec.dictionary = parts[4];
    bool known = false;
    for (const auto& d : kDictionaries) known = known || spec.dictionary == d.name;
    if (!known) return bad("unknown dictionary '" + spec.dictionary + "'");
    const auto board = MakeCharuco(spec);
    if (!board.ok()) return board.error();
  } else {
    spec.marker_m = 0;
    spec.dictionary.clear();
  }
  return spec;
}

Result<cv::Ptr<cv::aruco::CharucoBoard>> MakeCharuco(const BoardSpec& spec) {
  if (spec.kind != BoardSpec::Kind::kCharuco) {
    return MakeError("board " + spec.ToString() + " is not a ChArUco board", "--board", kSpecForm);
  }
  const NamedDictionary* found = nullptr;
  for (const auto& d : kDictionaries) {
    if (spec.dictionary == d.name) found = &d;
  }
  if (found == nullptr) {
    return MakeError("unknown ArUco dictionary '" + spec.dictionary + "'", "--board", kSpecForm);
  }
  const auto dictionary = cv::aruco::getPredefinedDictionary(found->id);
  const int markers = spec.cols * spec.rows / 2;
  if (markers > dictionary->bytesList.rows) {
    return MakeError("a " + std::to_string(spec.cols) + "x" + std::to_string(spec.rows) +
                         " board needs " + std::to_string(markers) + " markers but " +
                         spec.dictionary + " has " + std::to_string(dictionary->bytesList.rows),
                     "--board", "use a larger dictionary or a smaller board");
  }
  return cv::aruco::CharucoBoard::create(spec.cols, spec.rows, static_cast<float>(spec.square_m),
                                         static_cast<float>(spec.marker_m), dictionary);
}

Result<cv::Mat> DrawBoard(const BoardSpec& spec, int dpi) {
  if (dpi < 72 || dpi > 2400) {
    return MakeError("a print resolution of " + std::to_string(dpi) + " dpi is out of range",
                     "--dpi", "use 72..2400 dpi (300 suits most printers)");
  }
  const double px_per_m = dpi / 0.0254;
  const double square_px = spec.square_m * px_per_m;
  const cv::Size2d pattern = spec.PatternSize();
  const cv::Size pattern_px(static_cast<int>(std::lround(pattern.width * px_per_m)),
                            static_cast<int>(std::lround(pattern.height * px_per_m)));
  if (static_cast<double>(pattern_px.area()) > 400e6) {
    return MakeError("the board at " + std::to_string(dpi) + " dpi is too large to draw", "--dpi",
                     "use a lower resolution");
  }
  cv::Mat pattern_image;
  if (spec.kind == BoardSpec::Kind::kCharuco) {
    auto board = MakeCharuco(spec);
    if (!board.ok()) return board.error();
    (*board)->draw(pattern_px, pattern_image, 0, 1);
  } else {
    pattern_image = cv::Mat(pattern_px, CV_8UC1, cv::Scalar(255));
    for (int y = 0; y < spec.rows + 1; ++y) {
      for (int x = 0; x < spec.cols + 1; ++x) {
        if ((x + y) % 2 != 0) continue;
        const cv::Point a(static_cast<int>(std::lround(x * square_px)),
                          static_cast<int>(std::lround(y * square_px)));
        const cv::Point b(static_cast<int>(std::lround((x + 1) * square_px)),
                          static_cast<int>(std::lround((y + 1) * square_px)));
        cv::rectangle(pattern_image, cv::Rect(a, b), cv::Scalar(0), cv::FILLED);
      }
    }
  }
  const int margin = static_cast<int>(std::lround(square_px));
  cv::Mat out;
  cv::copyMakeBorder(pattern_image, out, margin, margin, margin, margin, cv::BORDER_CONSTANT,
                     cv::Scalar(255));
  // The spec in small print under the pattern, so a print says what it is.
  cv::putText(out, spec.ToString() + " @ " + std::to_string(dpi) + " dpi",
              cv::Point(margin, out.rows - margin / 3), cv::FONT_HERSHEY_SIMPLEX,
              std::max(0.3, margin / 120.0), cv::Scalar(0), std::max(1, margin / 80));
  return out;
}

Status WriteBoardPng(const BoardSpec& spec, int dpi, const std::string& path) {
  auto image = DrawBoard(spec, dpi);
  if (!image.ok()) return image.error();
  std::vector<std::uint8_t> png;
  if (!cv::imencode(".png", *image, png) || png.size() < 33) {
    return MakeError("could not encode the board as PNG", path, "check the board spec");
  }
  // pHYs chunk right after IHDR (8-byte signature + 25-byte IHDR): pixels per metre both ways.
  std::vector<std::uint8_t> chunk;
  PutBigEndian(chunk, 9);
  const std::uint8_t type[4] = {'p', 'H', 'Y', 's'};
  chunk.insert(chunk.end(), type, type + 4);
  const auto ppm = static_cast<std::uint32_t>(std::lround(dpi / 0.0254));
  PutBigEndian(chunk, ppm);
  PutBigEndian(chunk, ppm);
  chunk.push_back(1);  // unit: metre
  PutBigEndian(chunk, Crc32(chunk.data() + 4, chunk.size() - 4));
  png.insert(png.begin() + 33, chunk.begin(), chunk.end());
  return WriteFileAtomic(path, std::span<const std::uint8_t>(png.data(), png.size()));
}

std::vector<std::string> DetectOptions::Validate() const {
  std::vector<std::string> problems;
  if (min_corners < 4) problems.push_back("min_corners must be at least 4");
  if (max_subpix_window < 2 || max_subpix_window > 30) {
    problems.push_back("max_subpix_window must be 2..30");
  }
  return problems;
}

namespace {

// From a corner in the image to a neighbouring corner along the board's x and along its y (zero
// where no neighbour on that axis was found).
struct Neighbours {
  cv::Point2d x;
  cv::Point2d y;
};

// cornerSubPix's half-window for a corner with these neighbours (0: none found). The window must
// hold the corner's own edges and nothing else. Chessboard: on OpenCV's left*.jpg a fixed
// half-window of 11 px (OpenCV's sample, and ours before) reaches the neighbouring squares in the
// smaller views and gives RMS 0.409 px; 0.3 of the spacing gives 0.177 px, and past 0.4 the fit
// falls apart. ChArUco: a marker's edges run along the board's axes (square - marker) / 2 from
// the corner, and the window, square in the image while the board may be turned in it, must stay
// off them with a pixel and a half of blur to spare (on the virtual studio's renders a window
// that reached them gave RMS 0.27 px against 0.10 px).
int HalfWindow(const BoardSpec& spec, const Neighbours& n, int max_window) {
  const double lx = cv::norm(n.x);
  const double ly = cv::norm(n.y);
  if (lx == 0 && ly == 0) return 0;
  const double spacing = lx == 0 ? ly : ly == 0 ? lx : std::min(lx, ly);
  double half = 0.3 * spacing;
  if (spec.kind == BoardSpec::Kind::kCharuco) {
    constexpr double kBlurPx = 1.5;
    const double share = (spec.square_m - spec.marker_m) / (2 * spec.square_m);
    if (lx == 0 || ly == 0) {
      half = std::min(half, (share * spacing - kBlurPx) / std::sqrt(2.0));
    } else {
      for (const auto& [along, across] : {std::pair{n.x, n.y}, std::pair{n.y, n.x}}) {
        const cv::Point2d u = along * (1 / cv::norm(along));
        const double distance = share * std::abs(u.cross(across));  // corner to the marker edge
        const double reach = std::abs(u.x) + std::abs(u.y);  // a unit window's reach across it
        half = std::min(half, (distance - kBlurPx) / reach);
      }
    }
  }
  return std::clamp(static_cast<int>(half), 2, max_window);
}

// Refines every corner with cornerSubPix, each in a window sized by HalfWindow from the corners
// found beside it on the board's grid (a corner with none: the median window of the others).
void RefineCorners(const BoardSpec& spec, const cv::Mat& grey, const std::vector<int>& ids,
                   std::vector<cv::Point2f>& points, int max_window) {
  const int across = spec.kind == BoardSpec::Kind::kCharuco ? spec.cols - 1 : spec.cols;
  std::map<int, cv::Point2f> by_id;
  for (size_t i = 0; i < ids.size(); ++i) by_id[ids[i]] = points[i];
  const auto towards = [&](size_t i, int step) {
    const auto it = by_id.find(ids[i] + step);
    return it == by_id.end() ? cv::Point2d(0, 0) : cv::Point2d(it->second - points[i]);
  };
  std::vector<int> half(ids.size(), 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int x = ids[i] % across;
    Neighbours n;
    n.x = x + 1 < across ? towards(i, 1) : cv::Point2d(0, 0);
    if (n.x == cv::Point2d(0, 0) && x > 0) n.x = towards(i, -1);
    n.y = towards(i, across);
    if (n.y == cv::Point2d(0, 0)) n.y = towards(i, -across);
    half[i] = HalfWindow(spec, n, max_window);
  }
  std::vector<int> known;
  for (const int h : half) {
    if (h > 0) known.push_back(h);
  }
  std::sort(known.begin(), known.end());
  constexpr int kUnknownHalf = 5;
  const int typical = known.empty() ? kUnknownHalf : known[known.size() / 2];
  const cv::TermCriteria until(cv::TermCriteria::COUNT | cv::TermCriteria::EPS, 100, 1e-4);
  for (size_t i = 0; i < points.size(); ++i) {
    std::vector<cv::Point2f> one{points[i]};
    const int h = half[i] > 0 ? half[i] : typical;
    cv::cornerSubPix(grey, one, cv::Size(h, h), cv::Size(-1, -1), until);
    points[i] = one[0];
  }
}

}  // namespace

Detection DetectBoard(const BoardSpec& spec, const cv::Mat& image, const DetectOptions& options) {
  Detection detection;
  if (image.empty()) return detection;
  cv::Mat grey;
  if (image.channels() == 3) {
    cv::cvtColor(image, grey, cv::COLOR_BGR2GRAY);
  } else {
    grey = image;
  }
  if (spec.kind == BoardSpec::Kind::kChessboard) {
    std::vector<cv::Point2f> corners;
    const bool found =
        cv::findChessboardCorners(grey, cv::Size(spec.cols, spec.rows), corners,
                                  cv::CALIB_CB_ADAPTIVE_THRESH | cv::CALIB_CB_NORMALIZE_IMAGE);
    if (!found) return detection;
    for (int i = 0; i < static_cast<int>(corners.size()); ++i) detection.ids.push_back(i);
    RefineCorners(spec, grey, detection.ids, corners, options.max_subpix_window);
    detection.points = corners;
    return detection;
  }
  auto board = MakeCharuco(spec);
  if (!board.ok()) return detection;
  auto parameters = cv::aruco::DetectorParameters::create();
  // Marker corners only seed the interpolation; the board corners are refined below. Left
  // unrefined, they match OpenCV's reference detections exactly.
  parameters->cornerRefinementMethod = cv::aruco::CORNER_REFINE_NONE;
  std::vector<std::vector<cv::Point2f>> rejected;
  cv::aruco::detectMarkers(grey, (*board)->dictionary, detection.marker_corners,
                           detection.marker_ids, parameters, rejected);
  if (detection.marker_ids.empty()) return detection;
  // Markers missed by the first pass but where the board layout says one should be.
  cv::Ptr<cv::aruco::Board> as_board = *board;
  cv::aruco::refineDetectedMarkers(grey, as_board, detection.marker_corners, detection.marker_ids,
                                   rejected, cv::noArray(), cv::noArray(), 10.F, 3.F, true,
                                   cv::noArray(), parameters);
  std::vector<cv::Point2f> corners;
  std::vector<int> ids;
  cv::aruco::interpolateCornersCharuco(detection.marker_corners, detection.marker_ids, grey, *board,
                                       corners, ids);
  if (static_cast<int>(ids.size()) < options.min_corners) return detection;
  RefineCorners(spec, grey, ids, corners, options.max_subpix_window);
  detection.ids = ids;
  detection.points = corners;
  return detection;
}

}  // namespace twinrig::calibration
