#include "consent/crypto.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "util/check.h"
#include "util/files.h"

namespace twinrig::consent {
namespace {

constexpr std::string_view kEncMagic = "TWRGENC1";
constexpr size_t kChunk = size_t{64} * 1024;

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

std::span<const std::uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// Writes through a temporary beside `out`, fsyncs and renames; removes the temporary on failure.
class AtomicOut {
 public:
  explicit AtomicOut(std::filesystem::path out)
      : out_(std::move(out)), tmp_(out_.string() + ".tmp-" + std::to_string(::getpid())) {
    file_.reset(std::fopen(tmp_.c_str(), "wb"));
  }
  ~AtomicOut() {
    if (!committed_) {
      file_.reset();
      std::error_code ec;
      std::filesystem::remove(tmp_, ec);
    }
  }
  AtomicOut(const AtomicOut&) = delete;
  AtomicOut& operator=(const AtomicOut&) = delete;
  [[nodiscard]] bool ok() const { return file_ != nullptr; }
  bool Write(std::span<const std::uint8_t> bytes) {
    return std::fwrite(bytes.data(), 1, bytes.size(), file_.get()) == bytes.size();
  }
  Status Commit() {
    if (std::fflush(file_.get()) != 0 || ::fsync(::fileno(file_.get())) != 0) {
      return MakeError(std::string("could not write: ") + std::strerror(errno), out_.string(),
                       "check free disk space");
    }
    file_.reset();
    std::error_code ec;
    std::filesystem::rename(tmp_, out_, ec);
    if (ec) return MakeError("could not rename into place: " + ec.message(), out_.string());
    committed_ = true;
    return OkStatus();
  }

 private:
  std::filesystem::path out_;
  std::filesystem::path tmp_;
  File file_;
  bool committed_ = false;
};

}  // namespace

void InitSodium() {
  static const int kInit = sodium_init();
  TWINRIG_CHECK(kInit >= 0) << "libsodium failed to initialise";
}

std::string HexEncode(std::span<const std::uint8_t> bytes) { return ToHex(bytes); }

Result<Bytes> HexDecode(std::string_view hex) {
  if (hex.empty()) return Bytes{};
  Bytes out(hex.size() / 2);
  size_t len = 0;
  const char* end = nullptr;
  if (hex.size() % 2 != 0 ||
      sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, &end) != 0 ||
      len != out.size() || end != hex.data() + hex.size()) {
    return MakeError("not valid hexadecimal: \"" + std::string(hex.substr(0, 80)) + "\"");
  }
  return out;
}

std::string Base64Encode(std::span<const std::uint8_t> bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

Result<Bytes> Base64Decode(std::string_view text) {
  if (text.empty()) return Bytes{};
  Bytes out(text.size());
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return MakeError("not valid base64");
  }
  out.resize(len);
  return out;
}

