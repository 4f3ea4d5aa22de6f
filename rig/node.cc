#include "rig/node.h"

#include <climits>
#include <cstdint>
#include <cstring>

namespace twinrig::rig {

namespace fb = protocol::fb;
using protocol::TickBefore;
using protocol::TickDiff;

namespace {

constexpr std::uint32_t kConfigMagic = 0x43505254;  // "TRPC"
constexpr std::uint8_t kConfigVersion = 1;
constexpr std::size_t kPortRecordBytes = 13;  // enabled u8, lead u32, pulse u32, trim i32

// FNV-1a: enough to tell a stored configuration from erased or torn flash.
std::uint32_t Checksum(const std::uint8_t* data, std::size_t size) {
  std::uint32_t hash = 2166136261U;
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= data[i];
    hash *= 16777619U;
  }
  return hash;
}

void PutU32(std::uint8_t* out, std::uint32_t value) { std::memcpy(out, &value, 4); }
std::uint32_t GetU32(const std::uint8_t* in) {
  std::uint32_t value = 0;
  std::memcpy(&value, in, 4);
  return value;
}

// Copies at most capacity-1 characters and always terminates.
void CopyClipped(char* out, std::size_t capacity, const char* text) {
  std::size_t n = 0;
  for (; text != nullptr && text[n] != '\0' && n + 1 < capacity; ++n) out[n] = text[n];
  out[n] = '\0';
}

// Tiny formatter for fault details (no printf: it would pull the heap into the firmware).
class Detail {
 public:
  Detail& Text(const char* text) {
    while (*text != '\0' && length_ + 1 < sizeof(buffer_)) buffer_[length_++] = *text++;
    buffer_[length_] = '\0';
    return *this;
  }
  Detail& Number(std::int64_t value) {
    char digits[24];
    int n = 0;
    const bool negative = value < 0;
    std::uint64_t magnitude =
        negative ? static_cast<std::uint64_t>(-(value + 1)) + 1 : static_cast<std::uint64_t>(value);
    do {
      digits[n++] = static_cast<char>('0' + magnitude % 10);
      magnitude /= 10;
    } while (magnitude != 0 && n < 23);
    if (negative) Text("-");
    while (n > 0 && length_ + 1 < sizeof(buffer_)) buffer_[length_++] = digits[--n];
    buffer_[length_] = '\0';
    return *this;
  }
  [[nodiscard]] const char* c_str() const { return buffer_; }

 private:
  char buffer_[96] = {};
  std::size_t length_ = 0;
};

// Ticks to microseconds without overflow for any tick difference.
std::int64_t TicksToUs(std::int64_t ticks, std::uint32_t rate) {
  const std::int64_t whole = ticks / rate;
  constexpr std::int64_t kLimit = INT64_MAX / 1000000 - 1;
  if (whole > kLimit) return INT64_MAX;
  if (whole < -kLimit) return INT64_MIN;
  return whole * 1000000 + (ticks % rate) * 1000000 / rate;
}

}  // namespace

Node::Node(Hal& hal, const NodeConfig& config) : hal_(hal), config_(config) {
  if (config_.port_count > kMaxPorts) config_.port_count = kMaxPorts;
}

void Node::Boot() {
  tick_rate_hz_ = hal_.TickRateHz();
  if (tick_rate_hz_ == 0) tick_rate_hz_ = 1;
  ReleaseAllLines(hal_.Now());
  boot_id_ = hal_.Entropy();
  if (boot_id_ == 0) boot_id_ = 1;
  tx_seq_ = 0;
  have_session_ = false;
  host_session_ = 0;
  highest_seq_ = 0;
  seen_bits_ = 0;
  armed_ = false;
  fault_ = fb::Fault::None;
  fault_detail_[0] = '\0';
  edge_count_ = 0;
  malformed_window_start_ = hal_.Now();
  malformed_in_window_ = 0;
  counters_ = NodeCounters{};
  for (auto& record : records_) record = PortRecord{};
  for (auto& settings : ports_) settings = PortSettings{};
  LoadPersistentConfig();
  if (hal_.ResetByWatchdog())
    LatchFault(fb::Fault::Watchdog, "the node restarted from its watchdog");
}

