// SMSC LAN9118 Ethernet controller of the MPS2 boards (0x40200000 on the AN385). The main loop
// reads the frames; the receive interrupt (IRQ 13) wakes it from sleep and stamps the arrival
// (hal.cc), so a frame's receive tick is taken by the interrupt, or by the first poll that sees it
// when the loop was busy.
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

  // The controller's interrupt line (IRQ 13) rises when a frame has been received; it stays up
  // until AckReceiveInterrupt(), which the loop calls before it sleeps.
  void AckReceiveInterrupt();
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
