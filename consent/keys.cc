#include "consent/keys.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "consent/audit.h"
#include "consent/c2pa_signer.h"
#include "util/files.h"

namespace twinrig::consent {
namespace {

constexpr std::string_view kDekMagic = "TWRGDEK1";

std::string SealContext(std::string_view role, const std::string& owner, const std::string& kid) {
  std::string context = "twinrig/key/v1";
  context += '\0';
  context += role;
  context += '\0';
  context += owner;
  context += '\0';
  context += kid;
  return context;
}

Result<PublicKey> ParsePublicKey(const std::string& hex, const std::string& where) {
  auto bytes = HexDecode(hex);
  if (!bytes.ok() || bytes->size() != 32) {
    return MakeError("a public key is not 32 bytes of hex", where, "restore the file");
  }
  PublicKey key{};
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

Status WritePrivateFile(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return MakeError("cannot create folder: " + ec.message(), path.parent_path().string());
  std::filesystem::permissions(path.parent_path(), std::filesystem::perms::owner_all, ec);
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(path, bytes));
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  if (ec) return MakeError("cannot set mode 0600: " + ec.message(), path.string());
  return OkStatus();
}

std::array<std::uint8_t, 32> DeriveDataKek(const SecretKey& studio_key) {
  std::array<std::uint8_t, 32> kek{};
  crypto_kdf_derive_from_key(kek.data(), kek.size(), 1, "twrgdek1", studio_key.seed().data());
  return kek;
}

}  // namespace

void KeyRing::Add(KeyInfo key) {
  if (Find(key.kid) == nullptr) keys_.push_back(std::move(key));
}

const KeyInfo* KeyRing::Find(const std::string& kid) const {
  for (const auto& key : keys_) {
    if (key.kid == kid) return &key;
  }
  return nullptr;
}

const KeyInfo* KeyRing::FindOwner(std::string_view role, const std::string& owner) const {
  const KeyInfo* found = nullptr;
  for (const auto& key : keys_) {
    if (key.role == role && key.owner == owner) found = &key;  // the newest registered wins
  }
  return found;
}

Json KeyRing::ToJson() const {
  Json keys = Json::array();
  for (const auto& key : keys_) {
    keys.push_back({{"kid", key.kid},
                    {"role", key.role},
                    {"owner", key.owner},
                    {"alg", "Ed25519"},
                    {"public_key", HexEncode(key.public_key)},
                    {"retired_at", key.retired_at.empty() ? Json() : Json(key.retired_at)}});
  }
  return {{"format", "twinrig-keyring/1"}, {"keys", keys}};
}

Result<KeyRing> KeyRing::FromJson(const Json& json, const std::string& where) {
  KeyRing ring;
  if (!json.is_object() || json.value("format", "") != "twinrig-keyring/1" ||
      !json.contains("keys") || !json["keys"].is_array()) {
    return MakeError("not a twinrig key ring", where,
                     "export one with `twinrig keys export --out FILE`");
  }
  for (const auto& entry : json["keys"]) {
    if (!entry.is_object() || !entry.contains("public_key") || !entry["public_key"].is_string()) {
      return MakeError("a key-ring entry has no public key", where, "re-export the key ring");
    }
    KeyInfo key;
    key.role = entry.value("role", "");
    key.owner = entry.value("owner", "");
    if (entry.contains("retired_at") && entry["retired_at"].is_string()) {
      key.retired_at = entry["retired_at"].get<std::string>();
    }
    auto pub = ParsePublicKey(entry["public_key"].get<std::string>(), where);
    if (!pub.ok()) return pub.error();
    key.public_key = *pub;
    key.kid = KeyId(key.public_key);
    if (entry.value("kid", "") != key.kid) {
      return MakeError("a key id does not match its public key", where, "re-export the key ring");
    }
    ring.Add(std::move(key));
  }
  return ring;
}

Result<KeyRing> KeyRing::FromFile(const std::filesystem::path& path) {
  auto text = ReadFileText(path);
  if (!text.ok()) return text.error();
  auto json = ParseStrict(*text, path.string());
  if (!json.ok()) return json.error();
  return FromJson(*json, path.string());
}

Result<KeyRing> KeyRing::FromCatalog(store::Catalog& catalog) {
  TWINRIG_ASSIGN_OR_RETURN(const auto rows, catalog.PublicKeys());
  KeyRing ring;
  for (const auto& row : rows) {
    KeyInfo key{row.kid, row.role, row.owner, {}, row.retired_at};
    auto pub = ParsePublicKey(row.public_key, catalog.path().string());
    if (!pub.ok()) return pub.error();
    key.public_key = *pub;
    ring.Add(std::move(key));
  }
  // The catalog is as writable as the studio folder: a studio key registered there counts only
  // when the pin installed outside the studio names it.
  const char* pin = std::getenv(std::string(kStudioPinVariable).c_str());
  if (pin != nullptr && *pin != '\0') {
    auto text = ReadFileText(pin);
    if (!text.ok()) {
      return MakeError("cannot read the pinned studio key: " + text.error().what, pin,
                       "install the pin file (`twinrig keys init` prints the key id) or unset " +
                           std::string(kStudioPinVariable));
    }
    std::vector<std::string> pinned;
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())) != 0) {
        line.pop_back();
      }
      if (!line.empty() && line.front() != '#') pinned.push_back(line);
    }
    TWINRIG_RETURN_IF_ERROR(CheckPinnedStudioKeys(ring, pinned, pin));
  }
  return ring;
}

