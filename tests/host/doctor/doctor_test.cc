#include <catch2/catch.hpp>

#include "host/doctor/doctor.h"
#include "tests/test_support.h"
#include "util/files.h"

namespace twinrig::doctor {
namespace {

std::string Recorded(const std::string& name) {
  return *ReadFileText(testing::TestData("colmap/" + name));
}

TEST_CASE("doctor parses COLMAP banners with and without CUDA", "[unit]") {
  auto debian = ParseColmapBanner(Recorded("banner-3.8-debian-nocuda.txt"));
  CHECK(debian.recognised);
  CHECK(debian.version == "3.8");
  CHECK_FALSE(debian.cuda);

  auto cuda = ParseColmapBanner(Recorded("banner-3.8-cuda.txt"));
  CHECK(cuda.recognised);
  CHECK(cuda.version == "3.8");
  CHECK(cuda.cuda);

  CHECK_FALSE(ParseColmapBanner("bash: colmap: command not found").recognised);
  CHECK(ParseColmapBanner("COLMAP 3.9.1 -- Structure-from-Motion\n(Commit x on y with CUDA)")
            .version == "3.9.1");
}

TEST_CASE("doctor reads COLMAP's CGAL refusal", "[unit]") {
  CHECK(ParseCgalProbe(Recorded("delaunay-nocgal.txt")) == std::optional<bool>(false));
  CHECK(ParseCgalProbe("Options for delaunay_mesher:\n  --input_path arg") ==
        std::optional<bool>(true));
  CHECK_FALSE(ParseCgalProbe("").has_value());
}

TEST_CASE("doctor report: every finding on a line, todo under it, a summary", "[unit]") {
  std::vector<Finding> findings = {
      {"libgphoto2", Level::kOk, "2.5.30; port drivers: ptpip, usb1", ""},
      {"colmap CUDA", Level::kWarn, "built without CUDA", "dense falls back to the CPU"},
      {"OpenCV", Level::kFail, "4.6.0; missing: mcc", "install libopencv-contrib-dev"},
  };
  std::string report = FormatReport(findings, false);
  CHECK(report.find("OK    libgphoto2") != std::string::npos);
  CHECK(report.find("-> dense falls back to the CPU") != std::string::npos);
  CHECK(report.find("1 OK, 1 WARN, 1 FAIL") != std::string::npos);
  CHECK(AnyFailed(findings));
  findings.pop_back();
  CHECK_FALSE(AnyFailed(findings));
}

TEST_CASE("doctor on this host finds the stack the project installs", "[integration]") {
  Options options;
  options.studio = std::filesystem::temp_directory_path();
  auto findings = Examine(options);
  auto find = [&](const std::string& name) -> const Finding& {
    for (const auto& f : findings) {
      if (f.name == name) return f;
    }
    FAIL("no finding named " << name);
    throw;
  };
  CHECK(find("libgphoto2").detail.find("ptpip") != std::string::npos);
  CHECK(find("libgphoto2").level != Level::kFail);
  CHECK(find("colmap").level == Level::kOk);
  CHECK(find("OpenCV").detail.find("aruco") != std::string::npos);
  CHECK(find("OpenCV").detail.find("mcc") != std::string::npos);
  // A missing colmap is a FAIL with what to do.
  options.colmap = "twinrig-no-colmap-here";
  auto missing = Examine(options);
  bool failed = false;
  for (const auto& f : missing) {
    if (f.name == "colmap") failed = f.level == Level::kFail && !f.todo.empty();
  }
  CHECK(failed);
}

}  // namespace
}  // namespace twinrig::doctor
