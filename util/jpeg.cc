#include "util/jpeg.h"

#include <fmt/format.h>

#include "util/files.h"

namespace twinrig {

Status CheckJpegStructure(std::span<const std::uint8_t> bytes) {
  auto bad = [](const std::string& what) {
    return MakeError("not a well-formed JPEG: " + what, "image",
                     "the file was truncated or corrupted in transfer; download it again");
  };
  if (bytes.size() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8) return bad("no SOI marker");
  std::size_t at = 2;
  bool frame = false;
  bool scan = false;
  while (at + 1 < bytes.size()) {
    if (bytes[at] != 0xFF) return bad(fmt::format("expected a marker at byte {}", at));
    const std::uint8_t marker = bytes[at + 1];
    at += 2;
    if (marker == 0xFF) {  // fill byte
      --at;
      continue;
    }
    if (marker == 0xD9) {
      if (!frame || !scan) return bad("EOI before a frame and a scan");
      if (at != bytes.size()) return bad(fmt::format("{} bytes after EOI", bytes.size() - at));
      return OkStatus();
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
    if (at + 2 > bytes.size()) return bad("segment length cut off");
    const std::size_t length = static_cast<std::size_t>(bytes[at]) << 8 | bytes[at + 1];
    if (length < 2 || at + length > bytes.size()) return bad("segment runs past the end");
    if (marker == 0xC0 || marker == 0xC1 || marker == 0xC2) frame = true;
    at += length;
    if (marker == 0xDA) {
      if (!frame) return bad("scan before frame header");
      scan = true;
      // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart.
      while (at + 1 < bytes.size()) {
        if (bytes[at] == 0xFF && bytes[at + 1] != 0x00 &&
            !(bytes[at + 1] >= 0xD0 && bytes[at + 1] <= 0xD7)) {
          break;
        }
        ++at;
      }
    }
  }
  return bad("no EOI marker");
}

Status CheckJpegFile(const std::filesystem::path& path) {
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.error();
  Status status = CheckJpegStructure(*bytes);
  if (!status.ok()) return MakeError(status.error().what, path.string(), status.error().todo);
  return OkStatus();
}

}  // namespace twinrig