std::int64_t Node::UsToTicks(std::int64_t us) const {
  return protocol::UsToTicks(us, tick_rate_hz_);
}

void Node::CountMalformed(std::uint64_t rx_tick) {
  if (TickDiff(rx_tick, malformed_window_start_) > static_cast<std::int64_t>(tick_rate_hz_)) {
    malformed_window_start_ = rx_tick;
    malformed_in_window_ = 0;
  }
  if (++malformed_in_window_ > config_.malformed_flood_per_s && fault_ == fb::Fault::None) {
    LatchFault(fb::Fault::MalformedFlood, "too many malformed frames within one second");
  }
}

Node::Admit Node::AdmitSequence(std::uint64_t session, std::uint32_t seq) {
  if (!have_session_ || session != host_session_) {
    // A host (re)start: its sequence numbers begin again.
    have_session_ = true;
    host_session_ = session;
    highest_seq_ = seq;
    seen_bits_ = 0;
    return Admit::kAccept;
  }
  const auto ahead = static_cast<std::int32_t>(seq - highest_seq_);
  if (ahead > 0) {
    const auto shift = static_cast<std::uint32_t>(ahead);
    if (shift < 64) {
      seen_bits_ = (seen_bits_ << shift) | (std::uint64_t{1} << (shift - 1));
    } else {
      seen_bits_ = shift == 64 ? (std::uint64_t{1} << 63) : 0;
    }
    highest_seq_ = seq;
    return Admit::kAccept;
  }
  if (ahead == 0) return Admit::kDuplicate;
  const auto back = static_cast<std::uint32_t>(-static_cast<std::int64_t>(ahead));
  if (back > 64) return Admit::kReplayed;
  const std::uint64_t bit = std::uint64_t{1} << (back - 1);
  if ((seen_bits_ & bit) != 0) return Admit::kDuplicate;
  seen_bits_ |= bit;  // a later copy of this one is a duplicate
  return Admit::kOutOfOrder;
}

void Node::OnDatagram(const std::uint8_t* data, std::size_t size, std::uint64_t rx_tick,
                      const Peer& from) {
  ++counters_.frames_rx;
  protocol::DecodeError error = protocol::DecodeError::kNone;
  const fb::Frame* frame = protocol::DecodeFrame(data, size, &error);
  if (frame == nullptr) {
    if (error == protocol::DecodeError::kTruncated) {
      ++counters_.truncated;
    } else {
      ++counters_.malformed;
    }
    CountMalformed(rx_tick);
    return;
  }
  switch (frame->body_type()) {
    case fb::Body::Identify:
    case fb::Body::SyncRequest:
    case fb::Body::ConfigurePorts:
    case fb::Body::Arm:
    case fb::Body::FireAt:
    case fb::Body::GetStatus:
    case fb::Body::ClearFault:
    case fb::Body::Reboot:
      break;
    default:  // empty, unknown, or a node-to-host message: not a request
      ++counters_.malformed;
      CountMalformed(rx_tick);
      return;
  }
  if (frame->body() == nullptr) {  // a union type without its table verifies, but is no request
    ++counters_.malformed;
    CountMalformed(rx_tick);
    return;
  }
  if (frame->node_id() != protocol::kAnyNode && frame->node_id() != config_.node_id) {
    ++counters_.not_for_me;
    return;
  }
  switch (AdmitSequence(frame->session(), frame->seq())) {
    case Admit::kAccept:
      break;
    case Admit::kDuplicate:
      ++counters_.duplicated;
      return;
    case Admit::kOutOfOrder:
      ++counters_.out_of_order;
      return;
    case Admit::kReplayed:
      ++counters_.replayed;
      return;
  }
  Dispatch(*frame, rx_tick, from);
}

