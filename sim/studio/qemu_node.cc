#include "sim/studio/qemu_node.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "util/clock.h"
#include "util/install_layout.h"
#include "util/subprocess.h"

extern char** environ;

namespace twinrig::sim::studio {

namespace {

std::string Hex32(std::uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08x", value);
  return text;
}

// "127.0.2.1" -> 0x7F000201; 0 when not a dotted quad.
std::uint32_t ParseIpv4(const std::string& text) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4) return 0;
  if (a > 255 || b > 255 || c > 255 || d > 255) return 0;
  return (a << 24) | (b << 16) | (c << 8) | d;
}

// The provisioning block of mps2_hal.h, one generic-loader write per word.
constexpr std::uint32_t kProvisioningAddress = 0x203FFF00U;
constexpr std::uint32_t kProvisioningMagic = 0x4E525754U;
constexpr const char* kGuestAddress = "10.0.2.15";  // QEMU user networking's first guest address
// The watchdog of an emulated board (Provisioning::watchdog_ms): 2 s to the NMI and 2 s more to the
// reset instead of 500 + 500 ms. Its timer runs on QEMU's virtual clock, i.e. the host's clock,
// which keeps running while a loaded host leaves the emulator's CPU thread unscheduled; in a
// parallel test run a node was once reset by its watchdog right after boot with no stall of its
// own. A stalled loop still resets the node (the watchdog test), 3 s later than on a board.
constexpr std::uint32_t kEmulatedWatchdogMs = 2000;

}  // namespace

void ConsoleClock::Add(std::uint64_t tick, std::int64_t arrived_ns) {
  offsets_.push_back(arrived_ns - static_cast<std::int64_t>(tick) * kNsPerTick);
  if (offsets_.size() > kWindow) offsets_.pop_front();
}

std::optional<std::int64_t> ConsoleClock::HostNs(std::uint64_t tick) const {
  if (offsets_.empty()) return std::nullopt;
  return static_cast<std::int64_t>(tick) * kNsPerTick +
         *std::min_element(offsets_.begin(), offsets_.end());
}

std::vector<std::string> QemuNodeOptions::Validate() const {
  std::vector<std::string> problems;
  if (firmware.empty()) problems.emplace_back("firmware: no image given");
  if (node_id == 0 || node_id == 0xFFFF) problems.emplace_back("node_id: 1..65534");
  if (ports < 1 || ports > 16) problems.emplace_back("ports: 1..16");
  const std::uint32_t host = ParseIpv4(host_address);
  if (host == 0 || (host >> 24) != 127)
    problems.emplace_back("host_address: a loopback IPv4 address (127.x.y.z), not '" +
                          host_address + "'");
  if (udp_port == 0) problems.emplace_back("udp_port: 1..65535");
  if (icount_shift > 10) problems.emplace_back("icount_shift: 0..10 (or < 0 for real time)");
  if (raw_frame_port == 0xFFFF) problems.emplace_back("raw_frame_port: at most 65534");
  return problems;
}

Result<std::filesystem::path> FindQemu() {
  if (!ProgramExists("qemu-system-arm"))
    return MakeError("qemu-system-arm is not installed", "PATH",
                     "run scripts/setup (it installs Debian's qemu-system-arm)");
  return std::filesystem::path("qemu-system-arm");
}

std::filesystem::path DefaultFirmwareImage() {
  if (const char* env = std::getenv("TWINRIG_FIRMWARE"); env != nullptr && *env != '\0') return env;
  // Installed: share/twinrig/firmware/; built: host/share/twinrig/firmware links to the cross
  // build.
  return DataDir() / "firmware" / "twinrig-node-mps2.elf";
}

QemuNode::QemuNode(QemuNodeOptions options, EdgeHandler on_edge)
    : options_(std::move(options)), on_edge_(std::move(on_edge)) {}

