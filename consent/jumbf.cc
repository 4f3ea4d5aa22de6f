#include "consent/jumbf.h"

#include <algorithm>

#include "util/check.h"

namespace twinrig::consent {
namespace {

void PutU32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void PutU16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

// A description box's toggles: requestable (bit 0) and a label present (bit 1).
constexpr std::uint8_t kRequestableWithLabel = 0x03;

// APP11 segment overhead: the length field, "JP", box instance, sequence number, and the
// superbox's LBox and TBox repeated in every segment.
constexpr std::size_t kSegmentHeader = 2 + 2 + 2 + 4 + 8;
constexpr std::size_t kMaxSegmentData = 0xFFFF - kSegmentHeader;

}  // namespace

std::vector<std::uint8_t> JumbfBox(std::string_view type, std::span<const std::uint8_t> payload) {
  TWINRIG_CHECK(type.size() == 4);
  TWINRIG_CHECK(payload.size() <= 0xFFFFFFFFu - 8);
  std::vector<std::uint8_t> out;
  out.reserve(8 + payload.size());
  PutU32(out, static_cast<std::uint32_t>(8 + payload.size()));
  out.insert(out.end(), type.begin(), type.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<std::uint8_t> JumbfSuperbox(const JumbfUuid& type, std::string_view label,
                                        std::span<const std::vector<std::uint8_t>> children) {
  TWINRIG_CHECK(label.find('\0') == std::string_view::npos);
  std::vector<std::uint8_t> description(type.begin(), type.end());
  description.push_back(kRequestableWithLabel);
  description.insert(description.end(), label.begin(), label.end());
  description.push_back(0);  // the label is NUL-terminated
  std::vector<std::uint8_t> content = JumbfBox("jumd", description);
  for (const auto& child : children) content.insert(content.end(), child.begin(), child.end());
  return JumbfBox("jumb", content);
}

std::vector<std::uint8_t> JumbfCborBox(const JumbfUuid& type, std::string_view label,
                                       std::span<const std::uint8_t> cbor) {
  const std::vector<std::vector<std::uint8_t>> children = {JumbfBox("cbor", cbor)};
  return JumbfSuperbox(type, label, children);
}

std::vector<std::uint8_t> JpegApp11Segments(std::span<const std::uint8_t> jumbf) {
  TWINRIG_CHECK(jumbf.size() >= 8);
  const auto header = jumbf.first(8);  // LBox and TBox, repeated in every segment
  const auto body = jumbf.subspan(8);
  std::vector<std::uint8_t> out;
  std::uint32_t sequence = 1;
  for (std::size_t at = 0; at < body.size() || sequence == 1; ++sequence) {
    const std::size_t n = std::min(kMaxSegmentData, body.size() - at);
    out.push_back(0xFF);
    out.push_back(0xEB);
    PutU16(out, static_cast<std::uint16_t>(kSegmentHeader + n));
    out.push_back('J');
    out.push_back('P');
    PutU16(out, 1);  // box instance: the one manifest store of the file
    PutU32(out, sequence);
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), body.begin() + static_cast<std::ptrdiff_t>(at),
               body.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
  }
  return out;
}

}  // namespace twinrig::consent
