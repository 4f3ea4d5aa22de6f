#include <cstring>

#include "rig/boards/mps2_an385/mps2_hal.h"

extern "C" std::uint32_t _stack_bottom, _stack_top;  // mps2_an385.ld

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
Timer& Timer1() { return *reinterpret_cast<Timer*>(0x40001000U); }
volatile std::uint32_t& NvicIser() { return *reinterpret_cast<std::uint32_t*>(0xE000E100U); }
volatile std::uint32_t& NvicIcer() { return *reinterpret_cast<std::uint32_t*>(0xE000E180U); }
volatile std::uint32_t& NvicIcpr() { return *reinterpret_cast<std::uint32_t*>(0xE000E280U); }
constexpr std::uint32_t kTimer1Irq = 9;
constexpr std::uint32_t kEthernetIrq = 13;
constexpr std::uint32_t kMaxSleepTicks = kTickRateHz / 50;  // 20 ms
constexpr std::uint32_t kSpinTicks = kTickRateHz / 200;     // 5 ms
Gpio& Gpio0() { return *reinterpret_cast<Gpio*>(0x40010000U); }
Watchdog& Wdog() { return *reinterpret_cast<Watchdog*>(0x40008000U); }
volatile std::uint32_t& WatchdogLock() { return *reinterpret_cast<std::uint32_t*>(0x40008C00U); }
volatile std::uint32_t& ScbAircr() { return *reinterpret_cast<std::uint32_t*>(0xE000ED0CU); }
const volatile Provisioning& Provision() {
  static_assert(kProvisioningAddress == 0x203FFF00U);
  return *reinterpret_cast<const volatile Provisioning*>(0x203FFF00U);
}

constexpr std::uint32_t kWatchdogUnlock = 0x1ACCE551U;
// 500 ms to the NMI, the reset 500 ms later: far longer than the loop ever takes (it sleeps at
// most 20 ms). The provisioning block may set another (emulated nodes: see Provisioning).
constexpr std::uint32_t kWatchdogTimeout = kTickRateHz / 2;
constexpr std::uint32_t kAlive = 0xA11FE000U;
constexpr std::uint32_t kBittenByWatchdog = 0xD06B17E5U;
constexpr std::uint32_t kStackPaint = 0x57AC57ACU;
constexpr std::uint64_t kReportEveryTicks = kTickRateHz / 2;

// Kept across warm resets (the .noinit section is neither loaded nor cleared).
__attribute__((section(".noinit"))) std::uint32_t g_reset_marker;
__attribute__((section(".noinit"))) std::uint32_t g_config_size;
__attribute__((section(".noinit"))) std::uint8_t g_config[256];

NetConfig DefaultNetConfig() { return NetConfig{}; }

// Written by the Ethernet interrupt: timer 0's count when the first waiting frame was seen.
volatile std::uint32_t g_rx_irq_count = 0;
volatile bool g_rx_irq_stamped = false;

}  // namespace

// Runs during static initialisation (before the node is constructed): the provisioning block is
// plain memory, written by the loader before the core left reset.
Mps2Hal::Mps2Hal() : stack_(*this, DefaultNetConfig()) {
  watchdog_load_ = kWatchdogTimeout;
  if (Provision().magic != Provisioning::kMagic) return;
  const std::uint32_t watchdog_ms = Provision().watchdog_ms;
  if (watchdog_ms >= 100 && watchdog_ms <= 5000)
    watchdog_load_ = watchdog_ms * (kTickRateHz / 1000);
  const std::uint32_t id_ports = Provision().node_id_and_ports;
  node_id_ = static_cast<std::uint16_t>(id_ports);
  const std::uint32_t ports = (id_ports >> 16) & 0xFFU;
  if (ports >= 1 && ports <= protocol::kMaxPorts) port_count_ = static_cast<std::uint8_t>(ports);
  debug_commands_ = (id_ports & (1U << 24)) != 0;
  provisioned_entropy_ = Provision().entropy;
  NetConfig net;
  net.address = Provision().address;
  net.netmask = Provision().netmask;
  net.gateway = Provision().gateway;
  stack_.Configure(net);
}

