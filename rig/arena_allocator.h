// A FlatBuffers allocator over one fixed block, so that the node builds every reply without the
// heap. The builder is created with the whole block as its initial size and only ever Clear()ed, so
// it never asks for more: every frame the node builds is bounded (ports <= kMaxPorts, strings
// clipped), which a unit test checks with the largest Status. Asking for more is a broken invariant
// and traps, which on a board ends in the watchdog reset and the latched Watchdog fault.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstddef>
#include <cstdint>

namespace twinrig::rig {

template <std::size_t kSize>
class ArenaAllocator : public flatbuffers::Allocator {
 public:
  std::uint8_t* allocate(std::size_t size) override {
    if (size > kSize || in_use_) __builtin_trap();
    in_use_ = true;
    return block_;
  }
  void deallocate(std::uint8_t* p, std::size_t /*size*/) override {
    if (p == block_) in_use_ = false;
  }
  std::uint8_t* reallocate_downward(std::uint8_t* /*old_p*/, std::size_t /*old_size*/,
                                    std::size_t /*new_size*/, std::size_t /*in_use_back*/,
                                    std::size_t /*in_use_front*/) override {
    __builtin_trap();
  }
  static constexpr std::size_t size() { return kSize; }

 private:
  alignas(8) std::uint8_t block_[kSize] = {};
  bool in_use_ = false;
};

}  // namespace twinrig::rig