Result<std::unique_ptr<QemuNode>> QemuNode::Start(const QemuNodeOptions& options,
                                                  EdgeHandler on_edge) {
  if (auto problems = options.Validate(); !problems.empty())
    return MakeError("invalid QEMU node options: " + problems.front(),
                     "node " + std::to_string(options.node_id));
  auto qemu = FindQemu();
  if (!qemu.ok()) return qemu.error();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(options.firmware, ec))
    return MakeError("the firmware image is missing", options.firmware.string(),
                     "build it: `cmake --build --preset dev --target twinrig-firmware-image` or "
                     "scripts/firmware-build, or give its path");

  const std::string port = std::to_string(options.udp_port);
  std::vector<std::string> args = {qemu->string(),
                                   "-M",
                                   "mps2-an385",
                                   "-kernel",
                                   options.firmware.string(),
                                   "-display",
                                   "none",
                                   "-monitor",
                                   "none",
                                   "-nodefaults",
                                   "-chardev",
                                   "stdio,id=console,signal=off",
                                   "-serial",
                                   "chardev:console"};
  // Debug commands on (bit 24): an emulated node is a test bench (the watchdog test stalls it).
  std::random_device random;
  const std::uint32_t words[7] = {kProvisioningMagic,
                                  static_cast<std::uint32_t>(options.node_id) |
                                      (static_cast<std::uint32_t>(options.ports) << 16) |
                                      (1U << 24),
                                  ParseIpv4(kGuestAddress),
                                  0xFFFFFF00U,
                                  ParseIpv4("10.0.2.2"),
                                  static_cast<std::uint32_t>(random()),
                                  kEmulatedWatchdogMs};
  for (int i = 0; i < 7; ++i) {
    args.emplace_back("-device");
    args.emplace_back("loader,addr=" + Hex32(kProvisioningAddress + 4U * i) +
                      ",data=" + Hex32(words[i]) + ",data-len=4");
  }
  // restrict=on: the node reaches nothing but the forwarded port (no NAT to the outside).
  const std::string user = "user,id=user0,net=10.0.2.0/24,hostfwd=udp:" + options.host_address +
                           ":" + port + "-" + kGuestAddress + ":" + port;
  if (options.raw_frame_port == 0) {
    args.insert(args.end(), {"-netdev", user, "-net", "nic,model=lan9118,netdev=user0"});
  } else {
    const std::string raw = std::to_string(options.raw_frame_port);
    const std::string peer = std::to_string(options.raw_frame_port + 1);
    args.insert(args.end(),
                {"-netdev", user, "-netdev", "hubport,id=hub_user,hubid=0,netdev=user0", "-netdev",
                 "dgram,id=raw0,local.type=inet,local.host=127.0.0.1,local.port=" + raw +
                     ",remote.type=inet,remote.host=127.0.0.1,remote.port=" + peer,
                 "-netdev", "hubport,id=hub_raw,hubid=0,netdev=raw0", "-netdev",
                 "hubport,id=hub_nic,hubid=0", "-net", "nic,model=lan9118,netdev=hub_nic"});
  }
  if (options.icount_shift >= 0) {
    args.emplace_back("-icount");
    args.emplace_back("shift=" + std::to_string(options.icount_shift) + ",align=on,sleep=on");
  }

  int in_pipe[2];
  int out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return MakeError("cannot create a pipe for QEMU");
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return MakeError("cannot create a pipe for QEMU");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  // QEMU's own messages (icount's "guest is now late", slirp) stay on this process's stderr: in
  // the console pipe they would land in the middle of the firmware's lines.
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    return MakeError("cannot start qemu-system-arm", "node " + std::to_string(options.node_id),
                     "run scripts/setup");
  }
  std::unique_ptr<QemuNode> node(new QemuNode(options, std::move(on_edge)));
  node->pid_ = pid;
  node->stdin_fd_ = in_pipe[1];
  node->stdout_fd_ = out_pipe[0];
  node->reader_ = std::thread([raw = node.get()] { raw->ReadConsole(); });
  return node;
}

QemuNode::~QemuNode() { Stop(); }

void QemuNode::Stop() {
  if (pid_ > 0) {
    stopping_ = true;
    kill(pid_, SIGTERM);
    int status = 0;
    bool reaped = false;
    for (int i = 0; i < 100 && !reaped; ++i) {  // 1 s, then SIGKILL
      reaped = waitpid(pid_, &status, WNOHANG) == pid_;
      if (!reaped) usleep(10'000);
    }
    if (!reaped) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  if (reader_.joinable()) reader_.join();
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdin_fd_ = stdout_fd_ = -1;
}

bool QemuNode::running() const {
  std::lock_guard lock(mutex_);
  return pid_ > 0 && !exited_;
}

Status QemuNode::SendCommand(char command) {
  if (stdin_fd_ < 0 || write(stdin_fd_, &command, 1) != 1)
    return MakeError("cannot type on the node's service UART (QEMU has stopped?)",
                     "node " + std::to_string(options_.node_id));
  return OkStatus();
}

void QemuNode::ReadConsole() {
  std::ofstream log;
  if (!options_.console_log.empty()) log.open(options_.console_log, std::ios::app);
  std::string pending;
  char buffer[4096];
  constexpr std::int64_t kTickEveryNs = 100'000'000;
  std::int64_t asked_tick_ns = 0;
  for (;;) {
    // Ask for the node's tick once it has booted (the ConsoleClock of the edges' host instants).
    const std::int64_t now = MonotonicNowNs();
    if (now - asked_tick_ns >= kTickEveryNs && boots() > 0 && !stopping_) {
      asked_tick_ns = now;
      (void)SendCommand('T');
    }
    pollfd fd{stdout_fd_, POLLIN, 0};
    const int ready = poll(&fd, 1, 100);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) {
      if (stopping_) break;
      continue;
    }
    const ssize_t n = read(stdout_fd_, buffer, sizeof(buffer));
    if (n <= 0) break;  // QEMU closed its serial port: it exited
    if (log.is_open()) log.write(buffer, n).flush();
    pending.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t end; (end = pending.find('\n')) != std::string::npos;) {
      HandleLine(pending.substr(0, end));
      pending.erase(0, end + 1);
    }
    if (pending.size() > 65536) pending.clear();  // not the firmware talking: drop it
  }
  std::lock_guard lock(mutex_);
  exited_ = true;
  changed_.notify_all();
}