bool Mps2Hal::Init() {
  Timer0().reload = 0xFFFFFFFFU;
  Timer0().value = 0xFFFFFFFFU;
  Timer0().ctrl = 1;  // enable, no interrupt: free-running down-counter
  last_count_ = Timer0().value;
  Gpio0().dataout = 0;  // every line released before it is driven
  Gpio0().outenset = 0xFFFFFFFFU;
  console_.Init();

  watchdog_reset_ = g_reset_marker == kBittenByWatchdog;
  g_reset_marker = kAlive;
  const bool nic_ok = nic_.Init();
  if (nic_ok) {
    NetConfig net = stack_.config();
    nic_.MacAddress(net.mac);
    stack_.Configure(net);
  }

  WatchdogLock() = kWatchdogUnlock;
  Wdog().load = watchdog_load_;
  Wdog().ctrl = 3;  // interrupt (NMI) on the first expiry, reset on the second
  WatchdogLock() = 0;
  if (nic_ok) stack_.Announce();
  return nic_ok;
}

std::uint64_t Mps2Hal::Now() {
  // The timer counts down; the 32-bit difference since the last read is wrap-safe as long as
  // Now() runs at least every 171 s (the main loop calls it continuously).
  const std::uint32_t count = Timer0().value;
  ticks_ += static_cast<std::uint32_t>(last_count_ - count);
  last_count_ = count;
  return ticks_;
}

void Mps2Hal::SetLine(std::uint8_t port, Line line, bool closed, std::uint64_t tick,
                      std::uint32_t capture_id) {
  const std::uint32_t bit = 1U << (2U * port + (line == Line::kShutter ? 1U : 0U));
  if (closed) {
    Gpio0().dataout = Gpio0().dataout | bit;
  } else {
    Gpio0().dataout = Gpio0().dataout & ~bit;
  }
  // Only recorded here: the console text is written by Service(), off the fire path, so that the
  // next line of the same instant is not held up.
  const std::uint64_t moved = Now();
  if (edge_count_ == kEdgeLog) {
    ++edge_drops_;
    return;
  }
  EdgeRecord& record = edge_log_[(edge_head_ + edge_count_) % kEdgeLog];
  record = {tick, moved, capture_id, port, line == Line::kShutter, closed};
  ++edge_count_;
}

void Mps2Hal::ReportEdges() {
  while (edge_count_ > 0) {
    const EdgeRecord& e = edge_log_[edge_head_];
    // The line's switching tick is the one the scheduler meant; the last figure says how many
    // ticks after it the pin really moved.
    const bool queued = console_.Start()
                            .Text("L ")
                            .Unsigned(e.port)
                            .Text(e.shutter ? " S " : " F ")
                            .Unsigned(e.closed ? 1 : 0)
                            .Char(' ')
                            .Unsigned(e.tick)
                            .Char(' ')
                            .Unsigned(e.capture_id)
                            .Char(' ')
                            .Unsigned(e.moved - e.tick)
                            .Send();
    if (!queued) return;  // the console is full: the next pass sends it
    edge_head_ = (edge_head_ + 1) % kEdgeLog;
    --edge_count_;
  }
}

void Mps2Hal::Transmit(const std::uint8_t* frame, std::size_t size) { nic_.Transmit(frame, size); }

void Mps2Hal::Send(const std::uint8_t* data, std::size_t size, const Peer& to,
                   std::size_t tx_stamp_offset) {
  if (size > sizeof(tx_frame_) - kUdpPayloadOffset) return;
  std::memcpy(tx_frame_ + kUdpPayloadOffset, data, size);
  const std::size_t frame_size = stack_.PrepareUdp(tx_frame_, size, to);
  if (frame_size == 0) return;
  if (tx_stamp_offset != 0 && tx_stamp_offset + 8 <= size) {
    // The last moment before the frame enters the controller's FIFO (the UDP checksum is 0, so
    // nothing else depends on these bytes).
    const std::uint64_t tick = Now();
    std::memcpy(tx_frame_ + kUdpPayloadOffset + tx_stamp_offset, &tick, 8);
  }
  nic_.Transmit(tx_frame_, frame_size);
}

std::uint64_t Mps2Hal::TickOfCount(std::uint32_t count) const {
  // Signed: the count may be from just before or just after the last Now().
  return ticks_ + static_cast<std::uint64_t>(
                      static_cast<std::int64_t>(static_cast<std::int32_t>(last_count_ - count)));
}

