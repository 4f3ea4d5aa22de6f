// `twinrig demo`: the whole flow of a studio session on the virtual studio, end to end. Every stage
// is the same `twinrig` subcommand a technician would type (run as a child of this process, its
// output shown as it comes), so the demo exercises exactly the code a studio runs:
//   virtual studio up → calibrate → subject + signed consent → preflight → capture → seal →
//   preview twin → full twin → score against the ground truth → the subject approves and grants →
//   export for the licensee → verify the chain and the audit log → the review station.
#include <netdb.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/command.h"
#include "host/studio/studio_paths.h"
#include "sim/studio/studio.h"
#include "util/files.h"
#include "util/install_layout.h"
#include "util/result.h"
#include "util/subprocess.h"

namespace twinrig::app {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct DemoOptions {
  std::string layout = "head24";
  int cameras = 0;  // 0: every camera of the layout
  int width = 800;
  int height = 600;
  int calibration_takes = 24;  // the virtual studio scripts 24 board poses round the rig
  bool full = true;            // also the full twin (the preview always)
  bool keep_studio = false;    // leave the virtual studio running at the end
  std::string review_listen = "127.0.0.1:8440";
  std::string camera_base_address;  // empty: the layout's own (loopback)
  std::string node_base_address;
  bool review = true;  // start the review station at the end
  // Every stage, small and fast (CI runs it): small images, fewer board takes, the preview twin
  // only, and the review station started, asked for its page and stopped again.
  bool quick = false;
};

// The quick form's sizes; an explicit --width/--height/--calibration-takes still wins.
constexpr int kQuickWidth = 480;
constexpr int kQuickHeight = 360;
constexpr int kQuickCalibrationTakes = 12;
// Below the quick width the board's markers are a few pixels wide, each camera finds it in fewer
// takes, and 12 takes leave half the rig without the 4 views a camera needs: small images get
// every scripted board pose, as a technician would show a low-resolution rig the board more often.
constexpr int kSmallImageCalibrationTakes = 24;

struct StageTime {
  std::string name;
  double seconds = 0;
};

// The running twinrig binary: every stage runs it again with a subcommand.
fs::path SelfBinary() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("twinrig") : self;
}

// Asks a web server on ADDR:PORT (loopback) for its page: OK when it answers 200 within 5 s.
Status ProbeHttp(const std::string& listen) {
  const auto colon = listen.rfind(':');
  const std::string host = listen.substr(0, colon);
  const std::string port = colon == std::string::npos ? "80" : listen.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return MakeError("the review station's address does not resolve", listen, "");
  }
  const int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  const bool connected = fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  freeaddrinfo(found);
  std::string reply;
  if (connected) {
    const std::string request =
        "GET / HTTP/1.1\r\nHost: " + listen + "\r\nConnection: close\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[256];
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) reply.assign(buffer, static_cast<std::size_t>(n));
    }
  }
  if (fd >= 0) close(fd);
  const std::string status_line = reply.substr(0, reply.find('\r'));
  if (status_line.find(" 200") == std::string::npos) {
    return MakeError("the review station did not serve its page (" +
                         (status_line.empty() ? std::string("no answer") : status_line) + ")",
                     listen, "read review.log in the studio folder");
  }
  return OkStatus();
}

// Set by SIGINT/SIGTERM while the demo runs: no further stage starts, and the virtual studio the
// demo started is stopped (it runs detached, so a Ctrl-C would otherwise leave it running).
volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void OnDemoInterrupt(int signal_number) { g_interrupted = signal_number; }

class Demo {
 public:
  Demo(const GlobalOptions& global, DemoOptions options)
      : studio_(global.studio), options_(std::move(options)), self_(SelfBinary()) {}

  int Run();

 private:
  // The newest record of the session signed in `role` with the passphrase in `passphrase_file`.
  bool Sign(const std::string& role, const std::string& passphrase_file) {
    return Step({"consent", "sign", "--session", session_, "--role", role, "--passphrase-file",
                 passphrase_file});
  }

