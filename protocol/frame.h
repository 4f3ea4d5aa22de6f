// Framing of the host<->node protocol: one Frame (protocol/node.fbs) per UDP datagram, verified
// before anything reads it. Portable: this file compiles for the node firmware (no heap, no
// exceptions, no RTTI) as well as for the host.
#pragma once

#include <cstddef>
#include <cstdint>

#include "protocol/node_generated.h"
#include "protocol/schema_hash.h"

namespace twinrig::protocol {

// The largest datagram either side sends or accepts: below an Ethernet MTU, so a frame is never
// fragmented.
inline constexpr std::size_t kMaxDatagram = 1200;
// The default UDP port of a node (each node has its own address: 127.0.2.N in the virtual studio).
inline constexpr std::uint16_t kNodeUdpPort = 15800;
// Frame.node_id that every node accepts (discovery).
inline constexpr std::uint16_t kAnyNode = 0xFFFF;
inline constexpr std::uint32_t kMaxPorts = 16;

enum class DecodeError : std::uint8_t { kNone = 0, kTruncated, kMalformed };

// Verifies `data` as a Frame (identifier, bounds, depth, table count, union types) and returns it,
// or nullptr with the reason. Nothing in the buffer is read before it has been verified.
const fb::Frame* DecodeFrame(const std::uint8_t* data, std::size_t size, DecodeError* error);

// Wrap-safe tick arithmetic (Klipper's timer_is_before): node ticks are unsigned 64-bit counters
// that may start anywhere and wrap; two ticks compare by their signed difference, valid while they
// are less than 2^63 ticks apart.
constexpr std::int64_t TickDiff(std::uint64_t a, std::uint64_t b) {
  return static_cast<std::int64_t>(a - b);
}
constexpr bool TickBefore(std::uint64_t a, std::uint64_t b) { return TickDiff(a, b) < 0; }

// "MissedDeadline", "FireInPast", … (the enum's names from the schema).
const char* FaultName(fb::Fault fault);

// Microseconds to ticks at `tick_rate_hz`, rounded to nearest.
constexpr std::int64_t UsToTicks(std::int64_t us, std::uint32_t tick_rate_hz) {
  const std::int64_t scaled = us * static_cast<std::int64_t>(tick_rate_hz);
  return scaled >= 0 ? (scaled + 500000) / 1000000 : -((-scaled + 500000) / 1000000);
}

}  // namespace twinrig::protocol
