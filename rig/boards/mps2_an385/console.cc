#include "rig/boards/mps2_an385/console.h"

namespace twinrig::rig::mps2 {

namespace {

struct Uart {
  volatile std::uint32_t data, state, ctrl, intstatus, bauddiv;
};
Uart& Uart0() { return *reinterpret_cast<Uart*>(0x40004000U); }
constexpr std::uint32_t kTxFull = 1U << 0;
constexpr std::uint32_t kRxFull = 1U << 1;

}  // namespace

void Console::Init() {
  Uart0().bauddiv = 16;  // the smallest divider the CMSDK UART accepts
  Uart0().ctrl = 3;      // transmit and receive enabled, no interrupts
}

Console::Message& Console::Message::Char(char c) {
  if (length_ + 1 < sizeof(line_)) line_[length_++] = c;
  return *this;
}

Console::Message& Console::Message::Text(const char* text) {
  while (*text != '\0') Char(*text++);
  return *this;
}

Console::Message& Console::Message::Unsigned(std::uint64_t value) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0) Char(digits[--n]);
  return *this;
}

Console::Message& Console::Message::Hex(std::uint64_t value) {
  for (int shift = 60; shift >= 0; shift -= 4) Char("0123456789abcdef"[(value >> shift) & 0xFU]);
  return *this;
}

bool Console::Message::Send() {
  Char('\n');
  Console& c = console_;
  if (c.used_ + length_ > sizeof(c.ring_)) return false;
  for (std::size_t i = 0; i < length_; ++i)
    c.ring_[(c.head_ + c.used_ + i) % sizeof(c.ring_)] = line_[i];
  c.used_ += length_;
  return true;
}

void Console::Drain() {
  // A few characters per call, so that a long backlog never holds up the loop's next deadline.
  for (int sent = 0; sent < 32 && used_ > 0 && (Uart0().state & kTxFull) == 0; ++sent) {
    Uart0().data = static_cast<std::uint8_t>(ring_[head_]);
    head_ = (head_ + 1) % sizeof(ring_);
    --used_;
  }
}

char Console::Command() {
  if ((Uart0().state & kRxFull) == 0) return 0;
  return static_cast<char>(Uart0().data & 0xFFU);
}

}  // namespace twinrig::rig::mps2
