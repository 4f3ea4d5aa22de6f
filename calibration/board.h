// Calibration boards: their definition ("charuco:5x7:0.06:0.03:DICT_6X6_250" or
// "chessboard:9x6:0.025"), their corners in the board frame, a printable image at true scale, and
// detection of their corners in a photo.
//
// Board frame (OpenCV's): the board lies in z = 0, x to the right and y down as the print is read,
// origin at the top-left corner of the squares. A ChArUco board of COLSxROWS squares has
// (COLS-1)x(ROWS-1) inner corners, numbered row by row as cv::aruco::CharucoBoard numbers them; a
// chessboard spec gives its inner corners directly (as cv::findChessboardCorners counts them).
#pragma once

#include <string>
#include <vector>

#include <opencv2/aruco/charuco.hpp>
#include <opencv2/core.hpp>

#include "util/result.h"

namespace twinrig::calibration {

struct BoardSpec {
  enum class Kind { kCharuco, kChessboard };
  Kind kind = Kind::kCharuco;
  int cols = 5;  // ChArUco: squares across; chessboard: inner corners across
  int rows = 7;  // ChArUco: squares down; chessboard: inner corners down
  double square_m = 0.04;
  double marker_m = 0.02;  // ChArUco only
  std::string dictionary = "DICT_6X6_250";

  [[nodiscard]] std::string ToString() const;  // the spec text, parseable again
  [[nodiscard]] int CornerCount() const;
  // Inner corners in the board frame (metres), indexed by corner id.
  [[nodiscard]] std::vector<cv::Point3f> Corners() const;
  // Size of the printed pattern (squares only), metres.
  [[nodiscard]] cv::Size2d PatternSize() const;
};

// Parses a board spec; the error says what is wrong and shows the form.
Result<BoardSpec> ParseBoardSpec(const std::string& text);

// The OpenCV ChArUco board of a ChArUco spec (errors for a chessboard spec or a dictionary too
// small for the board).
Result<cv::Ptr<cv::aruco::CharucoBoard>> MakeCharuco(const BoardSpec& spec);

// A printable image of the board at true scale: `dpi` dots per inch with a white margin of one
// square; printed at 100 % the squares measure square_m. 8-bit grey.
Result<cv::Mat> DrawBoard(const BoardSpec& spec, int dpi);
// Writes DrawBoard as PNG with its DPI (pHYs) so that printers scale it correctly.
Status WriteBoardPng(const BoardSpec& spec, int dpi, const std::string& path);

// The corners found in one image.
struct Detection {
  std::vector<int> ids;             // corner ids (index into BoardSpec::Corners())
  std::vector<cv::Point2f> points;  // pixel positions, refined to sub-pixel
  std::vector<int> marker_ids;      // ChArUco: markers found (after refinement)
  std::vector<std::vector<cv::Point2f>> marker_corners;
};

struct DetectOptions {
  int min_corners = 6;  // fewer than this: the board counts as not seen
  // cornerSubPix's window reaches a share of the way to the neighbouring corners (board.cc says
  // why), never more than this half-size, pixels.
  int max_subpix_window = 20;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

// Finds the board's corners in an 8-bit grey or BGR image. ChArUco: ArUco markers,
// refineDetectedMarkers to recover markers the first pass missed, corners interpolated from the
// markers. Chessboard: findChessboardCorners. Then every corner is refined with cornerSubPix in a
// window sized to its neighbours' distance in the image (a fixed window takes in the neighbouring
// squares or markers of a small or oblique board). An empty Detection (no error) when the board is
// not seen or has fewer than min_corners corners.
Detection DetectBoard(const BoardSpec& spec, const cv::Mat& image,
                      const DetectOptions& options = {});

}  // namespace twinrig::calibration