void Node::Dispatch(const fb::Frame& frame, std::uint64_t rx_tick, const Peer& from) {
  const std::uint32_t seq = frame.seq();
  switch (frame.body_type()) {
    case fb::Body::Identify:
      SendIdentity(seq, from);
      return;
    case fb::Body::SyncRequest: {
      // The transmit tick is written now and restamped at the wire by boards that can.
      builder_.ForceDefaults(true);  // keep the field even if the tick happens to be 0
      auto reply = fb::CreateSyncReply(builder_, frame.body_as_SyncRequest()->host_send_ns(),
                                       rx_tick, hal_.Now());
      builder_.ForceDefaults(false);
      Finish(seq, fb::Body::SyncReply, reply.Union(), from, true);
      return;
    }
    case fb::Body::GetStatus:
      SendStatus(seq, from);
      return;
    case fb::Body::ClearFault:
      fault_ = fb::Fault::None;
      fault_detail_[0] = '\0';
      armed_ = false;
      SendAck(seq, from, true, fb::Fault::None, "");
      return;
    case fb::Body::Reboot:
      SendAck(seq, from, true, fb::Fault::None, "rebooting");
      hal_.RequestReboot();
      return;
    default:
      break;
  }
  if (fault_ != fb::Fault::None) {
    Detail detail;
    detail.Text("node is in its safe state after ")
        .Text(protocol::FaultName(fault_))
        .Text(": send ClearFault");
    SendAck(seq, from, false, fault_, detail.c_str());
    return;
  }
  switch (frame.body_type()) {
    case fb::Body::ConfigurePorts:
      HandleConfigure(*frame.body_as_ConfigurePorts(), seq, from);
      return;
    case fb::Body::Arm:
      armed_ = frame.body_as_Arm()->armed();
      if (!armed_) {
        edge_count_ = 0;
        ReleaseAllLines(hal_.Now());
      }
      SendAck(seq, from, true, fb::Fault::None, "");
      return;
    case fb::Body::FireAt:
      HandleFireAt(*frame.body_as_FireAt(), seq, from);
      return;
    default:
      return;
  }
}

void Node::HandleConfigure(const fb::ConfigurePorts& message, std::uint32_t seq, const Peer& from) {
  if (armed_) {
    SendAck(seq, from, false, fb::Fault::Busy, "disarm the node before configuring its ports");
    return;
  }
  const auto* list = message.ports();
  if (list != nullptr) {
    for (const fb::PortConfig* config : *list) {
      Detail detail;
      if (config->port() >= config_.port_count) {
        detail.Text("port ").Number(config->port()).Text(" does not exist (node has ");
        detail.Number(config_.port_count).Text(")");
      } else if (config->shutter_pulse_us() == 0 ||
                 config->shutter_pulse_us() > kMaxShutterPulseUs) {
        detail.Text("shutter pulse of port ").Number(config->port()).Text(" must be 1..");
        detail.Number(kMaxShutterPulseUs).Text(" us");
      } else if (config->focus_lead_us() > kMaxFocusLeadUs) {
        detail.Text("focus lead of port ").Number(config->port()).Text(" exceeds ");
        detail.Number(kMaxFocusLeadUs).Text(" us");
      } else if (config->trim_us() > kMaxTrimUs || config->trim_us() < -kMaxTrimUs) {
        detail.Text("trim of port ").Number(config->port()).Text(" exceeds +-");
        detail.Number(kMaxTrimUs).Text(" us");
      } else {
        continue;
      }
      SendAck(seq, from, false, fb::Fault::BadConfig, detail.c_str());
      return;
    }
    for (const fb::PortConfig* config : *list) {
      PortSettings& settings = ports_[config->port()];
      settings.enabled = config->enabled();
      settings.focus_lead_us = config->focus_lead_us();
      settings.shutter_pulse_us = config->shutter_pulse_us();
      settings.trim_us = config->trim_us();
    }
  }
  if (message.persist()) SavePersistentConfig();
  SendAck(seq, from, true, fb::Fault::None, "");
}

