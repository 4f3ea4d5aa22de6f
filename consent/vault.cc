#include "consent/vault.h"

#include "consent/gates.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include "consent/audit.h"
#include "consent/canonical_json.h"
#include "consent/keys.h"
#include "consent/records.h"
#include "util/file_lock.h"
#include "util/files.h"
#include "util/logging.h"

namespace twinrig::consent {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kIndexFormat = "twinrig-session-vault";
constexpr int kIndexVersion = 1;
// The parts of a session that hold the subject's likeness and go into the vault.
constexpr std::array<const char*, 2> kVaultedParts = {"images", "twin"};

std::string Where(const std::string& session_id) { return "session " + session_id; }

fs::path SessionFolder(const fs::path& studio, const std::string& session_id) {
  return studio / "sessions" / session_id;
}

fs::path EncPath(const fs::path& vault, const std::string& rel) { return vault / (rel + ".enc"); }

// Binds a ciphertext to its session and its place in it: a file moved to another name or another
// session's vault fails authentication.
std::string Context(const std::string& session_id, const std::string& rel) {
  return session_id + "/" + rel;
}

// A vault path is relative, inside images/ or twin/, without "." or ".." components.
Status CheckRelativePath(const std::string& rel, const std::string& where) {
  const fs::path p(rel);
  bool inside = false;
  for (const char* part : kVaultedParts) {
    if (rel.rfind(std::string(part) + "/", 0) == 0) inside = true;
  }
  bool clean = !p.is_absolute() && !rel.empty();
  for (const auto& c : p) {
    if (c == "." || c == ".." || c.empty()) clean = false;
  }
  if (!inside || !clean) {
    return MakeError("the vault index lists a path outside images/ and twin/: \"" + rel + "\"",
                     where, "the index was edited; restore it from a backup");
  }
  return OkStatus();
}

struct IndexEntry {
  std::string path;
  std::uint64_t size = 0;
  std::string sha256;
  std::string enc_sha256;
};
using Index = std::map<std::string, IndexEntry>;

fs::path IndexPath(const fs::path& vault) { return vault / "index.json"; }

// The index of a vault; empty when the vault has never been closed.
Result<Index> LoadIndex(const fs::path& vault, const std::string& session_id,
                        const std::string& subject_id) {
  Index index;
  const fs::path path = IndexPath(vault);
  if (!fs::exists(path)) return index;
  auto text = ReadFileText(path);
  if (!text.ok()) return text.error();
  auto json = ParseStrict(*text, path.string());
  if (!json.ok()) return json.error();
  const Json& j = *json;
  if (!j.is_object() || j.value("format", "") != kIndexFormat ||
      j.value("version", 0) != kIndexVersion || !j["files"].is_array()) {
    return MakeError("not a twinrig vault index (version 1)", path.string(),
                     "restore vault/index.json from a backup");
  }
  if (j.value("session", "") != session_id || j.value("subject", "") != subject_id) {
    return MakeError("the vault index belongs to session " + j.value("session", "") +
                         " of subject " + j.value("subject", ""),
                     path.string(), "this vault was copied from another session; restore it");
  }
  for (const Json& f : j["files"]) {
    IndexEntry e;
    if (!f.is_object() || !f["path"].is_string() || !f["size"].is_number_unsigned() ||
        !f["sha256"].is_string() || !f["enc_sha256"].is_string()) {
      return MakeError("a malformed entry in the vault index", path.string(),
                       "restore vault/index.json from a backup");
    }
    e.path = f["path"].get<std::string>();
    e.size = f["size"].get<std::uint64_t>();
    e.sha256 = f["sha256"].get<std::string>();
    e.enc_sha256 = f["enc_sha256"].get<std::string>();
    TWINRIG_RETURN_IF_ERROR(CheckRelativePath(e.path, path.string()));
    if (!index.emplace(e.path, e).second) {
      return MakeError("the vault index lists " + e.path + " twice", path.string(),
                       "restore vault/index.json from a backup");
    }
  }
  return index;
}

Status SaveIndex(const fs::path& vault, const std::string& session_id,
                 const std::string& subject_id, const Index& index) {
  Json files = Json::array();
  for (const auto& [path, e] : index) {
    files.push_back(
        {{"path", e.path}, {"size", e.size}, {"sha256", e.sha256}, {"enc_sha256", e.enc_sha256}});
  }
  const Json j = {{"format", kIndexFormat},
                  {"version", kIndexVersion},
                  {"session", session_id},
                  {"subject", subject_id},
                  {"files", files}};
  return WriteFileAtomic(IndexPath(vault), j.dump(2) + "\n");
}

// Regular files under images/ and twin/ of a session, as paths relative to the session folder.
Result<std::vector<std::string>> ListPlaintext(const fs::path& session) {
  std::vector<std::string> files;
  for (const char* part : kVaultedParts) {
    const fs::path root = session / part;
    std::error_code ec;
    if (!fs::exists(root, ec)) continue;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file())
        files.push_back(fs::relative(it->path(), session).generic_string());
    }
    if (ec) return MakeError("cannot list: " + ec.message(), root.string(), "check permissions");
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Removes the folders left empty under `root` (deepest first), then `root` if it is empty.
void RemoveEmptyFolders(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return;
  std::vector<fs::path> dirs;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory()) dirs.push_back(it->path());
  }
  std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
    return a.native().size() > b.native().size();
  });
  dirs.push_back(root);
  for (const auto& d : dirs) fs::remove(d, ec);  // fails, as intended, on a folder with files
}

