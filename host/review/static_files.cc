#include "host/review/static_files.h"

#include <algorithm>
#include <map>

namespace twinrig::review {
namespace fs = std::filesystem;

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = HexValue(text[i + 1]);
    const int lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool SafeSegment(std::string_view segment) {
  if (segment.empty() || segment.size() > 128 || segment.front() == '.') return false;
  return std::all_of(segment.begin(), segment.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

bool IsInside(const fs::path& root, const fs::path& path) {
  std::error_code ec;
  const fs::path real_root = fs::canonical(root, ec);
  if (ec) return false;
  const fs::path real = fs::canonical(path, ec);
  if (ec) return false;
  auto r = real_root.begin();
  auto p = real.begin();
  for (; r != real_root.end(); ++r, ++p) {
    if (p == real.end() || *r != *p) return false;
  }
  return true;
}

StaticLookup ResolveStatic(const fs::path& root, std::string_view target) {
  StaticLookup bad{{}, 400};
  const std::string_view path = target.substr(0, target.find_first_of("?#"));
  if (path.empty() || path.front() != '/') return bad;
  auto decoded = PercentDecode(path);
  if (!decoded) return bad;
  if (decoded->find('\0') != std::string::npos || decoded->find('\\') != std::string::npos) {
    return bad;
  }
  // Every segment after decoding: no "..", no ".", no empty segment in the middle ("//x" would
  // make the path absolute when joined).
  fs::path relative;
  size_t start = 1;
  while (start <= decoded->size()) {
    size_t end = decoded->find('/', start);
    if (end == std::string::npos) end = decoded->size();
    const std::string segment = decoded->substr(start, end - start);
    if (segment == ".." || segment == ".") return bad;
    if (segment.empty() && end != decoded->size()) return bad;
    if (!segment.empty()) relative /= segment;
    start = end + 1;
  }
  if (relative.is_absolute() || relative.has_root_name()) return bad;
  fs::path file = root / relative;
  std::error_code ec;
  if (fs::is_directory(file, ec)) file /= "index.html";
  if (!fs::is_regular_file(file, ec)) return {{}, 404};
  // Symlinks are followed by canonical(): the real file must still be inside the real root.
  if (!IsInside(root, file)) return {{}, 404};
  return {fs::canonical(file, ec), 200};
}

std::string MimeType(const fs::path& file) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".glb", "model/gltf-binary"},
      {".txt", "text/plain; charset=utf-8"},
      {".ico", "image/x-icon"},
      {".map", "application/json"},
  };
  auto it = kTypes.find(file.extension().string());
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

}  // namespace twinrig::review
