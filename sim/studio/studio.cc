#include "sim/studio/studio.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "sim/layout/layout.h"
#include "sim/studio/control_socket.h"
#include "util/files.h"
#include "util/install_layout.h"

extern char** environ;

namespace twinrig::sim::studio {
namespace {

using nlohmann::json;

// The clock sync a rig of emulated nodes asks for (the rig file's [trigger] max_sync_error_us)
// instead of a real rig's 50 us. An emulated board's 25 MHz timer is QEMU's virtual clock: the
// host clock as seen by an emulator thread when the host schedules it, and every sync exchange
// crosses QEMU's user network and two scheduled threads. On a quiet host the estimate settles at
// 5-20 us, but on a loaded one (a parallel test run) the exchanges that bound it can all be slow
// for the few seconds a capture waits. 250 us is half the virtual cameras' +-0.5 ms shutter-lag
// jitter and far below a real body's 0.5-2.5 ms, so the takes stay as simultaneous as a real
// rig's; a real rig's file says nothing and keeps the station's 50 us.
constexpr double kEmulatedNodeMaxSyncErrorUs = 250;

// The last lines of the studio log, to show why a start failed.
std::string LogTail(const std::filesystem::path& log, int lines) {
  std::ifstream in(log);
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  std::string tail;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size();
       ++i) {
    tail += "\n    " + all[i];
  }
  return tail;
}

Result<std::string> PreviousAddress(const std::string& address) {
  in_addr parsed{};
  if (inet_pton(AF_INET, address.c_str(), &parsed) != 1) {
    return MakeError("'" + address + "' is not an IPv4 address", "--camera-base-address");
  }
  parsed.s_addr = htonl(ntohl(parsed.s_addr) - 1);
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &parsed, text, sizeof(text));
  return std::string(text);
}

Result<layout::Layout> MakeLayout(const UpOptions& options) {
  layout::Layout made;
  if (options.layout == "head24" || options.layout == "body160") {
    layout::LayoutOptions lo;
    lo.kind = options.layout;
    lo.seed = options.seed;
    auto base = PreviousAddress(options.camera_base_address);  // the layout counts from camera 0
    if (!base.ok()) return base.error();
    lo.camera_base_address = *base;
    lo.node_base_address = options.node_base_address;
    lo.node_udp_port = 15800;  // the trigger-node protocol's port (protocol/frame.h)
    auto generated = layout::GenerateLayout(lo);
    if (!generated.ok()) return generated.error();
    made = std::move(generated).value();
  } else {
    auto read = layout::ReadLayout(options.layout);
    if (!read.ok()) return read.error();
    made = std::move(read).value();
  }
  if (options.cameras > 0 && static_cast<size_t>(options.cameras) < made.rig.cameras.size()) {
    made.rig.cameras.resize(static_cast<size_t>(options.cameras));
    made.truth.cameras.resize(static_cast<size_t>(options.cameras));
    int last_node = made.rig.cameras.back().node_id;
    std::erase_if(made.rig.nodes, [&](const layout::NodeSpec& n) { return n.id > last_node; });
    std::erase_if(made.truth.nodes, [&](const layout::NodeTruth& n) { return n.id > last_node; });
  }
  return made;
}

}  // namespace

std::vector<std::string> UpOptions::Validate() const {
  std::vector<std::string> problems;
  if (layout.empty()) problems.push_back("--layout is empty");
  if (cameras < 0) problems.push_back("--cameras must be 0 (all) or more");
  if ((image_width == 0) != (image_height == 0))
    problems.push_back("give both image width and height");
  if (image_width < 0 || image_height < 0) problems.push_back("image size must be positive");
  if (nodes != "sim" && nodes != "qemu")
    problems.push_back("--nodes must be sim or qemu, not '" + nodes + "'");
  return problems;
}

std::filesystem::path DefaultStudioBinary() {
  if (const char* env = std::getenv("TWINRIG_SIM_STUDIO"); env != nullptr && *env != '\0')
    return env;
  return HelperProgram("twinrig-sim-studio");
}