bool Node::AddEdge(const Edge& edge) {
  if (edge_count_ >= kMaxEdges) return false;
  // edges_ stays ordered latest first, so that the fire path takes the earliest from the back in
  // constant time; among equal ticks the first added leaves first. The shifting happens here, when
  // a fire-at arrives, not when its lines switch.
  std::uint32_t at = 0;
  while (at < edge_count_ && TickBefore(edge.tick, edges_[at].tick)) ++at;
  for (std::uint32_t i = edge_count_; i > at; --i) edges_[i] = edges_[i - 1];
  edges_[at] = edge;
  ++edge_count_;
  return true;
}

void Node::HandleFireAt(const fb::FireAt& message, std::uint32_t seq, const Peer& from) {
  const std::uint32_t capture = message.capture_id();
  const std::uint64_t all_ports =
      config_.port_count >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << config_.port_count) - 1;
  const std::uint64_t mask = message.port_mask();
  if ((mask & ~all_ports) != 0 || mask == 0) {
    ++counters_.fires_refused;
    SendAck(seq, from, false, fb::Fault::BadConfig, "port mask names ports this node lacks");
    return;
  }
  // A retransmitted fire-at (its ack was lost) must not fire twice.
  for (std::uint32_t i = 0; i < edge_count_; ++i) {
    if (edges_[i].capture_id == capture) {
      SendAck(seq, from, true, fb::Fault::None, "already scheduled");
      return;
    }
  }
  for (std::uint8_t p = 0; p < config_.port_count; ++p) {
    if ((mask >> p & 1U) != 0 && records_[p].fires > 0 && records_[p].last_capture_id == capture) {
      SendAck(seq, from, true, fb::Fault::None, "already fired");
      return;
    }
  }
  if (!armed_) {
    ++counters_.fires_refused;
    SendAck(seq, from, false, fb::Fault::NotArmed, "arm the node before scheduling a fire");
    return;
  }
  const std::uint64_t now = hal_.Now();
  const std::uint64_t earliest = now + static_cast<std::uint64_t>(UsToTicks(config_.min_lead_us));
  std::uint32_t needed = 0;
  for (std::uint8_t p = 0; p < config_.port_count; ++p) {
    if ((mask >> p & 1U) == 0 || !ports_[p].enabled) continue;
    const PortSettings& settings = ports_[p];
    const std::uint64_t shutter = message.fire_tick() + UsToTicks(settings.trim_us);
    const std::uint64_t first = shutter - UsToTicks(settings.focus_lead_us);
    if (TickBefore(first, earliest)) {
      ++counters_.fires_refused;
      Detail detail;
      detail.Text("fire-at of capture ").Number(capture).Text(" is ");
      detail.Number(TicksToUs(TickDiff(earliest, first), tick_rate_hz_));
      detail.Text(" us too late for port ").Number(p).Text(": refused, not fired");
      SendAck(seq, from, false, fb::Fault::FireInPast, detail.c_str());
      return;
    }
    needed += settings.focus_lead_us > 0 ? 4 : 2;
  }
  if (edge_count_ + needed > kMaxEdges) {
    ++counters_.fires_refused;
    SendAck(seq, from, false, fb::Fault::QueueFull, "too many fires pending: wait for some");
    return;
  }
  for (std::uint8_t p = 0; p < config_.port_count; ++p) {
    if ((mask >> p & 1U) == 0 || !ports_[p].enabled) continue;
    const PortSettings& settings = ports_[p];
    const std::uint64_t shutter = message.fire_tick() + UsToTicks(settings.trim_us);
    const std::uint64_t release = shutter + UsToTicks(settings.shutter_pulse_us);
    if (settings.focus_lead_us > 0) {
      AddEdge({shutter - UsToTicks(settings.focus_lead_us), capture, p, Line::kFocus, true});
      AddEdge({release, capture, p, Line::kFocus, false});
    }
    AddEdge({shutter, capture, p, Line::kShutter, true});
    AddEdge({release, capture, p, Line::kShutter, false});
  }
  ++counters_.fires_scheduled;
  SendAck(seq, from, true, fb::Fault::None, "");
}

