#include "host/camera/camera_worker.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/install_layout.h"

extern char** environ;

namespace twinrig::camera {

using nlohmann::json;

namespace {

Error ErrorFromJson(const json& error) {
  return MakeError(error.value("what", "unknown error"), error.value("where", ""),
                   error.value("todo", ""));
}

// Writes to a worker's pipe. A worker that died leaves a pipe without reader, and writing to it
// raises SIGPIPE, which would kill the whole station: the signal is blocked in this thread for the
// write, and one it raised is taken off the thread's pending set before unblocking.
bool WriteAll(int fd, const std::string& data) {
  sigset_t pipe_only;
  sigset_t old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  const bool already_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  size_t done = 0;
  bool ok = true;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (!ok && !already_pending) {
    const timespec no_wait{0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &no_wait) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return ok;
}

}  // namespace

std::vector<std::string> WorkerOptions::Validate() const {
  std::vector<std::string> problems;
  for (auto [name, d] :
       {std::pair{"connect_deadline", connect_deadline}, std::pair{"call_deadline", call_deadline},
        std::pair{"capture_deadline", capture_deadline},
        std::pair{"download_deadline", download_deadline}}) {
    if (d.count() <= 0) problems.push_back(std::string(name) + " must be positive");
  }
  return problems;
}

std::filesystem::path DefaultWorkerBinary() {
  if (const char* env = std::getenv("TWINRIG_CAMERA_WORKER"); env != nullptr && *env != '\0') {
    return env;
  }
  return HelperProgram("twinrig-camera-worker");
}

Result<std::unique_ptr<WorkerProcess>> WorkerProcess::Spawn(const WorkerOptions& options,
                                                            const std::string& label) {
  auto binary = options.worker_binary.empty() ? DefaultWorkerBinary() : options.worker_binary;
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
    return MakeError(std::string("could not create a pipe: ") + std::strerror(errno), label);
  }
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return MakeError(std::string("could not create a pipe: ") + std::strerror(errno), label);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  std::string log = options.log_file.empty() ? "/dev/null" : options.log_file.string();
  if (!options.log_file.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.log_file.parent_path(), ec);
  }
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);

  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!options.home.empty() && std::strncmp(*e, "HOME=", 5) == 0) continue;
    env_storage.emplace_back(*e);
  }
  if (!options.home.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.home, ec);
    env_storage.push_back("HOME=" + options.home.string());
  }
  std::vector<char*> env;
  env.reserve(env_storage.size() + 1);
  for (auto& e : env_storage) env.push_back(e.data());
  env.push_back(nullptr);
  std::string program = binary.string();
  char* argv[] = {program.data(), nullptr};

  pid_t pid = 0;
  int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, env.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    return MakeError("could not start the camera worker " + program + ": " + std::strerror(rc),
                     label,
                     "check the twinrig installation (twinrig-camera-worker next to twinrig)");
  }
  return std::unique_ptr<WorkerProcess>(new WorkerProcess(pid, in_pipe[1], out_pipe[0], label));
}

WorkerProcess::~WorkerProcess() {
  if (pid_ > 0) {
    // A polite quit first; a worker stuck in libgphoto2 gets SIGKILL after a short grace.
    (void)WriteAll(to_worker_, "{\"op\":\"quit\"}\n");
    for (int i = 0; i < 50; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      ::usleep(10000);
    }
  }
  Kill();
  ::close(to_worker_);
  ::close(from_worker_);
}

void WorkerProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

