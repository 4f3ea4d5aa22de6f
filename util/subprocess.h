// Runs another program (colmap, gphoto2, a camera worker) with a deadline. libgphoto2 and COLMAP
// can hang or crash; a Subprocess that overruns is killed with SIGKILL and says so.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "util/result.h"

namespace twinrig {

struct SubprocessOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::filesystem::path working_directory;     // empty: inherit
  std::filesystem::path log_file;              // empty: keep output in memory only
  std::vector<std::string> extra_environment;  // "KEY=value" added to this process's environment
  size_t max_captured_bytes = 4 << 20;         // output beyond this is dropped from `output`
};

struct SubprocessResult {
  int exit_code = -1;      // valid when exited normally
  int signal = 0;          // non-zero when killed by a signal (e.g. 11 for a COLMAP segfault)
  bool timed_out = false;  // we killed it at the deadline
  std::string output;      // stdout and stderr, interleaved as written
  std::chrono::milliseconds elapsed{0};

  [[nodiscard]] bool succeeded() const { return !timed_out && signal == 0 && exit_code == 0; }
  // "exited with code 1", "killed by signal 11 (Segmentation fault)", "timed out after 60 s"
  [[nodiscard]] std::string DescribeEnd() const;
};

// argv[0] is looked up on PATH. An Error means the program could not be started at all.
Result<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                       const SubprocessOptions& options = {});

// True when `program` is found on PATH (or is an executable path).
bool ProgramExists(const std::string& program);

}  // namespace twinrig
