#include "util/jpeg.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

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
  // Mapped, not read: the walk jumps from segment header to segment header, so a large frame costs
  // the pages it touches, not a copy of the whole file (the station checks every frame it lands).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return MakeError(std::string("cannot open the image: ") + std::strerror(errno), path.string(),
                     "check that the file exists and is readable");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < 4) {
    ::close(fd);
    return MakeError("not a well-formed JPEG: the file is empty or cut short", path.string(),
                     "the file was truncated or corrupted in transfer; download it again");
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapped == MAP_FAILED) {
    return MakeError(std::string("cannot map the image: ") + std::strerror(errno), path.string(),
                     "check the disk");
  }
  Status status = CheckJpegStructure({static_cast<const std::uint8_t*>(mapped), size});
  ::munmap(mapped, size);
  if (!status.ok()) return MakeError(status.error().what, path.string(), status.error().todo);
  return OkStatus();
}

}  // namespace twinrig
