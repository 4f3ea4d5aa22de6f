// The trigger node on the MPS2 AN385 board: the same application as every board, in a polled
// main loop. All memory is static; the heap is never used (operator new traps).
#include <cstddef>
#include <new>

#include "protocol/frame.h"
#include "rig/boards/mps2_an385/mps2_hal.h"
#include "rig/node.h"

namespace {

twinrig::rig::mps2::Mps2Hal g_hal;
twinrig::rig::NodeConfig MakeConfig() {
  twinrig::rig::NodeConfig config;
  config.node_id = g_hal.node_id();  // from the provisioning block (mps2_hal.h)
  config.port_count = g_hal.port_count();
  return config;
}
twinrig::rig::Node g_node(g_hal, MakeConfig());
std::uint8_t g_rx[twinrig::protocol::kMaxDatagram];
constexpr std::int64_t kEdgeGuardTicks = twinrig::rig::mps2::kTickRateHz / 2500;  // 400 us

}  // namespace

// No heap after init — and on this board, none at all: any allocation is a bug.
void* operator new(std::size_t) { __builtin_trap(); }
void* operator new[](std::size_t) { __builtin_trap(); }
void operator delete(void*) noexcept {}
void operator delete[](void*) noexcept {}
void operator delete(void*, std::size_t) noexcept {}
void operator delete[](void*, std::size_t) noexcept {}

extern "C" int TwinrigFirmwareMain() {
  if (!g_hal.Init()) {
    // No Ethernet controller: the node cannot be reached, so it never arms; the watchdog keeps
    // restarting it in case the controller comes up.
    for (;;) {
    }
  }
  g_node.Boot();
  for (;;) {
    std::uint64_t deadline = 0;
    bool has_deadline = g_node.NextDeadline(&deadline);
    const std::uint64_t now = g_hal.Now();
    if (has_deadline && twinrig::protocol::TickDiff(deadline, now) < kEdgeGuardTicks) {
      // An edge is due within the guard: nothing else runs before it (handling one frame takes up
      // to ~200 us at 25 MHz), so the loop only watches the timer until the edge has switched.
      if (!twinrig::protocol::TickBefore(now, deadline)) g_node.OnTimer(deadline);
      g_node.Poll();
      continue;
    }
    std::size_t size = 0;
    twinrig::rig::Peer from;
    std::uint64_t rx_tick = 0;
    if (g_hal.Receive(g_rx, sizeof(g_rx), &size, &from, &rx_tick)) {
      g_node.OnDatagram(g_rx, size, rx_tick, from);
    }
    g_node.Poll();
    g_hal.Service(g_node.boot_id());
    if (g_hal.reboot_requested()) twinrig::rig::mps2::Mps2Hal::SystemReset();
    has_deadline = g_node.NextDeadline(&deadline);
    g_hal.Idle(has_deadline, deadline);
  }
}

// The reset handler (startup.cc) calls TwinrigFirmwareMain; newlib's crt0 still names main.
int main() { return TwinrigFirmwareMain(); }
