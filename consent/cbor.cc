#include "consent/cbor.h"

namespace twinrig::consent {

void CborWriter::Head(std::uint8_t major, std::uint64_t value) {
  const auto type = static_cast<std::uint8_t>(major << 5);
  if (value < 24) {
    out_.push_back(static_cast<std::uint8_t>(type | value));
    return;
  }
  int bytes = 8;
  std::uint8_t info = 27;
  if (value <= 0xFF) {
    bytes = 1;
    info = 24;
  } else if (value <= 0xFFFF) {
    bytes = 2;
    info = 25;
  } else if (value <= 0xFFFFFFFF) {
    bytes = 4;
    info = 26;
  }
  out_.push_back(static_cast<std::uint8_t>(type | info));
  for (int i = bytes - 1; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

CborWriter& CborWriter::Map(std::size_t entries) {
  Head(5, entries);
  return *this;
}

CborWriter& CborWriter::Array(std::size_t items) {
  Head(4, items);
  return *this;
}

CborWriter& CborWriter::Text(std::string_view text) {
  Head(3, text.size());
  out_.insert(out_.end(), text.begin(), text.end());
  return *this;
}

CborWriter& CborWriter::Bytes(std::span<const std::uint8_t> bytes) {
  Head(2, bytes.size());
  out_.insert(out_.end(), bytes.begin(), bytes.end());
  return *this;
}

CborWriter& CborWriter::Uint(std::uint64_t value) {
  Head(0, value);
  return *this;
}

CborWriter& CborWriter::Int(std::int64_t value) {
  if (value >= 0) {
    Head(0, static_cast<std::uint64_t>(value));
  } else {
    Head(1, static_cast<std::uint64_t>(-(value + 1)));  // -1 - n, without overflow at INT64_MIN
  }
  return *this;
}

CborWriter& CborWriter::Tag(std::uint64_t tag) {
  Head(6, tag);
  return *this;
}

CborWriter& CborWriter::Null() {
  out_.push_back(0xF6);
  return *this;
}

CborWriter& CborWriter::Bool(bool value) {
  out_.push_back(value ? 0xF5 : 0xF4);
  return *this;
}

CborWriter& CborWriter::Raw(std::span<const std::uint8_t> item) {
  out_.insert(out_.end(), item.begin(), item.end());
  return *this;
}

}  // namespace twinrig::consent
