// File primitives every part shares: atomic writes (nothing half-written survives a crash or a full
// disk), reading whole files, and SHA-256 of bytes and files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace twinrig {

// Writes to "<path>.tmp-<pid>", fsyncs it, renames it over `path` and fsyncs the folder. On any
// failure (a full disk included) the temporary is removed and `path` is left as it was.
Status WriteFileAtomic(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view text);

Result<std::vector<std::uint8_t>> ReadFileBytes(const std::filesystem::path& path);
Result<std::string> ReadFileText(const std::filesystem::path& path);

// Lower-case hex SHA-256.
std::string Sha256Hex(std::span<const std::uint8_t> bytes);
std::string Sha256Hex(std::string_view text);
Result<std::string> Sha256File(const std::filesystem::path& path);

std::string ToHex(std::span<const std::uint8_t> bytes);

}  // namespace twinrig
