#include "tests/test_support.h"

#include <unistd.h>

#include <random>

namespace twinrig::testing {

TempDir::TempDir() {
  std::random_device random;
  path_ = std::filesystem::temp_directory_path() /
          ("twinrig-test-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path SourceDir() { return TWINRIG_SOURCE_DIR; }
std::filesystem::path TestData(const std::string& relative) {
  return SourceDir() / "tests" / "data" / relative;
}
std::filesystem::path TwinrigBinary() { return TWINRIG_BINARY; }

}  // namespace twinrig::testing
