// A structural JPEG check: markers walked from SOI through every segment and the entropy-coded
// data to EOI. It catches truncated and garbled files cheaply, without decoding pixels; a hash of
// the bytes catches the rest. Used by the station on every downloaded frame and by the virtual
// cameras on what they serve.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "util/result.h"

namespace twinrig {

Status CheckJpegStructure(std::span<const std::uint8_t> bytes);
// The same for a file; the Error names the file.
Status CheckJpegFile(const std::filesystem::path& path);

}  // namespace twinrig