void QemuNode::HandleLine(const std::string& line) {
  const std::int64_t now = MonotonicNowNs();
  std::istringstream in(line);
  std::string kind;
  in >> kind;
  std::unique_lock lock(mutex_);
  if (console_.size() < 100'000) console_.push_back(line);
  if (kind == "L") {
    ConsoleEdge edge;
    unsigned port = 0;
    char which = 0;
    int closed = 0;
    in >> port >> which >> closed >> edge.tick >> edge.capture_id >> edge.late_ticks;
    if (!in || port >= 16 || (which != 'S' && which != 'F')) return;  // garbled: not an edge
    edge.port = static_cast<std::uint8_t>(port);
    edge.shutter = which == 'S';
    edge.closed = closed != 0;
    edge.host_ns = now;
    const std::uint64_t moved_tick = edge.tick + edge.late_ticks;
    clock_.Add(moved_tick, now);  // the line went out after the pin moved
    edge.moved_ns = clock_.HostNs(moved_tick).value_or(now);
    edges_.push_back(edge);
    changed_.notify_all();
    lock.unlock();
    if (on_edge_) on_edge_(edge);
  } else if (kind == "B") {
    std::string boot_id;
    std::string board;
    std::string lines;
    int by_watchdog = 0;
    unsigned node_id = 0;
    in >> boot_id >> by_watchdog >> board >> node_id >> lines;
    ++boots_;
    last_boot_by_watchdog_ = by_watchdog != 0;
    lines_at_last_boot_ =
        lines.rfind("lines=", 0) == 0
            ? static_cast<std::uint32_t>(std::strtoul(lines.c_str() + 6, nullptr, 10))
            : 0xFFFFFFFFU;
    edges_before_last_boot_ = edges_.size();
    clock_.Reset();
    changed_.notify_all();
  } else if (kind == "T") {
    std::uint64_t tick = 0;
    if (in >> tick) clock_.Add(tick, now);
  } else if (kind == "N") {
    std::map<std::string, std::uint64_t> values;
    std::string pair;
    while (in >> pair) {
      const auto eq = pair.find('=');
      if (eq == std::string::npos) continue;
      values[pair.substr(0, eq)] = std::strtoull(pair.c_str() + eq + 1, nullptr, 10);
    }
    counters_ = std::move(values);
    ++counter_lines_;
    changed_.notify_all();
  }
}

bool QemuNode::WaitForBoots(int count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return boots_ >= count || exited_; }) &&
         boots_ >= count;
}

Result<std::map<std::string, std::uint64_t>> QemuNode::FreshCounters(
    std::chrono::milliseconds timeout) {
  int seen = 0;
  {
    std::lock_guard lock(mutex_);
    seen = counter_lines_;
  }
  TWINRIG_RETURN_IF_ERROR(SendCommand('N'));
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, timeout, [&] { return counter_lines_ > seen || exited_; }) ||
      counter_lines_ == seen)
    return MakeError("the node printed no counters", "node " + std::to_string(options_.node_id),
                     "is its QEMU still running?");
  return counters_;
}

int QemuNode::boots() const {
  std::lock_guard lock(mutex_);
  return boots_;
}
bool QemuNode::last_boot_by_watchdog() const {
  std::lock_guard lock(mutex_);
  return last_boot_by_watchdog_;
}
std::uint32_t QemuNode::lines_at_last_boot() const {
  std::lock_guard lock(mutex_);
  return lines_at_last_boot_;
}
std::size_t QemuNode::edges_before_last_boot() const {
  std::lock_guard lock(mutex_);
  return edges_before_last_boot_;
}
std::vector<ConsoleEdge> QemuNode::edges() const {
  std::lock_guard lock(mutex_);
  return edges_;
}
std::vector<std::string> QemuNode::console() const {
  std::lock_guard lock(mutex_);
  return console_;
}

}  // namespace twinrig::sim::studio
