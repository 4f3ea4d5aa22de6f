// A UDP datagram read with the kernel's receive timestamp, shared by the station's node client
// (host/riglink) and the simulated node (rig/boards/sim): both time the arrival of every datagram.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace twinrig {

struct StampedDatagram {
  std::size_t size = 0;         // bytes in the buffer
  sockaddr_in peer{};           // the sender
  std::int64_t arrival_ns = 0;  // CLOCK_MONOTONIC
};

// Reads one datagram waiting on the socket `fd` (SO_TIMESTAMPNS on) into `buffer`, without
// blocking; nullopt when none waits. The arrival is the kernel's CLOCK_REALTIME stamp moved to
// CLOCK_MONOTONIC, never later than the read itself (which it is without a stamp).
std::optional<StampedDatagram> ReceiveStamped(int fd, std::span<std::uint8_t> buffer);

}  // namespace twinrig
