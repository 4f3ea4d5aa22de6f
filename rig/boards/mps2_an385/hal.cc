#include <cstring>

#include "rig/boards/mps2_an385/mps2_hal.h"

namespace twinrig::rig::mps2 {

namespace {

// CMSDK peripheral registers (AN385 memory map).
struct Timer {
  volatile std::uint32_t ctrl, value, reload, intstatus;
};
struct Gpio {
  volatile std::uint32_t data, dataout, reserved0, reserved1, outenset, outenclr;
};
struct Watchdog {
  volatile std::uint32_t load, value, ctrl, intclr, ris, mis;
};
Timer& Timer0() { return *reinterpret_cast<Timer*>(0x40000000U); }
Gpio& Gpio0() { return *reinterpret_cast<Gpio*>(0x40010000U); }
Watchdog& Wdog() { return *reinterpret_cast<Watchdog*>(0x40008000U); }
volatile std::uint32_t& WatchdogLock() { return *reinterpret_cast<std::uint32_t*>(0x40008C00U); }
volatile std::uint32_t& ScbAircr() { return *reinterpret_cast<std::uint32_t*>(0xE000ED0CU); }

constexpr std::uint32_t kWatchdogUnlock = 0x1ACCE551U;
constexpr std::uint32_t kWatchdogTimeout = kTickRateHz / 4;  // 250 ms at the 25 MHz bus clock
constexpr std::uint32_t kAlive = 0xA11FE000U;
constexpr std::uint32_t kBittenByWatchdog = 0xD06B17E5U;

// Kept across warm resets (the .noinit section is neither loaded nor cleared).
__attribute__((section(".noinit"))) std::uint32_t g_reset_marker;
__attribute__((section(".noinit"))) std::uint32_t g_config_size;
__attribute__((section(".noinit"))) std::uint8_t g_config[256];

}  // namespace

void Mps2Hal::Init() {
  Timer0().reload = 0xFFFFFFFFU;
  Timer0().value = 0xFFFFFFFFU;
  Timer0().ctrl = 1;  // enable, no interrupt: free-running down-counter
  last_count_ = Timer0().value;
  Gpio0().dataout = 0;  // every line released before it is driven
  Gpio0().outenset = 0xFFFFU;
  WatchdogLock() = kWatchdogUnlock;
  Wdog().load = kWatchdogTimeout;
  Wdog().ctrl = 3;  // interrupt (NMI) on the first expiry, reset on the second
  WatchdogLock() = 0;
}

std::uint64_t Mps2Hal::Now() {
  // The timer counts down; the 32-bit difference since the last read is wrap-safe as long as
  // Now() runs at least every 171 s (the main loop calls it continuously).
  const std::uint32_t count = Timer0().value;
  ticks_ += static_cast<std::uint32_t>(last_count_ - count);
  last_count_ = count;
  return ticks_;
}

void Mps2Hal::SetLine(std::uint8_t port, Line line, bool closed, std::uint64_t /*tick*/,
                      std::uint32_t /*capture_id*/) {
  const std::uint32_t bit = 1U << (2U * port + (line == Line::kShutter ? 1U : 0U));
  if (closed) {
    Gpio0().dataout = Gpio0().dataout | bit;
  } else {
    Gpio0().dataout = Gpio0().dataout & ~bit;
  }
}

void Mps2Hal::Send(const std::uint8_t* /*data*/, std::size_t /*size*/, const Peer& /*to*/,
                   std::size_t /*tx_stamp_offset*/) {
  // LAN9118 transmit: not written yet (see mps2_hal.h).
}

bool Mps2Hal::Receive(std::uint8_t* /*data*/, std::size_t /*capacity*/, std::size_t* /*size*/,
                      Peer* /*from*/, std::uint64_t* /*rx_tick*/) {
  return false;  // LAN9118 receive: not written yet (see mps2_hal.h).
}

void Mps2Hal::KickWatchdog() {
  WatchdogLock() = kWatchdogUnlock;
  Wdog().intclr = 1;
  Wdog().load = kWatchdogTimeout;
  WatchdogLock() = 0;
}

bool Mps2Hal::ResetByWatchdog() {
  const bool bitten = g_reset_marker == kBittenByWatchdog;
  g_reset_marker = kAlive;
  return bitten;
}

std::size_t Mps2Hal::LoadConfig(std::uint8_t* data, std::size_t capacity) {
  if (g_config_size == 0 || g_config_size > sizeof(g_config)) return 0;
  const std::size_t n = g_config_size < capacity ? g_config_size : capacity;
  std::memcpy(data, g_config, n);
  return n;
}

bool Mps2Hal::SaveConfig(const std::uint8_t* data, std::size_t size) {
  if (size > sizeof(g_config)) return false;
  std::memcpy(g_config, data, size);
  g_config_size = static_cast<std::uint32_t>(size);
  return true;
}

std::uint64_t Mps2Hal::Entropy() {
  // Timer phase at boot mixed with the uninitialised .noinit contents (weak, but boot ids only
  // have to differ between boots of one node).
  std::uint64_t mix = 0x9E3779B97F4A7C15ULL ^ Timer0().value;
  for (std::uint8_t byte : g_config) mix = (mix ^ byte) * 0x100000001B3ULL;
  return mix ^ (static_cast<std::uint64_t>(Timer0().value) << 32);
}

void Mps2Hal::SystemReset() {
  ScbAircr() = 0x05FA0004U;  // VECTKEY | SYSRESETREQ
  for (;;) {
  }
}

}  // namespace twinrig::rig::mps2

extern "C" void Watchdog_Handler() {
  // First watchdog expiry: remember why the node is about to be reset, then let the second
  // expiry reset it.
  twinrig::rig::mps2::g_reset_marker = twinrig::rig::mps2::kBittenByWatchdog;
  for (;;) {
  }
}
