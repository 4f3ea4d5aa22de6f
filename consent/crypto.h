// The cryptography of consent records, all from libsodium: Ed25519 signatures, passphrase-sealed
// private keys (Argon2id + XChaCha20-Poly1305), file encryption at rest (secretstream) and
// minisign-format mirrors of signatures so that anyone with `minisign` can check them.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace twinrig::consent {

using Bytes = std::vector<std::uint8_t>;

// Must be called before any other function here; cheap after the first call.
void InitSodium();

std::string HexEncode(std::span<const std::uint8_t> bytes);
Result<Bytes> HexDecode(std::string_view hex);
std::string Base64Encode(std::span<const std::uint8_t> bytes);
Result<Bytes> Base64Decode(std::string_view text);
Bytes ToBytes(std::string_view text);
// A random (version 4) UUID in its lower-case text form: record ids, C2PA manifest labels.
std::string RandomUuid();

using PublicKey = std::array<std::uint8_t, 32>;
using Signature = std::array<std::uint8_t, 64>;

// An Ed25519 secret key (seed || public key) in locked memory, wiped when destroyed.
class SecretKey {
 public:
  SecretKey();
  ~SecretKey();
  SecretKey(const SecretKey& other);
  SecretKey& operator=(const SecretKey& other);

  static SecretKey Generate();
  static SecretKey FromSeed(std::span<const std::uint8_t, 32> seed);

  [[nodiscard]] PublicKey public_key() const;
  [[nodiscard]] std::span<const std::uint8_t, 32> seed() const;
  [[nodiscard]] Signature Sign(std::span<const std::uint8_t> message) const;

 private:
  std::array<std::uint8_t, 64> bytes_{};
};

bool VerifySignature(const PublicKey& key, std::span<const std::uint8_t> message,
                     const Signature& signature);

// Key id: the first 8 bytes of SHA-256(public key), as 16 hex digits. The same 8 bytes are the
// minisign key number (little-endian on the wire).
std::string KeyId(const PublicKey& key);

// Argon2id cost. Interactive (64 MiB, 2 passes) keeps tests fast; moderate (256 MiB, 3 passes) is
// the product default for keys that live on disk.
enum class KdfStrength { kInteractive, kModerate };
Result<KdfStrength> ParseKdfStrength(std::string_view name);

// A secret sealed under a passphrase: Argon2id derives the key, XChaCha20-Poly1305 seals the secret
// with `context` as associated data (so a sealed blob cannot be moved to another key's file).
struct SealedSecret {
  std::uint64_t opslimit = 0;
  std::uint64_t memlimit = 0;
  Bytes salt;
  Bytes nonce;
  Bytes ciphertext;
};
SealedSecret SealWithPassphrase(std::span<const std::uint8_t> secret, std::string_view passphrase,
                                std::string_view context, KdfStrength strength);
// An Error ("wrong passphrase or damaged key file") when the passphrase or context is wrong.
Result<Bytes> OpenWithPassphrase(const SealedSecret& sealed, std::string_view passphrase,
                                 std::string_view context);

// Reads a passphrase: the file's first line (a trailing newline is dropped). "-" or "fd:N" read
// from a file descriptor, so scripts can pipe it in without touching the disk.
Result<std::string> ReadPassphrase(const std::string& source);

// --- Encryption at rest -------------------------------------------------------------------------
// A 32-byte data-encryption key for crypto_secretstream_xchacha20poly1305.
using DataKey = std::array<std::uint8_t, 32>;
DataKey GenerateDataKey();

// File format: "TWRGENC1" || secretstream header || chunks of at most 64 KiB, the last one tagged
// FINAL. `context` (e.g. the subject id) is authenticated with every chunk. Decryption refuses a
// missing final chunk, reordered or modified chunks, trailing bytes and the wrong key or context.
// The output is written atomically; a failed decryption leaves no plaintext file behind.
Status EncryptFile(const DataKey& key, std::string_view context, const std::filesystem::path& in,
                   const std::filesystem::path& out);
Status DecryptFile(const DataKey& key, std::string_view context, const std::filesystem::path& in,
                   const std::filesystem::path& out);

// --- minisign mirrors ---------------------------------------------------------------------------
// "untrusted comment: …\n<base64 of 'Ed' || keynum || pk>\n", readable by `minisign -p`.
std::string MinisignPublicKey(const PublicKey& key, std::string_view comment);
// A prehashed ("ED", BLAKE2b-512) minisign signature of `file_bytes` with a trusted comment.
std::string MinisignSignature(const SecretKey& key, std::span<const std::uint8_t> file_bytes,
                              std::string_view trusted_comment);

}  // namespace twinrig::consent
