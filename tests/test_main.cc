#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

// Test programs live in the build tree's tests/ folders, not beside `twinrig`: they find twinrig's
// data (head scan, demo data, web front end, firmware image) where the built twinrig does.
int main(int argc, char** argv) {
  const auto data =
      std::filesystem::path(TWINRIG_BINARY).parent_path().parent_path() / "share" / "twinrig";
  setenv("TWINRIG_DATA", data.c_str(), 0);
  return Catch::Session().run(argc, argv);
}
