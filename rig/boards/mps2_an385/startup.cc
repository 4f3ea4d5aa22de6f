// Reset and vector table of the MPS2 AN385 firmware (Cortex-M3).
#include <cstdint>

extern "C" {
extern std::uint32_t _data_load, _data_start, _data_end, _bss_start, _bss_end, _stack_bottom,
    _stack_top;
void __libc_init_array();
int TwinrigFirmwareMain();  // main.cc
[[noreturn]] void Reset_Handler();
void Default_Handler();
void Watchdog_Handler();  // hal.cc: records the reset cause before the watchdog resets the core
void Timer1_Handler();    // hal.cc: the main loop's wake-up at its next deadline
void Ethernet_Handler();  // hal.cc: stamps a received frame
}

extern "C" [[noreturn]] void Reset_Handler() {
  // Copy initialised data, clear the rest, run the static constructors (the node lives in static
  // storage, so all of its memory is placed here, before main).
  for (std::uint32_t *src = &_data_load, *dst = &_data_start; dst < &_data_end;) *dst++ = *src++;
  for (std::uint32_t* dst = &_bss_start; dst < &_bss_end;) *dst++ = 0;
  // Paint the stack below this frame, so that the high-water mark can be measured on the target
  // (hal.cc: StackUnused).
  std::uint32_t here = 0;
  for (volatile std::uint32_t* word = &_stack_bottom; word + 16 < &here;) *word++ = 0x57AC57ACU;
  __libc_init_array();
  TwinrigFirmwareMain();
  for (;;) {
  }
}

extern "C" void Default_Handler() {
  for (;;) {  // an unexpected fault: the watchdog resets the node, which then latches Watchdog
  }
}

using Vector = void (*)();
// Core vectors, then the AN385 interrupts; the watchdog's interrupt arrives as an NMI.
__attribute__((section(".isr_vector"), used)) const Vector kVectors[16 + 32] = {
    reinterpret_cast<Vector>(&_stack_top),
    Reset_Handler,
    Watchdog_Handler,  // NMI
    Default_Handler,   // HardFault
    Default_Handler,   // MemManage
    Default_Handler,   // BusFault
    Default_Handler,   // UsageFault
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    Default_Handler,  // SVCall
    Default_Handler,  // Debug monitor
    nullptr,
    Default_Handler,  // PendSV
    Default_Handler,  // SysTick
    // AN385 interrupts 0..31
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Timer1_Handler,  // 9: CMSDK timer 1
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Ethernet_Handler,  // 13: LAN9118
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
};
