// The wire between a (simulated) trigger node's output and a virtual camera's remote port.
//
// A real studio wires each node output to a camera's remote socket: a focus line and a shutter line
// that the node closes to ground. In the virtual studio every line change is one UDP datagram to
// the camera's remote port: the camera's own loopback address, port kRemotePortUdp (e.g. camera 1
// at 127.0.0.2:15741). The datagram carries the *true* time of the edge, i.e. when the node's
// hardware timer would have switched the line under its simulated clock, so that the camera can
// expose at edge + its own shutter lag in true time, whatever the OS scheduling latency of the
// simulation was.
//
// True time, everywhere in sim/, is CLOCK_MONOTONIC in nanoseconds: one timeline shared by every
// process on the machine.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace twinrig::sim::wire {

inline constexpr std::uint16_t kRemotePortUdp = 15741;
inline constexpr std::uint32_t kRemotePortMagic = 0x50525254;  // "TRRP" little-endian
inline constexpr std::uint8_t kRemotePortVersion = 1;

enum class Line : std::uint8_t { kFocus = 0, kShutter = 1 };

struct LineEdge {
  Line line = Line::kShutter;
  bool closed = false;            // true: line pulled to ground (half-press / shutter pressed)
  std::int64_t true_time_ns = 0;  // when the edge happened, in true time (CLOCK_MONOTONIC ns)
  std::uint32_t capture_id = 0;   // the fire-at's capture id (0 when not known)
  std::uint16_t node_id = 0;      // which node and output drove the line (for logs and truth)
  std::uint8_t node_port = 0;
};

inline constexpr std::size_t kLineEdgeSize = 24;

// Layout (little-endian): u32 magic, u8 version, u8 line, u8 closed, u8 node_port,
// u16 node_id, u16 reserved, u32 capture_id, i64 true_time_ns.
inline std::array<std::uint8_t, kLineEdgeSize> Encode(const LineEdge& edge) {
  std::array<std::uint8_t, kLineEdgeSize> out{};
  auto put = [&out](std::size_t at, const void* src, std::size_t n) {
    std::memcpy(&out[at], src, n);
  };
  put(0, &kRemotePortMagic, 4);
  out[4] = kRemotePortVersion;
  out[5] = static_cast<std::uint8_t>(edge.line);
  out[6] = edge.closed ? 1 : 0;
  out[7] = edge.node_port;
  put(8, &edge.node_id, 2);
  put(12, &edge.capture_id, 4);
  put(16, &edge.true_time_ns, 8);
  return out;
}

// Returns nullopt for anything that is not a well-formed edge of this version.
inline std::optional<LineEdge> Decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() != kLineEdgeSize) return std::nullopt;
  std::uint32_t magic = 0;
  std::memcpy(&magic, bytes.data(), 4);
  if (magic != kRemotePortMagic || bytes[4] != kRemotePortVersion) return std::nullopt;
  if (bytes[5] > 1 || bytes[6] > 1) return std::nullopt;
  LineEdge edge;
  edge.line = static_cast<Line>(bytes[5]);
  edge.closed = bytes[6] == 1;
  edge.node_port = bytes[7];
  std::memcpy(&edge.node_id, &bytes[8], 2);
  std::memcpy(&edge.capture_id, &bytes[12], 4);
  std::memcpy(&edge.true_time_ns, &bytes[16], 8);
  return edge;
}

}  // namespace twinrig::sim::wire