// Makes renames into `dir` durable: the plaintext is removed only after the ciphertexts' directory
// entries are on disk.
Status FsyncFolder(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!synced)
    return MakeError("could not flush the folder to disk", dir.string(), "check the disk");
  return OkStatus();
}

// Wipes a data key when it goes out of scope.
class KeyWiper {
 public:
  explicit KeyWiper(DataKey& key) : key_(key) {}
  ~KeyWiper() { sodium_memzero(key_.data(), key_.size()); }
  KeyWiper(const KeyWiper&) = delete;
  KeyWiper& operator=(const KeyWiper&) = delete;

 private:
  DataKey& key_;
};

// One audit entry per close or open, allowed or refused (as the consent gates do).
Status Audit(store::Catalog& catalog, const std::string& event, bool allowed, Json details,
             const std::string& reason) {
  details["decision"] = allowed ? "allowed" : "refused";
  if (!reason.empty()) details["reason"] = reason;
  auto seq = AuditAppend(catalog, event, details);
  if (!seq.ok()) return seq.error();
  return OkStatus();
}

// Records a refusal and returns its error; an audit failure is returned instead.
// One vault operation per session at a time: two closes, or a close and an open, would each
// remove or write what the other is checking.
// The lock file lives outside the session (<studio>/locks/), so that an erasure leaves nothing
// but the consent records in it. (No lock where the session has no folder: there is nothing to
// protect, and the operation itself says what is missing.)
Result<std::optional<FileLock>> LockVault(const fs::path& studio, const std::string& session_id,
                                          const std::string& holder) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(session_id, "session"));
  const fs::path session = SessionFolder(studio, session_id);
  std::error_code ec;
  if (!fs::is_directory(session, ec)) return std::optional<FileLock>();
  const fs::path locks = studio / "locks";
  fs::create_directories(locks, ec);
  auto lock = FileLock::TryLock(locks / (session_id + ".vault.lock"), holder);
  if (!lock.ok()) {
    return MakeError(
        "another vault operation on session " + session_id + " is running: " + lock.error().what,
        lock.error().where, lock.error().todo);
  }
  return std::optional<FileLock>(std::move(*lock));
}

Error Refuse(store::Catalog& catalog, const std::string& event, const std::string& session_id,
             const Error& error) {
  Log().With("session", session_id).Warn("{} refused: {}", event, error.what);
  Status audited = Audit(catalog, event, false, {{"session_id", session_id}},
                         error.what + (error.where.empty() ? "" : " (" + error.where + ")"));
  if (!audited.ok()) return audited.error();
  return error;
}

Error ErasedError(const std::string& session_id, const std::string& subject_id) {
  return MakeError("subject " + subject_id +
                       " was erased: their data key was destroyed, so the vault can never be "
                       "opened again",
                   Where(session_id),
                   "nothing can be recovered; the destruction record in the session's consent/ "
                   "folder documents it");
}

