// riglink: the station's client of its trigger nodes (Boost.Asio, UDP). It discovers nodes, keeps
// clock sync with each (clock_sync.h), configures ports, arms, schedules a capture at one common
// instant on every node, collects confirmations and reports per-node sync quality. It survives lost
// packets (retransmission with fresh sequence numbers; every command is idempotent), node reboots
// (a new boot id resets sync and re-applies the node's configuration and arm state) and nodes that
// go silent (reported, never waited on forever).
//
// All network work runs on one internal thread; the public methods are blocking and thread-safe.
// Host time is CLOCK_MONOTONIC in nanoseconds (true time in the virtual studio).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/riglink/clock_sync.h"
#include "host/studio/rig_file.h"
#include "protocol/frame.h"
#include "util/result.h"

namespace twinrig::riglink {

struct NodeEndpoint {
  std::string address;  // IPv4, e.g. "127.0.2.1"
  std::uint16_t port = protocol::kNodeUdpPort;
  [[nodiscard]] std::string ToString() const;
};

// "127.0.2.1:15800" (the port may be left out).
Result<NodeEndpoint> ParseEndpoint(std::string_view text);
// "127.0.2.1:15800,127.0.2.2:15800"
Result<std::vector<NodeEndpoint>> ParseEndpointList(std::string_view text);
// The endpoints of a rig file's trigger nodes, in its order (the rig file reader has checked
// their addresses and ports).
std::vector<NodeEndpoint> NodeEndpoints(const std::vector<studio::NodeSpec>& nodes);

struct PortSetting {
  std::uint8_t port = 0;
  bool enabled = true;
  std::uint32_t focus_lead_us = 0;
  std::uint32_t shutter_pulse_us = 100'000;
  std::int32_t trim_us = 0;  // e.g. minus the camera's extra shutter lag
};

struct RigLinkOptions {
  std::string bind_address = "127.0.0.1";  // local address of the host's socket
  std::chrono::milliseconds sync_interval{20};
  std::chrono::milliseconds retransmit_after{40};
  int max_attempts = 10;  // then the request fails and the node counts as silent
  std::chrono::milliseconds silent_after{1500};  // no frame for this long: the node is silent
  ClockSyncOptions sync;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

struct NodeCountersView {
  std::uint32_t frames_rx = 0, frames_tx = 0, malformed = 0, truncated = 0, duplicated = 0,
                replayed = 0, out_of_order = 0, fires_scheduled = 0, fires_done = 0,
                fires_refused = 0, faults = 0;
};

struct NodePortStatus {
  std::uint8_t port = 0;
  std::uint32_t last_capture_id = 0;
  std::uint64_t last_fire_tick = 0;
  std::uint32_t fires = 0;
  std::uint8_t pending = 0;
};

struct NodeStatus {
  bool armed = false;
  protocol::fb::Fault fault = protocol::fb::Fault::None;
  std::string fault_detail;
  std::uint64_t now_tick = 0;
  std::vector<NodePortStatus> ports;
  NodeCountersView counters;
};

// What the host knows about one node.
struct NodeReport {
  NodeEndpoint endpoint;
  bool identified = false;
  bool online = false;  // heard from within silent_after
  std::uint16_t node_id = 0;
  std::string board;
  std::string firmware;
  std::uint64_t schema_hash = 0;
  bool schema_matches = false;
  std::uint32_t tick_rate_hz = 0;
  std::uint8_t port_count = 0;
  std::uint64_t boot_id = 0;
  int reboots_seen = 0;
  SyncQuality sync;
  std::uint32_t retransmissions = 0;
  std::uint32_t failed_requests = 0;
  std::uint32_t dropped_frames = 0;  // malformed, duplicated or unmatched replies from this node
};

struct NodeFire {
  NodeEndpoint endpoint;
  bool scheduled = false;
  std::uint64_t fire_tick = 0;
  std::optional<Error> error;  // why it was not scheduled
};

struct CaptureTicket {
  std::uint32_t capture_id = 0;
  std::int64_t host_instant_ns = 0;  // the common instant (host clock) of the shutter edges
  std::vector<NodeFire> nodes;       // in the order of Connect()
  [[nodiscard]] bool all_scheduled() const;
};

class RigLink {
 public:
  static Result<std::unique_ptr<RigLink>> Create(const RigLinkOptions& options = {});
  ~RigLink();
  RigLink(const RigLink&) = delete;
  RigLink& operator=(const RigLink&) = delete;

  // Identifies every node (with retransmission) and starts clock sync with the ones that answer.
  // Nodes that do not answer stay in the list (reported offline); the Error names them.
  Status Connect(const std::vector<NodeEndpoint>& nodes, std::chrono::milliseconds timeout);
  // Waits until every identified node's sync is ready with est_error_us <= max_error_us.
  Status WaitForSync(std::chrono::milliseconds timeout, double max_error_us = 20.0);

  [[nodiscard]] std::vector<NodeReport> Report() const;
  [[nodiscard]] std::size_t node_count() const;

  Status ConfigurePorts(std::size_t node, const std::vector<PortSetting>& ports,
                        bool persist = false);
  Status Arm(bool armed);  // every identified node
  // Schedules the shutter edge of every enabled port on every node at host instant
  // `host_instant_ns` (before each port's trim). Nodes that refuse or do not answer are reported
  // in the ticket; the others stay scheduled.
  Result<CaptureTicket> ScheduleCapture(std::uint32_t capture_id, std::int64_t host_instant_ns);
  // Polls status until every scheduled node reports the capture on all its enabled ports, or the
  // timeout. Returns the nodes that did not confirm (empty: all fired).
  Result<std::vector<std::size_t>> ConfirmCapture(const CaptureTicket& ticket,
                                                  std::chrono::milliseconds timeout);

  Result<NodeStatus> GetStatus(std::size_t node);
  Status ClearFault(std::size_t node);
  Status Reboot(std::size_t node);

  // Host instant of a node tick (for reports): nullopt when the node is not synced.
  std::optional<std::int64_t> TickToHost(std::size_t node, std::uint64_t tick) const;

  class Impl;

 private:
  explicit RigLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// CLOCK_MONOTONIC now, in ns.
std::int64_t HostNowNs();

}  // namespace twinrig::riglink