  // Prints the command as a technician would type it; returns the full argv that runs it.
  std::vector<std::string> Announce(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{self_.string(), "--studio", studio_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::cout << "\n$ twinrig";
    for (const auto& a : args)
      std::cout << ' ' << (a.find(' ') == std::string::npos ? a : '"' + a + '"');
    std::cout << std::endl;
    return argv;
  }

  // Runs `twinrig --studio S args…` with this terminal as its output. True when it exited 0.
  bool Step(const std::vector<std::string>& args) {
    if (g_interrupted != 0) return false;
    std::vector<std::string> argv = Announce(args);
    std::vector<char*> raw;
    raw.reserve(argv.size() + 1);
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      execv(raw[0], raw.data());
      _exit(127);
    }
    int status = 0;
    bool passed_on = false;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) return false;
      // A signal for the demo alone (a service manager's SIGTERM) ends the running stage too.
      if (g_interrupted != 0 && !passed_on) {
        kill(pid, SIGTERM);
        passed_on = true;
      }
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  // Runs a stage whose first output line is a value the demo needs (a subject or session id).
  Result<std::string> StepValue(const std::vector<std::string>& args,
                                bool even_if_interrupted = false) {
    if (g_interrupted != 0 && !even_if_interrupted) {
      return MakeError("interrupted", "demo", "run the demo again");
    }
    std::vector<std::string> argv = Announce(args);
    SubprocessOptions run;
    run.timeout = std::chrono::minutes(5);
    auto result = RunSubprocess(argv, run);
    if (!result.ok()) return result.error();
    std::cout << result->output;
    if (!result->succeeded()) {
      return MakeError("`twinrig " + args.front() + "` " + result->DescribeEnd(), "demo",
                       "read its message above");
    }
    std::string first = result->output.substr(0, result->output.find('\n'));
    return first;
  }

  void Begin(const std::string& stage) {
    stage_ = stage;
    stage_start_ = std::chrono::steady_clock::now();
    ++stage_number_;
    std::cout << "\n━━ [" << stage_number_ << "/" << Stages() << "] " << stage << " ━━"
              << std::endl;
  }
  void End() {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_start_).count();
    times_.push_back({stage_, s});
    std::cout << "   ✓ " << stage_ << " (" << std::fixed << std::setprecision(1) << s << " s)"
              << std::endl;
  }
  int Fail(const std::string& todo) {
    std::cout << std::flush;
    if (g_interrupted != 0) {
      if (studio_started_ && !options_.keep_studio) {
        (void)StepValue({"sim", "down"}, /*even_if_interrupted=*/true);
      }
      PrintError(
          std::string("the demo was interrupted (") +
              (g_interrupted == SIGINT ? "SIGINT" : "SIGTERM") + ") at stage \"" + stage_ + "\"" +
              (studio_started_ && !options_.keep_studio ? "; the virtual studio was stopped" : ""),
          studio_.string(), "run the demo again: it starts over in the same studio");
      PrintSummary(false);
      return kExitInterrupted;
    }
    PrintError("the demo stopped at stage \"" + stage_ + "\"", studio_.string(), todo);
    PrintSummary(false);
    return kExitFailed;
  }

  // Stops the virtual studio unless it is to be kept, then fails.
  void StopStudio() {
    if (!options_.keep_studio) (void)StepValue({"sim", "down"});
  }
  int StopStudioAndFail(const std::string& todo) {
    StopStudio();
    return Fail(todo);
  }
  std::string Pass(const char* who) const {
    return (secrets_ / (std::string(who) + ".pass")).string();
  }

  // The stages: each returns the demo's exit code when it stops the demo.
  std::optional<int> CheckHost();
  std::optional<int> StartStudio();
  std::optional<int> Calibrate();
  std::optional<int> RecordConsent();
  std::optional<int> Preflight();
  std::optional<int> Capture();
  std::optional<int> MakeTwins();
  std::optional<int> Score();
  std::optional<int> ApproveAndGrant();
  std::optional<int> Export();
  std::optional<int> Verify();
  std::optional<int> OpenReview();

  Status MakeSecrets();
  Status StartReviewStation();
  void PrintSummary(bool complete);

  // Eleven stages always run; the full twin and the review station are optional.
  [[nodiscard]] int Stages() const {
    return 11 + (options_.full ? 1 : 0) + (options_.review ? 1 : 0);
  }
  fs::path studio_;
  DemoOptions options_;
  fs::path self_;
  fs::path secrets_;
  fs::path data_ = DataDir() / "demo-data";
  std::string stage_;
  bool studio_started_ = false;
  int stage_number_ = 0;
  std::chrono::steady_clock::time_point stage_start_;
  std::vector<StageTime> times_;
  std::string subject_;
  std::string session_;
  fs::path delivery_;
  std::string review_line_;
};

