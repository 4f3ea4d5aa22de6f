#include "host/camera/gphoto_camera.h"

#include <fcntl.h>
#include <gphoto2/gphoto2.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "util/files.h"

namespace twinrig::camera {
namespace {

Camera* AsCamera(void* p) { return static_cast<Camera*>(p); }
GPContext* AsContext(void* p) { return static_cast<GPContext*>(p); }

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r");
  size_t b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// Collects leaf widgets with a value into `out`.
void CollectWidgets(CameraWidget* widget, std::map<std::string, std::string>& out) {
  CameraWidgetType type;
  gp_widget_get_type(widget, &type);
  const char* name = nullptr;
  gp_widget_get_name(widget, &name);
  switch (type) {
    case GP_WIDGET_WINDOW:
    case GP_WIDGET_SECTION: {
      int n = gp_widget_count_children(widget);
      for (int i = 0; i < n; ++i) {
        CameraWidget* child = nullptr;
        if (gp_widget_get_child(widget, i, &child) == GP_OK) CollectWidgets(child, out);
      }
      return;
    }
    case GP_WIDGET_TEXT:
    case GP_WIDGET_RADIO:
    case GP_WIDGET_MENU: {
      const char* value = nullptr;
      if (gp_widget_get_value(widget, &value) == GP_OK && value != nullptr && name != nullptr) {
        out[name] = value;
      }
      return;
    }
    case GP_WIDGET_RANGE: {
      float value = 0;
      if (gp_widget_get_value(widget, &value) == GP_OK && name != nullptr) {
        std::ostringstream s;
        s << value;
        out[name] = s.str();
      }
      return;
    }
    case GP_WIDGET_TOGGLE: {
      int value = 0;
      if (gp_widget_get_value(widget, &value) == GP_OK && name != nullptr) {
        out[name] = std::to_string(value);
      }
      return;
    }
    default:
      return;
  }
}

// Port-level failures (and libgphoto2's generic error, which ptp2 returns for a broken stream)
// leave the handle unusable: the next request must reopen the camera.
bool IsConnectionFailure(int code) {
  return code == GP_ERROR || code == GP_ERROR_IO || code == GP_ERROR_TIMEOUT ||
         (code <= GP_ERROR_IO_SUPPORTED_SERIAL && code >= GP_ERROR_HAL);
}

// libgphoto2's gp_abilities_list_load opens every camera driver and lists its models: about 0.9 s
// of CPU per process, which made connecting a rig of 24 cameras take over 10 s on two cores. A
// PTP/IP camera only ever needs the ptp2 driver, so its worker loads that one alone (0.13 s) from a
// folder that holds just a link to it. USB cameras may need any driver: they get the full list.
void LoadAbilities(CameraAbilitiesList* abilities, GPContext* context, bool ptpip) {
  if (ptpip) {
    const char* env = std::getenv("CAMLIBS");
    const std::filesystem::path drivers = env != nullptr && *env != '\0'
                                              ? std::filesystem::path(env)
                                              : std::filesystem::path(TWINRIG_GPHOTO_CAMLIBS);
    const char* home = std::getenv("HOME");
    std::error_code ec;
    if (home != nullptr && *home != '\0' && std::filesystem::exists(drivers / "ptp2.so", ec)) {
      const std::filesystem::path folder = std::filesystem::path(home) / ".twinrig-ptp2-driver";
      const std::filesystem::path link = folder / "ptp2.so";
      std::filesystem::create_directories(folder, ec);
      if (std::filesystem::read_symlink(link, ec) != drivers / "ptp2.so") {
        // Workers start together: each makes its own link and renames it into place.
        const std::filesystem::path mine = folder / ("ptp2.so.tmp-" + std::to_string(::getpid()));
        std::filesystem::remove(mine, ec);
        std::filesystem::create_symlink(drivers / "ptp2.so", mine, ec);
        if (!ec) std::filesystem::rename(mine, link, ec);
      }
      if (gp_abilities_list_load_dir(abilities, folder.c_str(), context) >= GP_OK &&
          gp_abilities_list_lookup_model(abilities, "PTP/IP Camera") >= 0) {
        return;
      }
      gp_abilities_list_reset(abilities);
    }
  }
  gp_abilities_list_load(abilities, context);
}

// Free bytes for an unprivileged writer on the filesystem of `path`; -1 when unknown.
long long FreeBytes(const std::filesystem::path& path) {
  struct statvfs fs {};
  if (::statvfs(path.c_str(), &fs) != 0) return -1;
  return static_cast<long long>(fs.f_bavail) * static_cast<long long>(fs.f_frsize);
}

}  // namespace

CameraIdentity ParseSummary(const std::string& summary) {
  CameraIdentity id;
  std::istringstream in(summary);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = Trim(line.substr(0, colon));
    std::string value = Trim(line.substr(colon + 1));
    if (key == "Serial Number" && id.serial.empty()) id.serial = value;
    if (key == "Manufacturer" && id.manufacturer.empty()) id.manufacturer = value;
    if (key == "Model" && id.model.empty()) id.model = value;
    if (key == "Version" && id.firmware.empty()) id.firmware = value;
  }
  return id;
}