// The chain of a session with a consent record, or an Error.
Result<Chain> LoadChain(store::Catalog& catalog, const std::string& session_id) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(session_id, "session"));
  auto chain = Chain::ForSession(catalog, session_id);
  if (!chain.ok()) {
    return MakeError("the consent records do not verify: " + chain.error().what,
                     chain.error().where, chain.error().todo);
  }
  if (chain->records().empty()) {
    return MakeError("the session has no consent record, so there is no subject to encrypt for",
                     Where(session_id),
                     "the subject signs consent first (`twinrig consent new`, then `twinrig "
                     "consent sign`)");
  }
  return chain;
}

// Decrypts `enc` to a scratch file and returns the plaintext's SHA-256; the scratch file is
// removed whatever happens.
Result<std::string> DecryptedSha256(const DataKey& key, const std::string& context,
                                    const fs::path& enc, const fs::path& scratch) {
  Status decrypted = DecryptFile(key, context, enc, scratch);
  Result<std::string> digest =
      decrypted.ok() ? Sha256File(scratch) : Result<std::string>(decrypted.error());
  std::error_code ec;
  fs::remove(scratch, ec);
  return digest;
}

// Path (relative to the session) -> size and SHA-256, as a consent record lists them.
using RecordedFiles = std::map<std::string, std::pair<std::uint64_t, std::string>>;

// Hashes from a record's file list: the capture seal (paths relative to the session) or the
// twin approval (relative to twin/, so `prefix` is "twin/").
RecordedFiles RecordHashes(const Json& files, const std::string& prefix) {
  RecordedFiles out;
  if (!files.is_array()) return out;
  for (const Json& f : files) {
    if (!f.is_object() || !f["path"].is_string()) continue;
    out[prefix + f["path"].get<std::string>()] = {f.value("size", std::uint64_t{0}),
                                                  f.value("sha256", "")};
  }
  return out;
}

// What the first pass of CloseVault found to encrypt: a plaintext file, its size and hash.
struct PlannedFile {
  std::string rel;
  std::uint64_t size = 0;
  std::string sha256;
};

// Encrypts each planned file into the vault with the subject's data key, checks that it decrypts
// back to the same bytes and commits the index. On failure the new ciphertexts (not yet in the
// index) go; every plaintext stays.
Status EncryptPlanned(const fs::path& studio, const std::string& session_id,
                      const std::string& subject_id, const SecretKey& studio_key,
                      const std::vector<PlannedFile>& to_encrypt, Index& index,
                      VaultReport& report) {
  const fs::path session = SessionFolder(studio, session_id);
  const fs::path vault = VaultFolder(studio, session_id);
  if (!index.empty() && !fs::exists(DataKeyPath(studio, subject_id))) {
    return MakeError("the vault holds files but the subject's data key is missing",
                     DataKeyPath(studio, subject_id).string(),
                     "restore keys/data from a backup; a new key would split the vault");
  }
  auto key = LoadOrCreateDataKey(studio, subject_id, studio_key);
  if (!key.ok()) return key.error();
  const KeyWiper wipe(*key);
  const fs::path scratch = vault / ".verify.tmp";
  std::vector<fs::path> written;
  auto fail = [&](const Error& error) {
    std::error_code ec;
    for (const auto& p : written) fs::remove(p, ec);
    return error;
  };
  for (const auto& t : to_encrypt) {
    const fs::path enc = EncPath(vault, t.rel);
    std::error_code ec;
    fs::create_directories(enc.parent_path(), ec);
    if (ec) {
      return fail(MakeError("cannot create the vault folder: " + ec.message(),
                            enc.parent_path().string(), "check permissions and free space"));
    }
    Status encrypted = EncryptFile(*key, Context(session_id, t.rel), session / t.rel, enc);
    if (!encrypted.ok()) return fail(encrypted.error());
    written.push_back(enc);
    auto check = DecryptedSha256(*key, Context(session_id, t.rel), enc, scratch);
    if (!check.ok() || *check != t.sha256) {
      return fail(
          MakeError("the encrypted copy does not decrypt back to the same bytes" +
                        (check.ok() ? std::string() : ": " + check.error().what),
                    (session / t.rel).string(),
                    "the plaintext was kept; check the disk (or whether the file changed while "
                    "encrypting) and close the vault again"));
    }
    auto enc_digest = Sha256File(enc);
    if (!enc_digest.ok()) return fail(enc_digest.error());
    index[t.rel] = {t.rel, t.size, t.sha256, *enc_digest};
    report.encrypted.push_back(t.rel);
    report.bytes += t.size;
  }
  std::set<fs::path> folders;
  for (const auto& p : written) folders.insert(p.parent_path());
  for (const auto& folder : folders) {
    Status synced = FsyncFolder(folder);
    if (!synced.ok()) return fail(synced.error());
  }
  // The index is committed before any plaintext goes, so a crash in between loses nothing.
  Status saved = SaveIndex(vault, session_id, subject_id, index);
  if (!saved.ok()) return fail(saved.error());
  return OkStatus();
}