Result<json> WorkerProcess::Call(json request, std::chrono::milliseconds deadline) {
  const std::string op = request.value("op", "?");
  if (pid_ <= 0) return MakeError("the camera worker is not running", label_);
  const std::uint64_t id = next_id_++;
  request["id"] = id;
  last_failure_ = FailureKind::kConnection;  // until an answer says otherwise
  if (!WriteAll(to_worker_, request.dump() + "\n")) {
    Kill();
    return MakeError("the camera worker died before " + op, label_,
                     "see the worker log; twinrig restarts it on the next request");
  }
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (true) {
    auto newline = pending_.find('\n');
    if (newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      json answer = json::parse(line, nullptr, false);
      if (answer.is_discarded()) continue;
      if (answer.value("id", std::uint64_t{0}) != id) continue;  // a late answer to a killed call
      if (!answer.value("ok", false)) {
        const json error = answer.value("error", json::object());
        last_failure_ = FailureKindFromName(error.value("kind", "camera"));
        if (last_failure_ == FailureKind::kNone) last_failure_ = FailureKind::kCamera;
        return ErrorFromJson(error);
      }
      last_failure_ = FailureKind::kNone;
      return answer;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      Kill();
      return MakeError(
          "did not answer " + op + " within " +
              std::to_string(std::chrono::duration<double>(deadline).count()).substr(0, 4) +
              " s; its worker was stopped",
          label_,
          "the camera may be frozen: check it, power-cycle it if needed; twinrig "
          "reconnects on the next request");
    }
    pollfd pfd{from_worker_, POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(std::min<long>(left.count(), 200)));
    if (ready < 0 && errno != EINTR) {
      Kill();
      return MakeError("lost the pipe to the camera worker", label_);
    }
    if (ready <= 0) continue;
    char buffer[16384];
    ssize_t n = ::read(from_worker_, buffer, sizeof(buffer));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      Kill();
      return MakeError("the camera worker exited during " + op, label_,
                       "see the worker log; twinrig restarts it on the next request");
    }
    pending_.append(buffer, static_cast<size_t>(n));
  }
}

CameraClient::CameraClient(std::string port, WorkerOptions options)
    : port_(std::move(port)), options_(std::move(options)), log_(Log().With("port", port_)) {}

Status CameraClient::Open() {
  if (!worker_ || !worker_->alive()) {
    if (worker_) ++restarts_;
    worker_.reset();
    auto spawned = WorkerProcess::Spawn(options_, port_);
    if (!spawned.ok()) return spawned.error();
    worker_ = std::move(spawned).value();
    ++spawns_;
  } else {
    ++reopens_;
  }
  auto opened = worker_->Call({{"op", "open"}, {"port", port_}}, options_.connect_deadline);
  if (!opened.ok()) {
    last_failure_ = FailureKind::kConnection;
    Error error = opened.error();
    if (!identity_.serial.empty()) error.where = "camera " + identity_.serial + " (" + port_ + ")";
    return error;
  }
  std::string serial = opened->value("serial", "");
  if (!identity_.serial.empty() && serial != identity_.serial) {
    // Another camera now answers at this address: never mix their images.
    worker_->Kill();
    last_failure_ = FailureKind::kConnection;
    return MakeError("expected camera " + identity_.serial + " but camera " + serial + " answered",
                     port_, "check the rig wiring and addresses; run twinrig preflight");
  }
  identity_ = {serial, opened->value("manufacturer", ""), opened->value("model", ""),
               opened->value("firmware", ""), port_};
  log_ = Log().With("camera", identity_.serial).With("port", port_);
  needs_open_ = false;
  return OkStatus();
}

Result<json> CameraClient::Request(json request, std::chrono::milliseconds deadline) {
  if (!worker_ || !worker_->alive() || needs_open_) {
    Status opened = Open();
    if (!opened.ok()) return opened.error();
  }
  auto answer = worker_->Call(std::move(request), deadline);
  if (!answer.ok()) {
    last_failure_ = worker_->last_failure();
    // A broken link (or a transfer cut by a full disk) leaves libgphoto2's handle in an unknown
    // state: the next request opens the camera again. A killed worker is respawned anyway.
    if (last_failure_ == FailureKind::kConnection || last_failure_ == FailureKind::kDiskFull) {
      needs_open_ = true;
    }
    Error error = answer.error();
    if (!identity_.serial.empty() && last_failure_ != FailureKind::kDiskFull) {
      error.where = "camera " + identity_.serial + " (" + port_ + ")";
    }
    log_.Warn("{}", error.Describe());
    return error;
  }
  last_failure_ = FailureKind::kNone;
  return answer;
}

Result<CameraIdentity> CameraClient::Connect() {
  if (connected() && !identity_.serial.empty()) return identity_;
  Status opened = Open();
  if (!opened.ok()) return opened.error();
  return identity_;
}

