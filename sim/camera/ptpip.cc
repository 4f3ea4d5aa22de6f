#include "sim/camera/ptpip.h"

#include <fmt/format.h>

#include <cstring>

namespace twinrig::sim::camera {
namespace {

std::uint32_t LoadU32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return v;
}
std::uint16_t LoadU16(const std::uint8_t* p) {
  std::uint16_t v = 0;
  std::memcpy(&v, p, 2);
  return v;
}
std::uint64_t LoadU64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}

std::vector<std::uint8_t> Packet(PacketType type, const std::vector<std::uint8_t>& payload) {
  DataWriter w;
  w.U32(static_cast<std::uint32_t>(kHeaderSize + payload.size()));
  w.U32(static_cast<std::uint32_t>(type));
  std::vector<std::uint8_t> out = w.Take();
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Error Malformed(const std::string& what) {
  return MakeError("malformed PTP/IP packet: " + what, "PTP/IP connection",
                   "the host sent bytes that are not PTP/IP; the connection is closed");
}

}  // namespace

Result<std::uint32_t> ParseHeaderLength(std::span<const std::uint8_t> header) {
  if (header.size() < kHeaderSize) return Malformed("header shorter than 8 bytes");
  std::uint32_t length = LoadU32(header.data());
  if (length < kHeaderSize)
    return Malformed(fmt::format("length {} below the header size", length));
  if (length > kMaxHostPacket) {
    return Malformed(fmt::format("length {} above the {} byte limit", length, kMaxHostPacket));
  }
  return length;
}

Result<HostPacket> ParseHostPacket(std::span<const std::uint8_t> packet) {
  auto length = ParseHeaderLength(packet);
  if (!length.ok()) return length.error();
  if (*length != packet.size()) {
    return Malformed(fmt::format("length field {} but {} bytes", *length, packet.size()));
  }
  const std::uint32_t type = LoadU32(packet.data() + 4);
  std::span<const std::uint8_t> body = packet.subspan(kHeaderSize);
  switch (static_cast<PacketType>(type)) {
    case PacketType::kInitCommandRequest: {
      // GUID[16], NUL-terminated UCS-2LE name, u16 minor, u16 major.
      if (body.size() < 16 + 2 + 4) return Malformed("InitCommandRequest too short");
      InitCommandRequest request;
      std::memcpy(request.guid.data(), body.data(), 16);
      std::size_t at = 16;
      bool terminated = false;
      while (at + 2 <= body.size() - 4) {
        std::uint16_t ch = LoadU16(body.data() + at);
        at += 2;
        if (ch == 0) {
          terminated = true;
          break;
        }
        request.friendly_name.push_back(ch < 0x80 ? static_cast<char>(ch) : '?');
      }
      if (!terminated) return Malformed("InitCommandRequest name is not NUL-terminated");
      if (body.size() - at != 4) return Malformed("InitCommandRequest has trailing bytes");
      request.version = static_cast<std::uint32_t>(LoadU16(body.data() + at + 2)) << 16 |
                        LoadU16(body.data() + at);
      return HostPacket{std::move(request)};
    }
    case PacketType::kInitEventRequest:
      if (body.size() != 4) return Malformed("InitEventRequest must carry exactly 4 bytes");
      return HostPacket{InitEventRequest{LoadU32(body.data())}};
    case PacketType::kOperationRequest: {
      // u32 data phase, u16 code, u32 transaction id, u32 params x 0..5.
      if (body.size() < 10 || (body.size() - 10) % 4 != 0 || body.size() > 10 + 5 * 4) {
        return Malformed(fmt::format("OperationRequest of {} payload bytes", body.size()));
      }
      OperationRequest request;
      request.data_phase = LoadU32(body.data());
      request.code = LoadU16(body.data() + 4);
      request.transaction_id = LoadU32(body.data() + 6);
      for (std::size_t at = 10; at < body.size(); at += 4) {
        request.params.push_back(LoadU32(body.data() + at));
      }
      return HostPacket{std::move(request)};
    }
    case PacketType::kStartData:
      if (body.size() != 12) return Malformed("StartData must carry 12 bytes");
      return HostPacket{StartDataPacket{LoadU32(body.data()), LoadU64(body.data() + 4)}};
    case PacketType::kData:
    case PacketType::kEndData: {
      if (body.size() < 4) return Malformed("Data packet without a transaction id");
      DataPacket data;
      data.transaction_id = LoadU32(body.data());
      data.end = static_cast<PacketType>(type) == PacketType::kEndData;
      data.payload.assign(body.begin() + 4, body.end());
      return HostPacket{std::move(data)};
    }
    case PacketType::kCancel:
      if (body.size() != 4) return Malformed("Cancel must carry 4 bytes");
      return HostPacket{CancelPacket{LoadU32(body.data())}};
    case PacketType::kProbeRequest:
      if (!body.empty()) return Malformed("ProbeRequest carries no payload");
      return HostPacket{ProbeRequest{}};
    default:
      return Malformed(fmt::format("packet type {} is not one a host sends", type));
  }
}

std::vector<std::uint8_t> BuildInitCommandAck(std::uint32_t connection_number,
                                              const std::array<std::uint8_t, 16>& guid,
                                              std::string_view camera_name) {
  DataWriter w;
  w.U32(connection_number);
  for (std::uint8_t b : guid) w.U8(b);
  for (char c : camera_name) w.U16(static_cast<std::uint8_t>(c));
  w.U16(0);           // libgphoto2 scans the name up to this NUL
  w.U32(0x00010000);  // protocol version 1.0
  return Packet(PacketType::kInitCommandAck, w.bytes());
}

