// JUMBF (ISO/IEC 19566-5) boxes as C2PA lays out a manifest store, and their carriage in JPEG
// APP11 segments (ISO/IEC 19566-5 Annex: "JP", box instance, packet sequence, the superbox header
// repeated in every segment). Writing only: twinrig makes manifests, licensees' tools read them.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace twinrig::consent {

using JumbfUuid = std::array<std::uint8_t, 16>;

// The C2PA content types: four characters + the ISO suffix 0011-0010-8000-00AA00389B71.
constexpr JumbfUuid C2paUuid(std::string_view four_cc) {
  JumbfUuid uuid = {0,    0,    0,    0,    0x00, 0x11, 0x00, 0x10,
                    0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
  for (std::size_t i = 0; i < 4 && i < four_cc.size(); ++i) {
    uuid[i] = static_cast<std::uint8_t>(four_cc[i]);
  }
  return uuid;
}
inline constexpr JumbfUuid kManifestStoreUuid = C2paUuid("c2pa");
inline constexpr JumbfUuid kManifestUuid = C2paUuid("c2ma");
inline constexpr JumbfUuid kAssertionStoreUuid = C2paUuid("c2as");
inline constexpr JumbfUuid kClaimUuid = C2paUuid("c2cl");
inline constexpr JumbfUuid kSignatureUuid = C2paUuid("c2cs");
inline constexpr JumbfUuid kCborUuid = C2paUuid("cbor");

// A plain box: 32-bit length, four-character type, payload.
std::vector<std::uint8_t> JumbfBox(std::string_view type, std::span<const std::uint8_t> payload);
// A superbox ("jumb"): a description box ("jumd": type UUID, requestable, label) and `children`,
// each already a whole box.
std::vector<std::uint8_t> JumbfSuperbox(const JumbfUuid& type, std::string_view label,
                                        std::span<const std::vector<std::uint8_t>> children);
// A CBOR content superbox: the description and one "cbor" box holding `cbor`.
std::vector<std::uint8_t> JumbfCborBox(const JumbfUuid& type, std::string_view label,
                                       std::span<const std::uint8_t> cbor);

// The superbox `jumbf` split into JPEG APP11 segments (markers included), each at most 65535
// bytes long, ready to be put between other markers before the image data.
std::vector<std::uint8_t> JpegApp11Segments(std::span<const std::uint8_t> jumbf);

}  // namespace twinrig::consent
