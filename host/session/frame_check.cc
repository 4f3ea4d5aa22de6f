#include "host/session/frame_check.h"

#include <turbojpeg.h>

#include <memory>
#include <string>
#include <vector>

#include "util/files.h"
#include "util/jpeg.h"

namespace twinrig::session {

namespace {

Error Corrupt(const std::filesystem::path& path, const std::string& what) {
  return MakeError("the transfer was corrupted: " + what, path.string(),
                   "twinrig downloads it again; the camera keeps its copy until one is whole");
}

}  // namespace

Status CheckFrameFile(const std::filesystem::path& path, std::uint64_t declared_size) {
  std::error_code ec;
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    return MakeError("cannot read the downloaded frame: " + ec.message(), path.string(),
                     "check the session folder");
  }
  if (declared_size > 0 && size != declared_size) {
    return Corrupt(path, std::to_string(size) + " bytes arrived, the camera declared " +
                             std::to_string(declared_size));
  }
  Status structure = CheckJpegFile(path);
  if (!structure.ok()) return Corrupt(path, structure.error().what);

  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.error();
  std::unique_ptr<void, decltype(&tjDestroy)> decoder(tjInitDecompress(), &tjDestroy);
  if (!decoder) return MakeError("could not start the JPEG decoder", path.string());
  int width = 0;
  int height = 0;
  int subsampling = 0;
  int colorspace = 0;
  if (tjDecompressHeader3(decoder.get(), bytes->data(), bytes->size(), &width, &height,
                          &subsampling, &colorspace) != 0) {
    return Corrupt(path, std::string("the image header does not decode (") +
                             tjGetErrorStr2(decoder.get()) + ")");
  }
  // Greyscale output: every coefficient is still entropy-decoded (that is where corruption shows),
  // at a third of the memory of RGB.
  std::vector<unsigned char> pixels(static_cast<std::size_t>(width) * height);
  const int rc = tjDecompress2(decoder.get(), bytes->data(), bytes->size(), pixels.data(), width, 0,
                               height, TJPF_GRAY, TJFLAG_STOPONWARNING | TJFLAG_FASTDCT);
  if (rc != 0) {
    return Corrupt(path, std::string("the image data does not decode (") +
                             tjGetErrorStr2(decoder.get()) + ")");
  }
  return OkStatus();
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> UndecodedRanges(
    const std::filesystem::path& path) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  auto read = ReadFileBytes(path);
  if (!read.ok()) return ranges;
  const std::vector<std::uint8_t>& b = *read;
  // Walks the markers as CheckJpegStructure does; every SOS's entropy-coded data is skipped.
  std::size_t from = 0;
  std::size_t at = 2;
  if (b.size() < 4 || b[0] != 0xFF || b[1] != 0xD8) return ranges;
  while (at + 3 < b.size()) {
    if (b[at] != 0xFF) break;
    const std::uint8_t marker = b[at + 1];
    if (marker == 0xD9) break;
    if (marker == 0xFF || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      at += marker == 0xFF ? 1 : 2;
      continue;
    }
    const std::size_t length = static_cast<std::size_t>(b[at + 2]) << 8 | b[at + 3];
    at += 2 + length;
    if (marker != 0xDA) continue;
    ranges.emplace_back(from, std::min(at, b.size()) - from);
    while (at + 1 < b.size() &&
           !(b[at] == 0xFF && b[at + 1] != 0x00 && !(b[at + 1] >= 0xD0 && b[at + 1] <= 0xD7))) {
      ++at;
    }
    from = at;
  }
  if (from < b.size()) ranges.emplace_back(from, b.size() - from);
  return ranges;
}

}  // namespace twinrig::session