bool Node::NextDeadline(std::uint64_t* tick) const {
  if (edge_count_ == 0) return false;
  *tick = edges_[edge_count_ - 1].tick;
  return true;
}

void Node::OnTimer(std::uint64_t tick) {
  const std::int64_t max_late = UsToTicks(config_.max_late_us);
  // Bounded: every pass removes one edge, the earliest (edges_ is ordered latest first).
  for (std::uint32_t guard = 0; guard < kMaxEdges && edge_count_ > 0; ++guard) {
    const Edge edge = edges_[edge_count_ - 1];
    if (TickBefore(tick, edge.tick)) return;
    if (TickDiff(tick, edge.tick) > max_late) {
      Detail detail;
      detail.Text("edge of capture ").Number(edge.capture_id).Text(" on port ").Number(edge.port);
      detail.Text(" was due ").Number(TicksToUs(TickDiff(tick, edge.tick), tick_rate_hz_));
      detail.Text(" us ago");
      LatchFault(fb::Fault::MissedDeadline, detail.c_str());
      return;
    }
    --edge_count_;
    hal_.SetLine(edge.port, edge.line, edge.closed, edge.tick, edge.capture_id);
    closed_[edge.port][static_cast<int>(edge.line)] = edge.closed;
    if (edge.line == Line::kShutter && edge.closed) {
      PortRecord& record = records_[edge.port];
      record.last_capture_id = edge.capture_id;
      record.last_fire_tick = edge.tick;
      ++record.fires;
      ++counters_.fires_done;
    }
  }
}

void Node::Poll() { hal_.KickWatchdog(); }

void Node::ReleaseAllLines(std::uint64_t tick) {
  for (std::uint8_t p = 0; p < kMaxPorts; ++p) {
    for (int l = 0; l < 2; ++l) {
      if (!closed_[p][l]) continue;
      hal_.SetLine(p, static_cast<Line>(l), false, tick, 0);
      closed_[p][l] = false;
    }
  }
}

void Node::LatchFault(fb::Fault fault, const char* detail) {
  ReleaseAllLines(hal_.Now());
  edge_count_ = 0;
  armed_ = false;
  if (fault_ != fb::Fault::None) return;  // the first fault is the one to report
  fault_ = fault;
  CopyClipped(fault_detail_, sizeof(fault_detail_), detail);
  ++counters_.faults;
}

void Node::SavePersistentConfig() {
  std::uint8_t blob[4 + 1 + 1 + kMaxPorts * kPortRecordBytes + 4] = {};
  std::size_t at = 0;
  PutU32(blob, kConfigMagic);
  at += 4;
  blob[at++] = kConfigVersion;
  blob[at++] = static_cast<std::uint8_t>(config_.port_count);
  for (std::uint8_t p = 0; p < config_.port_count; ++p) {
    blob[at++] = ports_[p].enabled ? 1 : 0;
    PutU32(blob + at, ports_[p].focus_lead_us);
    PutU32(blob + at + 4, ports_[p].shutter_pulse_us);
    PutU32(blob + at + 8, static_cast<std::uint32_t>(ports_[p].trim_us));
    at += 12;
  }
  PutU32(blob + at, Checksum(blob, at));
  at += 4;
  hal_.SaveConfig(blob, at);
}

void Node::LoadPersistentConfig() {
  std::uint8_t blob[4 + 1 + 1 + kMaxPorts * kPortRecordBytes + 4] = {};
  const std::size_t size = hal_.LoadConfig(blob, sizeof(blob));
  if (size < 10 || GetU32(blob) != kConfigMagic || blob[4] != kConfigVersion) return;
  const std::uint8_t count = blob[5];
  const std::size_t expected = 6 + std::size_t{count} * kPortRecordBytes + 4;
  if (count > kMaxPorts || size != expected) return;
  if (Checksum(blob, expected - 4) != GetU32(blob + expected - 4)) return;
  std::size_t at = 6;
  for (std::uint8_t p = 0; p < count && p < config_.port_count; ++p) {
    PortSettings settings;
    settings.enabled = blob[at] != 0;
    settings.focus_lead_us = GetU32(blob + at + 1);
    settings.shutter_pulse_us = GetU32(blob + at + 5);
    settings.trim_us = static_cast<std::int32_t>(GetU32(blob + at + 9));
    at += kPortRecordBytes;
    if (settings.shutter_pulse_us == 0 || settings.shutter_pulse_us > kMaxShutterPulseUs ||
        settings.focus_lead_us > kMaxFocusLeadUs || settings.trim_us > kMaxTrimUs ||
        settings.trim_us < -kMaxTrimUs) {
      continue;
    }
    ports_[p] = settings;
  }
}

