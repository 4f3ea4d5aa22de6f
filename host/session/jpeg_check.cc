#include "host/session/jpeg_check.h"

#include "util/files.h"

namespace twinrig::session {

Status CheckJpegStructure(std::span<const std::uint8_t> bytes) {
  auto bad = [](const std::string& why) {
    return MakeError("not a complete JPEG: " + why, "", "download the frame again");
  };
  if (bytes.size() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8)
    return bad("no start-of-image marker");
  size_t at = 2;
  bool frame_header = false;
  // Header segments: each is FF xx with a 16-bit length, until start-of-scan.
  for (int segments = 0; segments < 1024; ++segments) {
    while (at < bytes.size() && bytes[at] == 0xFF && at + 1 < bytes.size() && bytes[at + 1] == 0xFF)
      ++at;
    if (at + 4 > bytes.size()) return bad("truncated in the headers");
    if (bytes[at] != 0xFF) return bad("garbage between segments at byte " + std::to_string(at));
    const std::uint8_t marker = bytes[at + 1];
    const size_t length = (static_cast<size_t>(bytes[at + 2]) << 8) | bytes[at + 3];
    if (length < 2 || at + 2 + length > bytes.size()) return bad("a segment runs past the end");
    if (marker == 0xC0 || marker == 0xC1 || marker == 0xC2) frame_header = true;
    at += 2 + length;
    if (marker == 0xDA) {
      if (!frame_header) return bad("no frame header before the scan");
      // Entropy-coded data: the file must end with EOI (FF D9), trailing padding aside.
      size_t end = bytes.size();
      while (end > at && bytes[end - 1] == 0x00) --end;
      if (end < at + 2 || bytes[end - 2] != 0xFF || bytes[end - 1] != 0xD9) {
        return bad("no end-of-image marker (truncated transfer)");
      }
      return OkStatus();
    }
  }
  return bad("too many header segments");
}

Status CheckJpegFile(const std::filesystem::path& path) {
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.error();
  Status status = CheckJpegStructure(*bytes);
  if (!status.ok()) return MakeError(status.error().what, path.string(), status.error().todo);
  return OkStatus();
}

}  // namespace twinrig::session