Status CheckPinnedStudioKeys(const KeyRing& ring, const std::vector<std::string>& pinned,
                             const std::string& where) {
  bool any = false;
  for (const auto& key : ring.keys()) {
    if (key.role != kRoleStudio) continue;
    any = true;
    if (std::find(pinned.begin(), pinned.end(), key.kid) == pinned.end()) {
      return MakeError("the studio key " + key.kid + " is not the pinned studio key", where,
                       "a studio key was put into the catalog or key ring; trust only the keys "
                       "the pin names");
    }
  }
  if (!any && !pinned.empty()) {
    return MakeError("the pinned studio key is not among the keys", where,
                     "the studio key was removed from the catalog or key ring");
  }
  return OkStatus();
}

Status RetireKey(store::Catalog& catalog, const std::string& kid) {
  auto ring = KeyRing::FromCatalog(catalog);
  if (!ring.ok()) return ring.error();
  const KeyInfo* key = ring->Find(kid);
  if (key == nullptr || !key->retired_at.empty()) {
    return MakeError("there is no key " + kid + " in use", catalog.path().string(),
                     "`twinrig keys export` lists the keys");
  }
  TWINRIG_RETURN_IF_ERROR(catalog.RetirePublicKey(kid, NowUtc()));
  auto seq = AuditAppend(catalog, "key.retired", {{"kid", kid}});
  return seq.ok() ? OkStatus() : Status(seq.error());
}

Status CheckOwnerId(const std::string& id, const std::string& what) {
  bool ok = !id.empty() && id.size() <= 64 && id != "." && id != "..";
  for (const char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.')) {
      ok = false;
    }
  }
  if (!ok) {
    return MakeError(what + " \"" + id + "\" is not a valid id", "",
                     "use 1-64 letters, digits, '-', '_' or '.'");
  }
  return OkStatus();
}

std::filesystem::path KeyFilePath(const std::filesystem::path& studio, std::string_view role,
                                  const std::string& owner) {
  if (role == kRoleStudio) return studio / "keys" / "studio.key";
  if (role == kRoleTechnician) return studio / "keys" / "technicians" / (owner + ".key");
  if (role == kRoleGuardian) return studio / "subjects" / owner / "guardian.key";
  return studio / "subjects" / owner / "subject.key";
}