Error GphotoCamera::GpError(int code, const std::string& doing) {
  last_failure_ = IsConnectionFailure(code) ? FailureKind::kConnection : FailureKind::kCamera;
  std::string todo = "check the camera's cable or network link and that it is switched on";
  if (code == GP_ERROR_CAMERA_BUSY) todo = "the camera is busy: wait for it, then retry";
  if (code == GP_ERROR_NO_SPACE) todo = "the card is full: free space or change the card";
  return MakeError(
      doing + " failed: " + gp_result_as_string(code) + " (" + std::to_string(code) + ")", port_,
      todo);
}

Result<std::unique_ptr<GphotoCamera>> GphotoCamera::Open(const std::string& port) {
  GPContext* context = gp_context_new();
  Camera* camera = nullptr;
  gp_camera_new(&camera);
  auto fail = [&](int code, const std::string& doing) -> Error {
    gp_camera_unref(camera);
    gp_context_unref(context);
    // libgphoto2 says "Unspecified error" for a camera that answered but refused or dropped the
    // session: name what happened at this port, not the library's code.
    std::string what = doing + " at " + port + ": " + gp_result_as_string(code);
    std::string todo = "check that the camera at " + port + " is on and reachable";
    if (code == GP_ERROR || code == GP_ERROR_IO || code == GP_ERROR_IO_READ ||
        code == GP_ERROR_IO_WRITE || code == GP_ERROR_TIMEOUT) {
      what = doing + ": the camera at " + port +
             " refused the session or dropped the connection (" + gp_result_as_string(code) + ")";
      todo = "check that no other program holds the camera at " + port +
             " (one PTP/IP session at a time), then power-cycle it if it keeps refusing";
    }
    return MakeError(what, port, todo);
  };

  CameraAbilitiesList* abilities = nullptr;
  gp_abilities_list_new(&abilities);
  LoadAbilities(abilities, context, port.rfind("ptpip:", 0) == 0);
  CameraAbilities ability;
  int index = -1;
  if (port.rfind("ptpip:", 0) == 0) {
    index = gp_abilities_list_lookup_model(abilities, "PTP/IP Camera");
  } else {
    // A USB camera: let libgphoto2 pick the model on this port.
    CameraList* list = nullptr;
    gp_list_new(&list);
    gp_abilities_list_detect(abilities, nullptr, list, context);
    int n = gp_list_count(list);
    for (int i = 0; i < n; ++i) {
      const char* name = nullptr;
      const char* value = nullptr;
      gp_list_get_name(list, i, &name);
      gp_list_get_value(list, i, &value);
      if (value != nullptr && port == value)
        index = gp_abilities_list_lookup_model(abilities, name);
    }
    gp_list_free(list);
  }
  if (index < 0) {
    gp_abilities_list_free(abilities);
    return fail(GP_ERROR_MODEL_NOT_FOUND, "no camera model for this port");
  }
  gp_abilities_list_get_abilities(abilities, index, &ability);
  gp_abilities_list_free(abilities);
  gp_camera_set_abilities(camera, ability);

  GPPortInfoList* ports = nullptr;
  gp_port_info_list_new(&ports);
  gp_port_info_list_load(ports);
  int port_index = gp_port_info_list_lookup_path(ports, port.c_str());
  if (port_index < 0) {
    gp_port_info_list_free(ports);
    return fail(port_index, "unknown port");
  }
  GPPortInfo info;
  gp_port_info_list_get_info(ports, port_index, &info);
  gp_camera_set_port_info(camera, info);
  gp_port_info_list_free(ports);

  int rc = gp_camera_init(camera, context);
  if (rc != GP_OK) return fail(rc, "could not connect");
  return std::unique_ptr<GphotoCamera>(new GphotoCamera(camera, context, port));
}

