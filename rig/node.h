// The trigger node's application: protocol handling, the fire scheduler, the latching safe state
// and the counters. Portable C++ over rig/hal.h: no heap (all state is in this object, which a
// board places in static storage), no exceptions, no RTTI, no board conditionals.
//
// A board drives it from one loop:
//   node.Boot();
//   loop: wait for a datagram or the timer compare at NextDeadline();
//         node.OnDatagram(bytes, size, rx_tick, from)  — rx_tick stamped as near the wire as it can
//         node.OnTimer(compare_tick)                    — the tick at which the compare matched
//         node.Poll()                                   — kicks the watchdog
#pragma once

#include <cstddef>
#include <cstdint>

#include "protocol/frame.h"
#include "rig/arena_allocator.h"
#include "rig/hal.h"

namespace twinrig::rig {

inline constexpr const char* kFirmwareVersion = "0.1.0";
inline constexpr std::uint32_t kMaxPorts = protocol::kMaxPorts;
// Pending edges: every fire needs up to 4 per port (focus close, shutter close, shutter open, focus
// open); 8 fires of all 16 ports in flight at once.
inline constexpr std::uint32_t kMaxEdges = 8 * 4 * kMaxPorts;
inline constexpr std::uint32_t kMaxShutterPulseUs = 2'000'000;  // outputs have a maximum on-time
inline constexpr std::uint32_t kMaxFocusLeadUs = 2'000'000;
inline constexpr std::int32_t kMaxTrimUs = 500'000;

struct PortSettings {
  bool enabled = true;
  std::uint32_t focus_lead_us = 0;
  std::uint32_t shutter_pulse_us = 100'000;
  std::int32_t trim_us = 0;
};

struct NodeConfig {
  std::uint16_t node_id = 1;
  std::uint8_t port_count = 8;
  // A fire-at must leave at least this much time between its arrival and its first edge.
  std::uint32_t min_lead_us = 2'000;
  // A timer that fires later than this after its edge's tick is a missed deadline (fault).
  std::uint32_t max_late_us = 200;
  // More than this many malformed frames within one second latches MalformedFlood.
  std::uint32_t malformed_flood_per_s = 50;
};

struct NodeCounters {
  std::uint32_t frames_rx = 0;
  std::uint32_t frames_tx = 0;
  std::uint32_t malformed = 0;
  std::uint32_t truncated = 0;
  std::uint32_t duplicated = 0;
  std::uint32_t replayed = 0;
  std::uint32_t out_of_order = 0;
  std::uint32_t not_for_me = 0;
  std::uint32_t fires_scheduled = 0;
  std::uint32_t fires_done = 0;
  std::uint32_t fires_refused = 0;
  std::uint32_t faults = 0;
};

class Node {
 public:
  Node(Hal& hal, const NodeConfig& config);

  // (Re)starts the application: new boot id, lines released, queue empty, persistent port
  // configuration loaded, Watchdog fault latched when the board reset from its watchdog.
  void Boot();

  void OnDatagram(const std::uint8_t* data, std::size_t size, std::uint64_t rx_tick,
                  const Peer& from);
  // The timer compare matched at `tick`: switch every edge due by then.
  void OnTimer(std::uint64_t tick);
  // Housekeeping from the main loop.
  void Poll();

  // The tick of the earliest pending edge; false when none is pending.
  [[nodiscard]] bool NextDeadline(std::uint64_t* tick) const;

  // Latches the safe state: every line released, pending edges dropped, disarmed; only Identify,
  // SyncRequest, GetStatus, ClearFault and Reboot are served until ClearFault.
  void LatchFault(protocol::fb::Fault fault, const char* detail);

  // Inspection (tests, boards).
  [[nodiscard]] bool armed() const { return armed_; }
  [[nodiscard]] protocol::fb::Fault latched_fault() const { return fault_; }
  [[nodiscard]] const NodeCounters& counters() const { return counters_; }
  [[nodiscard]] std::uint64_t boot_id() const { return boot_id_; }
  [[nodiscard]] const PortSettings& port(std::uint8_t index) const { return ports_[index]; }
  [[nodiscard]] std::uint32_t pending_edges() const { return edge_count_; }
  [[nodiscard]] bool line_closed(std::uint8_t port, Line line) const {
    return closed_[port][static_cast<int>(line)];
  }

 private:
  struct Edge {
    std::uint64_t tick = 0;
    std::uint32_t capture_id = 0;
    std::uint8_t port = 0;
    Line line = Line::kShutter;
    bool closed = false;
  };
  struct PortRecord {
    std::uint32_t last_capture_id = 0;
    std::uint64_t last_fire_tick = 0;
    std::uint32_t fires = 0;
  };
  enum class Admit : std::uint8_t { kAccept, kDuplicate, kOutOfOrder, kReplayed };

  Admit AdmitSequence(std::uint64_t session, std::uint32_t seq);
  void Dispatch(const protocol::fb::Frame& frame, std::uint64_t rx_tick, const Peer& from);
  void HandleConfigure(const protocol::fb::ConfigurePorts& message, std::uint32_t seq,
                       const Peer& from);
  void HandleFireAt(const protocol::fb::FireAt& message, std::uint32_t seq, const Peer& from);
  void ReleaseAllLines(std::uint64_t tick);
  void CountMalformed(std::uint64_t rx_tick);
  bool AddEdge(const Edge& edge);
  std::int64_t UsToTicks(std::int64_t us) const;
  void LoadPersistentConfig();
  void SavePersistentConfig();

  // Replies: each builds its body into builder_ and then calls Finish().
  void SendAck(std::uint32_t seq, const Peer& to, bool ok, protocol::fb::Fault fault,
               const char* detail);
  void SendIdentity(std::uint32_t seq, const Peer& to);
  void SendStatus(std::uint32_t seq, const Peer& to);
  void Finish(std::uint32_t ack, protocol::fb::Body type, flatbuffers::Offset<void> body,
              const Peer& to, bool stamp_sync_tx = false);

  Hal& hal_;
  NodeConfig config_;
  std::uint32_t tick_rate_hz_ = 1;
  std::uint64_t boot_id_ = 0;
  std::uint32_t tx_seq_ = 0;

  // Sequence window of the current host session (IPsec-style anti-replay: the highest accepted
  // seq and a bitmap of the 64 below it).
  std::uint64_t host_session_ = 0;
  bool have_session_ = false;
  std::uint32_t highest_seq_ = 0;
  std::uint64_t seen_bits_ = 0;

  bool armed_ = false;
  protocol::fb::Fault fault_ = protocol::fb::Fault::None;
  char fault_detail_[64] = {};

  PortSettings ports_[kMaxPorts] = {};
  PortRecord records_[kMaxPorts] = {};
  bool closed_[kMaxPorts][2] = {};
  Edge edges_[kMaxEdges] = {};
  std::uint32_t edge_count_ = 0;

  std::uint64_t malformed_window_start_ = 0;
  std::uint32_t malformed_in_window_ = 0;

  NodeCounters counters_;

  ArenaAllocator<2048> arena_;
  flatbuffers::FlatBufferBuilder builder_{2048, &arena_, false};
};

}  // namespace twinrig::rig
