// The PTP/IP packet parser and builders, the PTP dataset codec and the synthetic JPEGs.
#include <catch2/catch.hpp>

#include <random>

#include "sim/camera/ptpip.h"
#include "sim/camera/synthetic_jpeg.h"

namespace twinrig::sim::camera {
namespace {

std::vector<std::uint8_t> Bytes(std::initializer_list<int> values) {
  std::vector<std::uint8_t> out;
  for (int v : values) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

TEST_CASE("PTP/IP parses the packets libgphoto2 sends", "[unit]") {
  // InitCommandRequest exactly as libgphoto2 2.5.30 logged it (GUID, "vm", version 1.0).
  auto init = Bytes({0x22, 0, 0, 0, 1,  0,  0,  0,    0x23, 0xd8, 0x8a, 0x51, 1, 2, 3, 4, 5,
                     6,    7, 8, 9, 10, 11, 12, 0x76, 0,    0x6d, 0,    0,    0, 0, 0, 1, 0});
  auto parsed = ParseHostPacket(init);
  REQUIRE(parsed.ok());
  auto& request = std::get<InitCommandRequest>(*parsed);
  CHECK(request.friendly_name == "vm");
  CHECK(request.guid[0] == 0x23);
  CHECK(request.version == 0x00010000);

  auto event = ParseHostPacket(Bytes({0x0c, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0}));
  REQUIRE(event.ok());
  CHECK(std::get<InitEventRequest>(*event).connection_number == 1);

  // InitiateCapture(0, 0), transaction 5.
  auto capture = ParseHostPacket(Bytes(
      {0x1a, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0x0e, 0x10, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  REQUIRE(capture.ok());
  auto& op_request = std::get<OperationRequest>(*capture);
  CHECK(op_request.code == op::kInitiateCapture);
  CHECK(op_request.transaction_id == 5);
  CHECK(op_request.params == std::vector<std::uint32_t>{0, 0});
  CHECK(op_request.data_phase == kDataPhaseNoneOrIn);
}

TEST_CASE("PTP/IP refuses malformed packets without reading past them", "[unit]") {
  CHECK_FALSE(ParseHeaderLength(Bytes({7, 0, 0, 0, 1, 0, 0, 0})).ok());     // below header
  CHECK_FALSE(ParseHeaderLength(Bytes({0, 0, 0, 0x10, 6, 0, 0, 0})).ok());  // 256 MiB
  CHECK_FALSE(ParseHeaderLength(Bytes({8, 0, 0})).ok());
  CHECK(ParseHeaderLength(Bytes({8, 0, 0, 0, 13, 0, 0, 0})).ok());
  // Length field disagrees with the bytes.
  CHECK_FALSE(ParseHostPacket(Bytes({0x0d, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0})).ok());
  // A type only a camera sends, and an unknown type.
  CHECK_FALSE(ParseHostPacket(Bytes({8, 0, 0, 0, 7, 0, 0, 0})).ok());
  CHECK_FALSE(ParseHostPacket(Bytes({8, 0, 0, 0, 99, 0, 0, 0})).ok());
  // InitCommandRequest whose name has no NUL.
  CHECK_FALSE(
      ParseHostPacket(Bytes({0x1e, 0,  0,  0,  1,  0,  0,  0,  1,    2, 3,    4, 5, 6, 7, 8,
                             9,    10, 11, 12, 13, 14, 15, 16, 0x76, 0, 0x6d, 0, 0, 0, 1, 0}))
          .ok());
  // OperationRequest with a ragged parameter and with six parameters.
  CHECK_FALSE(
      ParseHostPacket(Bytes({0x13, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 1, 0x10, 0, 0, 0, 0, 9})).ok());
  std::vector<std::uint8_t> six(8 + 10 + 24, 0);
  six[0] = static_cast<std::uint8_t>(six.size());
  six[4] = 6;
  CHECK_FALSE(ParseHostPacket(six).ok());
  // Data without a transaction id.
  CHECK_FALSE(ParseHostPacket(Bytes({0x0a, 0, 0, 0, 12, 0, 0, 0, 1, 0})).ok());

  // Random junk of every length up to 80 bytes never crashes (under ASan) and never parses into
  // something it cannot be.
  std::mt19937 random(7);
  for (int round = 0; round < 20000; ++round) {
    std::vector<std::uint8_t> junk(random() % 80);
    for (auto& b : junk) b = static_cast<std::uint8_t>(random());
    if (junk.size() >= 8) {
      junk[0] = static_cast<std::uint8_t>(junk.size());
      junk[1] = junk[2] = junk[3] = 0;
      junk[4] = static_cast<std::uint8_t>(random() % 16);
      junk[5] = junk[6] = junk[7] = 0;
    }
    auto result = ParseHostPacket(junk);
    if (result.ok()) CHECK(junk.size() >= 8);
  }
}

TEST_CASE("PTP/IP builds the packets libgphoto2 expects", "[unit]") {
  std::array<std::uint8_t, 16> guid{};
  guid[0] = 0xd0;
  auto ack = BuildInitCommandAck(1, guid, "CAM0");
  // 2a 00 00 00 02 00 00 00 | 01 00 00 00 | guid | "CAM0" UCS-2 + NUL | 00 00 01 00
  REQUIRE(ack.size() == 0x2a);
  CHECK(ack[0] == 0x2a);
  CHECK(ack[4] == 2);
  CHECK(ack[8] == 1);
  CHECK(ack[12] == 0xd0);
  CHECK(ack[28] == 'C');
  CHECK(ack[36] == 0);
  CHECK(ack[40] == 1);

  const std::array<std::uint32_t, 1> handle{4};
  CHECK(BuildEvent(ev::kObjectAdded, 5, handle) ==
        Bytes({0x12, 0, 0, 0, 8, 0, 0, 0, 0x02, 0x40, 5, 0, 0, 0, 4, 0, 0, 0}));
  CHECK(BuildInitEventAck() == Bytes({8, 0, 0, 0, 4, 0, 0, 0}));
  CHECK(BuildStartData(3, 0x1'0000'0002ULL) ==
        Bytes({20, 0, 0, 0, 9, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0}));
  CHECK(BuildDataHeader(true, 3, 100) == Bytes({112, 0, 0, 0, 12, 0, 0, 0, 3, 0, 0, 0}));
  CHECK(BuildOperationResponse(rc::kOk, 9) ==
        Bytes({14, 0, 0, 0, 7, 0, 0, 0, 1, 0x20, 9, 0, 0, 0}));
}

TEST_CASE("PTP strings and integers round-trip and bad data sets fail", "[unit]") {
  DataWriter w;
  w.U8(1).U16(0x0203).U32(0x04050607).U64(0x08090a0b0c0d0e0fULL).String("6000x4000").String("");
  DataReader r(w.bytes());
  CHECK(r.U8() == 1);
  CHECK(r.U16() == 0x0203);
  CHECK(r.U32() == 0x04050607);
  CHECK(r.U64() == 0x08090a0b0c0d0e0fULL);
  CHECK(r.String() == "6000x4000");
  CHECK(r.String().empty());
  CHECK_FALSE(r.failed());
  CHECK(r.remaining() == 0);
  r.U8();
  CHECK(r.failed());

  DataReader truncated(std::span(w.bytes()).subspan(15, 8));  // string cut in the middle
  truncated.String();
  CHECK(truncated.failed());
  auto no_nul = Bytes({2, 'a', 0, 'b', 0});
  DataReader bad(no_nul);
  bad.String();
  CHECK(bad.failed());
}

TEST_CASE("synthetic JPEGs hit the exact size, pass the structure check and differ per shot",
          "[unit]") {
  ExposureRequest request;
  request.serial = "TWR00001";
  request.sequence = 1;
  for (std::size_t size : {4096UL, 65'540UL, 65'537UL + 4096, 131'075UL, 3'000'001UL}) {
    auto jpeg = SyntheticJpeg(request, size);
    REQUIRE(jpeg.ok());
    CHECK(jpeg->size() == size);
    CHECK(CheckJpegStructure(*jpeg).ok());
  }
  auto a = SyntheticJpeg(request, 10'000);
  request.sequence = 2;
  auto b = SyntheticJpeg(request, 10'000);
  REQUIRE((a.ok() && b.ok()));
  CHECK(*a != *b);
  CHECK_FALSE(SyntheticJpeg(request, 100).ok());

  auto truncated = *a;
  truncated.resize(truncated.size() - 10);
  CHECK_FALSE(CheckJpegStructure(truncated).ok());
  auto junk = *a;
  junk[2] = 0x00;
  CHECK_FALSE(CheckJpegStructure(junk).ok());
  CHECK_FALSE(CheckJpegStructure(Bytes({0xFF, 0xD8, 0xFF, 0xD9})).ok());
}

}  // namespace
}  // namespace twinrig::sim::camera
