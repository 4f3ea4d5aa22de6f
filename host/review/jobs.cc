#include "host/review/jobs.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/clock.h"
#include "util/logging.h"

namespace twinrig::review {
namespace {

constexpr size_t kMaxLines = 400;
constexpr size_t kMaxJobs = 20;

}  // namespace

nlohmann::json JobInfo::ToJson(bool with_lines) const {
  nlohmann::json j = {{"id", id},
                      {"kind", kind},
                      {"session", session},
                      {"running", running},
                      {"exit_code", exit_code},
                      {"signal", signal},
                      {"started_at", started_at},
                      {"ok", succeeded()},
                      {"seconds", Seconds()}};
  std::string command = "twinrig";
  for (size_t i = 3; i < argv.size(); ++i) command += " " + argv[i];  // without --studio S
  j["command"] = command;
  if (with_lines) j["lines"] = nlohmann::json(std::vector<std::string>(lines.begin(), lines.end()));
  return j;
}

double JobInfo::Seconds() const {
  const auto until = running ? std::chrono::steady_clock::now() : end;
  return std::chrono::duration<double>(until - start).count();
}

JobRunner::JobRunner(std::string program, std::string studio, std::chrono::seconds timeout)
    : program_(std::move(program)), studio_(std::move(studio)), timeout_(timeout) {}

JobRunner::~JobRunner() { Stop(); }

void JobRunner::SetListener(Listener listener) {
  std::lock_guard lock(mu_);
  listener_ = std::move(listener);
}

void JobRunner::Emit(const nlohmann::json& event) {
  Listener listener;
  {
    std::lock_guard lock(mu_);
    listener = listener_;
  }
  if (listener) listener(event);
}

Result<JobInfo> JobRunner::Start(const std::string& kind, const std::string& session,
                                 const std::vector<std::string>& args) {
  auto busy = [&] {
    return MakeError("another operation is running (" + jobs_.back().kind + ")", "station",
                     "wait for it to end, then try again");
  };
  {
    // The previous job's reader has ended or is about to: join it outside the lock (it takes the
    // lock to deliver its last event).
    std::thread previous;
    {
      std::lock_guard lock(mu_);
      if (running_pid_ > 0) return busy();
      previous = std::move(reader_);
    }
    if (previous.joinable()) previous.join();
  }
  std::unique_lock lock(mu_);
  if (running_pid_ > 0 || reader_.joinable()) return busy();

  JobInfo job;
  job.id = next_id_++;
  job.kind = kind;
  job.session = session;
  job.argv = {program_, "--studio", studio_};
  job.argv.insert(job.argv.end(), args.begin(), args.end());
  job.running = true;
  job.started_at = UtcIsoNow();
  job.start = std::chrono::steady_clock::now();

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return MakeError(std::string("cannot create a pipe: ") + std::strerror(errno), "station",
                     "check the station's open file limit");
  }
  std::vector<char*> cargv;
  cargv.reserve(job.argv.size() + 1);
  for (auto& a : job.argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return MakeError(std::string("cannot start a process: ") + std::strerror(errno), "station",
                     "check free memory and the process limit");
  }
  if (pid == 0) {
    // Child: its own process group (so a stop reaches its camera workers too), output to the pipe.
    setpgid(0, 0);
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  setpgid(pid, pid);
  close(pipe_fds[1]);
  running_pid_ = pid;
  jobs_.push_back(job);
  while (jobs_.size() > kMaxJobs) jobs_.pop_front();
  reader_ = std::thread([this, fd = pipe_fds[0], pid, id = job.id] { Reader(fd, pid, id); });
  lock.unlock();
  Log().With("job", kind).Info("started: {}", job.ToJson(false)["command"].get<std::string>());
  Emit({{"type", "job"}, {"event", "started"}, {"job", job.ToJson(false)}});
  return job;
}

void JobRunner::Reader(int fd, pid_t pid, int id) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  std::string pending;
  char buf[4096];
  bool killed = false;
  auto push_line = [&](std::string line) {
    {
      std::lock_guard lock(mu_);
      for (auto& job : jobs_) {
        if (job.id != id) continue;
        job.lines.push_back(line);
        while (job.lines.size() > kMaxLines) job.lines.pop_front();
      }
    }
    Emit({{"type", "job"}, {"event", "line"}, {"id", id}, {"line", std::move(line)}});
  };
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, 500);
    if (ready < 0 && errno == EINTR) continue;
    if (!killed && std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      killed = true;
      push_line("station: the operation overran its deadline and was stopped");
    }
    if (ready <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      push_line(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
    if (pending.size() > 8192) {
      push_line(pending);
      pending.clear();
    }
  }
  if (!pending.empty()) push_line(pending);
  close(fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  nlohmann::json ended;
  {
    std::lock_guard lock(mu_);
    for (auto& job : jobs_) {
      if (job.id != id) continue;
      job.running = false;
      job.end = std::chrono::steady_clock::now();
      if (WIFEXITED(status)) job.exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) job.signal = WTERMSIG(status);
      ended = job.ToJson(false);
    }
    running_pid_ = -1;
  }
  idle_cv_.notify_all();
  Emit({{"type", "job"}, {"event", "ended"}, {"job", ended}});
}

std::vector<JobInfo> JobRunner::Recent() const {
  std::lock_guard lock(mu_);
  return {jobs_.rbegin(), jobs_.rend()};
}

std::optional<JobInfo> JobRunner::Current() const {
  std::lock_guard lock(mu_);
  if (jobs_.empty()) return std::nullopt;
  return jobs_.back();
}

bool JobRunner::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return running_pid_ <= 0; });
}

void JobRunner::Stop() {
  pid_t pid;
  {
    std::lock_guard lock(mu_);
    pid = running_pid_;
  }
  if (pid > 0) {
    kill(-pid, SIGTERM);
    if (!WaitIdle(std::chrono::seconds(3))) kill(-pid, SIGKILL);
  }
  std::thread reader;
  {
    std::lock_guard lock(mu_);
    reader = std::move(reader_);
  }
  if (reader.joinable()) reader.join();
}

}  // namespace twinrig::review
