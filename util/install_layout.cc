#include "util/install_layout.h"

#include <cstdlib>
#include <string>
#include <system_error>

namespace twinrig {

namespace fs = std::filesystem;

fs::path ThisProgram() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self;
}

namespace {

// bin/ for the command, lib/twinrig/ for a helper: both are one prefix.
fs::path Prefix() {
  const fs::path dir = ThisProgram().parent_path();
  if (dir.filename() == "twinrig" && dir.parent_path().filename() == "lib") {
    return dir.parent_path().parent_path();
  }
  return dir.parent_path();
}

}  // namespace

fs::path HelperProgram(std::string_view name) {
  fs::path beside = ThisProgram().parent_path() / name;
  std::error_code ec;
  if (fs::exists(beside, ec)) return beside;
  return Prefix() / "lib" / "twinrig" / name;
}

fs::path DataDir() {
  if (const char* env = std::getenv("TWINRIG_DATA"); env != nullptr && *env != '\0') {
    return fs::path(env);
  }
  return Prefix() / "share" / "twinrig";
}

}  // namespace twinrig