// Once the vault holds them: removes the plaintext of every vaulted file and the reconstruction
// workspace.
Status RemoveVaultedPlaintext(const fs::path& session, VaultReport& report) {
  std::vector<std::string> removed = report.encrypted;
  removed.insert(removed.end(), report.already.begin(), report.already.end());
  for (const auto& rel : removed) {
    std::error_code ec;
    fs::remove(session / rel, ec);
    if (ec) {
      return MakeError("encrypted, but the plaintext could not be removed: " + ec.message(),
                       (session / rel).string(), "check permissions and close the vault again");
    }
  }
  for (const char* part : kVaultedParts) RemoveEmptyFolders(session / part);
  {
    std::error_code ec;
    const auto n = fs::remove_all(session / "reconstruction", ec);
    if (ec) {
      return MakeError("could not remove the reconstruction workspace: " + ec.message(),
                       (session / "reconstruction").string(),
                       "check permissions and close the vault again");
    }
    report.reconstruction_removed = n;
  }
  return OkStatus();
}

// The hashes the consent chain vouches for: the capture seal's and those of the approved twin.
struct ChainHashes {
  explicit ChainHashes(const EffectiveState& state)
      : sealed(state.seal != nullptr ? RecordHashes(state.seal->body["manifest"]["files"], "")
                                     : RecordedFiles{}),
        approved(state.twin != nullptr && state.twin_approved
                     ? RecordHashes(state.twin->body["twin"]["files"], "twin/")
                     : RecordedFiles{}) {}

  // Checks plaintext bytes (by hash) against what the chain vouches for.
  Status Check(const std::string& rel, std::uint64_t size, const std::string& sha,
               const fs::path& where, VaultReport& report) const {
    if (auto s = sealed.find(rel); s != sealed.end()) {
      if (s->second.first != size || s->second.second != sha) {
        return MakeError("the file differs from the one sealed after capture (SHA-256 mismatch)",
                         where.string(), "the vault was altered; restore it from a backup");
      }
      ++report.checked_against_seal;
    }
    if (auto a = approved.find(rel); a != approved.end()) {
      if (a->second.first != size || a->second.second != sha) {
        return MakeError("the file differs from the twin the subject approved (SHA-256 mismatch)",
                         where.string(), "the vault was altered; restore it from a backup");
      }
      ++report.checked_against_approval;
    }
    return OkStatus();
  }

  // A file the chain vouches for must come back: a vault without it was cut down.
  Status CheckNoneMissing(const Index& index, const fs::path& session,
                          const fs::path& out_dir) const {
    for (const RecordedFiles* hashes : {&sealed, &approved}) {
      for (const auto& [rel, expected] : *hashes) {
        if (index.contains(rel)) continue;
        const fs::path target = out_dir / rel;
        auto digest = Sha256File(target);
        if (!digest.ok() || *digest != expected.second) {
          return MakeError("a file recorded in the consent chain is not in the vault",
                           (session / rel).string(), "restore the vault folder from a backup");
        }
      }
    }
    return OkStatus();
  }

  RecordedFiles sealed;
  RecordedFiles approved;
};

