// Long operations of the station (preflight, capture, retake, reconstruction) run as the same
// `twinrig` subcommands a technician would type, as child processes: one code path for the CLI and
// the station, and a hung libgphoto2 or COLMAP cannot take the web server down with it. Their
// output is streamed line by line to whoever listens (the WebSocket clients).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "util/result.h"

namespace twinrig::review {

struct JobInfo {
  int id = 0;
  std::string kind;     // "preflight", "capture", "retake", "reconstruct", …
  std::string session;  // the session it works on (may be empty)
  std::vector<std::string> argv;
  bool running = false;
  int exit_code = -1;  // when ended normally
  int signal = 0;      // when killed
  std::string started_at;
  std::chrono::steady_clock::time_point start;  // for the time it has run
  std::chrono::steady_clock::time_point end;    // when it ended
  std::deque<std::string> lines;                // the newest output lines (bounded)
  [[nodiscard]] nlohmann::json ToJson(bool with_lines) const;
  [[nodiscard]] double Seconds() const;  // how long it has run (ran, once ended)
  [[nodiscard]] bool succeeded() const { return !running && signal == 0 && exit_code == 0; }
};

// Runs at most one job at a time (a rig is fired by one process at once).
class JobRunner {
 public:
  using Listener = std::function<void(const nlohmann::json& event)>;
  // `program` is the twinrig binary; every job gets `--studio <studio>` before its arguments.
  JobRunner(std::string program, std::string studio, std::chrono::seconds timeout);
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Called for every event: {"type":"job","event":"started"|"line"|"ended", …}; from the job's
  // reader thread, so listeners must be quick and thread-safe.
  void SetListener(Listener listener);

  // Starts `twinrig --studio S <args…>`. Refused while another job runs.
  Result<JobInfo> Start(const std::string& kind, const std::string& session,
                        const std::vector<std::string>& args);
  [[nodiscard]] std::vector<JobInfo> Recent() const;  // newest first, with output
  [[nodiscard]] std::optional<JobInfo> Current() const;
  // Waits until no job runs or the timeout passes; true when idle.
  bool WaitIdle(std::chrono::milliseconds timeout);
  // Kills the running job's process group (SIGTERM, then SIGKILL after 3 s) and joins.
  void Stop();

 private:
  void Reader(int fd, pid_t pid, int id);
  void Emit(const nlohmann::json& event);

  std::string program_;
  std::string studio_;
  std::chrono::seconds timeout_;
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  Listener listener_;
  std::deque<JobInfo> jobs_;  // newest last, bounded
  int next_id_ = 1;
  pid_t running_pid_ = -1;
  std::thread reader_;
};

}  // namespace twinrig::review
