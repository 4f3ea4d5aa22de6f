// bench/trigger-sync: N sim nodes x 8 ports with clock offsets up to +-1 s, drift up to +-100 ppm,
// one-way delay 200 +- 150 us and 1% loss in both directions. riglink keeps their clocks in sync
// and schedules F fires at common instants; every shutter edge's true time (from the nodes' truth
// logs) is compared with the scheduled instant. In the same run, the naive baseline: the host sends
// "fire now" to every node and each node fires when the datagram reaches it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "bench/harness/harness.h"
#include "host/riglink/riglink.h"
#include "protocol/frame.h"
#include "rig/boards/sim/sim_clock.h"
#include "rig/boards/sim/sim_node.h"

namespace twinrig::bench {
namespace {

using namespace std::chrono_literals;
namespace fb = protocol::fb;

struct Args {
  int nodes = 16;
  int ports = 8;
  int fires = 1000;
  int spacing_ms = 50;
  int naive_fires = 200;
  double delay_us = 200;
  double jitter_us = 150;
  double loss = 0.01;
  std::uint32_t tick_rate = 0;  // 0: alternate 1 MHz and 10 MHz nodes
};

// Optional overrides after the mode: --nodes N --fires F --delay-us D --jitter-us J --loss P.
void ParseOverrides(int argc, char** argv, Args* args) {
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string key = argv[i];
    const double value = std::atof(argv[i + 1]);
    if (key == "--nodes") args->nodes = static_cast<int>(value);
    if (key == "--fires") args->fires = static_cast<int>(value);
    if (key == "--delay-us") args->delay_us = value;
    if (key == "--jitter-us") args->jitter_us = value;
    if (key == "--loss") args->loss = value;
    if (key == "--tick-rate") args->tick_rate = static_cast<std::uint32_t>(value);
  }
  args->nodes = std::clamp(args->nodes, 1, 200);
  args->fires = std::clamp(args->fires, 1, 100000);
}

int Fail(const std::string& what) {
  std::cerr << "trigger-sync: " << what << "\n";
  return 1;
}

// The naive rig: one "fire now" datagram per node, sent one after another; a node fires when the
// datagram reaches it. Returns the error of every node's fire against the host's command instant
// (true time), in microseconds; lost commands are counted in `missed`.
std::vector<double> NaiveFires(const std::vector<rig::sim::SimNodeOptions>& nodes, int fires,
                               int* missed) {
  std::vector<double> errors;
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    close(fd);
    *missed += fires * static_cast<int>(nodes.size());
    return errors;
  }
  std::vector<sockaddr_in> peers;
  std::vector<rig::sim::SimClock> clocks;
  for (const auto& node : nodes) {
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_port = htons(node.udp_port);
    inet_pton(AF_INET, node.bind_address.c_str(), &peer.sin_addr);
    peers.push_back(peer);
    clocks.emplace_back(node.clock);
  }
  std::uint32_t seq = 0;
  for (int fire = 0; fire < fires; ++fire) {
    const std::int64_t command = rig::sim::TrueNowNs();
    std::map<std::uint32_t, std::size_t> outstanding;
    for (std::size_t n = 0; n < peers.size(); ++n) {
      // The node stamps this request's arrival: exactly when a "fire now" would fire it.
      flatbuffers::FlatBufferBuilder b;
      auto body = fb::CreateSyncRequest(b, command);
      auto frame = fb::CreateFrame(b, 0xBA5E, ++seq, 0, protocol::kAnyNode, fb::Body::SyncRequest,
                                   body.Union());
      fb::FinishFrameBuffer(b, frame);
      sendto(fd, b.GetBufferPointer(), b.GetSize(), 0, reinterpret_cast<sockaddr*>(&peers[n]),
             sizeof(peers[n]));
      outstanding[seq] = n;
    }
    const std::int64_t give_up = command + 30'000'000;
    while (!outstanding.empty() && rig::sim::TrueNowNs() < give_up) {
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 5) <= 0) continue;
      std::uint8_t buffer[protocol::kMaxDatagram];
      const ssize_t size = recv(fd, buffer, sizeof(buffer), 0);
      if (size <= 0) continue;
      const fb::Frame* reply =
          protocol::DecodeFrame(buffer, static_cast<std::size_t>(size), nullptr);
      if (reply == nullptr || reply->body_as_SyncReply() == nullptr) continue;
      auto it = outstanding.find(reply->ack());
      if (it == outstanding.end()) continue;
      const std::int64_t fired = clocks[it->second].TrueAt(reply->body_as_SyncReply()->rx_tick());
      errors.push_back(static_cast<double>(fired - command) / 1e3);
      outstanding.erase(it);
    }
    *missed += static_cast<int>(outstanding.size());
    std::this_thread::sleep_for(10ms);
  }
  close(fd);
  return errors;
}

// The studio's nodes: random clocks within the bounds, the network.
struct SimStudio {
  std::vector<rig::sim::SimNodeOptions> options;
  std::vector<rig::sim::SimNodeProcess> processes;
  std::vector<riglink::NodeEndpoint> endpoints;
};