// Decrypts one vault file to the output folder: never over a different file, checked against the
// index and the chain, moved into place only once every check passed.
Status RestoreFile(const DataKey& key, const std::string& session_id, const fs::path& vault,
                   const std::string& rel, const IndexEntry& entry, const ChainHashes& vouched,
                   VaultReport& report) {
  const fs::path enc = EncPath(vault, rel);
  const fs::path target = report.out_dir / rel;
  std::error_code ec;
  if (!fs::exists(enc, ec)) {
    return MakeError("the encrypted file is missing from the vault", enc.string(),
                     "restore the vault folder from a backup");
  }
  if (fs::exists(target, ec)) {
    // Never overwrite: an identical file is fine, a different one is refused.
    auto digest = Sha256File(target);
    if (!digest.ok()) return digest.error();
    if (*digest != entry.sha256) {
      return MakeError("a different file is already in place; it is not overwritten",
                       target.string(), "move it away, then open the vault again");
    }
    TWINRIG_RETURN_IF_ERROR(vouched.Check(rel, fs::file_size(target, ec), *digest, target, report));
    report.already.push_back(rel);
    return OkStatus();
  }
  fs::create_directories(target.parent_path(), ec);
  if (ec) {
    return MakeError("cannot create the folder: " + ec.message(), target.parent_path().string(),
                     "check permissions");
  }
  // Decrypted beside the target and moved into place only once every check passed.
  const fs::path pending = target.string() + ".vault-open";
  auto discard = [&](const Error& error) {
    std::error_code ignored;
    fs::remove(pending, ignored);
    return error;
  };
  Status decrypted = DecryptFile(key, Context(session_id, rel), enc, pending);
  if (!decrypted.ok()) {
    return discard(MakeError(
        "the encrypted file does not open: it was altered, truncated, or swapped with another "
        "file of the vault",
        enc.string(), "restore this file (or the whole vault folder) from a backup"));
  }
  auto digest = Sha256File(pending);
  if (!digest.ok()) return discard(digest.error());
  const std::uint64_t size = fs::file_size(pending, ec);
  if (*digest != entry.sha256 || size != entry.size) {
    return discard(MakeError("the decrypted file does not match the vault index (SHA-256)",
                             enc.string(), "restore the vault folder from a backup"));
  }
  if (Status ok = vouched.Check(rel, size, *digest, enc, report); !ok.ok()) {
    return discard(ok.error());
  }
  fs::rename(pending, target, ec);
  if (ec) {
    return discard(MakeError("could not move the decrypted file into place: " + ec.message(),
                             target.string(), "check permissions"));
  }
  report.decrypted.push_back(rel);
  report.bytes += size;
  return OkStatus();
}

}  // namespace

fs::path VaultFolder(const fs::path& studio, const std::string& session_id) {
  return SessionFolder(studio, session_id) / "vault";
}

Result<VaultReport> CloseVault(store::Catalog& catalog, const std::string& session_id,
                               const SecretKey& studio_key) {
  constexpr const char* kEvent = "vault.close";
  auto lock = LockVault(catalog.studio(), session_id, "twinrig vault close");
  if (!lock.ok()) return Refuse(catalog, kEvent, session_id, lock.error());
  auto chain = LoadChain(catalog, session_id);
  if (!chain.ok()) return Refuse(catalog, kEvent, session_id, chain.error());
  const EffectiveState& state = chain->state();
  const StoredRecord& newest = chain->records().back();
  if (!newest.complete) {
    return Refuse(catalog, kEvent, session_id,
                  MakeError("record " + std::to_string(newest.seq) + " (" + newest.type +
                                ") waits for signatures: nothing is encrypted while the chain "
                                "is unfinished",
                            newest.path.string(),
                            "sign it with `twinrig consent sign`, then close the vault"));
  }
  if (state.destroyed) {
    return Refuse(catalog, kEvent, session_id, ErasedError(session_id, state.subject_id));
  }
  VaultReport report;
  report.session_id = session_id;
  report.subject_id = state.subject_id;
  const fs::path session = SessionFolder(catalog.studio(), session_id);
  const fs::path vault = VaultFolder(catalog.studio(), session_id);
  auto index = LoadIndex(vault, session_id, state.subject_id);
  if (!index.ok()) return Refuse(catalog, kEvent, session_id, index.error());
  auto plain = ListPlaintext(session);
  if (!plain.ok()) return Refuse(catalog, kEvent, session_id, plain.error());

  // First pass: hash every plaintext file and decide what needs encrypting. Nothing is written.
  std::vector<PlannedFile> to_encrypt;
  for (const auto& rel : *plain) {
    const fs::path file = session / rel;
    auto digest = Sha256File(file);
    if (!digest.ok()) return Refuse(catalog, kEvent, session_id, digest.error());
    std::error_code ec;
    const std::uint64_t size = fs::file_size(file, ec);
    if (ec) {
      return Refuse(catalog, kEvent, session_id,
                    MakeError("cannot read: " + ec.message(), file.string(), "check permissions"));
    }
    auto known = index->find(rel);
    if (known != index->end()) {
      if (known->second.sha256 != *digest) {
        return Refuse(catalog, kEvent, session_id,
                      MakeError("the file differs from its copy in the vault; it is not replaced",
                                file.string(),
                                "move the file away (or remove it if the vault copy is the one "
                                "to keep), then close the vault again"));
      }
      auto enc_digest = Sha256File(EncPath(vault, rel));
      if (enc_digest.ok() && *enc_digest == known->second.enc_sha256) {
        report.already.push_back(rel);
        continue;
      }
      // The vault copy is gone or damaged while the plaintext is intact: encrypt it again.
    }
    to_encrypt.push_back({rel, size, *digest});
  }

  if (!to_encrypt.empty()) {
    Status encrypted = EncryptPlanned(catalog.studio(), session_id, state.subject_id, studio_key,
                                      to_encrypt, *index, report);
    if (!encrypted.ok()) return Refuse(catalog, kEvent, session_id, encrypted.error());
  }

  if (Status removed = RemoveVaultedPlaintext(session, report); !removed.ok()) {
    return Refuse(catalog, kEvent, session_id, removed.error());
  }
  Log()
      .With("session", session_id)
      .Info(
          "vault closed: {} files encrypted, {} already in the vault, {} reconstruction entries "
          "removed",
          report.encrypted.size(), report.already.size(), report.reconstruction_removed);
  TWINRIG_RETURN_IF_ERROR(Audit(catalog, kEvent, true,
                                {{"session_id", session_id},
                                 {"subject_id", state.subject_id},
                                 {"encrypted", report.encrypted.size()},
                                 {"already_in_vault", report.already.size()},
                                 {"bytes", report.bytes},
                                 {"reconstruction_removed", report.reconstruction_removed}},
                                ""));
  TWINRIG_RETURN_IF_ERROR(AuditCheckpoint(catalog, studio_key));
  return report;
}

