// libFuzzer entry point: the rig file reader on arbitrary text (fuzz preset). Every input is one
// rig file; the reader must either return a rig or say what is wrong, never crash.
//   cmake --preset fuzz && cmake --build --preset fuzz --target rig_file_fuzz
//   build/fuzz/host/studio/rig_file_fuzz -max_total_time=30
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "host/studio/rig_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto needs :
       {twinrig::studio::RigNeeds::kNodes, twinrig::studio::RigNeeds::kCameras}) {
    auto rig = twinrig::studio::ParseRigFile(text, "fuzz input", "fuzz", needs);
    if (!rig.ok() && rig.error().what.empty()) __builtin_trap();
    if (rig.ok() && rig->nodes.empty()) __builtin_trap();  // a rig has at least one node
  }
  return 0;
}