GphotoCamera::~GphotoCamera() {
  gp_camera_exit(AsCamera(camera_), AsContext(context_));
  gp_camera_unref(AsCamera(camera_));
  gp_context_unref(AsContext(context_));
}

std::string GphotoCamera::StatusText(const char* name) {
  CameraWidget* widget = nullptr;
  if (gp_camera_get_single_config(AsCamera(camera_), name, &widget, AsContext(context_)) != GP_OK) {
    return {};
  }
  const char* value = nullptr;
  std::string text;
  if (gp_widget_get_value(widget, &value) == GP_OK && value != nullptr) text = Trim(value);
  gp_widget_free(widget);
  return text;
}

Result<CameraIdentity> GphotoCamera::Identify() {
  // The status settings come from the DeviceInfo libgphoto2 read when it connected: no round trip.
  // The summary (a fallback for drivers without them) asks the camera for every property, which
  // is 60-100 ms per camera.
  CameraIdentity id;
  id.serial = StatusText("serialnumber");
  if (!id.serial.empty()) {
    id.manufacturer = StatusText("manufacturer");
    id.model = StatusText("cameramodel");
    id.firmware = StatusText("deviceversion");
  } else {
    CameraText text;
    int rc = gp_camera_get_summary(AsCamera(camera_), &text, AsContext(context_));
    if (rc != GP_OK) return GpError(rc, "reading the summary");
    id = ParseSummary(text.text);
  }
  id.port = port_;
  if (id.serial.empty()) {
    return MakeError("the camera reports no serial number", port_,
                     "twinrig identifies cameras by serial number; set one on the camera");
  }
  return id;
}

Result<std::map<std::string, std::string>> GphotoCamera::ReadSettings() {
  CameraWidget* root = nullptr;
  int rc = gp_camera_get_config(AsCamera(camera_), &root, AsContext(context_));
  if (rc != GP_OK) return GpError(rc, "reading the settings");
  std::map<std::string, std::string> out;
  CollectWidgets(root, out);
  gp_widget_free(root);
  return out;
}

Status GphotoCamera::ApplySetting(const std::string& name, const std::string& value) {
  CameraWidget* widget = nullptr;
  int rc =
      gp_camera_get_single_config(AsCamera(camera_), name.c_str(), &widget, AsContext(context_));
  if (rc != GP_OK) return GpError(rc, "reading setting " + name);
  CameraWidgetType type;
  gp_widget_get_type(widget, &type);
  if (type == GP_WIDGET_RADIO || type == GP_WIDGET_MENU) {
    bool allowed = false;
    int n = gp_widget_count_choices(widget);
    for (int i = 0; i < n; ++i) {
      const char* choice = nullptr;
      if (gp_widget_get_choice(widget, i, &choice) == GP_OK && choice != nullptr &&
          value == choice) {
        allowed = true;
      }
    }
    if (!allowed) {
      gp_widget_free(widget);
      return MakeError("the camera does not offer " + name + " = " + value, port_,
                       "choose a value the camera lists (twinrig settings shows them)");
    }
    rc = gp_widget_set_value(widget, value.c_str());
  } else if (type == GP_WIDGET_TEXT) {
    rc = gp_widget_set_value(widget, value.c_str());
  } else if (type == GP_WIDGET_RANGE) {
    float f = std::stof(value);
    rc = gp_widget_set_value(widget, &f);
  } else if (type == GP_WIDGET_TOGGLE) {
    int t = std::stoi(value);
    rc = gp_widget_set_value(widget, &t);
  }
  if (rc == GP_OK)
    rc = gp_camera_set_single_config(AsCamera(camera_), name.c_str(), widget, AsContext(context_));
  gp_widget_free(widget);
  if (rc != GP_OK) return GpError(rc, "setting " + name + " = " + value);
  return OkStatus();
}