Result<VaultReport> OpenVault(store::Catalog& catalog, const std::string& session_id,
                              const SecretKey& studio_key, const fs::path& out_dir) {
  constexpr const char* kEvent = "vault.open";
  auto lock = LockVault(catalog.studio(), session_id, "twinrig vault open");
  if (!lock.ok()) return Refuse(catalog, kEvent, session_id, lock.error());
  auto chain = LoadChain(catalog, session_id);
  if (!chain.ok()) return Refuse(catalog, kEvent, session_id, chain.error());
  const EffectiveState& state = chain->state();
  const fs::path session = SessionFolder(catalog.studio(), session_id);
  const fs::path vault = VaultFolder(catalog.studio(), session_id);
  if (state.destroyed) {
    return Refuse(catalog, kEvent, session_id, ErasedError(session_id, state.subject_id));
  }
  if (Status allowed = CheckProcessingAllowed(catalog, session_id, "vault open"); !allowed.ok()) {
    return Refuse(catalog, kEvent, session_id, allowed.error());
  }
  const fs::path key_path = DataKeyPath(catalog.studio(), state.subject_id);
  if (fs::exists(IndexPath(vault)) && !fs::exists(key_path)) {
    // Not recorded as an erasure in this chain: the key file was lost or moved, not shredded.
    return Refuse(catalog, kEvent, session_id,
                  MakeError("the subject's data key is missing, though the consent chain records "
                            "no erasure",
                            key_path.string(),
                            "restore keys/data/" + state.subject_id +
                                ".dek from the studio's backup, then open the vault again"));
  }
  if (!fs::exists(IndexPath(vault))) {
    return Refuse(catalog, kEvent, session_id,
                  MakeError("the session has no vault (it was never closed)", vault.string(),
                            "close it first with `twinrig vault close`"));
  }
  auto index = LoadIndex(vault, session_id, state.subject_id);
  if (!index.ok()) return Refuse(catalog, kEvent, session_id, index.error());
  auto key = LoadDataKey(catalog.studio(), state.subject_id, studio_key);
  if (!key.ok()) return Refuse(catalog, kEvent, session_id, key.error());
  const KeyWiper wipe(*key);

  const ChainHashes vouched{state};
  VaultReport report;
  report.session_id = session_id;
  report.subject_id = state.subject_id;
  report.out_dir = out_dir.empty() ? session : out_dir;
  for (const auto& [rel, entry] : *index) {
    Status restored = RestoreFile(*key, session_id, vault, rel, entry, vouched, report);
    if (!restored.ok()) return Refuse(catalog, kEvent, session_id, restored.error());
  }
  if (Status whole = vouched.CheckNoneMissing(*index, session, report.out_dir); !whole.ok()) {
    return Refuse(catalog, kEvent, session_id, whole.error());
  }
  Log()
      .With("session", session_id)
      .Info("vault opened: {} files decrypted to {}", report.decrypted.size(),
            report.out_dir.string());
  TWINRIG_RETURN_IF_ERROR(Audit(catalog, kEvent, true,
                                {{"session_id", session_id},
                                 {"subject_id", state.subject_id},
                                 {"decrypted", report.decrypted.size()},
                                 {"already_in_place", report.already.size()},
                                 {"bytes", report.bytes},
                                 {"into_session", out_dir.empty()},
                                 {"checked_against_seal", report.checked_against_seal},
                                 {"checked_against_approval", report.checked_against_approval}},
                                ""));
  TWINRIG_RETURN_IF_ERROR(AuditCheckpoint(catalog, studio_key));
  return report;
}

