#include "rig/boards/mps2_an385/lan9118.h"

#include <cstring>

namespace twinrig::rig::mps2 {

namespace {

constexpr std::uintptr_t kBase = 0x40200000U;
// Register offsets (LAN9118 data sheet, "System Control and Status Registers").
constexpr std::uintptr_t kRxDataFifo = 0x00;
constexpr std::uintptr_t kTxDataFifo = 0x20;
constexpr std::uintptr_t kRxStatusFifo = 0x40;
constexpr std::uintptr_t kTxStatusFifo = 0x48;
constexpr std::uintptr_t kIdRev = 0x50;
constexpr std::uintptr_t kIrqCfg = 0x54;
constexpr std::uintptr_t kIntSts = 0x58;
constexpr std::uintptr_t kIntEn = 0x5C;
constexpr std::uintptr_t kByteTest = 0x64;
constexpr std::uintptr_t kRxCfg = 0x6C;
constexpr std::uintptr_t kTxCfg = 0x70;
constexpr std::uintptr_t kHwCfg = 0x74;
constexpr std::uintptr_t kRxFifoInf = 0x7C;
constexpr std::uintptr_t kTxFifoInf = 0x80;
constexpr std::uintptr_t kMacCsrCmd = 0xA4;
constexpr std::uintptr_t kMacCsrData = 0xA8;

constexpr std::uint32_t kMacCr = 1;
constexpr std::uint32_t kMacAddrH = 2;
constexpr std::uint32_t kMacAddrL = 3;
constexpr std::uint32_t kMacCrTxEn = 1U << 3;
constexpr std::uint32_t kMacCrRxEn = 1U << 2;
constexpr std::uint32_t kCsrBusy = 1U << 31;
constexpr std::uint32_t kCsrRead = 1U << 30;
constexpr std::uint32_t kTxCfgTxOn = 1U << 1;
constexpr std::uint32_t kIrqEnable = 1U << 8;
constexpr std::uint32_t kIrqActiveHighPushPull = (1U << 4) | (1U << 0);
constexpr std::uint32_t kRxStatusLevelInt = 1U << 3;  // RSFL: the RX status FIFO has an entry
constexpr std::uint32_t kRxStatusErrorSummary = 1U << 15;
constexpr std::uint32_t kRxStatusFilterFail = 1U << 30;
constexpr std::uint32_t kByteTestValue = 0x87654321U;
constexpr int kBusyPolls = 10000;  // bounded waits on the controller

// A memory-mapped register: the address is the hardware's, not a pointer the compiler could track.
volatile std::uint32_t& Reg(std::uintptr_t offset) {
  const std::uintptr_t address = kBase + offset;
  // NOLINTNEXTLINE(performance-no-int-to-ptr)
  return *reinterpret_cast<volatile std::uint32_t*>(address);
}

}  // namespace

std::uint32_t Lan9118::MacRead(std::uint32_t reg) const {
  Reg(kMacCsrCmd) = kCsrBusy | kCsrRead | reg;
  for (int i = 0; i < kBusyPolls && (Reg(kMacCsrCmd) & kCsrBusy) != 0; ++i) {
  }
  return Reg(kMacCsrData);
}

void Lan9118::MacWrite(std::uint32_t reg, std::uint32_t value) {
  Reg(kMacCsrData) = value;
  Reg(kMacCsrCmd) = kCsrBusy | reg;
  for (int i = 0; i < kBusyPolls && (Reg(kMacCsrCmd) & kCsrBusy) != 0; ++i) {
  }
}

bool Lan9118::Init() {
  if (Reg(kByteTest) != kByteTestValue) return false;
  if ((Reg(kIdRev) >> 16) != 0x0118) return false;
  Reg(kHwCfg) = 1;  // soft reset (keeps the MAC address the controller loaded)
  for (int i = 0; i < kBusyPolls && (Reg(kHwCfg) & 1U) != 0; ++i) {
  }
  Reg(kIntSts) = 0xFFFFFFFFU;
  Reg(kIntEn) = kRxStatusLevelInt;  // FIFO_INT's reset level 0: any received frame
  Reg(kIrqCfg) = kIrqEnable | kIrqActiveHighPushPull;
  Reg(kRxCfg) = 0;  // no offset, no end padding: words are read back to back
  Reg(kTxCfg) = kTxCfgTxOn;
  // Own address and broadcast only (not promiscuous): the controller filters foreign frames.
  MacWrite(kMacCr, kMacCrTxEn | kMacCrRxEn);
  return true;
}

void Lan9118::MacAddress(std::uint8_t mac[6]) const {
  const std::uint32_t low = MacRead(kMacAddrL);
  const std::uint32_t high = MacRead(kMacAddrH);
  for (int i = 0; i < 4; ++i) mac[i] = static_cast<std::uint8_t>(low >> (8 * i));
  mac[4] = static_cast<std::uint8_t>(high);
  mac[5] = static_cast<std::uint8_t>(high >> 8);
}

void Lan9118::AckReceiveInterrupt() { Reg(kIntSts) = kRxStatusLevelInt; }

bool Lan9118::FramePending() const { return ((Reg(kRxFifoInf) >> 16) & 0xFFU) != 0; }

bool Lan9118::Receive(std::uint8_t* frame, std::size_t capacity, std::size_t* size) {
  if (!FramePending()) return false;
  const std::uint32_t status = Reg(kRxStatusFifo);
  const std::size_t length = (status >> 16) & 0x3FFFU;  // includes the 4-byte FCS
  const std::size_t words = (length + 3) / 4;
  const bool fits = length >= 4 && length - 4 <= capacity;
  std::uint32_t word = 0;
  for (std::size_t w = 0; w < words; ++w) {
    word = Reg(kRxDataFifo);
    if (!fits) continue;  // drained, not kept
    for (std::size_t b = 0; b < 4; ++b) {
      const std::size_t at = w * 4 + b;
      if (at < length - 4) frame[at] = static_cast<std::uint8_t>(word >> (8 * b));
    }
  }
  if ((status & (kRxStatusErrorSummary | kRxStatusFilterFail)) != 0) {
    ++counters_.rx_errors;
    return false;
  }
  if (!fits) {
    ++counters_.rx_too_long;
    return false;
  }
  *size = length - 4;
  return true;
}

void Lan9118::Transmit(const std::uint8_t* frame, std::size_t size) {
  const std::size_t words = (size + 3) / 4;
  if ((Reg(kTxFifoInf) & 0xFFFFU) < words * 4 + 8) {
    ++counters_.tx_no_space;
    return;
  }
  // Command A: first and last segment, buffer size; command B: tag and packet length.
  Reg(kTxDataFifo) = (1U << 13) | (1U << 12) | static_cast<std::uint32_t>(size);
  Reg(kTxDataFifo) =
      (static_cast<std::uint32_t>(++tx_tag_) << 16) | static_cast<std::uint32_t>(size);
  for (std::size_t w = 0; w < words; ++w) {
    std::uint32_t word = 0;
    const std::size_t n = size - w * 4 < 4 ? size - w * 4 : 4;
    std::memcpy(&word, frame + w * 4, n);  // little-endian core: byte 0 first on the wire
    Reg(kTxDataFifo) = word;
  }
  // The TX status FIFO is not used; drain it so that it never fills.
  for (int i = 0; i < 256 && ((Reg(kTxFifoInf) >> 16) & 0xFFU) != 0; ++i) {
    const std::uint32_t status = Reg(kTxStatusFifo);
    static_cast<void>(status);
  }
}

}  // namespace twinrig::rig::mps2
