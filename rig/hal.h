// The trigger node's hardware abstraction. One board folder implements it (rig/boards/<board>/) and
// the build chooses the board: the application code in rig/ never tests which board it runs on.
//
// Rules for implementations: no heap after init, no exceptions. Every call is made from the node's
// single execution context (the board's main loop), never concurrently.
#pragma once

#include <cstddef>
#include <cstdint>

namespace twinrig::rig {

enum class Line : std::uint8_t { kFocus = 0, kShutter = 1 };

// Where a datagram came from, opaque to the application (IPv4 address and UDP port on real boards).
struct Peer {
  std::uint32_t address = 0;
  std::uint16_t port = 0;
};

class Hal {
 public:
  virtual ~Hal() = default;

  // --- clock and timer compare
  // The node's free-running tick counter, extended to 64 bits (it may start anywhere and wraps).
  virtual std::uint64_t Now() = 0;
  // Nominal ticks per second of Now().
  virtual std::uint32_t TickRateHz() = 0;

  // --- trigger lines
  // Switches one line. `tick` is the timer-compare instant that switched it (the hardware sets the
  // line on the compare match; the application runs just after). `capture_id` is for logs and the
  // truth record of simulated boards.
  virtual void SetLine(std::uint8_t port, Line line, bool closed, std::uint64_t tick,
                       std::uint32_t capture_id) = 0;

  // --- datagrams
  // Sends one datagram to `to`. When `tx_stamp_offset` is not 0, the 8 bytes at that offset are the
  // frame's transmit tick (little-endian), already filled with Now(): a board that can stamp at the
  // wire (a MAC with one-step timestamping, or the sim board at the moment the datagram leaves)
  // overwrites them with the tick of departure; others leave them.
  virtual void Send(const std::uint8_t* data, std::size_t size, const Peer& to,
                    std::size_t tx_stamp_offset) = 0;

  // --- watchdog
  virtual void KickWatchdog() = 0;
  // True when the last reset was caused by the watchdog (read once at boot).
  virtual bool ResetByWatchdog() = 0;

  // --- persistent configuration (a small blob; the application adds its own checksum)
  // Reads up to `capacity` bytes; returns the number read (0: none stored).
  virtual std::size_t LoadConfig(std::uint8_t* data, std::size_t capacity) = 0;
  virtual bool SaveConfig(const std::uint8_t* data, std::size_t size) = 0;

  // --- identity and life cycle
  virtual const char* BoardName() = 0;
  // Random bits for the boot id (a real board mixes its unique id with ADC noise or the RNG).
  virtual std::uint64_t Entropy() = 0;
  // Restart the node after the current reply has gone out.
  virtual void RequestReboot() = 0;
};

}  // namespace twinrig::rig