Result<std::map<std::string, std::string>> CameraClient::Settings() {
  auto answer = Request({{"op", "settings"}}, options_.call_deadline);
  if (!answer.ok()) return answer.error();
  return answer->at("settings").get<std::map<std::string, std::string>>();
}

Status CameraClient::Apply(const std::string& name, const std::string& value) {
  auto answer =
      Request({{"op", "apply"}, {"name", name}, {"value", value}}, options_.call_deadline);
  if (!answer.ok()) return answer.error();
  return OkStatus();
}

Result<StorageState> CameraClient::Storage() {
  auto answer = Request({{"op", "storage"}}, options_.call_deadline);
  if (!answer.ok()) return answer.error();
  return StorageState{answer->value("capacity_kb", std::uint64_t{0}),
                      answer->value("free_kb", std::uint64_t{0})};
}

Result<FileRef> CameraClient::Capture() {
  auto answer = Request({{"op", "capture"}}, options_.capture_deadline);
  if (!answer.ok()) return answer.error();
  return FileRef{answer->value("folder", ""), answer->value("name", "")};
}

Result<std::vector<FileRef>> CameraClient::WaitForFiles(int timeout_ms) {
  auto answer = Request({{"op", "wait_files"}, {"timeout_ms", timeout_ms}},
                        options_.call_deadline + std::chrono::milliseconds(timeout_ms));
  if (!answer.ok()) return answer.error();
  std::vector<FileRef> files;
  for (const auto& f : answer->at("files")) files.push_back({f.at("folder"), f.at("name")});
  return files;
}

Result<Downloaded> CameraClient::Download(const FileRef& file,
                                          const std::filesystem::path& destination) {
  auto answer = Request({{"op", "download"},
                         {"folder", file.folder},
                         {"name", file.name},
                         {"dest", destination.string()}},
                        options_.download_deadline);
  if (!answer.ok()) return answer.error();
  return Downloaded{answer->value("path", ""), answer->value("size", std::uint64_t{0}),
                    answer->value("sha256", ""), answer->value("declared_size", std::uint64_t{0})};
}

Status CameraClient::CompareRanges(
    const FileRef& file, const std::filesystem::path& local,
    const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
  json list = json::array();
  for (const auto& [offset, length] : ranges) list.push_back({offset, length});
  auto answer = Request({{"op", "compare_ranges"},
                         {"folder", file.folder},
                         {"name", file.name},
                         {"local", local.string()},
                         {"ranges", list}},
                        options_.download_deadline);
  if (!answer.ok()) return answer.error();
  return OkStatus();
}

Status CameraClient::Delete(const FileRef& file) {
  auto answer = Request({{"op", "delete"}, {"folder", file.folder}, {"name", file.name}},
                        options_.call_deadline);
  if (!answer.ok()) return answer.error();
  return OkStatus();
}

Result<std::vector<FileRef>> CameraClient::ListFiles() {
  auto answer = Request({{"op", "list_files"}}, options_.call_deadline);
  if (!answer.ok()) return answer.error();
  std::vector<FileRef> files;
  for (const auto& f : answer->at("files")) {
    files.push_back({f.at("folder"), f.at("name"), f.value("size", std::uint64_t{0}),
                     f.value("captured", std::int64_t{0})});
  }
  return files;
}

Result<std::vector<FileRef>> CameraClient::ListFilesFresh() {
  // libgphoto2 keeps the card's object list from the session it opened, updated by events only:
  // a frame whose event was lost stays invisible to that session. A new session reads the card.
  if (connected()) needs_open_ = true;
  return ListFiles();
}

Result<int> CameraClient::BatteryPercent() {
  auto answer = Request({{"op", "battery"}}, options_.call_deadline);
  if (!answer.ok()) return answer.error();
  return answer->value("percent", -1);
}

void CameraClient::Stop() {
  worker_.reset();
  needs_open_ = true;
}

Result<std::vector<std::string>> AutodetectUsbPorts(const WorkerOptions& options) {
  auto worker = WorkerProcess::Spawn(options, "usb");
  if (!worker.ok()) return worker.error();
  auto answer = (*worker)->Call({{"op", "autodetect"}}, options.call_deadline);
  if (!answer.ok()) return answer.error();
  return answer->value("ports", std::vector<std::string>{});
}

}  // namespace twinrig::camera
