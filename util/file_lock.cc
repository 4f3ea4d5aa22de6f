#include "util/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "util/logging.h"

namespace twinrig {

Result<FileLock> FileLock::TryLock(const std::filesystem::path& path, const std::string& holder) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeError(std::string("cannot open the lock file: ") + std::strerror(errno),
                     path.string(), "check the folder's permissions");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char text[256] = {};
    const ssize_t n = ::pread(fd, text, sizeof(text) - 1, 0);
    ::close(fd);
    if (error != EWOULDBLOCK) {
      return MakeError(std::string("cannot lock: ") + std::strerror(error), path.string(), "");
    }
    const std::string who = n > 0 ? std::string(text, static_cast<size_t>(n)) : "another process";
    return MakeError("in use by " + who, path.string(),
                     "wait until it has finished, then run this again");
  }
  const std::string line = holder + " (pid " + std::to_string(::getpid()) + ")";
  const bool described = ::ftruncate(fd, 0) == 0 && ::pwrite(fd, line.data(), line.size(), 0) ==
                                                        static_cast<ssize_t>(line.size());
  if (!described) {
    // The lock holds all the same; only others' message about who holds it is poorer.
    Log()
        .With("lock", path.string())
        .Warn("cannot write who holds the lock: {}", std::strerror(errno));
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace twinrig
