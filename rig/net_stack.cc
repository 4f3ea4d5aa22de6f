#include "rig/net_stack.h"

#include <cstring>

namespace twinrig::rig {

namespace {

constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeArp = 0x0806;
constexpr std::uint8_t kProtocolIcmp = 1;
constexpr std::uint8_t kProtocolUdp = 17;
constexpr std::size_t kArpSize = 28;
constexpr std::uint8_t kBroadcastMac[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

std::uint16_t Get16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t Get32(const std::uint8_t* p) {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | p[3];
}
void Put16(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void Put32(std::uint8_t* p, std::uint32_t v) {
  Put16(p, v >> 16);
  Put16(p + 2, v);
}
bool SameMac(const std::uint8_t* a, const std::uint8_t* b) { return std::memcmp(a, b, 6) == 0; }

std::uint32_t SumWords(const std::uint8_t* data, std::size_t size, std::uint32_t sum) {
  for (std::size_t i = 0; i + 1 < size; i += 2) sum += Get16(data + i);
  if ((size & 1U) != 0) sum += static_cast<std::uint32_t>(data[size - 1]) << 8;
  return sum;
}

void WriteEthernet(std::uint8_t* frame, const std::uint8_t* to, const std::uint8_t* from,
                   std::uint16_t type) {
  std::memcpy(frame, to, 6);
  std::memcpy(frame + 6, from, 6);
  Put16(frame + 12, type);
}

}  // namespace

std::uint16_t InternetChecksum(const std::uint8_t* data, std::size_t size, std::uint32_t sum) {
  sum = SumWords(data, size, sum);
  while ((sum >> 16) != 0) sum = (sum & 0xFFFFU) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

bool NetStack::OnFrame(const std::uint8_t* frame, std::size_t size, UdpDatagram* datagram) {
  ++counters_.frames_in;
  if (size > kMaxFrame) {
    ++counters_.oversized;
    return false;
  }
  if (size < kEthernetHeader) {
    ++counters_.runt;
    return false;
  }
  const bool broadcast = SameMac(frame, kBroadcastMac);
  if (!broadcast && !SameMac(frame, config_.mac)) {
    ++counters_.foreign;
    return false;
  }
  const std::uint16_t type = Get16(frame + 12);
  if (type == kEtherTypeArp) {
    HandleArp(frame + kEthernetHeader, size - kEthernetHeader);
    return false;
  }
  if (type != kEtherTypeIpv4) {
    ++counters_.foreign;
    return false;
  }

  // IPv4: the header must be whole, checked, and for this node; frames may carry Ethernet padding,
  // so the IP total length (not the frame size) bounds the packet.
  const std::uint8_t* ip = frame + kEthernetHeader;
  const std::size_t available = size - kEthernetHeader;
  if (available < kIpv4Header) {
    ++counters_.runt;
    return false;
  }
  const std::size_t header = static_cast<std::size_t>(ip[0] & 0x0FU) * 4;
  const std::size_t total = Get16(ip + 2);
  if ((ip[0] >> 4) != 4 || header < kIpv4Header || total < header) {
    ++counters_.bad_ip;
    return false;
  }
  if (total > available || header > available) {
    ++counters_.runt;
    return false;
  }
  if (InternetChecksum(ip, header) != 0) {
    ++counters_.bad_ip;
    return false;
  }
  const std::uint16_t fragment = Get16(ip + 6);
  if ((fragment & 0x3FFFU) != 0) {  // more-fragments flag or a fragment offset
    ++counters_.fragments;
    return false;
  }
  const std::uint32_t destination = Get32(ip + 16);
  const std::uint32_t source = Get32(ip + 12);
  const std::uint32_t subnet_broadcast = config_.address | ~config_.netmask;
  if (destination != config_.address && destination != 0xFFFFFFFFU &&
      destination != subnet_broadcast) {
    ++counters_.foreign;
    return false;
  }

  const std::uint8_t protocol = ip[9];
  if (protocol == kProtocolIcmp) {
    if (destination != config_.address) {  // no echo replies to broadcasts
      ++counters_.foreign;
      return false;
    }
    HandleIcmp(frame, header, total);
    return false;
  }
  if (protocol != kProtocolUdp) {
    ++counters_.foreign;
    return false;
  }
  const std::uint8_t* udp = ip + header;
  const std::size_t udp_available = total - header;
  if (udp_available < kUdpHeader) {
    ++counters_.runt;
    return false;
  }
  const std::size_t udp_length = Get16(udp + 4);
  if (udp_length < kUdpHeader || udp_length > udp_available) {
    ++counters_.bad_udp;
    return false;
  }
  if (Get16(udp + 6) != 0) {  // 0: the sender did not compute one (IPv4 allows it)
    std::uint8_t pseudo[12];
    std::memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = kProtocolUdp;
    Put16(pseudo + 10, static_cast<std::uint32_t>(udp_length));
    if (InternetChecksum(udp, udp_length, SumWords(pseudo, sizeof(pseudo), 0)) != 0) {
      ++counters_.bad_udp;
      return false;
    }
  }
  if (Get16(udp + 2) != config_.udp_port) {
    ++counters_.closed_port;
    return false;
  }
  // The sender's MAC is the way back to it (or to its router), as a reply to its ARP request
  // would have said.
  if ((source & config_.netmask) == (config_.address & config_.netmask) && !broadcast)
    Learn(source, frame + 6);
  datagram->payload = udp + kUdpHeader;
  datagram->size = udp_length - kUdpHeader;
  datagram->from.address = source;
  datagram->from.port = Get16(udp);
  return true;
}

void NetStack::HandleArp(const std::uint8_t* arp, std::size_t size) {
  if (size < kArpSize || Get16(arp) != 1 || Get16(arp + 2) != kEtherTypeIpv4 || arp[4] != 6 ||
      arp[5] != 4) {
    ++counters_.bad_arp;
    return;
  }
  const std::uint16_t op = Get16(arp + 6);
  const std::uint8_t* sender_mac = arp + 8;
  const std::uint32_t sender = Get32(arp + 14);
  const std::uint32_t target = Get32(arp + 24);
  if (target != config_.address) {
    // Not about this node: neither answered nor cached, so that a flood cannot churn the cache.
    ++counters_.foreign;
    return;
  }
  if ((sender_mac[0] & 1U) != 0 || sender == 0 || sender == config_.address) {
    ++counters_.bad_arp;  // a multicast sender or a probe for our own address: nothing to learn
    if (op == 1 && sender == 0) {
      // An address probe (RFC 5227) for our address: defend it.
      SendArp(2, sender_mac, 0);
      ++counters_.arp_answered;
    }
    return;
  }
  Learn(sender, sender_mac);
  if (op == 1) {
    SendArp(2, sender_mac, sender);
    ++counters_.arp_answered;
  } else if (op != 2) {
    ++counters_.bad_arp;
  }
}

void NetStack::HandleIcmp(const std::uint8_t* frame, std::size_t ip_header, std::size_t ip_size) {
  const std::uint8_t* ip = frame + kEthernetHeader;
  const std::uint8_t* icmp = ip + ip_header;
  const std::size_t icmp_size = ip_size - ip_header;
  if (icmp_size < 8 || InternetChecksum(icmp, icmp_size) != 0) {
    ++counters_.bad_icmp;
    return;
  }
  if (icmp[0] != 8 || icmp[1] != 0) {  // only echo requests are answered
    ++counters_.bad_icmp;
    return;
  }
  // The reply goes back the way the request came (its source MAC), options dropped.
  const std::size_t reply_size = kEthernetHeader + kIpv4Header + icmp_size;
  if (reply_size > sizeof(reply_)) {
    ++counters_.oversized;
    return;
  }
  WriteEthernet(reply_, frame + 6, config_.mac, kEtherTypeIpv4);
  std::uint8_t* out_ip = reply_ + kEthernetHeader;
  WriteIpv4Header(out_ip, kProtocolIcmp, icmp_size, Get32(ip + 12));
  std::uint8_t* out_icmp = out_ip + kIpv4Header;
  std::memcpy(out_icmp, icmp, icmp_size);
  out_icmp[0] = 0;  // echo reply
  out_icmp[2] = 0;
  out_icmp[3] = 0;
  Put16(out_icmp + 2, InternetChecksum(out_icmp, icmp_size));
  sink_.Transmit(reply_, reply_size);
  ++counters_.frames_out;
  ++counters_.icmp_answered;
}

void NetStack::SendArp(std::uint16_t op, const std::uint8_t* target_mac,
                       std::uint32_t target_address) {
  std::uint8_t* arp = reply_ + kEthernetHeader;
  WriteEthernet(reply_, op == 1 ? kBroadcastMac : target_mac, config_.mac, kEtherTypeArp);
  Put16(arp, 1);
  Put16(arp + 2, kEtherTypeIpv4);
  arp[4] = 6;
  arp[5] = 4;
  Put16(arp + 6, op);
  std::memcpy(arp + 8, config_.mac, 6);
  Put32(arp + 14, config_.address);
  if (op == 1) {
    std::memset(arp + 18, 0, 6);
  } else {
    std::memcpy(arp + 18, target_mac, 6);
  }
  Put32(arp + 24, target_address);
  // Padded to Ethernet's 60-byte minimum.
  std::memset(arp + kArpSize, 0, 60 - kEthernetHeader - kArpSize);
  sink_.Transmit(reply_, 60);
  ++counters_.frames_out;
}

void NetStack::Announce() { SendArp(1, kBroadcastMac, config_.address); }

void NetStack::Learn(std::uint32_t address, const std::uint8_t* mac) {
  ArpEntry* slot = &arp_[0];
  for (ArpEntry& entry : arp_) {
    if (entry.address == address) {
      slot = &entry;
      break;
    }
    if (entry.last_used < slot->last_used) slot = &entry;  // least recently used (or empty)
  }
  slot->address = address;
  std::memcpy(slot->mac, mac, 6);
  slot->last_used = ++use_clock_;
}

const std::uint8_t* NetStack::Lookup(std::uint32_t address) {
  for (ArpEntry& entry : arp_) {
    if (entry.last_used != 0 && entry.address == address) {
      entry.last_used = ++use_clock_;
      return entry.mac;
    }
  }
  return nullptr;
}

void NetStack::WriteIpv4Header(std::uint8_t* ip, std::uint8_t protocol, std::size_t payload_size,
                               std::uint32_t destination) {
  ip[0] = 0x45;
  ip[1] = 0;
  Put16(ip + 2, static_cast<std::uint32_t>(kIpv4Header + payload_size));
  Put16(ip + 4, ++ip_id_);
  Put16(ip + 6, 0x4000);  // don't fragment
  ip[8] = 64;
  ip[9] = protocol;
  Put16(ip + 10, 0);
  Put32(ip + 12, config_.address);
  Put32(ip + 16, destination);
  Put16(ip + 10, InternetChecksum(ip, kIpv4Header));
}

std::size_t NetStack::PrepareUdp(std::uint8_t* frame, std::size_t payload_size, const Peer& to) {
  if (payload_size > kMaxFrame - kUdpPayloadOffset) {
    ++counters_.oversized;
    return 0;
  }
  const bool on_link = (to.address & config_.netmask) == (config_.address & config_.netmask);
  const std::uint32_t next_hop = on_link ? to.address : config_.gateway;
  const std::uint8_t* mac = Lookup(next_hop);
  if (mac == nullptr) {
    ++counters_.no_route;
    SendArp(1, kBroadcastMac, next_hop);
    return 0;
  }
  WriteEthernet(frame, mac, config_.mac, kEtherTypeIpv4);
  WriteIpv4Header(frame + kEthernetHeader, kProtocolUdp, kUdpHeader + payload_size, to.address);
  std::uint8_t* udp = frame + kEthernetHeader + kIpv4Header;
  Put16(udp, config_.udp_port);
  Put16(udp + 2, to.port);
  Put16(udp + 4, static_cast<std::uint32_t>(kUdpHeader + payload_size));
  Put16(udp + 6, 0);
  std::size_t size = kUdpPayloadOffset + payload_size;
  if (size < 60) {
    std::memset(frame + size, 0, 60 - size);
    size = 60;
  }
  ++counters_.frames_out;
  return size;
}

}  // namespace twinrig::rig