Status Demo::MakeSecrets() {
  secrets_ = studio_ / "demo-secrets";
  std::error_code ec;
  fs::create_directories(secrets_, ec);
  if (ec) {
    return MakeError("cannot create the demo's passphrase folder: " + ec.message(),
                     secrets_.string(), "check that the studio folder is writable");
  }
  fs::permissions(secrets_, fs::perms::owner_all, ec);
  for (const char* who : {"studio", "technician", "subject"}) {
    const fs::path file = secrets_ / (std::string(who) + ".pass");
    if (fs::exists(file) && fs::file_size(file) > 0) continue;
    std::ifstream random("/dev/urandom", std::ios::binary);
    unsigned char bytes[18];
    random.read(reinterpret_cast<char*>(bytes), sizeof bytes);
    if (!random) return MakeError("cannot read /dev/urandom", file.string(), "");
    std::ostringstream hex;
    for (unsigned char b : bytes) hex << std::hex << std::setw(2) << std::setfill('0') << int(b);
    TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(file, hex.str() + "\n"));
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, ec);
  }
  return OkStatus();
}

// The review station runs on after the demo (a background process; its log holds the PINs).
Status Demo::StartReviewStation() {
  const fs::path log = studio_ / "review.log";
  // Built before fork: the child only redirects its output and execs.
  std::vector<std::string> args{self_.string(),   "--studio",
                                studio_.string(), "review",
                                "--listen",       options_.review_listen,
                                "--consent-text", (data_ / "consent-text.txt").string(),
                                "--text-version", "demo-1.0",
                                "--terms",        (data_ / "terms.json").string(),
                                "--technician",   "tech1"};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return MakeError("cannot start the review station", "fork", "");
  if (pid == 0) {
    setsid();
    std::FILE* out = std::freopen(log.c_str(), "w", stdout);
    if (out == nullptr) _exit(127);
    dup2(fileno(stdout), STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  // Wait (bounded) for the station to say where it listens.
  bool stopped = false;
  bool listening = false;
  for (int i = 0; i < 50 && !stopped && !listening; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    int status = 0;
    stopped = waitpid(pid, &status, WNOHANG) == pid;  // it stopped: its log says why
    auto text = ReadFileText(log);
    listening = text.ok() && text->find("://") != std::string::npos;
  }
  auto text = ReadFileText(log);
  std::cout << (text.ok() ? *text : std::string()) << std::flush;
  if (!listening) {
    if (!stopped) kill(pid, SIGTERM);
    return MakeError("the review station did not start", log.string(),
                     "read its log; another program may use " + options_.review_listen +
                         " (--review-listen ADDR:PORT)");
  }
  if (options_.quick) {
    // The quick form checks that the station serves its page, then stops it again.
    Status answered = ProbeHttp(options_.review_listen);
    kill(pid, SIGTERM);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!answered.ok()) return answered;
    review_line_ = "review station: answered at " + options_.review_listen + ", stopped again";
    return OkStatus();
  }
  review_line_ = "review station: " + options_.review_listen + " (pid " + std::to_string(pid) +
                 ", log " + log.string() + "; stop it with `kill " + std::to_string(pid) + "`)";
  return OkStatus();
}

void Demo::PrintSummary(bool complete) {
  std::cout << "\n━━ summary ━━\n";
  double total = 0;
  for (const auto& t : times_) {
    std::cout << "  " << std::left << std::setw(34) << t.name << std::right << std::setw(8)
              << std::fixed << std::setprecision(1) << t.seconds << " s\n";
    total += t.seconds;
  }
  std::cout << "  " << std::left << std::setw(34) << "total" << std::right << std::setw(8)
            << std::fixed << std::setprecision(1) << total << " s\n";
  if (!session_.empty()) {
    const fs::path session = studio::StudioPaths(studio_).SessionFolder(session_);
    std::cout << "  session   " << session_ << " (subject " << subject_ << ")\n";
    for (const char* level : {"preview", "full"}) {
      auto text = ReadFileText(session / "twin" / level / "metrics.json");
      if (!text.ok()) continue;
      Json m = Json::parse(*text, nullptr, false);
      if (m.is_discarded()) continue;
      std::cout << "  " << level << " twin scores:";
      // metrics.json: "scores": [{"threshold_mm": 1, "precision", "recall", "fscore"}, ...]
      if (m.contains("scores") && m["scores"].is_array()) {
        for (const auto& score : m["scores"]) {
          const double threshold = score.value("threshold_mm", 0.0);
          const double fscore = score.value("fscore", -1.0);
          if (fscore < 0) continue;
          std::cout << " F@" << std::setprecision(0) << threshold << "mm=" << std::setprecision(3)
                    << fscore;
        }
      }
      std::cout << "  (" << (session / "twin" / level / "metrics.json").string() << ")\n";
    }
    std::cout << "  images    " << (session / "images").string() << "\n";
    std::cout << "  consent   " << (session / "consent").string() << "\n";
    std::cout << "  twin      " << (session / "twin").string() << "\n";
  }
  if (!delivery_.empty()) {
    std::cout << "  signed twin package for the licensee: " << delivery_.string() << "\n";
  }
  if (!review_line_.empty()) std::cout << "  " << review_line_ << "\n";
  std::cout << (complete ? "demo complete\n" : "demo incomplete\n") << std::flush;
}

std::optional<int> Demo::CheckHost() {
  Begin("check the host");
  if (!Step({"doctor"})) return Fail("install what `twinrig doctor` lists (scripts/setup)");
  if (auto made = MakeSecrets(); !made.ok()) {
    PrintError(made.error().what, made.error().where, made.error().todo);
    return kExitFailed;
  }
  auto keys = StepValue({"keys", "list"});
  if (!keys.ok() || keys->find("studio") == std::string::npos) {
    if (!Step({"keys", "init", "--name", "twinrig demo studio", "--passphrase-file",
               Pass("studio")}) ||
        !Step({"keys", "add-technician", "tech1", "--passphrase-file", Pass("technician")})) {
      return Fail("the studio keys could not be created; see the message above");
    }
  }
  End();
  return std::nullopt;
}

std::optional<int> Demo::StartStudio() {
  Begin("start the virtual studio");
  // A virtual studio left running by an earlier demo is stopped first (it may have other sizes).
  if (sim::studio::QueryStatus(studio_).ok()) (void)StepValue({"sim", "down"});
  std::vector<std::string> up{"sim",      "up",
                              "--layout", options_.layout,
                              "--width",  std::to_string(options_.width),
                              "--height", std::to_string(options_.height)};
  if (options_.cameras > 0) {
    up.insert(up.end(), {"--cameras", std::to_string(options_.cameras)});
  }
  if (!options_.camera_base_address.empty()) {
    up.insert(up.end(), {"--camera-base-address", options_.camera_base_address});
  }
  if (!options_.node_base_address.empty()) {
    up.insert(up.end(), {"--node-base-address", options_.node_base_address});
  }
  studio_started_ = true;  // from here on an interruption stops it (`sim up` may have started it)
  if (!Step(up)) return Fail("see the message above; `twinrig sim status` shows what runs");
  End();
  return std::nullopt;
}

std::optional<int> Demo::Calibrate() {
  Begin("calibrate the rig");
  if (!Step({"calibrate", "--takes", std::to_string(options_.calibration_takes),
             "--capture-timeout", "300"})) {
    return StopStudioAndFail("see the calibration's message above");
  }
  End();
  return std::nullopt;
}

std::optional<int> Demo::RecordConsent() {
  Begin("subject and signed consent");
  auto subject = StepValue({"subject", "add", "--name", "Demo Model"});
  if (!subject.ok()) return StopStudioAndFail(subject.error().what);
  subject_ = *subject;
  auto session = StepValue({"session", "new", "--subject", subject_});
  if (!session.ok()) return StopStudioAndFail(session.error().what);
  session_ = *session;
  if (!Step({"consent", "new", "--subject", subject_, "--session", session_, "--technician",
             "tech1", "--text", (data_ / "consent-text.txt").string(), "--text-version", "demo-1.0",
             "--terms", (data_ / "terms.json").string(), "--subject-passphrase-file",
             Pass("subject")}) ||
      !Sign("subject", Pass("subject")) || !Sign("technician", Pass("technician")) ||
      !Sign("studio", Pass("studio"))) {
    return StopStudioAndFail("the consent could not be recorded; see the message above");
  }
  End();
  return std::nullopt;
}

std::optional<int> Demo::Preflight() {
  Begin("preflight");
  if (!Step({"preflight", "--takes", "1"})) {
    return StopStudioAndFail("fix what the preflight table lists, then run the demo again");
  }
  End();
  return std::nullopt;
}

std::optional<int> Demo::Capture() {
  Begin("capture");
  // A technician finishes an incomplete take: fetch what is on the cards, then refire the rest.
  if (!Step({"capture", "--session", session_, "--capture-timeout", "300"}) &&
      !Step({"capture", "--session", session_, "--resume"}) &&
      !Step({"capture", "--session", session_, "--retake-missing", "--capture-timeout", "300"})) {
    return StopStudioAndFail(
        "some cameras did not deliver; `twinrig capture --retake-missing` fires them");
  }
  const fs::path manifest = studio::StudioPaths(studio_).SessionFolder(session_) / "manifest.json";
  if (!Step({"consent", "seal", "--session", session_, "--technician", "tech1", "--manifest",
             manifest.string()}) ||
      !Sign("technician", Pass("technician")) || !Sign("studio", Pass("studio"))) {
    return StopStudioAndFail("the capture could not be sealed; see the message above");
  }
  End();
  StopStudio();
  return std::nullopt;
}

std::optional<int> Demo::MakeTwins() {
  Begin("preview twin");
  // --wait: when the studio reconstructs on its farm, the demo follows the jobs to the twin.
  if (!Step({"reconstruct", session_, "--preview", "--wait"}))
    return Fail("see the reconstruction's log");
  End();
  if (options_.full) {
    Begin("full twin");
    if (!Step({"reconstruct", session_, "--full", "--wait"}))
      return Fail("see the reconstruction's log");
    End();
  }
  return std::nullopt;
}

std::optional<int> Demo::Score() {
  Begin("score against the ground truth");
  // Before the approval: the approval hashes everything under twin/, metrics.json included.
  if (!Step({"score", session_, "--level", "preview"})) return Fail("see the message above");
  if (options_.full && !Step({"score", session_, "--level", "full"})) {
    return Fail("see the message above");
  }
  End();
  return std::nullopt;
}

std::optional<int> Demo::ApproveAndGrant() {
  Begin("the subject approves and grants");
  if (!Step({"consent", "approve", "--session", session_, "--note",
             "reviewed on the spot; that is me"}) ||
      !Sign("subject", Pass("subject")) || !Sign("studio", Pass("studio")) ||
      !Step({"consent", "grant", "--session", session_, "--grants",
             (data_ / "grants.json").string()}) ||
      !Sign("subject", Pass("subject")) || !Sign("studio", Pass("studio"))) {
    return Fail("see the message above");
  }
  End();
  return std::nullopt;
}

std::optional<int> Demo::Export() {
  Begin("export for the licensee");
  delivery_ = studio_ / "deliveries" / (session_ + "-demo-brand");
  std::error_code ec;
  fs::remove_all(delivery_, ec);
  if (!Step({"export", session_, "--licensee", "demo-brand", "--purpose", "SS27 campaign imagery",
             "--medium", "social", "--territory", "EU", "--out", delivery_.string(),
             "--passphrase-file", Pass("studio")})) {
    delivery_.clear();
    return Fail("see the export gate's message above");
  }
  End();
  return std::nullopt;
}

std::optional<int> Demo::Verify() {
  Begin("verify the consent chain and the audit log");
  if (!Step({"consent", "verify", "--session", session_}) || !Step({"audit", "verify"})) {
    return Fail("the records do not verify; see the message above");
  }
  End();
  return std::nullopt;
}

std::optional<int> Demo::OpenReview() {
  if (!options_.review) return std::nullopt;
  Begin("review station");
  if (auto started = StartReviewStation(); !started.ok()) {
    PrintError(started.error().what, started.error().where, started.error().todo);
    return Fail("the twin and its package are done; start the station with `twinrig review`");
  }
  End();
  return std::nullopt;
}

int Demo::Run() {
  struct sigaction on_interrupt {};
  on_interrupt.sa_handler = OnDemoInterrupt;  // no SA_RESTART: waitpid returns to see the flag
  sigemptyset(&on_interrupt.sa_mask);
  sigaction(SIGINT, &on_interrupt, nullptr);
  sigaction(SIGTERM, &on_interrupt, nullptr);
  // The stages in order; the virtual studio runs from StartStudio to the end of Capture.
  for (const auto stage :
       {&Demo::CheckHost, &Demo::StartStudio, &Demo::Calibrate, &Demo::RecordConsent,
        &Demo::Preflight, &Demo::Capture, &Demo::MakeTwins, &Demo::Score, &Demo::ApproveAndGrant,
        &Demo::Export, &Demo::Verify, &Demo::OpenReview}) {
    if (const std::optional<int> exit_code = (this->*stage)()) return *exit_code;
  }
  PrintSummary(true);
  return 0;
}

}  // namespace

