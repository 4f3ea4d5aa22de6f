// Serving the built front end: a request target becomes a file strictly inside the web root, or
// nothing. Percent-decoding happens once, before any check; "..", absolute paths, NUL bytes,
// backslashes and symlinks that lead outside the root are all refused.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace twinrig::review {

// Decodes %XX escapes (no '+' to space: this is a path). Nullopt on a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text);

// The file under `root` that the request target (path and optional query) names; "/" and folders
// map to their index.html. Errors: 400 for a malformed or hostile target, 404 for a missing file.
struct StaticLookup {
  std::filesystem::path file;
  int status = 200;  // 200, 400 or 404
};
StaticLookup ResolveStatic(const std::filesystem::path& root, std::string_view target);

// Content-Type of a served file by its extension.
std::string MimeType(const std::filesystem::path& file);

// True when `path` (after following every symlink) is `root` itself or inside it; both must exist.
bool IsInside(const std::filesystem::path& root, const std::filesystem::path& path);

// A path segment a client may name (session id, serial, file name): letters, digits, '-', '_',
// '.', not starting with '.', at most 128 characters.
bool SafeSegment(std::string_view segment);

}  // namespace twinrig::review
