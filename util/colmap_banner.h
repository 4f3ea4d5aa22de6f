// What the `colmap` program on this machine is: its version and whether it was built with CUDA
// (COLMAP's dense stereo, patch_match_stereo, runs only with CUDA). The doctor reports it; the
// reconstruction picks its dense stage by it.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace twinrig {

// What `colmap -h` says about itself. Its first lines read, e.g.
//   COLMAP 3.8 -- Structure-from-Motion and Multi-View Stereo
//                 (Commit Unknown on Unknown without CUDA)
struct ColmapBanner {
  bool recognised = false;
  std::string version;  // "3.8"
  bool cuda = false;
};
ColmapBanner ParseColmapBanner(std::string_view help_output);

// Runs `program -h` (within `timeout`) and parses its banner; not recognised when the program
// is missing or prints something else.
ColmapBanner ProbeColmap(const std::string& program,
                         std::chrono::seconds timeout = std::chrono::seconds(30));

}  // namespace twinrig
