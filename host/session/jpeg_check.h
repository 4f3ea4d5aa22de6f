// A structural JPEG check for downloaded frames: the marker segments are walked from SOI to SOS and
// the entropy-coded data must end in EOI. It catches truncated and garbled transfers cheaply
// (without decoding pixels); the SHA-256 over the file on disk catches the rest.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "util/result.h"

namespace twinrig::session {

Status CheckJpegStructure(std::span<const std::uint8_t> bytes);
Status CheckJpegFile(const std::filesystem::path& path);

}  // namespace twinrig::session
