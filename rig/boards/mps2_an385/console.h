// The node's debug console on UART0 (CMSDK UART, 0x40004000). On a real board it is the service
// header; under QEMU it is the emulator's serial port, which the virtual studio reads to see the
// trigger lines (the GPIO block has no other outside view in QEMU). Lines, one event each:
//   B <boot_id hex> <watchdog 0|1> <board> <node id> lines=<GPIO out>   at boot
//   L <port> <F|S> <1 closed|0 open> <tick> <capture_id> <late> every line change: its scheduled
//                                                               tick, ticks until the pin moved
//   N <name>=<value> ...                                        network and stack figures, on
//   change
//   T <tick>                                                    the tick, when asked
// Output is queued in a ring and sent from the main loop, never from the fire path; a message that
// does not fit is not queued (the line edges wait in the HAL's own log and are counted in
// edge_drops of the N line only when that log overflows).
//
// Input: single characters. 'N' prints the N line now; 'T' prints the T line; 'W' stalls the main
// loop (the watchdog test), only on a board whose provisioning block enables debug commands.
#pragma once

#include <cstddef>
#include <cstdint>

namespace twinrig::rig::mps2 {

class Console {
 public:
  void Init();
  // Appends one message (a whole line) or nothing when the ring lacks room.
  class Message {
   public:
    Message& Text(const char* text);
    Message& Char(char c);
    Message& Unsigned(std::uint64_t value);
    Message& Hex(std::uint64_t value);
    // Queues the line; returns false when it did not fit.
    bool Send();

   private:
    friend class Console;
    explicit Message(Console& console) : console_(console) {}
    Console& console_;
    char line_[400] = {};
    std::size_t length_ = 0;
  };
  Message Start() { return Message(*this); }

  // Sends up to 32 queued characters while the UART takes them.
  void Drain();
  // A received command character, or 0.
  char Command();
  [[nodiscard]] bool empty() const { return used_ == 0; }

 private:
  char ring_[2048] = {};
  std::size_t head_ = 0;  // next to send
  std::size_t used_ = 0;
};

}  // namespace twinrig::rig::mps2
