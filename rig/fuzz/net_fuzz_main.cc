// libFuzzer entry point: the node's IPv4 stack (rig/net_stack.h) on arbitrary Ethernet frames
// (fuzz preset). Every input is one received frame; replies go nowhere.
//   cmake --preset fuzz && cmake --build --preset fuzz --target net_fuzz
#include <cstddef>
#include <cstdint>

#include "rig/net_stack.h"

namespace {

class Discard : public twinrig::rig::FrameSink {
 public:
  void Transmit(const std::uint8_t* frame, std::size_t size) override {
    // Touch every byte, so that ASan sees a reply built past its buffer.
    std::uint8_t sum = 0;
    for (std::size_t i = 0; i < size; ++i) sum = static_cast<std::uint8_t>(sum + frame[i]);
    last_sum = sum;
  }
  std::uint8_t last_sum = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Discard sink;
  static twinrig::rig::NetStack stack(sink, twinrig::rig::NetConfig{});
  twinrig::rig::UdpDatagram datagram;
  if (stack.OnFrame(data, size, &datagram)) {
    // A datagram the stack accepted lies inside the frame.
    if (datagram.payload < data || datagram.payload + datagram.size > data + size) __builtin_trap();
    std::uint8_t reply[twinrig::rig::kMaxFrame];
    const std::size_t n = datagram.size < 64 ? datagram.size : 64;
    for (std::size_t i = 0; i < n; ++i)
      reply[twinrig::rig::kUdpPayloadOffset + i] = datagram.payload[i];
    const std::size_t frame = stack.PrepareUdp(reply, n, datagram.from);
    if (frame != 0) sink.Transmit(reply, frame);
  }
  return 0;
}
