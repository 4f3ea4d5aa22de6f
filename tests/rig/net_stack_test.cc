// The node's IPv4 stack (rig/net_stack.h) on crafted frames: what it answers, what it hands to the
// application, and that everything else is dropped and counted.
#include "rig/net_stack.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <vector>

namespace {

using twinrig::rig::FrameSink;
using twinrig::rig::InternetChecksum;
using twinrig::rig::NetConfig;
using twinrig::rig::NetStack;
using twinrig::rig::UdpDatagram;

using Frame = std::vector<std::uint8_t>;

class Capture : public FrameSink {
 public:
  void Transmit(const std::uint8_t* frame, std::size_t size) override {
    frames.emplace_back(frame, frame + size);
  }
  std::vector<Frame> frames;
};

const std::uint8_t kHostMac[6] = {0x52, 0x55, 0x0A, 0x00, 0x02, 0x02};

void Put16(Frame& f, std::size_t at, unsigned v) {
  f[at] = static_cast<std::uint8_t>(v >> 8);
  f[at + 1] = static_cast<std::uint8_t>(v);
}

Frame Ethernet(const std::uint8_t* to, unsigned type) {
  Frame f(14);
  std::memcpy(f.data(), to, 6);
  std::memcpy(f.data() + 6, kHostMac, 6);
  Put16(f, 12, type);
  return f;
}

// A well-formed IPv4 packet from 10.0.2.2 to `to_ip` carrying `body` with protocol `proto`.
Frame Ipv4(const NetConfig& node, unsigned proto, const Frame& body, std::uint32_t to_ip = 0) {
  Frame f = Ethernet(node.mac, 0x0800);
  Frame ip(20);
  ip[0] = 0x45;
  Put16(ip, 2, static_cast<unsigned>(20 + body.size()));
  ip[8] = 64;
  ip[9] = static_cast<std::uint8_t>(proto);
  const std::uint32_t src = 0x0A000202;
  const std::uint32_t dst = to_ip != 0 ? to_ip : node.address;
  for (int i = 0; i < 4; ++i) {
    ip[12 + i] = static_cast<std::uint8_t>(src >> (24 - 8 * i));
    ip[16 + i] = static_cast<std::uint8_t>(dst >> (24 - 8 * i));
  }
  Put16(ip, 10, InternetChecksum(ip.data(), ip.size()));
  f.insert(f.end(), ip.begin(), ip.end());
  f.insert(f.end(), body.begin(), body.end());
  return f;
}

Frame Udp(unsigned dst_port, const Frame& payload) {
  Frame u(8);
  Put16(u, 0, 40000);
  Put16(u, 2, dst_port);
  Put16(u, 4, static_cast<unsigned>(8 + payload.size()));
  u.insert(u.end(), payload.begin(), payload.end());
  return u;
}

}  // namespace

TEST_CASE("The node's stack hands UDP datagrams for its port to the application", "[unit]") {
  Capture wire;
  NetConfig config;
  NetStack stack(wire, config);
  const Frame payload = {1, 2, 3, 4, 5};
  Frame frame = Ipv4(config, 17, Udp(config.udp_port, payload));
  frame.resize(60, 0);  // Ethernet padding must not count as payload
  UdpDatagram datagram;
  REQUIRE(stack.OnFrame(frame.data(), frame.size(), &datagram));
  CHECK(datagram.size == payload.size());
  CHECK(std::memcmp(datagram.payload, payload.data(), payload.size()) == 0);
  CHECK(datagram.from.address == 0x0A000202U);
  CHECK(datagram.from.port == 40000);

  // The reply goes back to the MAC the datagram came from, without asking ARP.
  std::uint8_t out[twinrig::rig::kMaxFrame];
  const std::size_t size = stack.PrepareUdp(out, 3, datagram.from);
  REQUIRE(size == 60);
  CHECK(std::memcmp(out, kHostMac, 6) == 0);
  CHECK(InternetChecksum(out + 14, 20) == 0);
  CHECK(stack.counters().no_route == 0);
}

