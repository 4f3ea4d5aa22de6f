#include "rig/boards/sim/sim_node.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <queue>
#include <sstream>
#include <thread>

#include "protocol/frame.h"
#include "rig/hal.h"
#include "rig/node.h"
#include "sim/wire/remote_port.h"
#include "util/clock.h"
#include "util/datagram.h"
#include "util/files.h"
#include "util/options.h"

namespace twinrig::rig::sim {

namespace {

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_power_glitch = 0;
volatile sig_atomic_t g_watchdog_reset = 0;

void OnSignal(int signal) {
  if (signal == SIGUSR1) {
    g_power_glitch = 1;
  } else if (signal == SIGUSR2) {
    g_watchdog_reset = 1;
  } else {
    g_stop = 1;
  }
}

bool ParseIpv4(const std::string& text, std::uint16_t default_port, sockaddr_in* out) {
  std::string host = text;
  std::uint16_t port = default_port;
  if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    try {
      const int value = std::stoi(text.substr(colon + 1));
      if (value <= 0 || value > 65535) return false;
      port = static_cast<std::uint16_t>(value);
    } catch (const std::exception&) {
      return false;
    }
  }
  *out = sockaddr_in{};
  out->sin_family = AF_INET;
  out->sin_port = htons(port);
  return inet_pton(AF_INET, host.c_str(), &out->sin_addr) == 1;
}

bool IsLoopback(const sockaddr_in& address) {
  return (ntohl(address.sin_addr.s_addr) >> 24) == 127;
}

struct Packet {
  std::int64_t due_ns = 0;
  std::uint64_t order = 0;
  std::vector<std::uint8_t> bytes;
  sockaddr_in peer{};
  std::int64_t delay_ns = 0;        // injected delay (outgoing: from the node to the wire's end)
  std::size_t tx_stamp_offset = 0;  // outgoing: where the transmit tick is stamped
};
struct LaterFirst {
  bool operator()(const Packet& a, const Packet& b) const {
    return a.due_ns != b.due_ns ? a.due_ns > b.due_ns : a.order > b.order;
  }
};
using PacketQueue = std::priority_queue<Packet, std::vector<Packet>, LaterFirst>;

class SimHal : public Hal {
 public:
  SimHal(const SimNodeOptions& options, int socket_fd)
      : options_(options),
        clock_(options.clock),
        outgoing_(options.net, options.seed * 2 + 1),
        socket_(socket_fd),
        watchdog_reset_(options.watchdog_reset) {}

  // --- Hal
  std::uint64_t Now() override { return clock_.TickAt(TrueNowNs()); }
  std::uint32_t TickRateHz() override { return options_.clock.tick_rate_hz; }

  void SetLine(std::uint8_t port, Line line, bool closed, std::uint64_t tick,
               std::uint32_t capture_id) override {
    const std::int64_t true_ns = clock_.TrueAt(tick);
    const std::int64_t os_late_ns = TrueNowNs() - true_ns;
    if (port < wiring_.size() && wiring_[port].sin_family == AF_INET) {
      twinrig::sim::wire::LineEdge edge;
      edge.line = line == Line::kFocus ? twinrig::sim::wire::Line::kFocus
                                       : twinrig::sim::wire::Line::kShutter;
      edge.closed = closed;
      edge.true_time_ns = true_ns;
      edge.capture_id = capture_id;
      edge.node_id = options_.node_id;
      edge.node_port = port;
      const auto bytes = twinrig::sim::wire::Encode(edge);
      // The wire to a camera is a cable, not the network: no injected conditions.
      sendto(socket_, bytes.data(), bytes.size(), 0,
             reinterpret_cast<const sockaddr*>(&wiring_[port]), sizeof(sockaddr_in));
    }
    if (truth_ != nullptr) {
      std::fprintf(truth_,
                   "{\"node\":%u,\"port\":%u,\"line\":\"%s\",\"closed\":%s,\"capture\":%u,"
                   "\"tick\":%llu,\"true_ns\":%lld,\"os_late_ns\":%lld}\n",
                   options_.node_id, port, line == Line::kFocus ? "focus" : "shutter",
                   closed ? "true" : "false", capture_id, static_cast<unsigned long long>(tick),
                   static_cast<long long>(true_ns), static_cast<long long>(os_late_ns));
      std::fflush(truth_);
    }
  }

  void Send(const std::uint8_t* data, std::size_t size, const Peer& to,
            std::size_t tx_stamp_offset) override {
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_addr.s_addr = to.address;
    peer.sin_port = to.port;
    const Fate fate = outgoing_.Next();
    const std::int64_t now = TrueNowNs();
    for (int copy = 0; copy < fate.copies; ++copy) {
      tx_.push({now + fate.delay_ns[copy], order_++, std::vector<std::uint8_t>(data, data + size),
                peer, fate.delay_ns[copy], tx_stamp_offset});
    }
  }