Result<VaultStatus> GetVaultStatus(store::Catalog& catalog, const std::string& session_id) {
  auto chain = LoadChain(catalog, session_id);
  if (!chain.ok()) return chain.error();
  VaultStatus status;
  status.session_id = session_id;
  status.subject_id = chain->state().subject_id;
  status.erased = chain->state().destroyed;
  status.key_present = fs::exists(DataKeyPath(catalog.studio(), status.subject_id));
  const fs::path session = SessionFolder(catalog.studio(), session_id);
  auto plain = ListPlaintext(session);
  if (!plain.ok()) return plain.error();
  status.plaintext_files = plain->size();
  std::error_code ec;
  status.reconstruction_present = fs::exists(session / "reconstruction", ec);
  const fs::path vault = VaultFolder(catalog.studio(), session_id);
  auto index = LoadIndex(vault, session_id, status.subject_id);
  if (!index.ok()) return index.error();
  status.encrypted_files = index->size();
  for (const auto& [rel, entry] : *index) {
    if (!fs::exists(EncPath(vault, rel), ec)) ++status.missing_files;
  }
  return status;
}

Result<std::uintmax_t> RemoveSessionPlaintext(const fs::path& studio, const std::string& session) {
  TWINRIG_RETURN_IF_ERROR(CheckOwnerId(session, "session"));
  std::uintmax_t removed = 0;
  for (const char* part : {"images", "twin", "reconstruction", "vault"}) {
    const fs::path path = SessionFolder(studio, session) / part;
    std::error_code ec;
    const auto n = fs::remove_all(path, ec);
    if (ec) {
      return MakeError("could not remove the subject's files: " + ec.message(), path.string(),
                       "check the folder's permissions, remove it by hand and record it");
    }
    removed += n;
  }
  return removed;
}

Result<std::uintmax_t> RemoveEveryCopy(store::Catalog& catalog, const std::string& session) {
  auto removed = RemoveSessionPlaintext(catalog.studio(), session);
  if (!removed.ok()) return removed.error();
  auto remove = [&](const fs::path& path) -> Status {
    std::error_code ec;
    *removed += fs::remove_all(path, ec);
    if (ec) {
      return MakeError("could not remove a copy of the subject's data: " + ec.message(),
                       path.string(), "remove it by hand, then run the erasure again");
    }
    return OkStatus();
  };
  // The review station's exports.
  TWINRIG_RETURN_IF_ERROR(remove(catalog.studio() / "exports" / session));
  // Every export the audit log records, wherever it was written: the files it wrote.
  TWINRIG_ASSIGN_OR_RETURN(const auto copies, catalog.ExportCopiesOfSession(session));
  for (const auto& copy : copies) {
    const fs::path out = copy.out;
    const Json written = Json::parse(copy.written, nullptr, false);
    if (out.empty() || !written.is_array()) continue;
    for (const auto& rel : written) {
      if (!rel.is_string()) continue;
      const fs::path path = (out / rel.get<std::string>()).lexically_normal();
      // Only what lies inside the export's folder, whatever the log says.
      if (path.string().rfind(out.string() + "/", 0) != 0) continue;
      TWINRIG_RETURN_IF_ERROR(remove(path));
    }
    std::error_code ec;
    fs::remove(out, ec);  // only when empty: the folder may hold the studio's other files
  }
  return removed;
}

}  // namespace twinrig::consent