void AddDemo(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  static DemoOptions options;
  auto* cmd = parent.add_subcommand(
      "demo", "the whole flow on the virtual studio: calibrate, consent, capture, twin, export");
  cmd->add_option("--layout", options.layout, "virtual studio layout (head24, body160)");
  cmd->add_option("--cameras", options.cameras, "use only the first N cameras");
  cmd->add_option("--width", options.width, "rendered image width")->check(CLI::Range(160, 6000));
  cmd->add_option("--height", options.height, "rendered image height")
      ->check(CLI::Range(120, 4000));
  cmd->add_option("--calibration-takes", options.calibration_takes, "board poses to capture")
      ->check(CLI::Range(3, 100));
  cmd->add_flag("!--no-full", options.full, "stop after the preview twin (no full twin)");
  cmd->add_flag("--keep-studio", options.keep_studio, "leave the virtual studio running");
  cmd->add_flag("!--no-review", options.review, "do not start the review station at the end");
  cmd->add_option("--review-listen", options.review_listen, "review station address");
  cmd->add_option("--camera-base-address", options.camera_base_address,
                  "loopback address of the first virtual camera (to run beside another studio)");
  cmd->add_option("--node-base-address", options.node_base_address,
                  "loopback address of the first virtual trigger node");
  cmd->add_flag("--quick", options.quick,
                "every stage, small and fast: 480x360 images, 12 board takes (24 below 480 wide), "
                "preview twin only, the review station checked and stopped");
  cmd->callback([cmd, &global, &exit_code] {
    DemoOptions run = options;
    if (run.quick) {
      if (cmd->count("--width") == 0) run.width = kQuickWidth;
      if (cmd->count("--height") == 0) run.height = kQuickHeight;
      if (cmd->count("--calibration-takes") == 0) {
        run.calibration_takes =
            run.width < kQuickWidth ? kSmallImageCalibrationTakes : kQuickCalibrationTakes;
      }
      run.full = false;
    }
    exit_code = Demo(global, run).Run();
  });
}

}  // namespace twinrig::app
