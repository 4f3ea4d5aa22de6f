#include "calibration/calibrate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <opencv2/imgcodecs.hpp>

#include "calibration/report.h"
#include "util/check.h"
#include "util/options.h"

namespace twinrig::calibration {
namespace {

bool IsImage(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".tif" || ext == ".tiff";
}

std::vector<std::filesystem::path> ImagesIn(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec) && IsImage(entry.path())) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

Result<std::vector<CameraImages>> ListImageFolders(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return MakeError("no image folder here", dir.string(),
                     "give a folder with one sub-folder of images per camera, or one camera's "
                     "images");
  }
  std::vector<CameraImages> cameras;
  std::vector<std::filesystem::path> subfolders;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_directory(ec)) subfolders.push_back(entry.path());
  }
  std::sort(subfolders.begin(), subfolders.end());
  for (const auto& sub : subfolders) {
    auto files = ImagesIn(sub);
    if (!files.empty()) cameras.push_back({sub.filename().string(), std::move(files)});
  }
  const auto top = ImagesIn(dir);
  if (!cameras.empty() && !top.empty()) {
    return MakeError("the folder holds both images and camera folders", dir.string(),
                     "put each camera's images in a folder named by its serial, or give one "
                     "camera's folder");
  }
  if (cameras.empty()) {
    if (top.empty()) {
      return MakeError("no images (.jpg, .png, .tif) in the folder or its sub-folders",
                       dir.string(), "give the folder the board images were saved to");
    }
    std::filesystem::path name = dir;
    if (name.filename().empty()) name = name.parent_path();
    cameras.push_back({name.filename().string(), top});
  }
  return cameras;
}

std::vector<std::string> DetectAllOptions::Validate() const {
  std::vector<std::string> problems = detect.Validate();
  if (threads < 1 || threads > 256) problems.push_back("threads must be 1..256");
  return problems;
}

Result<std::vector<CameraObservations>> DetectBoards(const std::vector<CameraImages>& cameras,
                                                     const BoardSpec& board,
                                                     const DetectAllOptions& options) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "detection options"));
  std::set<std::string> names;
  for (const CameraImages& cam : cameras) {
    for (const auto& f : cam.files) names.insert(f.filename().string());
  }
  const std::vector<std::string> ordered(names.begin(), names.end());
  auto pose_of = [&](const std::filesystem::path& f) {
    return static_cast<int>(
        std::lower_bound(ordered.begin(), ordered.end(), f.filename().string()) - ordered.begin());
  };

  struct Job {
    size_t camera;
    size_t file;
  };
  std::vector<Job> jobs;
  for (size_t c = 0; c < cameras.size(); ++c) {
    for (size_t f = 0; f < cameras[c].files.size(); ++f) jobs.push_back({c, f});
  }
  struct Found {
    cv::Size size;
    Detection detection;
    bool read = false;
  };
  std::vector<Found> found(jobs.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t j = next++; j < jobs.size(); j = next++) {
      const auto& path = cameras[jobs[j].camera].files[jobs[j].file];
      const cv::Mat image = cv::imread(path.string(), cv::IMREAD_GRAYSCALE);
      if (image.empty()) continue;
      found[j].read = true;
      found[j].size = image.size();
      found[j].detection = DetectBoard(board, image, options.detect);
    }
  };
  std::vector<std::thread> threads;
  const int count =
      std::min<int>(options.threads, static_cast<int>(std::max<size_t>(1, jobs.size())));
  threads.reserve(static_cast<size_t>(count));
  for (int t = 0; t < count; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();

  std::vector<CameraObservations> out(cameras.size());
  for (size_t c = 0; c < cameras.size(); ++c) {
    out[c].serial = cameras[c].serial;
    out[c].images = static_cast<int>(cameras[c].files.size());
  }
  for (size_t j = 0; j < jobs.size(); ++j) {
    const auto& path = cameras[jobs[j].camera].files[jobs[j].file];
    CameraObservations& cam = out[jobs[j].camera];
    if (!found[j].read) {
      return MakeError("camera " + cam.serial + ": the image cannot be read", path.string(),
                       "check the file (copy it again from the camera), or remove it");
    }
    if (cam.width == 0) {
      cam.width = found[j].size.width;
      cam.height = found[j].size.height;
    } else if (cam.width != found[j].size.width || cam.height != found[j].size.height) {
      return MakeError("camera " + cam.serial + ": images of different sizes (" +
                           std::to_string(cam.width) + "x" + std::to_string(cam.height) + " and " +
                           std::to_string(found[j].size.width) + "x" +
                           std::to_string(found[j].size.height) + ")",
                       path.string(), "keep the camera at one image size for all board images");
    }
    if (found[j].detection.ids.empty()) continue;
    cam.views.push_back({pose_of(path), found[j].detection.ids, found[j].detection.points,
                         path.filename().string()});
  }
  return out;
}

