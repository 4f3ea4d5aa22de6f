// Helpers shared by the tests: temporary folders that clean up after themselves, paths to test data
// and to the built `twinrig` binary.
#pragma once

#include <filesystem>
#include <string>

namespace twinrig::testing {

// A fresh folder under the system temp dir, removed with everything in it when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

std::filesystem::path SourceDir();
std::filesystem::path TestData(const std::string& relative);  // tests/data/<relative>
std::filesystem::path TwinrigBinary();

}  // namespace twinrig::testing
