// Writes the seed corpus of node_fuzz into a folder: node_fuzz_seeds DIR
#include <fstream>
#include <iostream>
#include <string>

#include "rig/fuzz/node_fuzz_target.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: node_fuzz_seeds DIR\n";
    return 2;
  }
  int n = 0;
  for (const auto& seed : twinrig::rig::fuzz::SeedInputs()) {
    std::ofstream out(std::string(argv[1]) + "/seed-" + std::to_string(n++), std::ios::binary);
    out.write(reinterpret_cast<const char*>(seed.data()),
              static_cast<std::streamsize>(seed.size()));
  }
  return 0;
}