std::string RandomUuid() {
  InitSodium();
  std::array<std::uint8_t, 16> b{};
  randombytes_buf(b.data(), b.size());
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  const std::string hex = HexEncode(b);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

Bytes ToBytes(std::string_view text) { return {text.begin(), text.end()}; }

SecretKey::SecretKey() { sodium_mlock(bytes_.data(), bytes_.size()); }
SecretKey::~SecretKey() { sodium_munlock(bytes_.data(), bytes_.size()); }  // also wipes
SecretKey::SecretKey(const SecretKey& other) : SecretKey() { bytes_ = other.bytes_; }
SecretKey& SecretKey::operator=(const SecretKey& other) {
  if (this != &other) bytes_ = other.bytes_;
  return *this;
}

SecretKey SecretKey::Generate() {
  InitSodium();
  std::array<std::uint8_t, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  SecretKey key = FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

SecretKey SecretKey::FromSeed(std::span<const std::uint8_t, 32> seed) {
  InitSodium();
  SecretKey key;
  PublicKey pk{};
  crypto_sign_ed25519_seed_keypair(pk.data(), key.bytes_.data(), seed.data());
  return key;
}

PublicKey SecretKey::public_key() const {
  PublicKey pk{};
  crypto_sign_ed25519_sk_to_pk(pk.data(), bytes_.data());
  return pk;
}

std::span<const std::uint8_t, 32> SecretKey::seed() const {
  return std::span<const std::uint8_t, 32>(bytes_.data(), 32);
}

Signature SecretKey::Sign(std::span<const std::uint8_t> message) const {
  Signature sig{};
  crypto_sign_ed25519_detached(sig.data(), nullptr, message.data(), message.size(), bytes_.data());
  return sig;
}

bool VerifySignature(const PublicKey& key, std::span<const std::uint8_t> message,
                     const Signature& signature) {
  InitSodium();
  return crypto_sign_ed25519_verify_detached(signature.data(), message.data(), message.size(),
                                             key.data()) == 0;
}

std::string KeyId(const PublicKey& key) { return Sha256Hex(key).substr(0, 16); }

Result<KdfStrength> ParseKdfStrength(std::string_view name) {
  if (name == "interactive") return KdfStrength::kInteractive;
  if (name == "moderate") return KdfStrength::kModerate;
  return MakeError("unknown key-derivation strength \"" + std::string(name) + "\"", "",
                   "use interactive or moderate");
}

SealedSecret SealWithPassphrase(std::span<const std::uint8_t> secret, std::string_view passphrase,
                                std::string_view context, KdfStrength strength) {
  InitSodium();
  SealedSecret sealed;
  const bool moderate = strength == KdfStrength::kModerate;
  sealed.opslimit = moderate ? crypto_pwhash_OPSLIMIT_MODERATE : crypto_pwhash_OPSLIMIT_INTERACTIVE;
  sealed.memlimit = moderate ? crypto_pwhash_MEMLIMIT_MODERATE : crypto_pwhash_MEMLIMIT_INTERACTIVE;
  sealed.salt.resize(crypto_pwhash_SALTBYTES);
  randombytes_buf(sealed.salt.data(), sealed.salt.size());
  sealed.nonce.resize(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  randombytes_buf(sealed.nonce.data(), sealed.nonce.size());
  std::array<std::uint8_t, crypto_aead_xchacha20poly1305_ietf_KEYBYTES> kek{};
  const int rc = crypto_pwhash(kek.data(), kek.size(), passphrase.data(), passphrase.size(),
                               sealed.salt.data(), sealed.opslimit, sealed.memlimit,
                               crypto_pwhash_ALG_ARGON2ID13);
  TWINRIG_CHECK(rc == 0) << "Argon2id ran out of memory";
  sealed.ciphertext.resize(secret.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long clen = 0;
  const auto ad = AsBytes(context);
  crypto_aead_xchacha20poly1305_ietf_encrypt(sealed.ciphertext.data(), &clen, secret.data(),
                                             secret.size(), ad.data(), ad.size(), nullptr,
                                             sealed.nonce.data(), kek.data());
  sodium_memzero(kek.data(), kek.size());
  return sealed;
}

Result<Bytes> OpenWithPassphrase(const SealedSecret& sealed, std::string_view passphrase,
                                 std::string_view context) {
  InitSodium();
  if (sealed.salt.size() != crypto_pwhash_SALTBYTES ||
      sealed.nonce.size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ||
      sealed.ciphertext.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES ||
      sealed.opslimit < crypto_pwhash_OPSLIMIT_MIN ||
      sealed.opslimit > crypto_pwhash_OPSLIMIT_SENSITIVE ||
      sealed.memlimit < crypto_pwhash_MEMLIMIT_MIN ||
      sealed.memlimit > crypto_pwhash_MEMLIMIT_SENSITIVE) {
    return MakeError("the sealed key is malformed", "", "restore the key file from a backup");
  }
  std::array<std::uint8_t, crypto_aead_xchacha20poly1305_ietf_KEYBYTES> kek{};
  if (crypto_pwhash(kek.data(), kek.size(), passphrase.data(), passphrase.size(),
                    sealed.salt.data(), sealed.opslimit, static_cast<size_t>(sealed.memlimit),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return MakeError("not enough memory for Argon2id", "", "close other programs and retry");
  }
  Bytes secret(sealed.ciphertext.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long len = 0;
  const auto ad = AsBytes(context);
  const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      secret.data(), &len, nullptr, sealed.ciphertext.data(), sealed.ciphertext.size(), ad.data(),
      ad.size(), sealed.nonce.data(), kek.data());
  sodium_memzero(kek.data(), kek.size());
  if (rc != 0) {
    return MakeError("wrong passphrase, or the key file was altered", "",
                     "check the passphrase file; if it is right, restore the key file from a "
                     "backup");
  }
  return secret;
}

Result<std::string> ReadPassphrase(const std::string& source) {
  std::string text;
  if (source == "-" || source.starts_with("fd:")) {
    int fd = 0;
    if (source != "-") {
      try {
        fd = std::stoi(source.substr(3));
      } catch (const std::exception&) {
        return MakeError("bad file descriptor in \"" + source + "\"", source, "write fd:N");
      }
    }
    char c = 0;
    // Bounded: a passphrase is one line of at most 4 KiB.
    while (text.size() < 4096) {
      const ssize_t n = ::read(fd, &c, 1);
      if (n <= 0 || c == '\n') break;
      text += c;
    }
  } else {
    auto content = ReadFileText(source);
    if (!content.ok()) return content.error();
    text = content->substr(0, content->find('\n'));
  }
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) {
    return MakeError("the passphrase is empty", source,
                     "put the passphrase on the first line of the file");
  }
  return text;
}

DataKey GenerateDataKey() {
  InitSodium();
  DataKey key{};
  crypto_secretstream_xchacha20poly1305_keygen(key.data());
  return key;
}

Status EncryptFile(const DataKey& key, std::string_view context, const std::filesystem::path& in,
                   const std::filesystem::path& out) {
  InitSodium();
  File src(std::fopen(in.c_str(), "rb"));
  if (!src) {
    return MakeError(std::string("cannot read: ") + std::strerror(errno), in.string(),
                     "check the path");
  }
  AtomicOut dst(out);
  if (!dst.ok()) return MakeError("cannot write", out.string(), "check the folder");
  crypto_secretstream_xchacha20poly1305_state state;
  std::array<std::uint8_t, crypto_secretstream_xchacha20poly1305_HEADERBYTES> header{};
  crypto_secretstream_xchacha20poly1305_init_push(&state, header.data(), key.data());
  bool written = dst.Write(AsBytes(kEncMagic)) && dst.Write(header);
  const auto ad = AsBytes(context);
  Bytes plain(kChunk);
  Bytes cipher(kChunk + crypto_secretstream_xchacha20poly1305_ABYTES);
  for (bool last = false; written && !last;) {
    const size_t n = std::fread(plain.data(), 1, plain.size(), src.get());
    if (std::ferror(src.get()) != 0) return MakeError("read error", in.string());
    last = std::feof(src.get()) != 0;
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(
        &state, cipher.data(), &clen, plain.data(), n, ad.data(), ad.size(),
        last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
    written = dst.Write(std::span(cipher.data(), clen));
  }
  sodium_memzero(plain.data(), plain.size());
  if (!written) return MakeError("write error", out.string(), "check free disk space");
  return dst.Commit();
}

Status DecryptFile(const DataKey& key, std::string_view context, const std::filesystem::path& in,
                   const std::filesystem::path& out) {
  InitSodium();
  File src(std::fopen(in.c_str(), "rb"));
  if (!src) {
    return MakeError(std::string("cannot read: ") + std::strerror(errno), in.string(),
                     "check the path");
  }
  std::array<std::uint8_t, 8 + crypto_secretstream_xchacha20poly1305_HEADERBYTES> head{};
  if (std::fread(head.data(), 1, head.size(), src.get()) != head.size() ||
      std::memcmp(head.data(), kEncMagic.data(), kEncMagic.size()) != 0) {
    return MakeError("not a twinrig encrypted file", in.string(), "check the path");
  }
  crypto_secretstream_xchacha20poly1305_state state;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&state, head.data() + 8, key.data()) != 0) {
    return MakeError("damaged encryption header", in.string());
  }
  AtomicOut dst(out);
  if (!dst.ok()) return MakeError("cannot write", out.string(), "check the folder");
  const auto ad = AsBytes(context);
  Bytes cipher(kChunk + crypto_secretstream_xchacha20poly1305_ABYTES);
  Bytes plain(kChunk);
  bool final_seen = false;
  const Error damaged = MakeError(
      "decryption failed: wrong key, or the file was altered, truncated or reordered", in.string(),
      "restore the file from a backup; if the subject's key was destroyed the data is gone");
  while (!final_seen) {
    const size_t n = std::fread(cipher.data(), 1, cipher.size(), src.get());
    if (n == 0) break;
    unsigned long long plen = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&state, plain.data(), &plen, &tag, cipher.data(),
                                                   n, ad.data(), ad.size()) != 0) {
      sodium_memzero(plain.data(), plain.size());
      return damaged;
    }
    final_seen = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    if (!dst.Write(std::span(plain.data(), plen))) return MakeError("write error", out.string());
  }
  sodium_memzero(plain.data(), plain.size());
  // The final tag proves nothing was cut off; bytes after it were appended by someone else.
  if (!final_seen || std::fgetc(src.get()) != EOF) return damaged;
  return dst.Commit();
}

std::string MinisignPublicKey(const PublicKey& key, std::string_view comment) {
  Bytes blob = {'E', 'd'};
  auto id = HexDecode(KeyId(key));
  blob.insert(blob.end(), id->rbegin(), id->rend());  // keynum is little-endian
  blob.insert(blob.end(), key.begin(), key.end());
  return "untrusted comment: " + std::string(comment) + "\n" + Base64Encode(blob) + "\n";
}

std::string MinisignSignature(const SecretKey& key, std::span<const std::uint8_t> file_bytes,
                              std::string_view trusted_comment) {
  std::array<std::uint8_t, crypto_generichash_BYTES_MAX> hash{};
  crypto_generichash(hash.data(), hash.size(), file_bytes.data(), file_bytes.size(), nullptr, 0);
  const Signature sig = key.Sign(hash);
  Bytes blob = {'E', 'D'};
  auto id = HexDecode(KeyId(key.public_key()));
  blob.insert(blob.end(), id->rbegin(), id->rend());
  blob.insert(blob.end(), sig.begin(), sig.end());
  // The global signature covers the file signature and the trusted comment.
  Bytes global(sig.begin(), sig.end());
  global.insert(global.end(), trusted_comment.begin(), trusted_comment.end());
  const Signature global_sig = key.Sign(global);
  return "untrusted comment: signature from twinrig studio key\n" + Base64Encode(blob) +
         "\ntrusted comment: " + std::string(trusted_comment) + "\n" + Base64Encode(global_sig) +
         "\n";
}

}  // namespace twinrig::consent