Result<json> Call(const std::filesystem::path& studio, const json& request, int timeout_ms) {
  return ControlRequest(Paths(studio).ControlSocket(), request, timeout_ms);
}

Result<json> QueryStatus(const std::filesystem::path& studio) {
  return Call(studio, {{"op", "status"}}, 5000);
}

Result<json> Up(const std::filesystem::path& studio, const UpOptions& options,
                const std::filesystem::path& studio_binary) {
  auto problems = options.Validate();
  if (!problems.empty()) {
    std::string text;
    for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
    return MakeError("invalid sim up options: " + text, "twinrig sim up", "correct the options");
  }
  Paths paths(studio);
  if (QueryStatus(studio).ok()) {
    return MakeError("a virtual studio is already running here", studio.string(),
                     "stop it with `twinrig sim down`, or use another --studio");
  }
  auto made = MakeLayout(options);
  if (!made.ok()) return made.error();
  if (options.nodes == "qemu") made->rig.max_sync_error_us = kEmulatedNodeMaxSyncErrorUs;
  std::error_code ec;
  std::filesystem::create_directories(paths.SimFolder() / made->rig.name, ec);
  std::filesystem::create_directories(paths.RigFolder(made->rig.name), ec);
  if (ec) return MakeError("could not create folders: " + ec.message(), studio.string());
  TWINRIG_RETURN_IF_ERROR(layout::WriteRigFile(paths.RigFile(made->rig.name), made->rig));
  TWINRIG_RETURN_IF_ERROR(layout::WriteGroundTruth(paths.TruthFile(made->rig.name), made->truth));

  std::vector<std::string> args = {studio_binary.string(), "--studio", studio.string(), "--rig",
                                   made->rig.name};
  if (options.image_width > 0) {
    args.insert(args.end(), {"--width", std::to_string(options.image_width), "--height",
                             std::to_string(options.image_height)});
  }
  if (options.synthetic_bytes > 0) {
    args.insert(args.end(), {"--synthetic-bytes", std::to_string(options.synthetic_bytes)});
  }
  if (options.nodes == "qemu") {
    args.insert(args.end(), {"--nodes", "qemu"});
    if (!options.firmware.empty()) {
      args.insert(args.end(), {"--firmware", std::filesystem::absolute(options.firmware).string()});
    }
  }

  // A session of its own: the studio outlives this command and a terminal's Ctrl-C.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, paths.LogFile().c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0].c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return MakeError("could not start " + args[0] + ": " + std::strerror(rc), studio.string(),
                     "check the twinrig installation (twinrig-sim-studio next to twinrig)");
  }

  // Ready when the control socket answers; a studio that exits instead shows its log.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return MakeError("the virtual studio stopped while starting:" + LogTail(paths.LogFile(), 8),
                       paths.LogFile().string(), "read the log above; fix and run sim up again");
    }
    auto answer = QueryStatus(studio);
    if (answer.ok() && answer->value("ready", false)) return answer;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGKILL);
  return MakeError(
      "the virtual studio did not become ready in 120 s:" + LogTail(paths.LogFile(), 8),
      paths.LogFile().string(), "read the log above");
}

Status Down(const std::filesystem::path& studio) {
  Paths paths(studio);
  auto state = ReadFileText(paths.StateFile());
  pid_t pid = 0;
  if (state.ok()) {
    auto parsed = json::parse(*state, nullptr, false);
    if (!parsed.is_discarded()) pid = parsed.value("pid", 0);
  }
  auto answer = Call(studio, {{"op", "shutdown"}}, 5000);
  if (!answer.ok() && pid == 0) {
    return MakeError("no virtual studio runs here", studio.string(), "nothing to stop");
  }
  // Wait for the process to go; kill it if it will not.
  if (pid > 0) {
    // When this process started the studio (tests do), it must also reap it.
    auto gone = [pid] { return ::waitpid(pid, nullptr, WNOHANG) == pid || ::kill(pid, 0) != 0; };
    for (int i = 0; i < 200 && !gone(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!gone()) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  std::filesystem::remove(paths.StateFile());
  std::filesystem::remove(paths.ControlSocket());
  return OkStatus();
}

}  // namespace twinrig::sim::studio
