// The node's minimal IPv4 stack for boards whose network interface moves raw Ethernet frames (the
// mps2-an385's LAN9118): Ethernet II, ARP (answers for its own address, a small cache), IPv4
// without fragments or options of its own, UDP to one port, ICMP echo. Portable like the rest of
// rig/: no heap, no exceptions, every buffer bounded; the host build unit-tests it with crafted
// frames.
//
// Every received frame is checked before anything in it is trusted; what is not for the node, or
// cannot be right, is dropped and counted (NetCounters), never answered.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rig/hal.h"

namespace twinrig::rig {

inline constexpr std::size_t kEthernetHeader = 14;
inline constexpr std::size_t kIpv4Header = 20;
inline constexpr std::size_t kUdpHeader = 8;
inline constexpr std::size_t kMaxFrame = 1514;  // without the FCS
inline constexpr std::size_t kUdpPayloadOffset = kEthernetHeader + kIpv4Header + kUdpHeader;
inline constexpr std::size_t kArpCacheSize = 8;

// Addresses are host-order integers: 10.0.2.15 is 0x0A00020F.
struct NetConfig {
  std::uint8_t mac[6] = {0x02, 0x74, 0x72, 0x00, 0x00, 0x01};
  std::uint32_t address = 0x0A00020F;  // 10.0.2.15
  std::uint32_t netmask = 0xFFFFFF00;  // /24
  std::uint32_t gateway = 0x0A000202;  // 10.0.2.2
  std::uint16_t udp_port = 15800;
};

struct NetCounters {
  std::uint32_t frames_in = 0;
  std::uint32_t frames_out = 0;
  std::uint32_t runt = 0;       // shorter than its headers say
  std::uint32_t oversized = 0;  // longer than an Ethernet frame
  std::uint32_t foreign = 0;    // another host's MAC or IP, or an ethertype the node does not speak
  std::uint32_t bad_ip = 0;     // version, header length, total length or header checksum wrong
  std::uint32_t fragments = 0;  // IPv4 fragments (the protocol never needs them)
  std::uint32_t bad_udp = 0;    // UDP length or checksum wrong
  std::uint32_t closed_port = 0;  // UDP to a port the node does not listen on
  std::uint32_t bad_arp = 0;      // ARP that is not Ethernet/IPv4 or is truncated
  std::uint32_t arp_answered = 0;
  std::uint32_t icmp_answered = 0;
  std::uint32_t bad_icmp = 0;       // ICMP checksum wrong or not an echo request
  std::uint32_t no_route = 0;       // datagram not sent: the peer's MAC is unknown (ARP asked)
  std::uint32_t driver_errors = 0;  // counted by the board's driver (receive errors, FIFO trouble)
};

// Where frames leave: the board's network driver.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void Transmit(const std::uint8_t* frame, std::size_t size) = 0;
};

// A UDP datagram for the node, pointing into the frame it came in (valid until the next frame).
struct UdpDatagram {
  const std::uint8_t* payload = nullptr;
  std::size_t size = 0;
  Peer from;
};

class NetStack {
 public:
  NetStack(FrameSink& sink, const NetConfig& config) : sink_(sink), config_(config) {}
  // A board learns its MAC and address during init, after construction.
  void Configure(const NetConfig& config) { config_ = config; }

  // One received Ethernet frame (without its FCS). Returns true when it carried a datagram for the
  // node's UDP port; ARP and ICMP echo are answered inside.
  bool OnFrame(const std::uint8_t* frame, std::size_t size, UdpDatagram* datagram);

  // Builds the Ethernet/IPv4/UDP headers for a datagram to `to` in front of a payload that the
  // caller writes at frame + kUdpPayloadOffset (at most kMaxFrame - kUdpPayloadOffset bytes) and
  // returns the frame's size, or 0 when the peer's MAC is not known yet (an ARP request is sent
  // instead; the sender retransmits). The UDP checksum is left 0 (allowed in IPv4) so that a
  // transmit timestamp may still be written into the payload just before the frame leaves.
  std::size_t PrepareUdp(std::uint8_t* frame, std::size_t payload_size, const Peer& to);

  // Announces the node's address (gratuitous ARP), e.g. at boot.
  void Announce();

  [[nodiscard]] const NetCounters& counters() const { return counters_; }
  NetCounters& mutable_counters() { return counters_; }
  [[nodiscard]] const NetConfig& config() const { return config_; }

 private:
  struct ArpEntry {
    std::uint32_t address = 0;
    std::uint8_t mac[6] = {};
    std::uint32_t last_used = 0;
  };
  void HandleArp(const std::uint8_t* arp, std::size_t size);
  void HandleIcmp(const std::uint8_t* frame, std::size_t ip_header, std::size_t ip_size);
  void SendArp(std::uint16_t op, const std::uint8_t* target_mac, std::uint32_t target_address);
  void Learn(std::uint32_t address, const std::uint8_t* mac);
  const std::uint8_t* Lookup(std::uint32_t address);
  void WriteIpv4Header(std::uint8_t* ip, std::uint8_t protocol, std::size_t payload_size,
                       std::uint32_t destination);

  FrameSink& sink_;
  NetConfig config_;
  NetCounters counters_;
  ArpEntry arp_[kArpCacheSize] = {};
  std::uint32_t use_clock_ = 0;
  std::uint16_t ip_id_ = 0;
  std::uint8_t reply_[kMaxFrame] = {};  // ARP and ICMP replies are built here
};

// The Internet checksum (RFC 1071) of a buffer, folded and complemented.
std::uint16_t InternetChecksum(const std::uint8_t* data, std::size_t size, std::uint32_t sum = 0);

}  // namespace twinrig::rig
