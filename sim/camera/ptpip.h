// PTP/IP on the wire: the packets a host (libgphoto2) sends to a camera and the ones the camera
// answers with, and the PTP dataset encoding (little-endian integers, UCS-2 strings, arrays).
//
// The parser is a pure function over bytes so that it can be fuzzed and unit-tested with malformed
// input: anything that is not a well-formed packet is an Error, never a crash or an over-read.
// Packet layouts follow the PTP/IP specification (CIPA DC-005) as libgphoto2 2.5.30 uses them.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/result.h"

namespace twinrig::sim::camera {

inline constexpr std::uint16_t kPtpIpPort = 15740;
inline constexpr std::size_t kHeaderSize = 8;
// Hosts send data-out in blocks of 64 KiB + 12; anything much larger is not a sane host packet.
inline constexpr std::uint32_t kMaxHostPacket = 1U << 20;

enum class PacketType : std::uint32_t {
  kInitCommandRequest = 1,
  kInitCommandAck = 2,
  kInitEventRequest = 3,
  kInitEventAck = 4,
  kInitFail = 5,
  kOperationRequest = 6,
  kOperationResponse = 7,
  kEvent = 8,
  kStartData = 9,
  kData = 10,
  kCancel = 11,
  kEndData = 12,
  kProbeRequest = 13,
  kProbeResponse = 14,
};

// PTP operation, response, event, property and format codes used by the virtual camera.
namespace op {
inline constexpr std::uint16_t kGetDeviceInfo = 0x1001;
inline constexpr std::uint16_t kOpenSession = 0x1002;
inline constexpr std::uint16_t kCloseSession = 0x1003;
inline constexpr std::uint16_t kGetStorageIds = 0x1004;
inline constexpr std::uint16_t kGetStorageInfo = 0x1005;
inline constexpr std::uint16_t kGetNumObjects = 0x1006;
inline constexpr std::uint16_t kGetObjectHandles = 0x1007;
inline constexpr std::uint16_t kGetObjectInfo = 0x1008;
inline constexpr std::uint16_t kGetObject = 0x1009;
inline constexpr std::uint16_t kDeleteObject = 0x100B;
inline constexpr std::uint16_t kInitiateCapture = 0x100E;
inline constexpr std::uint16_t kGetDevicePropDesc = 0x1014;
inline constexpr std::uint16_t kGetDevicePropValue = 0x1015;
inline constexpr std::uint16_t kSetDevicePropValue = 0x1016;
inline constexpr std::uint16_t kGetPartialObject = 0x101B;
}  // namespace op

namespace rc {
inline constexpr std::uint16_t kOk = 0x2001;
inline constexpr std::uint16_t kGeneralError = 0x2002;
inline constexpr std::uint16_t kSessionNotOpen = 0x2003;
inline constexpr std::uint16_t kOperationNotSupported = 0x2005;
inline constexpr std::uint16_t kParameterNotSupported = 0x2006;
inline constexpr std::uint16_t kInvalidStorageId = 0x2008;
inline constexpr std::uint16_t kInvalidObjectHandle = 0x2009;
inline constexpr std::uint16_t kDevicePropNotSupported = 0x200A;
inline constexpr std::uint16_t kStoreFull = 0x200C;
inline constexpr std::uint16_t kObjectWriteProtected = 0x200D;
inline constexpr std::uint16_t kAccessDenied = 0x200F;
inline constexpr std::uint16_t kDeviceBusy = 0x2019;
inline constexpr std::uint16_t kInvalidDevicePropFormat = 0x201B;
inline constexpr std::uint16_t kInvalidDevicePropValue = 0x201C;
inline constexpr std::uint16_t kInvalidParameter = 0x201D;
inline constexpr std::uint16_t kSessionAlreadyOpen = 0x201E;
}  // namespace rc

namespace ev {
inline constexpr std::uint16_t kObjectAdded = 0x4002;
inline constexpr std::uint16_t kObjectRemoved = 0x4003;
inline constexpr std::uint16_t kDevicePropChanged = 0x4006;
inline constexpr std::uint16_t kStoreFull = 0x400A;
inline constexpr std::uint16_t kCaptureComplete = 0x400D;
}  // namespace ev

namespace prop {
inline constexpr std::uint16_t kBatteryLevel = 0x5001;
inline constexpr std::uint16_t kImageSize = 0x5003;
inline constexpr std::uint16_t kCompressionSetting = 0x5004;
inline constexpr std::uint16_t kWhiteBalance = 0x5005;
inline constexpr std::uint16_t kFNumber = 0x5007;
inline constexpr std::uint16_t kExposureTime = 0x500D;
inline constexpr std::uint16_t kExposureIndex = 0x500F;  // ISO
// Capture target has no standard PTP code; Nikon and Canon each use their own. The virtual camera
// puts it in the vendor range: UINT8, 0 = camera RAM (kept off the card), 1 = memory card.
inline constexpr std::uint16_t kCaptureTarget = 0xD0C0;
}  // namespace prop

namespace fmt_code {
inline constexpr std::uint16_t kAssociation = 0x3001;
inline constexpr std::uint16_t kExifJpeg = 0x3801;
}  // namespace fmt_code

namespace datatype {
inline constexpr std::uint16_t kUint8 = 0x0002;
inline constexpr std::uint16_t kUint16 = 0x0004;
inline constexpr std::uint16_t kUint32 = 0x0006;
inline constexpr std::uint16_t kString = 0xFFFF;
}  // namespace datatype

// Data phase of an OperationRequest as libgphoto2 sends it.
inline constexpr std::uint32_t kDataPhaseNoneOrIn = 1;
inline constexpr std::uint32_t kDataPhaseOut = 2;

// ---- Host -> camera packets ----------------------------------------------------------------

struct InitCommandRequest {
  std::array<std::uint8_t, 16> guid{};
  std::string friendly_name;  // UCS-2 narrowed to ASCII ('?' for anything else)
  std::uint32_t version = 0;  // major << 16 | minor
};
struct InitEventRequest {
  std::uint32_t connection_number = 0;
};
struct OperationRequest {
  std::uint32_t data_phase = kDataPhaseNoneOrIn;
  std::uint16_t code = 0;
  std::uint32_t transaction_id = 0;
  std::vector<std::uint32_t> params;  // 0..5
};
struct StartDataPacket {
  std::uint32_t transaction_id = 0;
  std::uint64_t total_length = 0;
};
struct DataPacket {
  std::uint32_t transaction_id = 0;
  bool end = false;  // EndData (12) rather than Data (10)
  std::vector<std::uint8_t> payload;
};
struct CancelPacket {
  std::uint32_t transaction_id = 0;
};
struct ProbeRequest {};

using HostPacket = std::variant<InitCommandRequest, InitEventRequest, OperationRequest,
                                StartDataPacket, DataPacket, CancelPacket, ProbeRequest>;

// The packet length announced by an 8-byte header, or an Error when it is below the header size
// or above kMaxHostPacket.
Result<std::uint32_t> ParseHeaderLength(std::span<const std::uint8_t> header);

// Parses one whole host packet (header included). Every length is checked against the bytes.
Result<HostPacket> ParseHostPacket(std::span<const std::uint8_t> packet);

// ---- Camera -> host packets ----------------------------------------------------------------

std::vector<std::uint8_t> BuildInitCommandAck(std::uint32_t connection_number,
                                              const std::array<std::uint8_t, 16>& guid,
                                              std::string_view camera_name);
std::vector<std::uint8_t> BuildInitFail(std::uint32_t reason);
std::vector<std::uint8_t> BuildInitEventAck();
std::vector<std::uint8_t> BuildOperationResponse(std::uint16_t code, std::uint32_t transaction_id,
                                                 std::span<const std::uint32_t> params = {});
std::vector<std::uint8_t> BuildEvent(std::uint16_t code, std::uint32_t transaction_id,
                                     std::span<const std::uint32_t> params = {});
std::vector<std::uint8_t> BuildStartData(std::uint32_t transaction_id, std::uint64_t total_length);
// Header + transaction id of a Data/EndData packet carrying `payload_length` bytes that follow.
std::vector<std::uint8_t> BuildDataHeader(bool end, std::uint32_t transaction_id,
                                          std::size_t payload_length);

// ---- PTP datasets --------------------------------------------------------------------------

// Appends little-endian PTP values.
class DataWriter {
 public:
  DataWriter& U8(std::uint8_t v);
  DataWriter& U16(std::uint16_t v);
  DataWriter& U32(std::uint32_t v);
  DataWriter& U64(std::uint64_t v);
  // PTP string: u8 character count including the NUL, UCS-2LE characters; "" is a single 0 byte.
  DataWriter& String(std::string_view ascii);
  DataWriter& ArrayU16(std::span<const std::uint16_t> values);
  DataWriter& ArrayU32(std::span<const std::uint32_t> values);
  [[nodiscard]] const std::vector<std::uint8_t>& bytes() const { return bytes_; }
  std::vector<std::uint8_t> Take() { return std::move(bytes_); }

 private:
  std::vector<std::uint8_t> bytes_;
};

// Reads little-endian PTP values with bounds checks; a read past the end sets failed().
class DataReader {
 public:
  explicit DataReader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  std::uint8_t U8();
  std::uint16_t U16();
  std::uint32_t U32();
  std::uint64_t U64();
  std::string String();
  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] std::size_t remaining() const { return bytes_.size() - at_; }

 private:
  bool Take(void* out, std::size_t n);
  std::span<const std::uint8_t> bytes_;
  std::size_t at_ = 0;
  bool failed_ = false;
};

// "GetObject", "0x9999" for unknown codes; for logs.
std::string OperationName(std::uint16_t code);

}  // namespace twinrig::sim::camera