bool Mps2Hal::Receive(std::uint8_t* data, std::size_t capacity, std::size_t* size, Peer* from,
                      std::uint64_t* rx_tick) {
  if (!nic_.FramePending()) return false;
  // The interrupt's stamp when it saw this frame first, else the first poll that sees it.
  std::uint64_t tick = Now();
  if (g_rx_irq_stamped) {
    tick = TickOfCount(g_rx_irq_count);
    g_rx_irq_stamped = false;
  }
  std::size_t frame_size = 0;
  if (!nic_.Receive(rx_frame_, sizeof(rx_frame_), &frame_size)) return false;
  UdpDatagram datagram;
  if (!stack_.OnFrame(rx_frame_, frame_size, &datagram)) return false;
  if (datagram.size > capacity) {
    ++stack_.mutable_counters().oversized;
    return false;
  }
  std::memcpy(data, datagram.payload, datagram.size);
  *size = datagram.size;
  *from = datagram.from;
  *rx_tick = tick;
  return true;
}

void Mps2Hal::Service(std::uint64_t boot_id) {
  if (!booted_reported_) {
    booted_reported_ = true;
    console_.Start()
        .Text("B ")
        .Hex(boot_id)
        .Char(' ')
        .Unsigned(watchdog_reset_ ? 1 : 0)
        .Char(' ')
        .Text(BoardName())
        .Char(' ')
        .Unsigned(node_id_)
        .Text(" lines=")
        .Unsigned(Gpio0().dataout)  // every bit 0: all lines released
        .Send();
  }
  switch (console_.Command()) {
    case 'W':
      // Debug command: the main loop stops here, as a hung loop would; the watchdog must bring
      // the node back (tests/rig: the watchdog test on QEMU).
      if (!debug_commands_) break;
      for (;;) {
      }
    case 'T':
      // The tick now: whoever reads the console relates the edges' ticks to its own clock with
      // these (the virtual studio, to fire its cameras at the tick a line really moved).
      console_.Start().Text("T ").Unsigned(Now()).Send();
      break;
    case 'N':
      last_report_hash_ = 0;
      last_report_tick_ = Now() - kReportEveryTicks;
      break;
    default:
      break;
  }
  ReportEdges();
  if (Now() - last_report_tick_ >= kReportEveryTicks) {
    last_report_tick_ = Now();
    ReportCounters();
  }
  console_.Drain();
}

void Mps2Hal::Idle(bool has_deadline, std::uint64_t deadline) {
  __asm volatile("cpsid i" ::: "memory");
  // Before the checks: a frame after this raises the line again. The NVIC keeps a level
  // interrupt pending after its source went quiet, and a stale pending would stamp the next frame
  // with a tick from before it arrived.
  nic_.AckReceiveInterrupt();
  NvicIcpr() = 1U << kEthernetIrq;
  if (!nic_.FramePending()) g_rx_irq_stamped = false;
  const std::uint64_t now = Now();
  std::uint64_t wake = now + kMaxSleepTicks;
  // The loop wakes kSpinTicks before an edge and then polls for it: waking from sleep takes
  // longer (and varies more) than one pass of the loop.
  if (has_deadline && protocol::TickBefore(deadline - kSpinTicks, wake))
    wake = deadline - kSpinTicks;
  const std::uint64_t delay = protocol::TickBefore(now, wake) ? wake - now : 0;
  if (nic_.FramePending() || !console_.empty() || edge_count_ > 0 || reboot_requested_ ||
      delay < 25) {
    __asm volatile("cpsie i" ::: "memory");
    return;
  }
  Timer1().ctrl = 0;
  Timer1().intstatus = 1;
  Timer1().reload = static_cast<std::uint32_t>(delay);
  Timer1().value = static_cast<std::uint32_t>(delay);
  Timer1().ctrl = 1U | 8U;  // enable, interrupt at zero
  NvicIser() = (1U << kTimer1Irq) | (1U << kEthernetIrq);
  // WFI wakes on a pending interrupt even while PRIMASK masks it; the handler runs after cpsie.
  __asm volatile("wfi" ::: "memory");
  __asm volatile("cpsie i" ::: "memory");
  Timer1().ctrl = 0;
}