TEST_CASE("The node answers ARP for its address and ICMP echo", "[unit]") {
  Capture wire;
  NetConfig config;
  NetStack stack(wire, config);
  const std::uint8_t broadcast[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  Frame arp = Ethernet(broadcast, 0x0806);
  const std::uint8_t body[28] = {0,  1, 8, 0, 6, 4, 0, 1, 0x52, 0x55, 0x0A, 0, 2, 2,
                                 10, 0, 2, 2, 0, 0, 0, 0, 0,    0,    10,   0, 2, 15};
  arp.insert(arp.end(), body, body + 28);
  UdpDatagram datagram;
  CHECK_FALSE(stack.OnFrame(arp.data(), arp.size(), &datagram));
  REQUIRE(wire.frames.size() == 1);
  const Frame& reply = wire.frames[0];
  CHECK(std::memcmp(reply.data(), kHostMac, 6) == 0);
  CHECK(reply[21] == 2);                                      // ARP reply
  CHECK(std::memcmp(reply.data() + 22, config.mac, 6) == 0);  // our MAC
  CHECK(stack.counters().arp_answered == 1);

  Frame echo = {8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'};
  Put16(echo, 2, InternetChecksum(echo.data(), echo.size()));
  const Frame ping = Ipv4(config, 1, echo);
  CHECK_FALSE(stack.OnFrame(ping.data(), ping.size(), &datagram));
  REQUIRE(wire.frames.size() == 2);
  const Frame& pong = wire.frames[1];
  CHECK(pong[14 + 20] == 0);  // echo reply
  CHECK(InternetChecksum(pong.data() + 34, pong.size() - 34) == 0);
  CHECK(std::memcmp(pong.data() + 34 + 8, "ping", 4) == 0);
}

TEST_CASE("Malformed, fragmented, foreign and oversized frames are dropped and counted", "[unit]") {
  Capture wire;
  NetConfig config;
  NetStack stack(wire, config);
  UdpDatagram datagram;
  const Frame good = Ipv4(config, 17, Udp(config.udp_port, {9, 9, 9}));

  Frame bad_sum = good;
  bad_sum[14 + 8] ^= 1;  // TTL changed, checksum not
  CHECK_FALSE(stack.OnFrame(bad_sum.data(), bad_sum.size(), &datagram));
  CHECK(stack.counters().bad_ip == 1);

  Frame fragment = Ipv4(config, 17, Udp(config.udp_port, {9}));
  fragment[14 + 6] = 0x20;  // more fragments
  Put16(fragment, 14 + 10, 0);
  {
    Frame ip(fragment.begin() + 14, fragment.begin() + 34);
    Put16(fragment, 14 + 10, InternetChecksum(ip.data(), 20));
  }
  CHECK_FALSE(stack.OnFrame(fragment.data(), fragment.size(), &datagram));
  CHECK(stack.counters().fragments == 1);

  const Frame truncated(good.begin(), good.begin() + 30);
  CHECK_FALSE(stack.OnFrame(truncated.data(), truncated.size(), &datagram));
  CHECK(stack.counters().runt == 1);

  Frame long_udp = good;
  long_udp[14 + 20 + 5] = 200;  // UDP length beyond the packet
  CHECK_FALSE(stack.OnFrame(long_udp.data(), long_udp.size(), &datagram));
  CHECK(stack.counters().bad_udp == 1);

  const Frame other_host = Ipv4(config, 17, Udp(config.udp_port, {1}), 0x0A000263);
  CHECK_FALSE(stack.OnFrame(other_host.data(), other_host.size(), &datagram));
  const Frame closed = Ipv4(config, 17, Udp(9999, {1}));
  CHECK_FALSE(stack.OnFrame(closed.data(), closed.size(), &datagram));
  CHECK(stack.counters().closed_port == 1);

  Frame huge(2000, 0xAB);
  CHECK_FALSE(stack.OnFrame(huge.data(), huge.size(), &datagram));
  CHECK(stack.counters().oversized == 1);

  // Random frames: never a datagram unless the bytes form a valid one, never a crash (ASan build).
  std::mt19937 random(7);
  for (int i = 0; i < 20000; ++i) {
    Frame junk = random() % 2 == 0 ? good : Frame(random() % 80);
    for (auto& b : junk)
      if (random() % 8 == 0) b = static_cast<std::uint8_t>(random());
    junk.resize(random() % (junk.size() + 1));
    stack.OnFrame(junk.data(), junk.size(), &datagram);
  }
  CHECK(wire.frames.size() < 20000);
  CHECK(stack.counters().frames_in == 7 + 20000);
  CHECK(stack.OnFrame(good.data(), good.size(), &datagram));
}

TEST_CASE("An ARP flood for other addresses neither answers nor churns the cache", "[unit]") {
  Capture wire;
  NetConfig config;
  NetStack stack(wire, config);
  UdpDatagram datagram;
  const Frame good = Ipv4(config, 17, Udp(config.udp_port, {1}));
  REQUIRE(stack.OnFrame(good.data(), good.size(), &datagram));  // learns 10.0.2.2
  const std::uint8_t broadcast[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  for (int k = 0; k < 1000; ++k) {
    Frame arp = Ethernet(broadcast, 0x0806);
    const std::uint8_t body[28] = {0,
                                   1,
                                   8,
                                   0,
                                   6,
                                   4,
                                   0,
                                   1,
                                   2,
                                   0,
                                   0,
                                   0,
                                   static_cast<std::uint8_t>(k),
                                   1,
                                   10,
                                   0,
                                   2,
                                   static_cast<std::uint8_t>(k),
                                   0,
                                   0,
                                   0,
                                   0,
                                   0,
                                   0,
                                   10,
                                   0,
                                   2,
                                   static_cast<std::uint8_t>(16 + k % 200)};
    arp.insert(arp.end(), body, body + 28);
    stack.OnFrame(arp.data(), arp.size(), &datagram);
  }
  CHECK(wire.frames.empty());
  CHECK(stack.counters().foreign == 1000);
  std::uint8_t out[twinrig::rig::kMaxFrame];
  CHECK(stack.PrepareUdp(out, 4, {0x0A000202, 40000}) > 0);  // still knows the host
}
