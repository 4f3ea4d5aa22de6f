// The studio's signing keys and each subject's keys.
//  - studio key: <studio>/keys/studio.key, plus keys/studio.pub in minisign format and the
//    C2PA certificates keys/c2pa-root.pem and keys/c2pa-signing.pem (c2pa_signer.h);
//  - technician keys: <studio>/keys/technicians/<id>.key;
//  - subject keys: <studio>/subjects/<subject>/subject.key, created at the subject's first consent;
//  - a guardian's key: <studio>/subjects/<subject>/guardian.key, created with the consent naming
//  them;
//  - data keys (encryption at rest): <studio>/keys/data/<subject>.dek, wrapped by a key derived
//    from the studio key, destroyed to crypto-shred a subject's files.
// Every private key file is sealed with its holder's passphrase (Argon2id) and written with mode
// 0600; a stolen disk gives no usable key. Public keys are registered in the catalog
// (public_keys) and exported as a JSON key ring for verifiers who have nothing else.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "consent/canonical_json.h"
#include "consent/crypto.h"
#include "store/catalog.h"
#include "util/result.h"

namespace twinrig::consent {

inline constexpr std::string_view kRoleStudio = "studio";
inline constexpr std::string_view kRoleTechnician = "technician";
inline constexpr std::string_view kRoleSubject = "subject";
// A minor's (or an incapacitated subject's) guardian or legal representative (R23): signs beside
// the subject wherever the subject signs. Their key is kept with the subject's.
inline constexpr std::string_view kRoleGuardian = "guardian";

struct KeyInfo {
  std::string kid;
  std::string role;   // studio, technician, subject, guardian
  std::string owner;  // "studio", the technician id, or the subject id (subject and guardian)
  PublicKey public_key{};
  std::string retired_at;  // RFC 3339; empty while the key is in use
};

// Names a file, installed outside the studio folder, listing the studio key ids (one a line) the
// studio trusts; when set, KeyRing::FromCatalog refuses any other studio key in the catalog.
inline constexpr std::string_view kStudioPinVariable = "TWINRIG_STUDIO_PIN";

// The public keys a verifier trusts: from the catalog, or from an exported key-ring file.
class KeyRing {
 public:
  void Add(KeyInfo key);
  [[nodiscard]] const KeyInfo* Find(const std::string& kid) const;
  [[nodiscard]] const KeyInfo* FindOwner(std::string_view role, const std::string& owner) const;
  [[nodiscard]] const std::vector<KeyInfo>& keys() const { return keys_; }
  [[nodiscard]] Json ToJson() const;
  static Result<KeyRing> FromJson(const Json& json, const std::string& where);
  static Result<KeyRing> FromFile(const std::filesystem::path& path);
  static Result<KeyRing> FromCatalog(store::Catalog& catalog);

 private:
  std::vector<KeyInfo> keys_;
};

// Every studio key in `ring` must be among `pinned` (key ids), and one must be there.
Status CheckPinnedStudioKeys(const KeyRing& ring, const std::vector<std::string>& pinned,
                             const std::string& where);

// Retires a key now: records signed with it afterwards do not verify, and it signs nothing more.
Status RetireKey(store::Catalog& catalog, const std::string& kid);

std::filesystem::path KeyFilePath(const std::filesystem::path& studio, std::string_view role,
                                  const std::string& owner);

// Creates a key pair, seals the private half under `passphrase`, writes the key file (0600) and
// registers the public key. Refuses when the owner already has a key file.
Result<KeyInfo> CreateKey(store::Catalog& catalog, std::string_view role, const std::string& owner,
                          const std::string& passphrase, KdfStrength strength);
// Unseals a private key; checks that it matches the public key registered for it.
Result<SecretKey> UnsealKey(store::Catalog& catalog, std::string_view role,
                            const std::string& owner, const std::string& passphrase);

// Technician and subject ids are used in file names: letters, digits, '-', '_' and '.' only.
Status CheckOwnerId(const std::string& id, const std::string& what);

// --- per-subject data keys ----------------------------------------------------------------------
std::filesystem::path DataKeyPath(const std::filesystem::path& studio,
                                  const std::string& subject_id);
// Loads the subject's data key, creating it on first use. The key is wrapped (XChaCha20-Poly1305)
// under a key derived from the studio key, with the subject id as associated data.
Result<DataKey> LoadOrCreateDataKey(const std::filesystem::path& studio,
                                    const std::string& subject_id, const SecretKey& studio_key);
Result<DataKey> LoadDataKey(const std::filesystem::path& studio, const std::string& subject_id,
                            const SecretKey& studio_key);
// Crypto-shredding: overwrites the wrapped key with random bytes, fsyncs, removes the file.
// Returns the SHA-256 of the wrapped key that was destroyed (for the destruction record).
Result<std::string> DestroyDataKey(const std::filesystem::path& studio,
                                   const std::string& subject_id);

}  // namespace twinrig::consent
