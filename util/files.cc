#include "util/files.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "util/check.h"

namespace twinrig {
namespace {

std::string Errno() { return std::strerror(errno); }

Status WriteAll(int fd, const std::uint8_t* data, size_t size, const std::filesystem::path& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string todo = errno == ENOSPC ? "free space on this disk, then try again"
                                         : "check the folder's permissions and the disk";
      return MakeError("could not write: " + Errno(), path.string(), todo);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return OkStatus();
}

void SyncFolder(const std::filesystem::path& folder) {
  int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void EnsureSodium() { TWINRIG_CHECK(sodium_init() >= 0) << "libsodium failed to initialise"; }

}  // namespace

Status WriteFileAtomic(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  std::filesystem::path temp = path;
  temp += ".tmp-" + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeError("could not create file: " + Errno(), temp.string(),
                     "check that the folder exists and is writable");
  }
  Status status = WriteAll(fd, bytes.data(), bytes.size(), path);
  if (status.ok() && ::fsync(fd) != 0) {
    status = MakeError("could not flush to disk: " + Errno(), path.string(), "check the disk");
  }
  ::close(fd);
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status =
        MakeError("could not rename into place: " + Errno(), path.string(), "check the folder");
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  SyncFolder(path.parent_path());
  return OkStatus();
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view text) {
  return WriteFileAtomic(
      path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

Result<std::vector<std::uint8_t>> ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("could not open file", path.string(), "check that it exists");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (in.bad()) return MakeError("could not read file", path.string(), "check the disk");
  return bytes;
}

Result<std::string> ReadFileText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("could not open file", path.string(), "check that it exists");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return MakeError("could not read file", path.string(), "check the disk");
  return text;
}

std::string ToHex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    hex.push_back(kDigits[b >> 4]);
    hex.push_back(kDigits[b & 0xf]);
  }
  return hex;
}

std::string Sha256Hex(std::span<const std::uint8_t> bytes) {
  EnsureSodium();
  std::uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, bytes.data(), bytes.size());
  return ToHex(digest);
}

std::string Sha256Hex(std::string_view text) {
  return Sha256Hex(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

Result<std::string> Sha256File(const std::filesystem::path& path) {
  EnsureSodium();
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("could not open file", path.string(), "check that it exists");
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    crypto_hash_sha256_update(&state, reinterpret_cast<const std::uint8_t*>(buffer.data()),
                              static_cast<unsigned long long>(in.gcount()));
  }
  if (in.bad()) return MakeError("could not read file", path.string(), "check the disk");
  std::uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state, digest);
  return ToHex(digest);
}

}  // namespace twinrig
