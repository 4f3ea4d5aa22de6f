#include "sim/camera/synthetic_jpeg.h"

#include <fmt/format.h>
#include <turbojpeg.h>

#include <memory>
#include <string>

namespace twinrig::sim::camera {
namespace {

constexpr int kWidth = 96;
constexpr int kHeight = 64;
constexpr std::size_t kMaxComPayload = 65533;  // segment length field counts itself (2 bytes)

std::uint64_t Fnv1a(std::string_view text, std::uint64_t h = 1469598103934665603ULL) {
  for (char c : text) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

Result<std::vector<std::uint8_t>> SyntheticJpeg(const ExposureRequest& request,
                                                std::size_t size_bytes) {
  const std::uint64_t h =
      Fnv1a(fmt::format("{}/{}/{}", request.serial, request.sequence, request.capture_id));
  // Diagonal stripes in two colours from the hash, and the sequence number as a bar code along the
  // top row, so images differ visibly as well as in bytes.
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(kWidth) * kHeight * 3);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      const bool stripe = ((x + y + static_cast<int>(h % 16)) / 8) % 2 == 0;
      const int shift = stripe ? 0 : 24;
      std::uint8_t* px = &rgb[(static_cast<std::size_t>(y) * kWidth + x) * 3];
      for (int c = 0; c < 3; ++c) px[c] = static_cast<std::uint8_t>(h >> (shift + 8 * c));
      if (y < 8) {
        const bool bit = ((request.sequence >> ((x / 6) % 16)) & 1U) != 0;
        px[0] = px[1] = px[2] = bit ? 255 : 0;
      }
    }
  }
  std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitCompress(), tjDestroy);
  if (!tj) return MakeError("libturbojpeg could not start", request.serial, "check libturbojpeg");
  unsigned char* out = nullptr;
  unsigned long out_size = 0;  // NOLINT(google-runtime-int): libturbojpeg's type
  const int quality = std::clamp(request.settings.jpeg_quality, 1, 100);
  if (tjCompress2(tj.get(), rgb.data(), kWidth, 0, kHeight, TJPF_RGB, &out, &out_size, TJSAMP_420,
                  quality, 0) != 0) {
    std::string why = tjGetErrorStr2(tj.get());
    tjFree(out);
    return MakeError("libturbojpeg could not encode the synthetic image: " + why, request.serial,
                     "check libturbojpeg");
  }
  std::vector<std::uint8_t> base(out, out + out_size);
  tjFree(out);

  if (size_bytes == base.size()) return base;
  if (size_bytes < base.size() + 4) {
    return MakeError(fmt::format("a synthetic JPEG cannot be {} bytes: the image alone is {} and "
                                 "padding adds at least 4",
                                 size_bytes, base.size()),
                     request.serial, "choose a synthetic image size of at least 4 KB");
  }
  // Padding goes after the JFIF APP0 segment, which must stay first.
  std::size_t insert_at = 2;
  if (base.size() > 6 && base[2] == 0xFF && base[3] == 0xE0) {
    insert_at = 4 + (static_cast<std::size_t>(base[4]) << 8 | base[5]);
  }
  std::vector<std::uint8_t> result;
  result.reserve(size_bytes);
  result.insert(result.end(), base.begin(), base.begin() + static_cast<std::ptrdiff_t>(insert_at));
  const std::string filler =
      fmt::format("twinrig synthetic padding {} #{} ", request.serial, request.sequence);
  // One segment's worth of filler, appended whole (a byte at a time, 160 cameras of 24 MB kept
  // the simulator busy for longer than the station took to download them).
  std::vector<std::uint8_t> block(kMaxComPayload);
  for (std::size_t i = 0; i < block.size(); ++i) {
    block[i] = static_cast<std::uint8_t>(filler[i % filler.size()]);
  }
  std::size_t pad = size_bytes - base.size();
  while (pad > 0) {
    std::size_t payload = std::min(pad - 4, kMaxComPayload);
    std::size_t rest = pad - 4 - payload;
    if (rest > 0 && rest < 4) payload -= 4;  // leave room for one more whole segment
    const std::size_t length = payload + 2;
    result.push_back(0xFF);
    result.push_back(0xFE);
    result.push_back(static_cast<std::uint8_t>(length >> 8));
    result.push_back(static_cast<std::uint8_t>(length));
    result.insert(result.end(), block.begin(),
                  block.begin() + static_cast<std::ptrdiff_t>(payload));
    pad -= payload + 4;
  }
  result.insert(result.end(), base.begin() + static_cast<std::ptrdiff_t>(insert_at), base.end());
  return result;
}

ImageSource SyntheticImageSource(std::size_t size_bytes) {
  return
      [size_bytes](const ExposureRequest& request) { return SyntheticJpeg(request, size_bytes); };
}

}  // namespace twinrig::sim::camera
