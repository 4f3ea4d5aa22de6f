// Where a twinrig program finds its helper programs and its data, installed or built. One rule
// for both, relative to the running binary (no path of the build machine is compiled in):
//   <prefix>/bin/twinrig                 the command
//   <prefix>/lib/twinrig/<helper>        camera worker, virtual studio, node simulator, renderer
//   <prefix>/share/twinrig/<data>        head scan (with its credit), demo data, web front end
// A build tree has the same shape: the programs sit together in app/ (bench programs in
// bench/) and CMake lays share/twinrig/ beside them (links into the source tree).
#pragma once

#include <filesystem>
#include <string_view>

namespace twinrig {

// The running program (/proc/self/exe).
std::filesystem::path ThisProgram();

// A helper program by name: next to the running program, else in <prefix>/lib/twinrig/. The
// returned path may not exist; the caller that starts it reports that.
std::filesystem::path HelperProgram(std::string_view name);

// twinrig's data folder: $TWINRIG_DATA when set, else <prefix>/share/twinrig beside the program
// (for a helper in lib/twinrig/, the same prefix).
std::filesystem::path DataDir();

}  // namespace twinrig
