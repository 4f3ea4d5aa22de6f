// SMSC LAN9118 Ethernet controller of the MPS2 boards (0x40200000 on the AN385), polled: the main
// loop asks for frames, so a frame's receive tick is taken by the first poll that sees it in the
// RX status FIFO (the node's loop is short, so that poll comes within microseconds).
//
// Known QEMU behaviours respected here: the length is taken from the RX status word that is popped
// (the peeked one may differ), and a frame is drained word by word instead of with the data
// path's fast-forward.
#pragma once

#include <cstddef>
#include <cstdint>

namespace twinrig::rig::mps2 {

struct Lan9118Counters {
  std::uint32_t rx_errors = 0;    // frames the controller flagged (error summary, filter fail)
  std::uint32_t rx_too_long = 0;  // longer than the receive buffer: drained and dropped
  std::uint32_t tx_no_space = 0;  // the TX FIFO had no room: frame dropped
};

class Lan9118 {
 public:
  // Resets the controller and starts it with the MAC address it was given (QEMU: the NIC's
  // mac= option). Returns false when no LAN9118 answers at the address.
  bool Init();
  void MacAddress(std::uint8_t mac[6]) const;

  // True when at least one received frame waits in the controller.
  [[nodiscard]] bool FramePending() const;
  // Pops one frame (without its FCS) into `frame`; false when none waits or the frame was dropped.
  bool Receive(std::uint8_t* frame, std::size_t capacity, std::size_t* size);
  void Transmit(const std::uint8_t* frame, std::size_t size);

  [[nodiscard]] const Lan9118Counters& counters() const { return counters_; }

 private:
  std::uint32_t MacRead(std::uint32_t reg) const;
  void MacWrite(std::uint32_t reg, std::uint32_t value);

  Lan9118Counters counters_;
  std::uint16_t tx_tag_ = 0;
};

}  // namespace twinrig::rig::mps2