Result<SimStudio> StartNodes(const Args& args, const std::filesystem::path& dir) {
  std::mt19937_64 random(20261128);
  std::uniform_real_distribution<double> offset(-1e9, 1e9);
  std::uniform_real_distribution<double> drift(-100, 100);
  const std::uint16_t udp_port = static_cast<std::uint16_t>(30000 + getpid() % 20000);
  SimStudio studio;
  for (int n = 0; n < args.nodes; ++n) {
    rig::sim::SimNodeOptions o;
    o.node_id = static_cast<std::uint16_t>(n + 1);
    o.bind_address = "127.0.4." + std::to_string(n + 1);
    o.udp_port = udp_port;
    o.port_count = static_cast<std::uint8_t>(args.ports);
    o.clock.offset_ns = static_cast<std::int64_t>(offset(random));
    o.clock.drift_ppm = drift(random);
    o.clock.tick_rate_hz =
        args.tick_rate != 0 ? args.tick_rate : (n % 2 == 0 ? 1'000'000 : 10'000'000);
    o.net.delay_us = args.delay_us;
    o.net.jitter_us = args.jitter_us;
    o.net.loss = args.loss;
    o.seed = 100 + static_cast<std::uint64_t>(n);
    o.truth_log = dir / ("node" + std::to_string(n + 1) + ".jsonl");
    o.max_seconds = 1800;
    TWINRIG_ASSIGN_OR_RETURN(auto process,
                             rig::sim::SimNodeProcess::Start(TWINRIG_NODE_SIM_BINARY, o));
    studio.processes.push_back(std::move(process));
    studio.endpoints.push_back({o.bind_address, o.udp_port});
    studio.options.push_back(o);
  }
  return studio;
}