  // Puts a queued datagram on the wire. The sim sends it when its injected delay has passed, but
  // the process may wake up late; the datagram is then taken to have left the node that much later
  // (as if the firmware had been slower), and its transmit stamp says so, as a MAC with one-step
  // timestamping would. So the host sees exactly the injected delay on the way back, never the
  // simulation's OS latency.
  void Transmit(Packet& packet) {
    if (packet.tx_stamp_offset != 0 && packet.tx_stamp_offset + 8 <= packet.bytes.size()) {
      const std::uint64_t tick = clock_.TickAt(TrueNowNs() - packet.delay_ns);
      std::memcpy(packet.bytes.data() + packet.tx_stamp_offset, &tick, 8);  // little-endian host
    }
    sendto(socket_, packet.bytes.data(), packet.bytes.size(), 0,
           reinterpret_cast<const sockaddr*>(&packet.peer), sizeof(packet.peer));
  }

  void KickWatchdog() override { last_kick_ns_ = TrueNowNs(); }
  bool ResetByWatchdog() override {
    const bool was = watchdog_reset_;
    watchdog_reset_ = false;
    return was;
  }

  std::size_t LoadConfig(std::uint8_t* data, std::size_t capacity) override {
    if (options_.config_file.empty()) {
      const std::size_t n = std::min(capacity, memory_config_.size());
      std::copy_n(memory_config_.begin(), n, data);
      return n;
    }
    auto bytes = ReadFileBytes(options_.config_file);
    if (!bytes.ok()) return 0;
    const std::size_t n = std::min(capacity, bytes->size());
    std::copy_n(bytes->begin(), n, data);
    return n;
  }
  bool SaveConfig(const std::uint8_t* data, std::size_t size) override {
    if (options_.config_file.empty()) {
      memory_config_.assign(data, data + size);
      return true;
    }
    return WriteFileAtomic(options_.config_file, std::span<const std::uint8_t>(data, size)).ok();
  }

  const char* BoardName() override { return "sim"; }
  std::uint64_t Entropy() override {
    std::uint64_t value = 0;
    if (getrandom(&value, sizeof(value), 0) != sizeof(value)) {
      value =
          static_cast<std::uint64_t>(TrueNowNs()) ^ (static_cast<std::uint64_t>(getpid()) << 32);
    }
    return value;
  }
  void RequestReboot() override { reboot_requested_ = true; }

  // --- board plumbing
  Status Init() {
    wiring_.assign(options_.port_count, sockaddr_in{});
    for (const auto& [port, address] : options_.wiring) {
      sockaddr_in peer{};
      if (!ParseIpv4(address, twinrig::sim::wire::kRemotePortUdp, &peer) || !IsLoopback(peer)) {
        return MakeError("wiring of port " + std::to_string(port) +
                             " is not a loopback IPv4 "
                             "address: '" +
                             address + "'",
                         "node " + std::to_string(options_.node_id),
                         "give --wire PORT=127.x.y.z:PORT");
      }
      wiring_[static_cast<std::size_t>(port)] = peer;
    }
    if (!options_.truth_log.empty()) {
      truth_ = std::fopen(options_.truth_log.c_str(), "a");
      if (truth_ == nullptr) {
        return MakeError("cannot open the truth log: " + std::string(std::strerror(errno)),
                         options_.truth_log.string(), "check the folder exists and is writable");
      }
    }
    return OkStatus();
  }
  ~SimHal() override {
    if (truth_ != nullptr) std::fclose(truth_);
  }
  SimHal(const SimHal&) = delete;
  SimHal& operator=(const SimHal&) = delete;

  const SimClock& clock() const { return clock_; }
  PacketQueue& tx() { return tx_; }
  bool TakeRebootRequest() {
    const bool was = reboot_requested_;
    reboot_requested_ = false;
    return was;
  }
  void SetWatchdogReset() { watchdog_reset_ = true; }

 private:
  const SimNodeOptions& options_;
  SimClock clock_;
  NetShaper outgoing_;
  int socket_;
  std::vector<sockaddr_in> wiring_;
  std::FILE* truth_ = nullptr;
  PacketQueue tx_;
  std::uint64_t order_ = 0;
  std::vector<std::uint8_t> memory_config_;
  std::int64_t last_kick_ns_ = 0;
  bool watchdog_reset_ = false;
  bool reboot_requested_ = false;
};

// Receives every datagram waiting on the socket; each gets its kernel arrival time (converted from
// CLOCK_REALTIME to true time) plus the injected delay.
void DrainSocket(int fd, NetShaper& incoming, PacketQueue& rx, std::uint64_t& order,
                 bool accepting) {
  for (int budget = 0; budget < 256; ++budget) {
    std::uint8_t buffer[protocol::kMaxDatagram + 1];
    const auto datagram = ReceiveStamped(fd, buffer);  // true time is CLOCK_MONOTONIC
    if (!datagram) return;
    if (!accepting) continue;  // rebooting: the datagram hits a board that is not listening
    const Fate fate = incoming.Next();
    for (int copy = 0; copy < fate.copies; ++copy) {
      rx.push({datagram->arrival_ns + fate.delay_ns[copy], order++,
               std::vector<std::uint8_t>(buffer, buffer + datagram->size), datagram->peer});
    }
  }
}

}  // namespace

