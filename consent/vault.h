// The session vault: encryption at rest of a subject's raw captures and twin. Closing the vault
// encrypts every file under sessions/<id>/images/ and sessions/<id>/twin/ with the subject's data
// key into sessions/<id>/vault/<same relative path>.enc and removes the plaintext, so erasing the
// subject (destroying the data key, EraseSubject) leaves nothing readable. Opening it decrypts the
// files back and checks them against the vault's index and against the consent chain (the capture
// seal for images, the subject's approval for twin files).
//
//   sessions/<id>/vault/index.json                      {path, size, sha256, enc_sha256} per file
//   sessions/<id>/vault/images/<serial>/take-0001.jpg.enc
//   sessions/<id>/vault/twin/full/twin.glb.enc
//
// Each file's secretstream associated data is "<session id>/<relative path>", so a ciphertext
// moved to another name or session does not decrypt. One close or open runs per session at a time
// (<studio>/locks/<id>.vault.lock); another is refused and told who holds the lock.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "consent/crypto.h"
#include "store/catalog.h"
#include "util/result.h"

namespace twinrig::consent {

std::filesystem::path VaultFolder(const std::filesystem::path& studio,
                                  const std::string& session_id);

// What a close or an open did. Paths are relative to the session folder ("images/CAM0/0001.jpg").
struct VaultReport {
  std::string session_id;
  std::string subject_id;
  std::vector<std::string> encrypted;  // close: newly encrypted, plaintext removed
  std::vector<std::string> already;    // close: already in the vault, plaintext removed
                                       // open: plaintext already there and identical
  std::vector<std::string> decrypted;  // open: written out
  std::uint64_t bytes = 0;             // plaintext bytes encrypted or decrypted
  // close: files removed from reconstruction/ (COLMAP's copies of the raw images and its models
  // are derived from the captures, so they do not outlive the plaintext).
  std::uintmax_t reconstruction_removed = 0;
  std::size_t checked_against_seal = 0;      // open: images matched with the capture seal
  std::size_t checked_against_approval = 0;  // open: twin files matched with the approval
  std::filesystem::path out_dir;             // open: where the files went (the session folder)
};

// Encrypts everything under images/ and twin/ into vault/ (see above). Each .enc is written
// atomically, decrypted back and compared (SHA-256) with the plaintext before the plaintext is
// removed; on any failure the plaintext stays and the error names the file. Files already in the
// vault with the same content are not encrypted again; a plaintext file that differs from its vault
// copy is refused. Refuses a session without consent, with a record waiting for signatures, or
// whose subject was erased. Audited ("vault.close").
Result<VaultReport> CloseVault(store::Catalog& catalog, const std::string& session_id,
                               const SecretKey& studio_key);

// Decrypts the vault back into the session folder (or into `out_dir` when not empty, keeping the
// relative paths). Each file is checked against index.json and, when the chain has them, against
// the capture seal (images) and the subject's approval (twin files); a tampered, swapped or missing
// file is an error naming it and nothing unverified is left behind. A plaintext file already in
// place is never overwritten. After erasure the error says the subject was erased. Audited
// ("vault.open").
Result<VaultReport> OpenVault(store::Catalog& catalog, const std::string& session_id,
                              const SecretKey& studio_key, const std::filesystem::path& out_dir);

struct VaultStatus {
  std::string session_id;
  std::string subject_id;
  std::size_t plaintext_files = 0;  // under images/ and twin/
  std::size_t encrypted_files = 0;  // listed in vault/index.json
  std::size_t missing_files = 0;    // listed in the index but without their .enc
  bool reconstruction_present = false;
  bool key_present = false;  // the subject's wrapped data key exists
  bool erased = false;       // the chain records the destruction of the subject's data
};
// Needs no key: counts files and looks at the chain.
Result<VaultStatus> GetVaultStatus(store::Catalog& catalog, const std::string& session_id);

// Removes every copy of the subject's capture from a session: images/, twin/, reconstruction/ and
// vault/ (for a destruction: rejection of the twin or erasure). consent/, session.json, the journal
// and the manifest stay as the record of what was done. Returns the number of entries removed.
Result<std::uintmax_t> RemoveSessionPlaintext(const std::filesystem::path& studio,
                                              const std::string& session);

// Every place a session's images or twin can be, for an erasure: RemoveSessionPlaintext (images,
// twin, reconstruction workspace with COLMAP's databases, vault), the review station's exports
// (<studio>/exports/<session>/) and the files of every export the audit log records, wherever
// they were written. Returns the number of entries removed.
Result<std::uintmax_t> RemoveEveryCopy(store::Catalog& catalog, const std::string& session);

}  // namespace twinrig::consent