// The link synced, ports configured and armed; the sync estimate per node printed.
Status PrepareLink(riglink::RigLink& link, const SimStudio& studio, const Args& args, bool quick) {
  TWINRIG_RETURN_IF_ERROR(link.Connect(studio.endpoints, 3s));
  // Sync needs its window: wait for the estimate, then a few seconds more of exchanges.
  TWINRIG_RETURN_IF_ERROR(link.WaitForSync(60s, 1000.0));
  std::this_thread::sleep_for(quick ? 4s : 8s);
  for (std::size_t n = 0; n < studio.endpoints.size(); ++n) {
    std::vector<riglink::PortSetting> ports;
    ports.reserve(static_cast<std::size_t>(args.ports));
    for (int p = 0; p < args.ports; ++p) {
      ports.push_back({static_cast<std::uint8_t>(p), true, 0, 10'000, 0});
    }
    TWINRIG_RETURN_IF_ERROR(link.ConfigurePorts(n, ports));
  }
  TWINRIG_RETURN_IF_ERROR(link.Arm(true));

  std::printf("%-6s %10s %10s %10s %10s %10s\n", "node", "offset_ms", "drift_ppm", "true_ppm",
              "min_rtt_us", "est_err_us");
  const auto reports = link.Report();
  for (std::size_t n = 0; n < reports.size(); ++n) {
    std::printf("%-6zu %10.3f %10.2f %10.2f %10.1f %10.2f\n", n + 1, reports[n].sync.offset_ms,
                reports[n].sync.drift_ppm, studio.options[n].clock.drift_ppm,
                reports[n].sync.min_rtt_us, reports[n].sync.est_error_us);
  }
  return {};
}

// The fires riglink scheduled: each capture's instant, and how many node refusals.
struct Scheduled {
  std::map<std::uint32_t, std::int64_t> instants;
  int refused = 0;
};

// A fire every `spacing` ms, each scheduled 500 ms ahead of its instant (a loaded machine can
// stall a sim node's process for a good part of that; a lost datagram costs a retransmission).
Result<Scheduled> ScheduleFires(const SimStudio& studio, const Args& args, bool quick) {
  Scheduled out;
  TWINRIG_ASSIGN_OR_RETURN(auto created, riglink::RigLink::Create());
  riglink::RigLink& link = *created;
  TWINRIG_RETURN_IF_ERROR(PrepareLink(link, studio, args, quick));
  std::int64_t next_send = riglink::HostNowNs();
  for (int k = 0; k < args.fires; ++k) {
    const std::int64_t wait = next_send - riglink::HostNowNs();
    if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
    next_send = std::max(next_send, riglink::HostNowNs()) +
                static_cast<std::int64_t>(args.spacing_ms) * 1'000'000;
    const std::int64_t instant = riglink::HostNowNs() + 500'000'000;
    const auto capture = static_cast<std::uint32_t>(k + 1);
    TWINRIG_ASSIGN_OR_RETURN(const auto ticket, link.ScheduleCapture(capture, instant));
    for (const auto& node : ticket.nodes) {
      if (!node.scheduled) {
        ++out.refused;
        std::cerr << "trigger-sync: " << (node.error ? node.error->Describe() : "?") << "\n";
      }
    }
    out.instants[capture] = instant;
    if ((k + 1) % 100 == 0) std::fprintf(stderr, "  %d/%d fires\n", k + 1, args.fires);
  }
  std::this_thread::sleep_for(900ms);
  (void)link.Arm(false);
  return out;
}

// Truth: every shutter-close edge against its scheduled instant (us); OS lateness apart.
struct Edges {
  std::vector<double> errors;
  std::vector<double> os_late;
};

Edges ReadEdges(const std::filesystem::path& dir, int nodes,
                const std::map<std::uint32_t, std::int64_t>& instants) {
  Edges out;
  for (int n = 0; n < nodes; ++n) {
    std::ifstream in(dir / ("node" + std::to_string(n + 1) + ".jsonl"));
    std::string line;
    for (int guard = 0; guard < 10'000'000 && std::getline(in, line); ++guard) {
      const auto edge = nlohmann::json::parse(line, nullptr, false);
      if (edge.is_discarded()) continue;
      out.os_late.push_back(edge["os_late_ns"].get<double>() / 1e3);
      if (edge["line"] != "shutter" || !edge["closed"].get<bool>()) continue;
      const auto it = instants.find(edge["capture"].get<std::uint32_t>());
      if (it == instants.end()) continue;
      out.errors.push_back(static_cast<double>(edge["true_ns"].get<std::int64_t>() - it->second) /
                           1e3);
    }
  }
  return out;
}

// The table and the RESULT line: scheduled fires against the naive baseline.
int Report(const Args& args, const Edges& edges, const std::vector<double>& naive,
           int scheduled_refused, int naive_missed) {
  const std::vector<double>& errors = edges.errors;
  const std::vector<double>& os_late = edges.os_late;
  const std::size_t expected = static_cast<std::size_t>(args.fires) * args.nodes * args.ports;
  const std::size_t missing = expected > errors.size() ? expected - errors.size() : 0;
  auto abs_all = [](std::vector<double> v) {
    for (double& x : v) x = std::fabs(x);
    return v;
  };
  if (errors.empty() || naive.empty()) return Fail("no fires were recorded");
  const double p50 = Percentile(abs_all(errors), 50);
  const double p99 = Percentile(abs_all(errors), 99);
  const double p999 = Percentile(abs_all(errors), 99.9);
  const double worst = Percentile(abs_all(errors), 100);
  const double naive_p50 = Percentile(abs_all(naive), 50);
  const double naive_p99 = Percentile(abs_all(naive), 99);
  const double os_p50 = Percentile(os_late, 50);
  const double os_p99 = Percentile(os_late, 99);

  std::printf("\n%-28s %10s %10s %10s %10s\n", "shutter edge error (us)", "p50", "p99", "p99.9",
              "max");
  std::printf("%-28s %10.2f %10.2f %10.2f %10.2f\n", "scheduled (riglink)", p50, p99, p999, worst);
  std::printf("%-28s %10.2f %10.2f %10s %10.2f\n", "naive fire-now", naive_p50, naive_p99, "-",
              Percentile(abs_all(naive), 100));
  std::printf("%-28s %10.2f %10.2f %10s %10.2f\n", "sim OS wake-up lateness", os_p50, os_p99, "-",
              Percentile(os_late, 100));
  std::printf("edges %zu of %zu expected (missing %zu), fire-at refused %d, naive lost %d\n",
              errors.size(), expected, missing, scheduled_refused, naive_missed);
  ResultLine("trigger-sync")
      .Add("nodes", args.nodes, 0)
      .Add("ports", args.ports, 0)
      .Add("fires", args.fires, 0)
      .Add("p99_us", p99, 2)
      .Add("p999_us", p999, 2)
      .Add("max_us", worst, 2)
      .Add("naive_p99_us", naive_p99, 2)
      .Add("gain_p99", naive_p99 / std::max(p99, 0.01), 1)
      .Add("os_latency_p99_us", os_p99, 1)
      .Add("missing_edges", static_cast<double>(missing), 0)
      .Print();
  return 0;
}

int Run(int argc, char** argv) {
  Args args;
  const bool quick = QuickMode(argc, argv);
  if (quick) {
    args.nodes = 4;
    args.fires = 100;
    args.naive_fires = 50;
  }
  ParseOverrides(argc, argv, &args);
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("trigger-sync-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);

  auto studio = StartNodes(args, dir);
  if (!studio.ok()) return Fail(studio.error().Describe());
  std::this_thread::sleep_for(300ms);
  const auto scheduled = ScheduleFires(*studio, args, quick);
  if (!scheduled.ok()) return Fail(scheduled.error().Describe());
  const Edges edges = ReadEdges(dir, args.nodes, scheduled->instants);

  // The naive baseline on the same nodes and network.
  int naive_missed = 0;
  const std::vector<double> naive = NaiveFires(studio->options, args.naive_fires, &naive_missed);
  for (auto& p : studio->processes) p.Stop();
  std::filesystem::remove_all(dir);
  return Report(args, edges, naive, scheduled->refused, naive_missed);
}

}  // namespace
}  // namespace twinrig::bench

int main(int argc, char** argv) { return twinrig::bench::Run(argc, argv); }
