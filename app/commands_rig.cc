// twinrig rig status | clear-fault: the trigger nodes, their clock sync and their faults.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "app/command.h"
#include "host/riglink/riglink.h"
#include "host/studio/rig_file.h"
#include "host/studio/studio_paths.h"

namespace twinrig::app {

namespace {

struct RigOptions {
  std::string rig;          // rig name under <studio>/rigs/
  std::string nodes;        // or ADDR:PORT,... directly
  double sync_seconds = 3;  // how long to exchange sync before reporting
};

Result<std::vector<riglink::NodeEndpoint>> Endpoints(const GlobalOptions& global,
                                                     const RigOptions& options) {
  if (!options.nodes.empty()) return riglink::ParseEndpointList(options.nodes);
  TWINRIG_ASSIGN_OR_RETURN(const auto file,
                           studio::StudioPaths(global.studio).FindRigFile(options.rig));
  TWINRIG_ASSIGN_OR_RETURN(const studio::Rig rig,
                           studio::ReadRigFile(file, studio::RigNeeds::kNodes));
  return riglink::NodeEndpoints(rig.nodes);
}

// The rig's nodes, connected to: a node that does not answer is in `connected`, not an error.
struct Connection {
  std::unique_ptr<riglink::RigLink> link;
  twinrig::Status connected;
};
Result<Connection> ConnectNodes(const GlobalOptions& global, const RigOptions& options) {
  TWINRIG_ASSIGN_OR_RETURN(const auto endpoints, Endpoints(global, options));
  TWINRIG_ASSIGN_OR_RETURN(auto link, riglink::RigLink::Create());
  Connection out{std::move(link), OkStatus()};
  out.connected = out.link->Connect(endpoints, std::chrono::seconds(2));
  return out;
}

// A rig or node list that cannot be used: what the command line or rig file must change.
int ReportUsageError(const Error& error) {
  PrintError(error.what, error.where, error.todo);
  return kExitUsage;
}

std::string Hex(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  return text;
}

int Status(const GlobalOptions& global, const RigOptions& options) {
  auto connection = ConnectNodes(global, options);
  if (!connection.ok()) return ReportUsageError(connection.error());
  riglink::RigLink& link = *connection->link;
  const twinrig::Status& connected = connection->connected;
  (void)link.WaitForSync(std::chrono::milliseconds(static_cast<long>(options.sync_seconds * 1000)),
                         0.0);
  const auto reports = link.Report();
  std::printf("%-22s %-4s %-11s %-8s %-16s %-7s %11s %9s %8s %8s %-6s %s\n", "node", "id", "board",
              "firmware", "boot id", "online", "offset ms", "drift ppm", "rtt us", "err us",
              "armed", "fault");
  int problems = connected.ok() ? 0 : 1;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const riglink::NodeReport& r = reports[i];
    if (!r.identified) {
      std::printf("%-22s %-4s %-11s %-8s %-16s %-7s %11s %9s %8s %8s %-6s %s\n",
                  r.endpoint.ToString().c_str(), "-", "-", "-", "-", "no", "-", "-", "-", "-", "-",
                  r.board.empty() ? "did not answer" : "schema mismatch");
      ++problems;
      continue;
    }
    auto status = link.GetStatus(i);
    std::string fault = "-";
    std::string armed = "-";
    if (status.ok()) {
      armed = status->armed ? "yes" : "no";
      if (status->fault != protocol::fb::Fault::None) {
        fault = std::string(protocol::FaultName(status->fault)) + ": " + status->fault_detail;
        ++problems;
      }
    }
    std::printf("%-22s %-4u %-11s %-8s %-16s %-7s %11.3f %9.2f %8.1f %8.2f %-6s %s\n",
                r.endpoint.ToString().c_str(), r.node_id, r.board.c_str(), r.firmware.c_str(),
                Hex(r.boot_id).c_str(), r.online ? "yes" : "no", r.sync.offset_ms, r.sync.drift_ppm,
                r.sync.min_rtt_us, r.sync.est_error_us, armed.c_str(), fault.c_str());
    if (status.ok()) {
      const auto& c = status->counters;
      std::printf(
          "%22s frames rx %u tx %u; dropped: malformed %u truncated %u duplicated %u "
          "replayed %u out-of-order %u; fires %u done %u refused %u; faults %u\n",
          "", c.frames_rx, c.frames_tx, c.malformed, c.truncated, c.duplicated, c.replayed,
          c.out_of_order, c.fires_scheduled, c.fires_done, c.fires_refused, c.faults);
    }
  }
  if (!connected.ok()) {
    PrintError(connected.error().what, connected.error().where, connected.error().todo);
  }
  return problems == 0 ? kExitOk : kExitFailed;
}

int ClearFaults(const GlobalOptions& global, const RigOptions& options) {
  auto connection = ConnectNodes(global, options);
  if (!connection.ok()) return ReportUsageError(connection.error());
  riglink::RigLink& link = *connection->link;
  const twinrig::Status& connected = connection->connected;
  int failed = connected.ok() ? 0 : 1;
  const auto reports = link.Report();
  for (std::size_t i = 0; i < reports.size(); ++i) {
    if (!reports[i].identified) continue;
    const twinrig::Status cleared = link.ClearFault(i);
    if (cleared.ok()) {
      std::cout << reports[i].endpoint.ToString() << ": cleared (disarmed)\n";
    } else {
      PrintError(cleared.error().what, cleared.error().where, cleared.error().todo);
      ++failed;
    }
  }
  if (!connected.ok()) {
    PrintError(connected.error().what, connected.error().where, connected.error().todo);
  }
  return failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace

void AddRig(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* rig = parent.add_subcommand("rig", "trigger nodes: status, clock sync, faults");
  rig->require_subcommand(1);
  auto options = std::make_shared<RigOptions>();
  auto add_common = [options](CLI::App* cmd) {
    cmd->add_option("--rig", options->rig, "rig name under <studio>/rigs/ (default: the only one)");
    cmd->add_option("--nodes", options->nodes, "nodes as ADDR:PORT,... instead of the rig file");
  };
  auto* status =
      rig->add_subcommand("status", "each node's board, firmware, boot id, sync quality, faults");
  add_common(status);
  status->add_option("--sync-seconds", options->sync_seconds, "clock sync time before reporting")
      ->check(CLI::Range(0.1, 60.0));
  status->callback([&global, &exit_code, options] { exit_code = Status(global, *options); });
  auto* clear = rig->add_subcommand("clear-fault", "leave the latched safe state on every node");
  add_common(clear);
  clear->callback([&global, &exit_code, options] { exit_code = ClearFaults(global, *options); });
}

}  // namespace twinrig::app
