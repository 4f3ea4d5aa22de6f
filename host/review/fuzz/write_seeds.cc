// Writes the review router's seed corpus (SeedInputs) into the folder named on the command line.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "host/review/fuzz/router_fuzz_target.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: review_fuzz_seeds FOLDER\n";
    return 2;
  }
  const std::filesystem::path folder = argv[1];
  std::filesystem::create_directories(folder);
  int n = 0;
  for (const auto& seed : twinrig::review::fuzz::SeedInputs()) {
    std::ofstream(folder / ("seed-" + std::to_string(n++))) << seed;
  }
  return 0;
}