void Mps2Hal::ReportCounters() {
  const NetCounters& n = stack_.counters();
  const Lan9118Counters& d = nic_.counters();
  const std::uint32_t values[] = {n.frames_in,
                                  n.frames_out,
                                  n.runt,
                                  n.oversized,
                                  n.foreign,
                                  n.bad_ip,
                                  n.fragments,
                                  n.bad_udp,
                                  n.closed_port,
                                  n.bad_arp,
                                  n.arp_answered,
                                  n.icmp_answered,
                                  n.bad_icmp,
                                  n.no_route,
                                  d.rx_errors,
                                  d.rx_too_long,
                                  d.tx_no_space,
                                  edge_drops_,
                                  static_cast<std::uint32_t>(StackSize() - StackUnused())};
  static constexpr const char* kNames[] = {
      "frames_in",    "frames_out",    "runt",       "oversized",   "foreign",
      "bad_ip",       "fragments",     "bad_udp",    "closed_port", "bad_arp",
      "arp_answered", "icmp_answered", "bad_icmp",   "no_route",    "rx_errors",
      "rx_too_long",  "tx_no_space",   "edge_drops", "stack_used"};
  static_assert(sizeof(values) / sizeof(values[0]) == sizeof(kNames) / sizeof(kNames[0]));
  std::uint32_t hash = 2166136261U;
  for (std::uint32_t v : values) hash = (hash ^ v) * 16777619U;
  if (hash == last_report_hash_) return;  // only when something changed
  last_report_hash_ = hash;
  Console::Message message = console_.Start();
  message.Char('N');
  for (std::size_t i = 0; i < sizeof(values) / sizeof(values[0]); ++i)
    message.Char(' ').Text(kNames[i]).Char('=').Unsigned(values[i]);
  message.Send();
}

void Mps2Hal::KickWatchdog() {
  WatchdogLock() = kWatchdogUnlock;
  Wdog().intclr = 1;
  Wdog().load = watchdog_load_;
  WatchdogLock() = 0;
}

bool Mps2Hal::ResetByWatchdog() { return watchdog_reset_; }

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
  // Timer phase at boot mixed with the uninitialised .noinit contents, the node's id and the
  // provisioner's random word
  // (weak, but boot ids only have to differ between boots of one node).
  std::uint64_t mix = 0x9E3779B97F4A7C15ULL ^ Timer0().value ^ (std::uint64_t{node_id_} << 40);
  for (std::uint8_t byte : g_config) mix = (mix ^ byte) * 0x100000001B3ULL;
  mix = (mix ^ g_reset_marker) * 0x100000001B3ULL;
  mix = (mix ^ provisioned_entropy_) * 0x100000001B3ULL;
  return mix ^ (static_cast<std::uint64_t>(Timer0().value) << 32);
}

void Mps2Hal::SystemReset() {
  ScbAircr() = 0x05FA0004U;  // VECTKEY | SYSRESETREQ
  for (;;) {
  }
}

std::size_t StackSize() {
  return static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(&_stack_top) -
                                  reinterpret_cast<std::uintptr_t>(&_stack_bottom));
}

std::size_t StackUnused() {
  std::size_t unused = 0;
  for (const std::uint32_t* word = &_stack_bottom; word < &_stack_top && *word == kStackPaint;
       ++word)
    unused += 4;
  return unused;
}

}  // namespace twinrig::rig::mps2

extern "C" void Ethernet_Handler() {
  using namespace twinrig::rig::mps2;
  if (!g_rx_irq_stamped) {
    g_rx_irq_count = Timer0().value;
    g_rx_irq_stamped = true;
  }
  NvicIcer() = 1U << kEthernetIrq;  // masked until the loop sleeps again (the line is level)
}

extern "C" void Timer1_Handler() {
  using namespace twinrig::rig::mps2;
  Timer1().intstatus = 1;
  Timer1().ctrl = 0;
}

extern "C" void Watchdog_Handler() {
  // First watchdog expiry: remember why the node is about to be reset, then let the second
  // expiry reset it.
  twinrig::rig::mps2::g_reset_marker = twinrig::rig::mps2::kBittenByWatchdog;
  for (;;) {
  }
}
