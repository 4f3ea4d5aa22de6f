// An advisory, exclusive lock on a file (flock), held while the FileLock lives. Two processes, or
// two openings in one process, that lock the same file exclude each other; the kernel drops the
// lock when its holder dies, so a crash leaves nothing stale. The file holds the holder's
// description, so that whoever is refused is told who holds it.
#pragma once

#include <filesystem>
#include <string>

#include "util/result.h"

namespace twinrig {

class FileLock {
 public:
  // Locks `path` (created when missing) without waiting; `holder` says who ("twinrig vault
  // close"), the process id is added. An Error when someone else holds it, naming them.
  static Result<FileLock> TryLock(const std::filesystem::path& path, const std::string& holder);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace twinrig