void Node::SendAck(std::uint32_t seq, const Peer& to, bool ok, fb::Fault fault,
                   const char* detail) {
  char clipped[96];
  CopyClipped(clipped, sizeof(clipped), detail);
  auto text = builder_.CreateString(clipped);
  auto ack = fb::CreateAck(builder_, ok, fault, text);
  Finish(seq, fb::Body::Ack, ack.Union(), to);
}

void Node::SendIdentity(std::uint32_t seq, const Peer& to) {
  auto board = builder_.CreateString(hal_.BoardName());
  auto version = builder_.CreateString(kFirmwareVersion);
  auto identity =
      fb::CreateIdentity(builder_, config_.node_id, board, version, protocol::kSchemaHash,
                         tick_rate_hz_, static_cast<std::uint8_t>(config_.port_count), boot_id_);
  Finish(seq, fb::Body::Identity, identity.Union(), to);
}

void Node::SendStatus(std::uint32_t seq, const Peer& to) {
  flatbuffers::Offset<fb::PortStatus> ports[kMaxPorts];
  for (std::uint8_t p = 0; p < config_.port_count; ++p) {
    std::uint8_t pending = 0;
    for (std::uint32_t i = 0; i < edge_count_; ++i) {
      if (edges_[i].port == p && edges_[i].line == Line::kShutter && edges_[i].closed) ++pending;
    }
    ports[p] = fb::CreatePortStatus(builder_, p, records_[p].last_capture_id,
                                    records_[p].last_fire_tick, records_[p].fires, pending);
  }
  auto port_vector = builder_.CreateVector(ports, config_.port_count);
  auto counters = fb::CreateCounters(
      builder_, counters_.frames_rx, counters_.frames_tx, counters_.malformed, counters_.truncated,
      counters_.duplicated, counters_.replayed, counters_.out_of_order, counters_.fires_scheduled,
      counters_.fires_done, counters_.fires_refused, counters_.faults);
  auto detail = builder_.CreateString(fault_detail_);
  auto status =
      fb::CreateStatus(builder_, armed_, fault_, detail, hal_.Now(), port_vector, counters);
  Finish(seq, fb::Body::Status, status.Union(), to);
}

void Node::Finish(std::uint32_t ack, fb::Body type, flatbuffers::Offset<void> body, const Peer& to,
                  bool stamp_sync_tx) {
  auto frame = fb::CreateFrame(builder_, boot_id_, ++tx_seq_, ack, config_.node_id, type, body);
  fb::FinishFrameBuffer(builder_, frame);
  const std::uint8_t* buffer = builder_.GetBufferPointer();
  std::size_t stamp_offset = 0;
  if (stamp_sync_tx) {
    // SyncReply is a flatbuffers::Table underneath; its tx_tick field is where the board stamps.
    const auto* reply =
        reinterpret_cast<const flatbuffers::Table*>(fb::GetFrame(buffer)->body_as_SyncReply());
    const std::uint8_t* field = reply->GetAddressOf(fb::SyncReply::VT_TX_TICK);
    if (field != nullptr) stamp_offset = static_cast<std::size_t>(field - buffer);
  }
  hal_.Send(buffer, builder_.GetSize(), to, stamp_offset);
  ++counters_.frames_tx;
  builder_.Clear();
}
}  // namespace twinrig::rig