std::vector<std::uint8_t> BuildInitFail(std::uint32_t reason) {
  DataWriter w;
  w.U32(reason);
  return Packet(PacketType::kInitFail, w.bytes());
}

std::vector<std::uint8_t> BuildInitEventAck() { return Packet(PacketType::kInitEventAck, {}); }

std::vector<std::uint8_t> BuildOperationResponse(std::uint16_t code, std::uint32_t transaction_id,
                                                 std::span<const std::uint32_t> params) {
  DataWriter w;
  w.U16(code).U32(transaction_id);
  for (std::uint32_t p : params) w.U32(p);
  return Packet(PacketType::kOperationResponse, w.bytes());
}

std::vector<std::uint8_t> BuildEvent(std::uint16_t code, std::uint32_t transaction_id,
                                     std::span<const std::uint32_t> params) {
  DataWriter w;
  w.U16(code).U32(transaction_id);
  for (std::uint32_t p : params) w.U32(p);
  return Packet(PacketType::kEvent, w.bytes());
}

std::vector<std::uint8_t> BuildStartData(std::uint32_t transaction_id, std::uint64_t total_length) {
  DataWriter w;
  w.U32(transaction_id).U64(total_length);
  return Packet(PacketType::kStartData, w.bytes());
}

std::vector<std::uint8_t> BuildDataHeader(bool end, std::uint32_t transaction_id,
                                          std::size_t payload_length) {
  DataWriter w;
  w.U32(static_cast<std::uint32_t>(kHeaderSize + 4 + payload_length));
  w.U32(static_cast<std::uint32_t>(end ? PacketType::kEndData : PacketType::kData));
  w.U32(transaction_id);
  return w.Take();
}

DataWriter& DataWriter::U8(std::uint8_t v) {
  bytes_.push_back(v);
  return *this;
}
DataWriter& DataWriter::U16(std::uint16_t v) {
  bytes_.push_back(static_cast<std::uint8_t>(v));
  bytes_.push_back(static_cast<std::uint8_t>(v >> 8));
  return *this;
}
DataWriter& DataWriter::U32(std::uint32_t v) {
  U16(static_cast<std::uint16_t>(v));
  return U16(static_cast<std::uint16_t>(v >> 16));
}
DataWriter& DataWriter::U64(std::uint64_t v) {
  U32(static_cast<std::uint32_t>(v));
  return U32(static_cast<std::uint32_t>(v >> 32));
}
DataWriter& DataWriter::String(std::string_view ascii) {
  if (ascii.empty()) return U8(0);
  // A PTP string holds at most 255 characters including the NUL.
  std::size_t n = std::min<std::size_t>(ascii.size(), 254);
  U8(static_cast<std::uint8_t>(n + 1));
  for (std::size_t i = 0; i < n; ++i) U16(static_cast<std::uint8_t>(ascii[i]));
  return U16(0);
}
DataWriter& DataWriter::ArrayU16(std::span<const std::uint16_t> values) {
  U32(static_cast<std::uint32_t>(values.size()));
  for (std::uint16_t v : values) U16(v);
  return *this;
}
DataWriter& DataWriter::ArrayU32(std::span<const std::uint32_t> values) {
  U32(static_cast<std::uint32_t>(values.size()));
  for (std::uint32_t v : values) U32(v);
  return *this;
}

bool DataReader::Take(void* out, std::size_t n) {
  if (failed_ || remaining() < n) {
    failed_ = true;
    std::memset(out, 0, n);
    return false;
  }
  std::memcpy(out, bytes_.data() + at_, n);
  at_ += n;
  return true;
}
std::uint8_t DataReader::U8() {
  std::uint8_t v = 0;
  Take(&v, 1);
  return v;
}
std::uint16_t DataReader::U16() {
  std::uint16_t v = 0;
  Take(&v, 2);
  return v;
}
std::uint32_t DataReader::U32() {
  std::uint32_t v = 0;
  Take(&v, 4);
  return v;
}
std::uint64_t DataReader::U64() {
  std::uint64_t v = 0;
  Take(&v, 8);
  return v;
}
std::string DataReader::String() {
  std::uint8_t count = U8();
  std::string out;
  for (std::uint8_t i = 0; i < count && !failed_; ++i) {
    std::uint16_t ch = U16();
    if (ch == 0) {
      // The NUL must be the last character counted.
      if (i + 1 != count) failed_ = true;
      break;
    }
    if (i + 1 == count) failed_ = true;  // the count included no NUL
    out.push_back(ch < 0x80 ? static_cast<char>(ch) : '?');
  }
  return out;
}

std::string OperationName(std::uint16_t code) {
  switch (code) {
    case op::kGetDeviceInfo:
      return "GetDeviceInfo";
    case op::kOpenSession:
      return "OpenSession";
    case op::kCloseSession:
      return "CloseSession";
    case op::kGetStorageIds:
      return "GetStorageIDs";
    case op::kGetStorageInfo:
      return "GetStorageInfo";
    case op::kGetNumObjects:
      return "GetNumObjects";
    case op::kGetObjectHandles:
      return "GetObjectHandles";
    case op::kGetObjectInfo:
      return "GetObjectInfo";
    case op::kGetObject:
      return "GetObject";
    case op::kDeleteObject:
      return "DeleteObject";
    case op::kInitiateCapture:
      return "InitiateCapture";
    case op::kGetDevicePropDesc:
      return "GetDevicePropDesc";
    case op::kGetDevicePropValue:
      return "GetDevicePropValue";
    case op::kSetDevicePropValue:
      return "SetDevicePropValue";
    case op::kGetPartialObject:
      return "GetPartialObject";
    default:
      return fmt::format("0x{:04x}", code);
  }
}

}  // namespace twinrig::sim::camera