Result<KeyInfo> CreateKey(store::Catalog& catalog, std::string_view role, const std::string& owner,
                          const std::string& passphrase, KdfStrength strength) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(owner, std::string(role)));
  const auto path = KeyFilePath(catalog.studio(), role, owner);
  if (std::filesystem::exists(path)) {
    return MakeError("a " + std::string(role) + " key already exists", path.string(),
                     "keys are never overwritten; retire it first or use the existing one");
  }
  const SecretKey secret = SecretKey::Generate();
  KeyInfo info{"", std::string(role), owner, secret.public_key()};
  info.kid = KeyId(info.public_key);
  const SealedSecret sealed =
      SealWithPassphrase(secret.seed(), passphrase, SealContext(role, owner, info.kid), strength);
  const Json file = {{"format", "twinrig-key/1"},
                     {"kid", info.kid},
                     {"role", info.role},
                     {"owner", owner},
                     {"public_key", HexEncode(info.public_key)},
                     {"kdf",
                      {{"alg", "argon2id13"},
                       {"opslimit", sealed.opslimit},
                       {"memlimit", sealed.memlimit},
                       {"salt", HexEncode(sealed.salt)}}},
                     {"nonce", HexEncode(sealed.nonce)},
                     {"sealed", HexEncode(sealed.ciphertext)}};
  const std::string text = file.dump(2) + "\n";
  TWINRIG_RETURN_IF_ERROR(WritePrivateFile(path, ToBytes(text)));
  if (role == kRoleStudio) {
    TWINRIG_RETURN_IF_ERROR(
        WriteFileAtomic(catalog.studio() / "keys" / "studio.pub",
                        MinisignPublicKey(info.public_key, "twinrig studio key " + info.kid)));
    // The C2PA certificates come with the key, so the studio can publish its C2PA root at once.
    TWINRIG_RETURN_IF_ERROR(C2paSigner::ForStudio(catalog, secret));
  }
  TWINRIG_RETURN_IF_ERROR(
      catalog.InsertPublicKey({info.kid, info.role, owner, HexEncode(info.public_key), ""}));
  return info;
}

Result<SecretKey> UnsealKey(store::Catalog& catalog, std::string_view role,
                            const std::string& owner, const std::string& passphrase) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(owner, std::string(role)));
  const auto path = KeyFilePath(catalog.studio(), role, owner);
  if (!std::filesystem::exists(path)) {
    const std::string todo =
        role == kRoleStudio       ? "run `twinrig keys init`"
        : role == kRoleTechnician ? "run `twinrig keys add-technician " + owner + "`"
        : role == kRoleGuardian   ? "a guardian's key is created with the consent that names them"
                                  : "the subject's key is created with their first consent";
    return MakeError("no " + std::string(role) + " key for " + owner, path.string(), todo);
  }
  auto text = ReadFileText(path);
  if (!text.ok()) return text.error();
  auto json = ParseStrict(*text, path.string());
  if (!json.ok()) return json.error();
  SealedSecret sealed;
  std::string kid;
  try {
    kid = json->at("kid").get<std::string>();
    const auto& kdf = json->at("kdf");
    sealed.opslimit = kdf.at("opslimit").get<std::uint64_t>();
    sealed.memlimit = kdf.at("memlimit").get<std::uint64_t>();
    auto salt = HexDecode(kdf.at("salt").get<std::string>());
    auto nonce = HexDecode(json->at("nonce").get<std::string>());
    auto ct = HexDecode(json->at("sealed").get<std::string>());
    if (!salt.ok() || !nonce.ok() || !ct.ok()) throw std::runtime_error("hex");
    sealed.salt = *salt;
    sealed.nonce = *nonce;
    sealed.ciphertext = *ct;
  } catch (const std::exception&) {
    return MakeError("the key file is malformed", path.string(), "restore it from a backup");
  }
  auto seed = OpenWithPassphrase(sealed, passphrase, SealContext(role, owner, kid));
  if (!seed.ok()) return MakeError(seed.error().what, path.string(), seed.error().todo);
  if (seed->size() != 32) return MakeError("the sealed key has the wrong size", path.string());
  SecretKey key = SecretKey::FromSeed(std::span<const std::uint8_t, 32>(seed->data(), 32));
  sodium_memzero(seed->data(), seed->size());
  auto ring = KeyRing::FromCatalog(catalog);
  if (!ring.ok()) return ring.error();
  const KeyInfo* registered = ring->Find(KeyId(key.public_key()));
  if (registered == nullptr || registered->role != role || registered->owner != owner) {
    return MakeError("the key is not registered in the catalog for " + owner, path.string(),
                     "this key file belongs to another studio or was replaced");
  }
  if (!registered->retired_at.empty()) {
    return MakeError("the key " + registered->kid + " was retired at " + registered->retired_at,
                     path.string(), "a retired key signs nothing new; use the current key");
  }
  return key;
}

