#include "sim/studio/control_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace twinrig::sim::studio {
namespace {

Result<sockaddr_un> Address(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.string().size() >= sizeof(address.sun_path)) {
    return MakeError("the control socket path is too long for a Unix socket (" +
                         std::to_string(path.string().size()) + " characters)",
                     path.string(), "use a studio folder with a shorter path");
  }
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  return address;
}

// Reads one line (up to 1 MiB) before the deadline.
Result<std::string> ReadLine(int fd, std::chrono::steady_clock::time_point deadline) {
  std::string line;
  char c = 0;
  while (line.size() < (1U << 20)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return MakeError("timed out waiting for an answer");
    pollfd pfd{fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MakeError("the connection closed");
    if (c == '\n') return line;
    line.push_back(c);
  }
  return MakeError("the line is too long");
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

ControlServer::~ControlServer() { Stop(); }

Status ControlServer::Start(const std::filesystem::path& path, Handler handler) {
  auto address = Address(path);
  if (!address.ok()) return address.error();
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0)
    return MakeError(std::string("socket: ") + std::strerror(errno), path.string());
  ::unlink(path.c_str());
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&*address), sizeof(sockaddr_un)) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    std::string why = std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return MakeError("could not listen on the control socket: " + why, path.string(),
                     "check the studio folder is writable");
  }
  path_ = path;
  handler_ = std::move(handler);
  thread_ = std::thread([this] { Serve(); });
  return OkStatus();
}

void ControlServer::Serve() {
  while (!stopping_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto line = ReadLine(fd, std::chrono::steady_clock::now() + std::chrono::seconds(5));
    nlohmann::json answer;
    if (!line.ok()) {
      answer = {{"ok", false}, {"error", line.error().what}};
    } else {
      nlohmann::json request = nlohmann::json::parse(*line, nullptr, false);
      if (request.is_discarded() || !request.is_object()) {
        answer = {{"ok", false}, {"error", "the request is not a JSON object"}};
      } else {
        answer = handler_(request);
      }
    }
    (void)WriteAll(fd, answer.dump() + "\n");
    ::close(fd);
  }
}

void ControlServer::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    ::unlink(path_.c_str());
  }
}

Result<nlohmann::json> ControlRequest(const std::filesystem::path& path,
                                      const nlohmann::json& request, int timeout_ms) {
  auto address = Address(path);
  if (!address.ok()) return address.error();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return MakeError(std::string("socket: ") + std::strerror(errno), path.string());
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*address), sizeof(sockaddr_un)) != 0) {
    ::close(fd);
    return MakeError("no virtual studio answers", path.string(), "start one with `twinrig sim up`");
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  if (!WriteAll(fd, request.dump() + "\n")) {
    ::close(fd);
    return MakeError("could not send to the virtual studio", path.string());
  }
  auto line = ReadLine(fd, deadline);
  ::close(fd);
  if (!line.ok()) {
    return MakeError("the virtual studio did not answer: " + line.error().what, path.string(),
                     "see sim/studio.log in the studio folder");
  }
  auto answer = nlohmann::json::parse(*line, nullptr, false);
  if (answer.is_discarded()) return MakeError("the virtual studio answered garbage", path.string());
  return answer;
}

}  // namespace twinrig::sim::studio