std::string DefaultNodeAddress(int node_id) { return "127.0.2." + std::to_string(node_id); }

std::vector<std::string> SimNodeOptions::Validate() const {
  std::vector<std::string> problems = clock.Validate();
  for (auto& p : net.Validate()) problems.push_back(p);
  sockaddr_in address{};
  if (!ParseIpv4(bind_address, udp_port, &address) || !IsLoopback(address)) {
    problems.push_back("bind address must be a loopback IPv4 address (127.x.y.z), not '" +
                       bind_address + "'");
  }
  if (node_id == 0 || node_id == protocol::kAnyNode) problems.push_back("node id must be 1..65534");
  if (port_count == 0 || port_count > protocol::kMaxPorts) {
    problems.push_back("ports must be 1.." + std::to_string(protocol::kMaxPorts));
  }
  for (const auto& [port, target] : wiring) {
    if (port < 0 || port >= port_count) {
      problems.push_back("wiring names port " + std::to_string(port) + " of a node with " +
                         std::to_string(port_count) + " ports");
    }
  }
  if (max_seconds < 0) problems.push_back("max seconds must be >= 0");
  return problems;
}

std::vector<std::string> ToArgs(const SimNodeOptions& o) {
  auto num = [](auto value) {
    std::ostringstream out;
    out.precision(17);
    out << value;
    return out.str();
  };
  std::vector<std::string> args = {"--bind",
                                   o.bind_address,
                                   "--udp-port",
                                   num(o.udp_port),
                                   "--node-id",
                                   num(o.node_id),
                                   "--ports",
                                   num(static_cast<int>(o.port_count)),
                                   "--tick-rate",
                                   num(o.clock.tick_rate_hz),
                                   "--offset-ns",
                                   num(o.clock.offset_ns),
                                   "--drift-ppm",
                                   num(o.clock.drift_ppm),
                                   "--tick-base",
                                   num(o.clock.tick_base),
                                   "--delay-us",
                                   num(o.net.delay_us),
                                   "--jitter-us",
                                   num(o.net.jitter_us),
                                   "--loss",
                                   num(o.net.loss),
                                   "--duplicate",
                                   num(o.net.duplicate),
                                   "--reorder",
                                   num(o.net.reorder),
                                   "--reorder-extra-us",
                                   num(o.net.reorder_extra_us),
                                   "--seed",
                                   num(o.seed),
                                   "--min-lead-us",
                                   num(o.min_lead_us),
                                   "--max-late-us",
                                   num(o.max_late_us),
                                   "--reboot-ms",
                                   num(o.reboot_ms),
                                   "--max-seconds",
                                   num(o.max_seconds)};
  for (const auto& [port, address] : o.wiring) {
    args.push_back("--wire");
    args.push_back(std::to_string(port) + "=" + address);
  }
  if (!o.truth_log.empty()) args.insert(args.end(), {"--truth-log", o.truth_log.string()});
  if (!o.config_file.empty()) args.insert(args.end(), {"--config-file", o.config_file.string()});
  if (o.watchdog_reset) args.push_back("--watchdog-reset");
  return args;
}

