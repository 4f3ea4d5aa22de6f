// Binary glTF 2.0 (.glb) container: a 12-byte header, a JSON chunk and an optional BIN chunk.
// Export rewrites the JSON chunk to carry provenance in asset.extras, keeping the BIN chunk and
// the 4-byte alignment the format requires.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "consent/canonical_json.h"
#include "util/result.h"

namespace twinrig::consent {

struct Glb {
  Json json;                      // the glTF document
  std::vector<std::uint8_t> bin;  // the BIN chunk (empty when absent)
  bool has_bin = false;
};

// Checks magic, version 2, declared lengths and chunk types; `where` names the file.
Result<Glb> ParseGlb(std::span<const std::uint8_t> bytes, const std::string& where);
std::vector<std::uint8_t> WriteGlb(const Glb& glb);

// XMP packet carrying the IPTC digital source type and the consent reference, and its insertion
// into a JPEG as an APP1 segment right after SOI.
std::string ProvenanceXmp(const std::string& digital_source_type, const std::string& record_id,
                          const std::string& record_sha256, const std::string& grant_id,
                          const std::string& label);
Result<std::vector<std::uint8_t>> InsertJpegXmp(std::span<const std::uint8_t> jpeg,
                                                const std::string& xmp, const std::string& where);

}  // namespace twinrig::consent
