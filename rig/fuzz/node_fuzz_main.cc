// libFuzzer entry point: the trigger node's message decoding and handling (fuzz preset).
//   cmake --preset fuzz && cmake --build --preset fuzz --target node_fuzz
#include <cstddef>
#include <cstdint>

#include "rig/fuzz/node_fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return twinrig::rig::fuzz::FuzzNodeOneInput(data, size);
}