Status RunSimNode(const SimNodeOptions& options) {
  const std::string where = "node " + std::to_string(options.node_id);
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "sim node options"));

  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return MakeError("cannot create a UDP socket", where, "check the process limits");
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  sockaddr_in address{};
  ParseIpv4(options.bind_address, options.udp_port, &address);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    const std::string reason = std::strerror(errno);
    close(fd);
    return MakeError("cannot bind " + options.bind_address + ":" +
                         std::to_string(options.udp_port) + ": " + reason,
                     where,
                     "stop the other process on that address or choose another node address");
  }

  SimHal hal(options, fd);
  if (Status status = hal.Init(); !status.ok()) {
    close(fd);
    return status;
  }
  NodeConfig config;
  config.node_id = options.node_id;
  config.port_count = options.port_count;
  config.min_lead_us = options.min_lead_us;
  config.max_late_us = options.max_late_us;
  auto node = std::make_unique<Node>(hal, config);  // all of the node's memory, allocated once
  node->Boot();

  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2}) sigaction(s, &action, nullptr);

  NetShaper incoming(options.net, options.seed * 2);
  PacketQueue rx;
  std::uint64_t order = 0;
  const SimClock& clock = hal.clock();
  const std::int64_t started = TrueNowNs();
  std::int64_t rebooting_until = 0;  // > 0 while the board is rebooting

  while (g_stop == 0) {
    std::int64_t now = TrueNowNs();
    if (options.max_seconds > 0 &&
        now - started > static_cast<std::int64_t>(options.max_seconds * 1e9)) {
      break;
    }
    if (g_power_glitch != 0 || g_watchdog_reset != 0) {
      if (g_watchdog_reset != 0) hal.SetWatchdogReset();
      g_power_glitch = 0;
      g_watchdog_reset = 0;
      rebooting_until = now + static_cast<std::int64_t>(options.reboot_ms) * 1'000'000;
      rx = PacketQueue();
    }
    if (hal.TakeRebootRequest()) {
      rebooting_until = now + static_cast<std::int64_t>(options.reboot_ms) * 1'000'000;
      rx = PacketQueue();
    }
    if (rebooting_until > 0 && now >= rebooting_until) {
      rebooting_until = 0;
      node->Boot();
    }

    // The next thing that happens in true time.
    std::int64_t next = now + 20'000'000;
    std::uint64_t deadline_tick = 0;
    const bool have_deadline = rebooting_until == 0 && node->NextDeadline(&deadline_tick);
    const std::int64_t deadline_ns = have_deadline ? clock.TrueAt(deadline_tick) : 0;
    if (have_deadline) next = std::min(next, deadline_ns);
    if (!rx.empty()) next = std::min(next, rx.top().due_ns);
    if (!hal.tx().empty()) next = std::min(next, hal.tx().top().due_ns);
    if (rebooting_until > 0) next = std::min(next, rebooting_until);

    if (next > now) {
      const std::int64_t wait = next - now;
      timespec timeout{static_cast<time_t>(wait / 1'000'000'000),
                       static_cast<long>(wait % 1'000'000'000)};
      pollfd pfd{fd, POLLIN, 0};
      ppoll(&pfd, 1, &timeout, nullptr);
    }
    DrainSocket(fd, incoming, rx, order, rebooting_until == 0);

    // Everything due by now, in true-time order (bounded per pass so the socket is read often).
    for (int budget = 0; budget < 512; ++budget) {
      now = TrueNowNs();
      std::int64_t best = now + 1;
      int kind = 0;  // 1 timer, 2 rx, 3 tx
      if (rebooting_until == 0 && node->NextDeadline(&deadline_tick)) {
        const std::int64_t t = clock.TrueAt(deadline_tick);
        if (t <= now && t < best) {
          best = t;
          kind = 1;
        }
      }
      if (!rx.empty() && rx.top().due_ns <= now && rx.top().due_ns < best) {
        best = rx.top().due_ns;
        kind = 2;
      }
      if (!hal.tx().empty() && hal.tx().top().due_ns <= now && hal.tx().top().due_ns < best) {
        best = hal.tx().top().due_ns;
        kind = 3;
      }
      if (kind == 0) break;
      if (kind == 1) {
        node->OnTimer(deadline_tick);
      } else if (kind == 2) {
        const Packet& packet = rx.top();
        Peer from;
        from.address = packet.peer.sin_addr.s_addr;
        from.port = packet.peer.sin_port;
        node->OnDatagram(packet.bytes.data(), packet.bytes.size(), clock.TickAt(packet.due_ns),
                         from);
        rx.pop();
      } else {
        Packet packet = hal.tx().top();
        hal.tx().pop();
        hal.Transmit(packet);
      }
    }
    node->Poll();
  }
  close(fd);
  return OkStatus();
}

// ---- SimNodeProcess

SimNodeProcess::SimNodeProcess(SimNodeProcess&& other) noexcept : pid_(other.pid_) {
  other.pid_ = -1;
}
SimNodeProcess& SimNodeProcess::operator=(SimNodeProcess&& other) noexcept {
  if (this != &other) {
    Stop();
    pid_ = other.pid_;
    other.pid_ = -1;
  }
  return *this;
}
SimNodeProcess::~SimNodeProcess() { Stop(); }

Result<SimNodeProcess> SimNodeProcess::Start(const std::filesystem::path& binary,
                                             const SimNodeOptions& options) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "sim node options"));
  std::vector<std::string> args = ToArgs(options);
  args.insert(args.begin(), binary.string());
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    return MakeError("cannot fork a sim node", "node " + std::to_string(options.node_id),
                     "check the process limits");
  }
  if (pid == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  SimNodeProcess process;
  process.pid_ = pid;
  return process;
}

bool SimNodeProcess::Signal(int signal) const { return pid_ > 0 && kill(pid_, signal) == 0; }

void SimNodeProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {  // up to 2 s to exit cleanly
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace twinrig::rig::sim