Result<StorageState> GphotoCamera::Storage() {
  CameraStorageInformation* info = nullptr;
  int count = 0;
  int rc = gp_camera_get_storageinfo(AsCamera(camera_), &info, &count, AsContext(context_));
  if (rc != GP_OK) return GpError(rc, "reading the storage");
  StorageState state;
  for (int i = 0; i < count; ++i) {
    state.capacity_kb += info[i].capacitykbytes;
    state.free_kb += info[i].freekbytes;
  }
  free(info);  // NOLINT(cppcoreguidelines-no-malloc): allocated by libgphoto2 with malloc
  return state;
}

Result<FileRef> GphotoCamera::Capture() {
  // gp_camera_capture would wait for the new file in libgphoto2's busy event poll (see
  // WaitForFiles): a rig of cameras fired at once in software then keeps the station's cores busy
  // polling, and the transfers that follow time out. So: trigger, then wait gently.
  auto stale = WaitForFiles(0);  // events from before the trigger belong to no frame of this one
  if (!stale.ok()) return stale.error();
  int rc = gp_camera_trigger_capture(AsCamera(camera_), AsContext(context_));
  if (rc != GP_OK) return GpError(rc, "capture");
  // The supervisor's capture deadline is the bound that counts; this one only ends the wait.
  constexpr int kNewFileWaitMs = 10 * 60 * 1000;
  auto files = WaitForFiles(kNewFileWaitMs);
  if (!files.ok()) return files.error();
  if (files->empty()) {
    return MakeError("the camera was triggered but no new image appeared", port_,
                     "check that the camera is not in a menu and has a card");
  }
  return files->front();
}

Result<std::vector<FileRef>> GphotoCamera::WaitForFiles(int timeout_ms) {
  // libgphoto2's own wait (ptp2 over PTP/IP) polls the event channel with sub-millisecond sleeps:
  // thousands of wake-ups a second per camera, which on a rig of many cameras starves the very
  // machine that must answer them. Events queue up in the camera's channel until read, so short
  // checks with a pause between them lose nothing and cost a pause's latency at most.
  constexpr int kPollPauseMs = 20;
  std::vector<FileRef> files;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    // Drain whatever is queued (bounded), without waiting.
    for (int i = 0; i < 64; ++i) {
      CameraEventType type;
      void* data = nullptr;
      int rc = gp_camera_wait_for_event(AsCamera(camera_), 1, &type, &data, AsContext(context_));
      if (rc != GP_OK) {
        free(data);  // NOLINT(cppcoreguidelines-no-malloc)
        return GpError(rc, "waiting for camera events");
      }
      if (type == GP_EVENT_FILE_ADDED && data != nullptr) {
        auto* path = static_cast<CameraFilePath*>(data);
        files.push_back({path->folder, path->name});
      }
      free(data);  // NOLINT(cppcoreguidelines-no-malloc)
      if (type == GP_EVENT_TIMEOUT) break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!files.empty() || left.count() <= 0) return files;
    std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(kPollPauseMs)));
  }
}

