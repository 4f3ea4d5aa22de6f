// Whether a downloaded frame is whole: the file has exactly the size the camera declared for it,
// its JPEG structure is sound (util/jpeg.h), and every pixel decodes without a single warning from
// libjpeg-turbo. Bytes flipped inside the entropy-coded data leave the markers intact; the decoder
// then loses step and reports corrupt data or a scan that ends too early or too late.
//
// What the decoder does not read (headers, EXIF, comments: every byte outside the entropy-coded
// scans) is read a second time from the camera and compared (host/camera: CompareRanges): a few
// kilobytes of a real frame, and no byte of the file left unchecked.
#pragma once

#include <cstdint>
#include <filesystem>
#include <utility>
#include <vector>

#include "util/result.h"

namespace twinrig::session {

// `declared_size` 0: the camera declared none (only the JPEG is checked). The Error names the file
// and says what is wrong with it.
Status CheckFrameFile(const std::filesystem::path& path, std::uint64_t declared_size);

// The byte ranges (offset, length) of a JPEG file that lie outside its entropy-coded scan data:
// what a full decode does not vouch for. Empty for a file that is not a JPEG.
std::vector<std::pair<std::uint64_t, std::uint64_t>> UndecodedRanges(
    const std::filesystem::path& path);

}  // namespace twinrig::session
