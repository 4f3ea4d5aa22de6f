#include "protocol/frame.h"

#include <flatbuffers/flatbuffers.h>

namespace twinrig::protocol {

namespace {
// A Frame is small; these bounds make a hostile buffer cheap to reject.
constexpr flatbuffers::uoffset_t kMaxDepth = 8;
constexpr flatbuffers::uoffset_t kMaxTables = 64;
// Smallest possible Frame: root offset + identifier + an empty table and its vtable.
constexpr std::size_t kMinFrame = 16;
}  // namespace

const fb::Frame* DecodeFrame(const std::uint8_t* data, std::size_t size, DecodeError* error) {
  DecodeError ignored = DecodeError::kNone;
  DecodeError& out = error != nullptr ? *error : ignored;
  if (data == nullptr || size < kMinFrame) {
    out = DecodeError::kTruncated;
    return nullptr;
  }
  if (size > kMaxDatagram || !fb::FrameBufferHasIdentifier(data)) {
    out = DecodeError::kMalformed;
    return nullptr;
  }
  flatbuffers::Verifier verifier(data, size, kMaxDepth, kMaxTables);
  if (!fb::VerifyFrameBuffer(verifier)) {
    // A root offset that points past the end is what a cut-off datagram looks like.
    const std::uint32_t root = flatbuffers::ReadScalar<flatbuffers::uoffset_t>(data);
    out = root >= size ? DecodeError::kTruncated : DecodeError::kMalformed;
    return nullptr;
  }
  out = DecodeError::kNone;
  return fb::GetFrame(data);
}

const char* FaultName(fb::Fault fault) {
  if (fault < fb::Fault::MIN || fault > fb::Fault::MAX) return "Unknown";
  return fb::EnumNameFault(fault);
}

}  // namespace twinrig::protocol