Result<int> SolveColour(const std::vector<CameraImages>& cameras,
                        const std::vector<CameraObservations>& observations, RigSolution& solution,
                        int threads) {
  TWINRIG_CHECK_EQ(cameras.size(), observations.size());
  TWINRIG_CHECK_EQ(cameras.size(), solution.cameras.size());
  std::vector<std::optional<Patches>> found(cameras.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t c = next++; c < cameras.size(); c = next++) {
      std::set<std::string> with_board;
      for (const auto& v : observations[c].views) with_board.insert(v.source);
      for (const auto& file : cameras[c].files) {
        if (with_board.count(file.filename().string()) != 0) continue;
        const cv::Mat image = cv::imread(file.string(), cv::IMREAD_COLOR);
        if (image.empty()) continue;
        auto patches = MeasureColorChecker(image, file.string());
        if (patches.ok()) {
          found[c] = *patches;
          break;
        }
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  std::vector<Patches> seen;
  std::vector<size_t> which;
  for (size_t c = 0; c < cameras.size(); ++c) {
    if (found[c]) {
      seen.push_back(*found[c]);
      which.push_back(c);
    }
  }
  if (seen.size() < 2) return 0;
  auto corrections = SolveColourAgreement(seen);
  if (!corrections.ok()) return corrections.error();
  for (size_t i = 0; i < which.size(); ++i) {
    solution.cameras[which[i]].colour = (*corrections)[i];
  }
  for (size_t c = 0; c < cameras.size(); ++c) {
    if (found[c]) continue;
    auto& note = solution.notes[c];
    note += (note.empty() ? "" : "; ") + std::string("no ColorChecker seen: no colour correction");
  }
  return static_cast<int>(which.size());
}

std::pair<std::string, std::string> NewCalibrationId() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char id[32];
  char iso[32];
  std::strftime(id, sizeof(id), "C-%Y%m%d-%H%M%S", &utc);
  std::strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {id, iso};
}

Result<RigCalibration> WriteCalibration(const std::filesystem::path& root, const std::string& rig,
                                        const BoardSpec& board, const RigSolution& solution) {
  RigCalibration calibration;
  auto [id, iso] = NewCalibrationId();
  // Two calibrations in the same second get distinct ids.
  std::error_code ec;
  std::string unique = id;
  for (int n = 2; std::filesystem::exists(root / unique, ec) && n < 100; ++n) {
    unique = id + "-" + std::to_string(n);
  }
  calibration.id = unique;
  calibration.rig = rig;
  calibration.created_at = iso;
  calibration.board = board.ToString();
  calibration.cameras = solution.cameras;
  calibration.uncalibrated = solution.uncalibrated;
  const auto folder = root / calibration.id;
  TWINRIG_RETURN_IF_ERROR(WriteRigCalibration(calibration, folder / "calibration.json"));
  TWINRIG_RETURN_IF_ERROR(WriteColmapTextModel(calibration, folder / "colmap",
                                               [](const std::string& s) { return s + ".jpg"; }));
  TWINRIG_RETURN_IF_ERROR(WriteReport(calibration, solution, folder / "report"));
  return calibration;
}

}  // namespace twinrig::calibration