std::filesystem::path DataKeyPath(const std::filesystem::path& studio,
                                  const std::string& subject_id) {
  return studio / "keys" / "data" / (subject_id + ".dek");
}

Result<DataKey> LoadDataKey(const std::filesystem::path& studio, const std::string& subject_id,
                            const SecretKey& studio_key) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(subject_id, "subject"));
  const auto path = DataKeyPath(studio, subject_id);
  if (!std::filesystem::exists(path)) {
    return MakeError("the subject's data key does not exist (never created, or destroyed)",
                     path.string(), "after erasure the subject's files cannot be decrypted");
  }
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.error();
  constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr size_t kSize = 8 + kNonce + 32 + crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (bytes->size() != kSize ||
      std::string_view(reinterpret_cast<const char*>(bytes->data()), 8) != kDekMagic) {
    return MakeError("the wrapped data key is malformed", path.string(), "restore it from backup");
  }
  auto kek = DeriveDataKek(studio_key);
  DataKey key{};
  unsigned long long len = 0;
  const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      key.data(), &len, nullptr, bytes->data() + 8 + kNonce, bytes->size() - 8 - kNonce,
      reinterpret_cast<const std::uint8_t*>(subject_id.data()), subject_id.size(),
      bytes->data() + 8, kek.data());
  sodium_memzero(kek.data(), kek.size());
  if (rc != 0) {
    return MakeError("the data key does not open with this studio key", path.string(),
                     "use the studio key that created it");
  }
  return key;
}

Result<DataKey> LoadOrCreateDataKey(const std::filesystem::path& studio,
                                    const std::string& subject_id, const SecretKey& studio_key) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(subject_id, "subject"));
  const auto path = DataKeyPath(studio, subject_id);
  if (std::filesystem::exists(path)) return LoadDataKey(studio, subject_id, studio_key);
  const DataKey key = GenerateDataKey();
  Bytes file(kDekMagic.begin(), kDekMagic.end());
  std::array<std::uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce{};
  randombytes_buf(nonce.data(), nonce.size());
  file.insert(file.end(), nonce.begin(), nonce.end());
  std::array<std::uint8_t, 32 + crypto_aead_xchacha20poly1305_ietf_ABYTES> wrapped{};
  auto kek = DeriveDataKek(studio_key);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      wrapped.data(), &len, key.data(), key.size(),
      reinterpret_cast<const std::uint8_t*>(subject_id.data()), subject_id.size(), nullptr,
      nonce.data(), kek.data());
  sodium_memzero(kek.data(), kek.size());
  file.insert(file.end(), wrapped.begin(), wrapped.end());
  TWINRIG_RETURN_IF_ERROR(WritePrivateFile(path, file));
  return key;
}

Result<std::string> DestroyDataKey(const std::filesystem::path& studio,
                                   const std::string& subject_id) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(subject_id, "subject"));
  const auto path = DataKeyPath(studio, subject_id);
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) {
    return MakeError("no data key to destroy (already destroyed?)", path.string(), "nothing to do");
  }
  const std::string digest = Sha256Hex(*bytes);
  // Overwrite in place before unlinking so the wrapped key does not linger in the file's blocks.
  Bytes noise(bytes->size());
  randombytes_buf(noise.data(), noise.size());
  const int fd = ::open(path.c_str(), O_WRONLY);
  bool overwritten = false;
  if (fd >= 0) {
    overwritten = ::write(fd, noise.data(), noise.size()) == static_cast<ssize_t>(noise.size()) &&
                  ::fsync(fd) == 0;
    ::close(fd);
  }
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (ec || !overwritten) {
    return MakeError("could not destroy the data key: " + (ec ? ec.message() : "write failed"),
                     path.string(), "check the file's permissions and retry");
  }
  const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return digest;
}

}  // namespace twinrig::consent
