// The node's message decoding under fuzzing: the bytes are a sequence of datagrams, each preceded
// by one length byte and one byte that moves the node's clock, delivered to a fresh node on the
// fake board. Used by the libFuzzer target (node_fuzz_main.cc) and by the replay unit test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace twinrig::rig::fuzz {

int FuzzNodeOneInput(const std::uint8_t* data, std::size_t size);

// Well-formed request frames of every kind (a seed corpus), framed as FuzzNodeOneInput expects.
std::vector<std::vector<std::uint8_t>> SeedInputs();

}  // namespace twinrig::rig::fuzz
