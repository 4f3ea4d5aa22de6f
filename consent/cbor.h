// A small CBOR (RFC 8949) encoder for the C2PA manifest: definite lengths only, shortest
// integer forms, no maps tagged (C2PA readers refuse tag 259). Callers write a map's entries in
// the order they want them; the claim's bytes are signed as written, so the order is kept.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace twinrig::consent {

class CborWriter {
 public:
  CborWriter& Map(std::size_t entries);  // followed by `entries` key, value pairs
  CborWriter& Array(std::size_t items);
  CborWriter& Text(std::string_view text);
  CborWriter& Bytes(std::span<const std::uint8_t> bytes);
  CborWriter& Uint(std::uint64_t value);
  CborWriter& Int(std::int64_t value);
  CborWriter& Tag(std::uint64_t tag);
  CborWriter& Null();
  CborWriter& Bool(bool value);
  // Bytes that are already one CBOR item (an encoded sub-structure).
  CborWriter& Raw(std::span<const std::uint8_t> item);

  [[nodiscard]] const std::vector<std::uint8_t>& bytes() const { return out_; }
  std::vector<std::uint8_t> Take() { return std::move(out_); }

 private:
  void Head(std::uint8_t major, std::uint64_t value);
  std::vector<std::uint8_t> out_;
};

}  // namespace twinrig::consent