Result<Downloaded> GphotoCamera::Download(const FileRef& file,
                                          const std::filesystem::path& destination) {
  std::filesystem::path part = destination;
  part += ".part";
  const std::string where = destination.string();
  auto disk_full = [&](const std::string& what) -> Error {
    last_failure_ = FailureKind::kDiskFull;
    return MakeError(what, where,
                     "the station's disk is full: free space on it, then run "
                     "`twinrig capture --resume` (the frame stays on the camera)");
  };
  // The size first (ptp2 has the object info cached since the capture event): reserving the whole
  // file up front turns a full disk into a clean refusal instead of a transfer cut in the middle.
  CameraFileInfo info{};
  std::uint64_t expected = 0;
  if (gp_camera_file_get_info(AsCamera(camera_), file.folder.c_str(), file.name.c_str(), &info,
                              AsContext(context_)) == GP_OK &&
      (info.file.fields & GP_FILE_INFO_SIZE) != 0) {
    expected = info.file.size;
  }
  int fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == ENOSPC || errno == EDQUOT) {
      return disk_full("no room to create " + part.filename().string());
    }
    last_failure_ = FailureKind::kCamera;
    return MakeError(std::string("could not create the download file: ") + std::strerror(errno),
                     part.string(), "check the session folder exists and is writable");
  }
  if (expected > 0) {
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(expected));
    if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG) {
      ::close(fd);
      std::error_code ec;
      std::filesystem::remove(part, ec);
      return disk_full("no room for " + destination.filename().string() + " (" +
                       std::to_string(expected) + " bytes)");
    }
    // Other errors (a filesystem without fallocate): write without the reservation.
  }
  // libgphoto2 closes the descriptor it is given when the CameraFile goes: give it a duplicate and
  // keep ours for the size check and the fsync. It appends every chunk it receives straight to the
  // file (no copy of the whole image in memory).
  CameraFile* camera_file = nullptr;
  gp_file_new_from_fd(&camera_file, ::dup(fd));
  int rc = gp_camera_file_get(AsCamera(camera_), file.folder.c_str(), file.name.c_str(),
                              GP_FILE_TYPE_NORMAL, camera_file, AsContext(context_));
  gp_file_unref(camera_file);
  const int write_errno = errno;
  // The reservation may leave the file longer than what arrived (a size that changed): cut it to
  // what was written.
  off_t written = ::lseek(fd, 0, SEEK_CUR);
  bool synced = false;
  int sync_errno = 0;
  if (rc == GP_OK) {
    if (written >= 0 && ::ftruncate(fd, written) != 0) sync_errno = errno;
    synced = sync_errno == 0 && ::fsync(fd) == 0;
    if (!synced && sync_errno == 0) sync_errno = errno;
  }
  ::close(fd);
  if (rc != GP_OK || !synced) {
    std::error_code ec;
    std::filesystem::remove(part, ec);
    const long long free_bytes = FreeBytes(destination.parent_path());
    const bool no_room = write_errno == ENOSPC || sync_errno == ENOSPC ||
                         (free_bytes >= 0 && free_bytes < (1LL << 20));
    if (no_room) {
      // The transfer was cut mid-stream: the camera's link is in an unknown state as well.
      Error error =
          disk_full("the disk filled up while writing " + destination.filename().string());
      if (rc != GP_OK) last_failure_ = FailureKind::kDiskFull;
      return error;
    }
    if (rc != GP_OK) return GpError(rc, "downloading " + file.folder + "/" + file.name);
    last_failure_ = FailureKind::kCamera;
    return MakeError(
        std::string("could not flush the download to disk: ") + std::strerror(sync_errno),
        part.string(), "check the disk, then retry the download");
  }
  auto hash = Sha256File(part);
  if (!hash.ok()) return hash.error();
  std::error_code ec;
  Downloaded out{destination, std::filesystem::file_size(part, ec), *hash, expected};
  std::filesystem::rename(part, destination, ec);
  if (ec) return MakeError("could not rename the download: " + ec.message(), destination.string());
  return out;
}

Status GphotoCamera::CompareRanges(
    const FileRef& file, const std::filesystem::path& local,
    const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
  std::ifstream in(local, std::ios::binary);
  if (!in) {
    last_failure_ = FailureKind::kCamera;
    return MakeError("cannot read the downloaded frame", local.string(), "check the disk");
  }
  constexpr std::uint64_t kPiece = 1U << 20;
  std::vector<char> from_camera(kPiece);
  std::vector<char> on_disk(kPiece);
  for (const auto& [offset, length] : ranges) {
    for (std::uint64_t done = 0; done < length;) {
      std::uint64_t want = std::min(kPiece, length - done);
      std::uint64_t got = want;
      int rc = gp_camera_file_read(AsCamera(camera_), file.folder.c_str(), file.name.c_str(),
                                   GP_FILE_TYPE_NORMAL, offset + done, from_camera.data(), &got,
                                   AsContext(context_));
      if (rc != GP_OK) return GpError(rc, "reading " + file.name + " a second time");
      if (got == 0) break;
      in.seekg(static_cast<std::streamoff>(offset + done));
      in.read(on_disk.data(), static_cast<std::streamsize>(got));
      if (static_cast<std::uint64_t>(in.gcount()) != got ||
          std::memcmp(on_disk.data(), from_camera.data(), got) != 0) {
        last_failure_ = FailureKind::kCamera;
        return MakeError(
            "the transfer was corrupted: a second read of bytes " + std::to_string(offset + done) +
                ".." + std::to_string(offset + done + got) + " differs",
            local.string(),
            "twinrig downloads it again; the camera keeps its copy until one is whole");
      }
      done += got;
    }
  }
  return OkStatus();
}

