#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>
#include <random>

#include "tests/test_support.h"
#include "util/files.h"
#include "util/jpeg.h"

namespace twinrig {
namespace {

std::vector<std::uint8_t> RealJpeg() {
  cv::Mat image(48, 64, CV_8UC3);
  cv::randu(image, 0, 255);
  std::vector<std::uint8_t> bytes;
  REQUIRE(cv::imencode(".jpg", image, bytes));
  return bytes;
}

TEST_CASE("the JPEG check accepts a real JPEG and refuses damaged ones", "[unit]") {
  auto jpeg = RealJpeg();
  CHECK(CheckJpegStructure(jpeg).ok());

  auto truncated = jpeg;
  truncated.resize(truncated.size() / 2);
  Status cut = CheckJpegStructure(truncated);
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.error().what.find("EOI") != std::string::npos);

  auto no_soi = jpeg;
  no_soi[1] = 0x00;
  CHECK_FALSE(CheckJpegStructure(no_soi).ok());

  auto bad_length = jpeg;
  bad_length[4] = 0xFF;  // first segment claims to run past the end
  bad_length[5] = 0xFF;
  CHECK_FALSE(CheckJpegStructure(bad_length).ok());

  CHECK_FALSE(CheckJpegStructure({}).ok());
}

TEST_CASE("the JPEG check of a file names the file and refuses empty, cut and missing ones",
          "[unit]") {
  testing::TempDir dir;
  const auto jpeg = RealJpeg();
  const auto good = dir.path() / "good.jpg";
  REQUIRE(WriteFileAtomic(good, jpeg).ok());
  CHECK(CheckJpegFile(good).ok());

  const auto cut = dir.path() / "cut.jpg";
  REQUIRE(WriteFileAtomic(cut, std::span(jpeg).first(jpeg.size() - 10)).ok());
  Status cut_status = CheckJpegFile(cut);
  REQUIRE_FALSE(cut_status.ok());
  CHECK(cut_status.error().where == cut.string());

  const auto empty = dir.path() / "empty.jpg";
  REQUIRE(WriteFileAtomic(empty, std::string()).ok());
  CHECK_FALSE(CheckJpegFile(empty).ok());

  Status missing = CheckJpegFile(dir.path() / "missing.jpg");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().what.find("cannot open") != std::string::npos);
}

TEST_CASE("the JPEG check never crashes on random or mutated input", "[unit]") {
  std::mt19937 random(7);
  auto jpeg = RealJpeg();
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> input;
    if (i % 2 == 0) {
      input = jpeg;
      for (int flips = 0; flips < 4; ++flips)
        input[random() % input.size()] = static_cast<std::uint8_t>(random());
      input.resize(random() % (input.size() + 1));
    } else {
      input.resize(random() % 256);
      for (auto& b : input) b = static_cast<std::uint8_t>(random());
      if (input.size() > 2) {
        input[0] = 0xFF;
        input[1] = 0xD8;
      }
    }
    (void)CheckJpegStructure(input);  // must return, not crash (ASan/UBSan watch)
  }
  SUCCEED();
}

}  // namespace
}  // namespace twinrig
