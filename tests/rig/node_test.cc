#include <catch2/catch.hpp>

#include <functional>
#include <vector>

#include "protocol/frame.h"
#include "rig/boards/fake/fake_hal.h"
#include "rig/node.h"

namespace twinrig::rig {
namespace {

namespace fb = protocol::fb;
using fake::FakeHal;

using Build = std::function<flatbuffers::Offset<void>(flatbuffers::FlatBufferBuilder&)>;

// The host side of the conversation, by hand.
class Host {
 public:
  std::vector<std::uint8_t> Frame(fb::Body type, const Build& build, std::uint32_t seq = 0,
                                  std::uint16_t node = protocol::kAnyNode) {
    flatbuffers::FlatBufferBuilder b;
    auto body = build(b);
    auto frame = fb::CreateFrame(b, session, seq == 0 ? ++seq_ : seq, 0, node, type, body);
    fb::FinishFrameBuffer(b, frame);
    last_seq = seq == 0 ? seq_ : seq;
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
  }
  std::uint64_t session = 77;
  std::uint32_t last_seq = 0;

 private:
  std::uint32_t seq_ = 0;
};

struct Rig {
  explicit Rig(std::uint64_t start_tick = 1'000'000, NodeConfig config = {})
      : hal(1'000'000, start_tick), node(hal, config) {
    node.Boot();
  }
  void Send(const std::vector<std::uint8_t>& bytes) {
    node.OnDatagram(bytes.data(), bytes.size(), hal.Now(), Peer{0x0100007F, 4242});
  }
  const fb::Frame* Reply() {
    REQUIRE(!hal.sent.empty());
    const auto& bytes = hal.sent.back().bytes;
    const fb::Frame* frame = protocol::DecodeFrame(bytes.data(), bytes.size(), nullptr);
    REQUIRE(frame != nullptr);
    return frame;
  }
  const fb::Ack* Ack() {
    const fb::Ack* ack = Reply()->body_as_Ack();
    REQUIRE(ack != nullptr);
    return ack;
  }
  void Configure(std::vector<PortSettings> ports) {
    Send(host.Frame(fb::Body::ConfigurePorts, [&](flatbuffers::FlatBufferBuilder& b) {
      std::vector<flatbuffers::Offset<fb::PortConfig>> configs;
      for (std::size_t p = 0; p < ports.size(); ++p) {
        configs.push_back(fb::CreatePortConfig(b, static_cast<std::uint8_t>(p), ports[p].enabled,
                                               ports[p].focus_lead_us, ports[p].shutter_pulse_us,
                                               ports[p].trim_us));
      }
      return fb::CreateConfigurePortsDirect(b, &configs).Union();
    }));
  }
  void Arm(bool armed = true) {
    Send(host.Frame(fb::Body::Arm, [&](flatbuffers::FlatBufferBuilder& b) {
      return fb::CreateArm(b, armed).Union();
    }));
  }
  void FireAt(std::uint32_t capture, std::uint64_t tick, std::uint64_t mask) {
    Send(host.Frame(fb::Body::FireAt, [&](flatbuffers::FlatBufferBuilder& b) {
      return fb::CreateFireAt(b, capture, tick, mask).Union();
    }));
  }
  // Runs the timer like a board does: jump to each deadline and fire it.
  void RunTimersUntil(std::uint64_t until) {
    for (int i = 0; i < 10000; ++i) {
      std::uint64_t deadline = 0;
      if (!node.NextDeadline(&deadline) || protocol::TickBefore(until, deadline)) break;
      hal.Set(deadline);
      node.OnTimer(deadline);
    }
    hal.Set(until);
  }
  FakeHal hal;
  Node node;
  Host host;
};

TEST_CASE("a node answers Identify with its board, firmware, schema hash and boot id", "[unit]") {
  Rig rig;
  rig.Send(rig.host.Frame(fb::Body::Identify, [](flatbuffers::FlatBufferBuilder& b) {
    return fb::CreateIdentify(b).Union();
  }));
  const fb::Frame* frame = rig.Reply();
  CHECK(frame->ack() == rig.host.last_seq);
  CHECK(frame->session() == rig.node.boot_id());
  const fb::Identity* identity = frame->body_as_Identity();
  REQUIRE(identity != nullptr);
  CHECK(identity->board()->str() == "fake");
  CHECK(identity->firmware_version()->str() == kFirmwareVersion);
  CHECK(identity->schema_hash() == protocol::kSchemaHash);
  CHECK(identity->tick_rate_hz() == 1'000'000);
  CHECK(identity->port_count() == 8);
  CHECK(identity->boot_id() == rig.node.boot_id());

  const std::uint64_t first_boot = rig.node.boot_id();
  rig.node.Boot();
  CHECK(rig.node.boot_id() != first_boot);
}

TEST_CASE("a sync exchange carries the receive stamp and a later transmit stamp", "[unit]") {
  Rig rig(5000);
  const auto bytes = rig.host.Frame(fb::Body::SyncRequest, [](flatbuffers::FlatBufferBuilder& b) {
    return fb::CreateSyncRequest(b, 123456).Union();
  });
  rig.node.OnDatagram(bytes.data(), bytes.size(), 4990, Peer{});
  const fb::SyncReply* reply = rig.Reply()->body_as_SyncReply();
  REQUIRE(reply != nullptr);
  CHECK(reply->host_send_ns() == 123456);
  CHECK(reply->rx_tick() == 4990);
  CHECK(reply->tx_tick() == 5000);
}

TEST_CASE("a fire presses focus ahead, pulses the shutter and applies each port's trim", "[unit]") {
  Rig rig(1'000'000);
  rig.Configure({{true, 50'000, 100'000, 0}, {true, 0, 20'000, -300}, {false, 0, 100'000, 0}});
  CHECK(rig.Ack()->ok());
  rig.Arm();
  CHECK(rig.Ack()->ok());
  const std::uint64_t fire = 1'500'000;
  rig.FireAt(11, fire, 0b111);
  REQUIRE(rig.Ack()->ok());
  rig.RunTimersUntil(fire + 200'000);

  std::vector<fake::LineChange> expected = {
      {0, Line::kFocus, true, fire - 50'000, 11},
      {1, Line::kShutter, true, fire - 300, 11},
      {0, Line::kShutter, true, fire, 11},
      {1, Line::kShutter, false, fire - 300 + 20'000, 11},
  };
  REQUIRE(rig.hal.lines.size() == 6);  // + port 0 focus and shutter release at fire + 100 ms
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("edge " << i);
    CHECK(rig.hal.lines[i].port == expected[i].port);
    CHECK(rig.hal.lines[i].line == expected[i].line);
    CHECK(rig.hal.lines[i].closed == expected[i].closed);
    CHECK(rig.hal.lines[i].tick == expected[i].tick);
  }
  for (std::size_t i = 4; i < 6; ++i) {
    CHECK(rig.hal.lines[i].port == 0);
    CHECK_FALSE(rig.hal.lines[i].closed);
    CHECK(rig.hal.lines[i].tick == fire + 100'000);
  }
  CHECK(rig.node.counters().fires_done == 2);  // port 2 is disabled
  CHECK_FALSE(rig.node.line_closed(0, Line::kFocus));
}

TEST_CASE("fires are scheduled across the wrap of the tick counter", "[unit]") {
  const std::uint64_t start = ~std::uint64_t{0} - 100'000;  // 100 ms before the counter wraps
  Rig rig(start);
  rig.Arm();
  const std::uint64_t fire = start + 300'000;  // after the wrap: a small number
  REQUIRE(fire < start);
  rig.FireAt(1, fire, 0b1);
  REQUIRE(rig.Ack()->ok());
  std::uint64_t deadline = 0;
  REQUIRE(rig.node.NextDeadline(&deadline));
  CHECK(deadline == fire);
  rig.RunTimersUntil(start + 200'000);  // before the fire (still numerically larger than it)
  CHECK(rig.hal.lines.empty());
  rig.RunTimersUntil(fire + 200'000);
  REQUIRE(rig.hal.lines.size() == 2);
  CHECK(rig.hal.lines[0].tick == fire);
}

TEST_CASE("a fire-at in the past or too close is refused with a fault and never fires", "[unit]") {
  Rig rig(10'000'000);
  rig.Arm();
  rig.FireAt(5, 10'000'000 - 1, 0b1);
  const fb::Ack* ack = rig.Ack();
  CHECK_FALSE(ack->ok());
  CHECK(ack->fault() == fb::Fault::FireInPast);
  CHECK(ack->detail()->str().find("refused") != std::string::npos);
  rig.FireAt(6, 10'000'000 + 500, 0b1);  // inside the 2 ms minimum lead
  CHECK(rig.Ack()->fault() == fb::Fault::FireInPast);
  rig.RunTimersUntil(20'000'000);
  CHECK(rig.hal.lines.empty());
  CHECK(rig.node.counters().fires_refused == 2);
  CHECK(rig.node.latched_fault() == fb::Fault::None);  // a refusal, not a latched fault
}

TEST_CASE("a fire-at while disarmed is refused and disarming cancels pending fires", "[unit]") {
  Rig rig;
  rig.FireAt(1, 2'000'000, 0b1);
  CHECK(rig.Ack()->fault() == fb::Fault::NotArmed);
  rig.Configure({{true, 10'000, 100'000, 0}});
  rig.Arm();
  rig.FireAt(2, 2'000'000, 0b1);
  REQUIRE(rig.Ack()->ok());
  rig.RunTimersUntil(2'000'000 - 5'000);  // focus is held now
  CHECK(rig.node.line_closed(0, Line::kFocus));
  rig.Arm(false);
  CHECK_FALSE(rig.node.line_closed(0, Line::kFocus));
  CHECK(rig.node.pending_edges() == 0);
}

TEST_CASE("a retransmitted fire-at does not fire twice", "[unit]") {
  Rig rig;
  rig.Arm();
  rig.FireAt(9, 2'000'000, 0b11);
  REQUIRE(rig.Ack()->ok());
  rig.FireAt(9, 2'000'000, 0b11);  // new seq, same capture: the first ack was lost
  CHECK(rig.Ack()->ok());
  CHECK(rig.node.pending_edges() == 4);
  rig.RunTimersUntil(2'500'000);
  rig.FireAt(9, 2'000'000, 0b11);  // a very late copy
  CHECK(rig.Ack()->ok());
  CHECK(rig.node.counters().fires_done == 2);
}

TEST_CASE("a missed deadline releases every line and latches until ClearFault", "[unit]") {
  Rig rig;
  rig.Configure({{true, 100'000, 50'000, 0}});
  rig.Arm();
  rig.FireAt(3, 2'000'000, 0b1);
  rig.RunTimersUntil(1'950'000);  // focus closed
  REQUIRE(rig.node.line_closed(0, Line::kFocus));
  rig.hal.Set(2'010'000);
  rig.node.OnTimer(2'010'000);  // 10 ms late for the shutter
  CHECK(rig.node.latched_fault() == fb::Fault::MissedDeadline);
  CHECK_FALSE(rig.node.line_closed(0, Line::kFocus));
  CHECK_FALSE(rig.node.line_closed(0, Line::kShutter));
  CHECK_FALSE(rig.node.armed());
  // While latched: commands are refused, status and sync are served.
  rig.Arm();
  CHECK(rig.Ack()->fault() == fb::Fault::MissedDeadline);
  rig.Send(rig.host.Frame(fb::Body::GetStatus, [](flatbuffers::FlatBufferBuilder& b) {
    return fb::CreateGetStatus(b).Union();
  }));
  const fb::Status* status = rig.Reply()->body_as_Status();
  REQUIRE(status != nullptr);
  CHECK(status->latched_fault() == fb::Fault::MissedDeadline);
  CHECK(status->fault_detail()->str().find("port 0") != std::string::npos);
  rig.Send(rig.host.Frame(fb::Body::ClearFault, [](flatbuffers::FlatBufferBuilder& b) {
    return fb::CreateClearFault(b).Union();
  }));
  CHECK(rig.Ack()->ok());
  rig.Arm();
  CHECK(rig.Ack()->ok());
}

TEST_CASE("a flood of malformed frames latches the safe state and each is counted", "[unit]") {
  Rig rig;
  std::vector<std::uint8_t> junk(40, 0xAB);
  std::vector<std::uint8_t> short_frame(3, 0);
  rig.Send(short_frame);
  CHECK(rig.node.counters().truncated == 1);
  for (int i = 0; i < 60; ++i) rig.Send(junk);
  CHECK(rig.node.counters().malformed == 60);
  CHECK(rig.node.latched_fault() == fb::Fault::MalformedFlood);
  CHECK(rig.hal.sent.empty());  // nothing malformed is ever answered
}

TEST_CASE("duplicated, replayed and out-of-order frames are counted and dropped", "[unit]") {
  Rig rig;
  auto identify = [](flatbuffers::FlatBufferBuilder& b) { return fb::CreateIdentify(b).Union(); };
  rig.Send(rig.host.Frame(fb::Body::Identify, identify, 100));
  const auto answered = rig.hal.sent.size();
  rig.Send(rig.host.Frame(fb::Body::Identify, identify, 100));  // duplicate
  CHECK(rig.node.counters().duplicated == 1);
  rig.Send(rig.host.Frame(fb::Body::Identify, identify, 105));
  rig.Send(rig.host.Frame(fb::Body::Identify, identify, 103));  // overtaken by 105
  CHECK(rig.node.counters().out_of_order == 1);
  rig.Send(rig.host.Frame(fb::Body::Identify, identify, 103));  // and its copy
  CHECK(rig.node.counters().duplicated == 2);
  rig.Send(rig.host.Frame(fb::Body::Identify, identify, 106 + 100));
  rig.Send(rig.host.Frame(fb::Body::Identify, identify, 101));  // far behind: a replay
  CHECK(rig.node.counters().replayed == 1);
  CHECK(rig.hal.sent.size() == answered + 2);
  // A new host session starts a new sequence.
  rig.host.session = 78;
  rig.Send(rig.host.Frame(fb::Body::Identify, identify, 1));
  CHECK(rig.hal.sent.size() == answered + 3);
}

TEST_CASE("frames addressed to another node are ignored", "[unit]") {
  Rig rig;
  rig.Send(rig.host.Frame(
      fb::Body::Identify,
      [](flatbuffers::FlatBufferBuilder& b) { return fb::CreateIdentify(b).Union(); }, 0, 99));
  CHECK(rig.hal.sent.empty());
  CHECK(rig.node.counters().not_for_me == 1);
}

TEST_CASE("a watchdog reset latches the Watchdog fault at boot", "[unit]") {
  FakeHal hal;
  hal.reset_by_watchdog = true;
  Node node(hal, NodeConfig{});
  node.Boot();
  CHECK(node.latched_fault() == fb::Fault::Watchdog);
  node.Poll();
  CHECK(hal.watchdog_kicks == 1);
}

TEST_CASE("port configuration is validated, refused while armed, and persists", "[unit]") {
  Rig rig;
  rig.Configure({{true, 0, 0, 0}});  // zero pulse
  CHECK(rig.Ack()->fault() == fb::Fault::BadConfig);
  rig.Configure({{true, 0, 100, 900'000}});  // trim out of range
  CHECK(rig.Ack()->fault() == fb::Fault::BadConfig);
  rig.Send(rig.host.Frame(fb::Body::ConfigurePorts, [](flatbuffers::FlatBufferBuilder& b) {
    std::vector<flatbuffers::Offset<fb::PortConfig>> configs = {
        fb::CreatePortConfig(b, 3, true, 5'000, 30'000, -1234)};
    return fb::CreateConfigurePortsDirect(b, &configs, true).Union();
  }));
  CHECK(rig.Ack()->ok());
  REQUIRE_FALSE(rig.hal.stored_config.empty());
  rig.node.Boot();  // power cycle
  CHECK(rig.node.port(3).trim_us == -1234);
  CHECK(rig.node.port(3).focus_lead_us == 5'000);
  rig.hal.stored_config[7] ^= 0xFF;  // torn flash: ignored
  rig.node.Boot();
  CHECK(rig.node.port(3).trim_us == 0);
  rig.Arm();
  rig.Configure({{true, 0, 100, 0}});
  CHECK(rig.Ack()->fault() == fb::Fault::Busy);
}

TEST_CASE("the largest status a node sends fits its datagram", "[unit]") {
  NodeConfig config;
  config.port_count = kMaxPorts;
  Rig rig(1'000'000, config);
  rig.Send(rig.host.Frame(fb::Body::GetStatus, [](flatbuffers::FlatBufferBuilder& b) {
    return fb::CreateGetStatus(b).Union();
  }));
  REQUIRE(rig.hal.sent.size() == 1);
  CHECK(rig.hal.sent.back().bytes.size() <= protocol::kMaxDatagram);
  CHECK(rig.Reply()->body_as_Status()->ports()->size() == kMaxPorts);
}

TEST_CASE("a full queue refuses further fires", "[unit]") {
  NodeConfig config;
  config.port_count = kMaxPorts;
  Rig rig(1'000'000, config);
  rig.Arm();
  int accepted = 0;
  for (std::uint32_t capture = 1; capture <= 20; ++capture) {
    rig.FireAt(capture, 2'000'000 + capture * 1000, 0xFFFF);
    if (rig.Ack()->ok()) {
      ++accepted;
    } else {
      CHECK(rig.Ack()->fault() == fb::Fault::QueueFull);
    }
  }
  CHECK(accepted == static_cast<int>(kMaxEdges / (2 * kMaxPorts)));
}

}  // namespace
}  // namespace twinrig::rig