Status GphotoCamera::Delete(const FileRef& file) {
  int rc = gp_camera_file_delete(AsCamera(camera_), file.folder.c_str(), file.name.c_str(),
                                 AsContext(context_));
  if (rc != GP_OK) return GpError(rc, "deleting " + file.folder + "/" + file.name);
  return OkStatus();
}

Result<std::vector<FileRef>> GphotoCamera::ListFiles() {
  std::vector<FileRef> files;
  std::vector<std::string> folders = {"/"};
  // Bounded walk: a card has a handful of folders; stop at 4096 to never loop on a broken camera.
  for (size_t i = 0; i < folders.size() && i < 4096; ++i) {
    const std::string folder = folders[i];
    CameraList* list = nullptr;
    gp_list_new(&list);
    int rc =
        gp_camera_folder_list_files(AsCamera(camera_), folder.c_str(), list, AsContext(context_));
    if (rc == GP_OK) {
      for (int k = 0; k < gp_list_count(list); ++k) {
        const char* name = nullptr;
        gp_list_get_name(list, k, &name);
        if (name == nullptr) continue;
        FileRef file{folder, name};
        // The object info ptp2 read with the handle list: no extra round trip.
        CameraFileInfo info{};
        if (gp_camera_file_get_info(AsCamera(camera_), folder.c_str(), name, &info,
                                    AsContext(context_)) == GP_OK) {
          if ((info.file.fields & GP_FILE_INFO_SIZE) != 0) file.size = info.file.size;
          if ((info.file.fields & GP_FILE_INFO_MTIME) != 0) file.captured = info.file.mtime;
        }
        files.push_back(std::move(file));
      }
    }
    gp_list_reset(list);
    if (rc == GP_OK) {
      rc = gp_camera_folder_list_folders(AsCamera(camera_), folder.c_str(), list,
                                         AsContext(context_));
    }
    if (rc == GP_OK) {
      for (int k = 0; k < gp_list_count(list); ++k) {
        const char* name = nullptr;
        gp_list_get_name(list, k, &name);
        if (name != nullptr) folders.push_back((folder == "/" ? "" : folder) + "/" + name);
      }
    }
    gp_list_free(list);
    if (rc != GP_OK) return GpError(rc, "listing " + folder);
  }
  return files;
}

Result<int> GphotoCamera::BatteryPercent() {
  const std::string text = StatusText("batterylevel");  // "3%" (ptp2's BatteryLevel property)
  int percent = -1;
  if (!text.empty()) {
    try {
      percent = std::stoi(text);
    } catch (const std::exception&) {
      percent = -1;
    }
  }
  if (percent < 0 || percent > 100) {
    return MakeError("the camera reports no battery level", port_, "check the battery by eye");
  }
  return percent;
}

Result<std::vector<std::string>> AutodetectUsb() {
  GPContext* context = gp_context_new();
  CameraList* list = nullptr;
  gp_list_new(&list);
  int rc = gp_camera_autodetect(list, context);
  std::vector<std::string> ports;
  if (rc >= GP_OK) {
    int n = gp_list_count(list);
    for (int i = 0; i < n; ++i) {
      const char* value = nullptr;
      gp_list_get_value(list, i, &value);
      if (value != nullptr && std::string(value).rfind("usb:", 0) == 0) ports.emplace_back(value);
    }
  }
  gp_list_free(list);
  gp_context_unref(context);
  if (rc < GP_OK)
    return MakeError(std::string("USB autodetect failed: ") + gp_result_as_string(rc), "usb");
  return ports;
}

}  // namespace twinrig::camera
