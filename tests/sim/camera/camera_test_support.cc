#include "tests/sim/camera/camera_test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <filesystem>

#include "sim/camera/synthetic_jpeg.h"

namespace twinrig::sim::camera::testing {
namespace {

// libgphoto2 loads its abilities and port lists through libltdl, which is not thread-safe: load
// them once, and open cameras one at a time (captures then run in parallel).
std::mutex& LibraryMutex() {
  static std::mutex mutex;
  return mutex;
}

struct Lists {
  CameraAbilitiesList* abilities = nullptr;
  GPPortInfoList* ports = nullptr;
};

Lists& LoadedLists() {
  static Lists lists = [] {
    Lists l;
    gp_abilities_list_new(&l.abilities);
    // Only the PTP driver: loading every camlib runs module constructors that leak (reported by
    // LeakSanitizer) and costs time for nothing.
    static const std::filesystem::path camlibs =
        std::filesystem::temp_directory_path() / ("twinrig-camlibs-" + std::to_string(::getpid()));
    std::filesystem::create_directories(camlibs);
    std::error_code ignored;
    std::filesystem::create_symlink(std::filesystem::path(TWINRIG_GPHOTO2_CAMLIBS) / "ptp2.so",
                                    camlibs / "ptp2.so", ignored);
    gp_abilities_list_load_dir(l.abilities, camlibs.c_str(), nullptr);
    // The driver is opened again from there at each gp_camera_init: remove the folder at exit.
    std::atexit([] {
      std::error_code e;
      std::filesystem::remove_all(camlibs, e);
    });
    gp_port_info_list_new(&l.ports);
    gp_port_info_list_load(l.ports);
    return l;
  }();
  return lists;
}

Error GpError(const std::string& what, int code) {
  return MakeError(what + ": " + gp_result_as_string(code) + " (" + std::to_string(code) + ")",
                   "libgphoto2", "see the camera farm log");
}

}  // namespace

GphotoCamera::~GphotoCamera() {
  // Closing runs under the library mutex too: libgphoto2's PTP/IP teardown closes its sockets
  // more than once, and a descriptor number reused meanwhile by another thread's camera would be
  // closed under it.
  std::lock_guard lock(LibraryMutex());
  if (camera_ != nullptr) {
    gp_camera_exit(camera_, context_);
    gp_camera_unref(camera_);
  }
  if (context_ != nullptr) gp_context_unref(context_);
  // libgphoto2 2.5.30's PTP/IP disconnect also closes a descriptor it never opened (0): keep
  // descriptor 0 taken so that it can never be another camera's socket.
  if (fcntl(0, F_GETFD) == -1) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd > 0) close(fd);
  }
}

int GphotoCamera::Open(const std::string& port) {
  std::lock_guard lock(LibraryMutex());
  // libgphoto2 writes to its sockets with write(): a camera that hangs up would otherwise end the
  // whole process with SIGPIPE instead of giving an I/O error.
  std::signal(SIGPIPE, SIG_IGN);
  Lists& lists = LoadedLists();
  context_ = gp_context_new();
  int rc = gp_camera_new(&camera_);
  if (rc < GP_OK) return rc;
  CameraAbilities abilities;
  int model = gp_abilities_list_lookup_model(lists.abilities, "PTP/IP Camera");
  if (model < GP_OK) return model;
  gp_abilities_list_get_abilities(lists.abilities, model, &abilities);
  gp_camera_set_abilities(camera_, abilities);
  int index = gp_port_info_list_lookup_path(lists.ports, port.c_str());
  if (index < GP_OK) return index;
  GPPortInfo info;
  gp_port_info_list_get_info(lists.ports, index, &info);
  gp_camera_set_port_info(camera_, info);
  return gp_camera_init(camera_, context_);
}

Result<std::string> GphotoCamera::Summary() {
  CameraText text;
  int rc = gp_camera_get_summary(camera_, &text, context_);
  if (rc < GP_OK) return GpError("gp_camera_get_summary", rc);
  return std::string(text.text);
}

Result<std::vector<std::uint8_t>> GphotoCamera::Download(const std::string& folder,
                                                         const std::string& name) {
  CameraFile* file = nullptr;
  gp_file_new(&file);
  int rc = gp_camera_file_get(camera_, folder.c_str(), name.c_str(), GP_FILE_TYPE_NORMAL, file,
                              context_);
  if (rc < GP_OK) {
    gp_file_unref(file);
    return GpError("gp_camera_file_get " + folder + "/" + name, rc);
  }
  const char* data = nullptr;
  unsigned long size = 0;  // NOLINT(google-runtime-int): libgphoto2's type
  gp_file_get_data_and_size(file, &data, &size);
  std::vector<std::uint8_t> bytes(data, data + size);
  gp_file_unref(file);
  return bytes;
}

Result<std::vector<std::uint8_t>> GphotoCamera::CaptureAndDownload() {
  CameraFilePath path;
  int rc = gp_camera_capture(camera_, GP_CAPTURE_IMAGE, &path, context_);
  if (rc < GP_OK) return GpError("gp_camera_capture", rc);
  auto bytes = Download(path.folder, path.name);
  if (bytes.ok()) gp_camera_file_delete(camera_, path.folder, path.name, context_);
  return bytes;
}

SubprocessResult RunGphoto2(const std::string& home, const std::vector<std::string>& args,
                            int seconds) {
  std::vector<std::string> argv{"timeout", "-s", "KILL", std::to_string(seconds), "gphoto2"};
  argv.insert(argv.end(), args.begin(), args.end());
  SubprocessOptions options;
  options.timeout = std::chrono::seconds(seconds + 10);
  options.extra_environment = {"HOME=" + home, "LANG=C", "LC_ALL=C"};
  auto result = RunSubprocess(argv, options);
  if (!result.ok()) {
    SubprocessResult failed;
    failed.output = result.error().Describe();
    return failed;
  }
  return *result;
}

void SendEdge(const std::string& address, std::uint16_t port, const wire::LineEdge& edge) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  inet_pton(AF_INET, address.c_str(), &to.sin_addr);
  auto bytes = wire::Encode(edge);
  ::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  ::close(fd);
}

std::int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

ImageSource RecordingSource::Source() {
  return [this](const ExposureRequest& request) -> Result<std::vector<std::uint8_t>> {
    // The configured size is not in the request; tests use one size per farm.
    auto image = SyntheticJpeg(request, size_hint);
    if (image.ok()) {
      std::lock_guard lock(mutex_);
      images_[{request.serial, request.sequence}] = *image;
    }
    return image;
  };
}

std::vector<std::uint8_t> RecordingSource::Get(const std::string& serial, std::uint64_t sequence) {
  std::lock_guard lock(mutex_);
  auto it = images_.find({serial, sequence});
  return it == images_.end() ? std::vector<std::uint8_t>{} : it->second;
}

std::size_t RecordingSource::Count() {
  std::lock_guard lock(mutex_);
  return images_.size();
}

std::function<void(const ExposureRecord&)> RecordLog::Callback() {
  return [this](const ExposureRecord& record) {
    {
      std::lock_guard lock(mutex_);
      records_.push_back(record);
    }
    cv_.notify_all();
  };
}

bool RecordLog::Wait(std::size_t count, int timeout_ms) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [&] { return records_.size() >= count; });
}

std::vector<ExposureRecord> RecordLog::Records() {
  std::lock_guard lock(mutex_);
  return records_;
}

}  // namespace twinrig::sim::camera::testing
