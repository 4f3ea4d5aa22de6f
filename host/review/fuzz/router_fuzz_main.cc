// libFuzzer entry point: the review station's HTTP parsing and request router (fuzz preset).
//   cmake --preset fuzz && cmake --build --preset fuzz --target review_fuzz
#include <cstddef>
#include <cstdint>

#include "host/review/fuzz/router_fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return twinrig::review::fuzz::FuzzRouterOneInput(data, size);
}
