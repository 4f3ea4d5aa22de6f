#include "rig/fuzz/node_fuzz_target.h"

#include <functional>

#include "protocol/frame.h"
#include "rig/boards/fake/fake_hal.h"
#include "rig/node.h"

namespace twinrig::rig::fuzz {

namespace fb = protocol::fb;

int FuzzNodeOneInput(const std::uint8_t* data, std::size_t size) {
  fake::FakeHal hal(1'000'000, ~std::uint64_t{0} - 500'000);  // wraps within reach of the input
  NodeConfig config;
  config.port_count = 8;
  Node node(hal, config);
  node.Boot();
  std::size_t at = 0;
  for (int datagrams = 0; datagrams < 16 && at + 2 <= size; ++datagrams) {
    const std::size_t length = data[at];
    const std::uint8_t step = data[at + 1];
    at += 2;
    const std::size_t take = length < size - at ? length : size - at;
    // The clock moves (up to 255 ms) and due edges fire, as on a board.
    hal.Advance(static_cast<std::uint64_t>(step) * 1000);
    std::uint64_t deadline = 0;
    for (int i = 0;
         i < 64 && node.NextDeadline(&deadline) && !protocol::TickBefore(hal.Now(), deadline);
         ++i) {
      node.OnTimer(deadline);
    }
    // Copy: the node must never read past what it was given.
    std::vector<std::uint8_t> datagram(data + at, data + at + take);
    node.OnDatagram(datagram.data(), datagram.size(), hal.Now(), Peer{0x0100007F, 9});
    at += take;
    node.Poll();
  }
  // Whatever happened, every reply the node sent must itself be a valid frame.
  for (const auto& sent : hal.sent) {
    if (protocol::DecodeFrame(sent.bytes.data(), sent.bytes.size(), nullptr) == nullptr) {
      __builtin_trap();
    }
  }
  return 0;
}

std::vector<std::vector<std::uint8_t>> SeedInputs() {
  using Build = std::function<flatbuffers::Offset<void>(flatbuffers::FlatBufferBuilder&)>;
  std::uint32_t seq = 0;
  auto frame = [&seq](fb::Body type, const Build& build) {
    flatbuffers::FlatBufferBuilder b;
    auto body = build(b);
    auto f = fb::CreateFrame(b, 5, ++seq, 0, protocol::kAnyNode, type, body);
    fb::FinishFrameBuffer(b, f);
    std::vector<std::uint8_t> out = {static_cast<std::uint8_t>(b.GetSize()), 1};
    out.insert(out.end(), b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
    return out;
  };
  const std::vector<std::uint8_t> identify =
      frame(fb::Body::Identify,
            [](flatbuffers::FlatBufferBuilder& b) { return fb::CreateIdentify(b).Union(); });
  const std::vector<std::uint8_t> sync = frame(
      fb::Body::SyncRequest,
      [](flatbuffers::FlatBufferBuilder& b) { return fb::CreateSyncRequest(b, 1234).Union(); });
  const std::vector<std::uint8_t> configure =
      frame(fb::Body::ConfigurePorts, [](flatbuffers::FlatBufferBuilder& b) {
        std::vector<flatbuffers::Offset<fb::PortConfig>> ports = {
            fb::CreatePortConfig(b, 0, true, 1000, 2000, -50),
            fb::CreatePortConfig(b, 7, true, 0, 5000, 100)};
        return fb::CreateConfigurePortsDirect(b, &ports, true).Union();
      });
  const std::vector<std::uint8_t> arm = frame(fb::Body::Arm, [](flatbuffers::FlatBufferBuilder& b) {
    return fb::CreateArm(b, true).Union();
  });
  const std::vector<std::uint8_t> fire =
      frame(fb::Body::FireAt, [](flatbuffers::FlatBufferBuilder& b) {
        return fb::CreateFireAt(b, 1, ~std::uint64_t{0} - 400'000, 0xFF).Union();
      });
  const std::vector<std::uint8_t> status =
      frame(fb::Body::GetStatus,
            [](flatbuffers::FlatBufferBuilder& b) { return fb::CreateGetStatus(b).Union(); });
  const std::vector<std::uint8_t> clear =
      frame(fb::Body::ClearFault,
            [](flatbuffers::FlatBufferBuilder& b) { return fb::CreateClearFault(b).Union(); });
  const std::vector<std::uint8_t> reboot =
      frame(fb::Body::Reboot,
            [](flatbuffers::FlatBufferBuilder& b) { return fb::CreateReboot(b).Union(); });
  std::vector<std::vector<std::uint8_t>> seeds = {identify, sync,   configure, arm,
                                                  fire,     status, clear,     reboot};
  std::vector<std::uint8_t> session;
  for (const auto& part : {configure, arm, fire, sync, status, fire, clear, status}) {
    session.insert(session.end(), part.begin(), part.end());
  }
  seeds.push_back(session);
  return seeds;
}

}  // namespace twinrig::rig::fuzz
