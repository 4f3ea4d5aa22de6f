// The session vault: close encrypts a session's captures and twin and removes the plaintext; open
// brings back byte-identical files checked against the index, the seal and the approval; tampering,
// swapping and erasure are caught with errors naming the file or the subject.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "consent/vault.h"
#include "tests/consent/consent_fixture.h"
#include "util/file_lock.h"
#include "util/subprocess.h"

namespace twinrig::consent {
namespace {

namespace fs = std::filesystem;
using testing::Studio;

std::int64_t AuditCount(Studio& s, const std::string& event, const std::string& decision) {
  return s.Tamper().AuditCount(event, decision);
}

// Every regular file under `dir`, relative path -> bytes.
std::map<std::string, Bytes> Snapshot(const fs::path& dir) {
  std::map<std::string, Bytes> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) {
      files[fs::relative(e.path(), dir).generic_string()] = ReadFileBytes(e.path()).value();
    }
  }
  return files;
}

// Only the captured and twin files of a session (images/ and twin/).
std::map<std::string, Bytes> Likeness(const Studio& s, const std::string& session) {
  std::map<std::string, Bytes> out;
  for (const char* part : {"images", "twin"}) {
    for (auto& [rel, bytes] : Snapshot(s.SessionDir(session) / part)) {
      out[std::string(part) + "/" + rel] = bytes;
    }
  }
  return out;
}

// Consent, three sealed captures, a twin the subject approved, and a reconstruction workspace.
void Ready(Studio& s, const std::string& session) {
  s.ReadyForGrants(session, {});
  const fs::path recon = s.SessionDir(session) / "reconstruction" / "preview" / "images";
  fs::create_directories(recon);
  REQUIRE(WriteFileAtomic(recon / "CAM0.jpg", "raw image bytes of camera 0").ok());
}

void Swap(const fs::path& a, const fs::path& b) {
  const fs::path tmp = a.string() + ".swap";
  fs::rename(a, tmp);
  fs::rename(b, a);
  fs::rename(tmp, b);
}

fs::path Enc(const Studio& s, const std::string& session, const std::string& rel) {
  return VaultFolder(s.root, session) / (rel + ".enc");
}

TEST_CASE("closing the vault encrypts captures and twin, and opening restores them exactly",
          "[integration]") {
  Studio s;
  Ready(s, s.session);
  const auto before = Likeness(s, s.session);
  REQUIRE(before.size() == 5);  // three images, twin.glb, metrics.json
  REQUIRE(VerifyCaptureFiles(s.catalog, s.session).ok());

  auto closed = CloseVault(s.catalog, s.session, s.studio_key);
  INFO((closed.ok() ? "" : closed.error().Describe()));
  REQUIRE(closed.ok());
  CHECK(closed->subject_id == s.subject);
  CHECK(closed->encrypted.size() == 5);
  CHECK(closed->already.empty());
  CHECK(closed->reconstruction_removed >= 1);
  for (const char* part : {"images", "twin", "reconstruction"}) {
    CHECK_FALSE(fs::exists(s.SessionDir(s.session) / part));
  }
  CHECK(fs::exists(DataKeyPath(s.root, s.subject)));

  // The index lists each file with its plaintext and ciphertext hashes; no ciphertext holds the
  // plaintext.
  const fs::path vault = VaultFolder(s.root, s.session);
  const Json index = Json::parse(ReadFileText(vault / "index.json").value());
  CHECK(index["format"] == "twinrig-session-vault");
  CHECK(index["subject"] == s.subject);
  REQUIRE(index["files"].size() == 5);
  for (const Json& f : index["files"]) {
    const std::string rel = f["path"].get<std::string>();
    INFO(rel);
    REQUIRE(before.contains(rel));
    CHECK(f["size"].get<std::uint64_t>() == before.at(rel).size());
    CHECK(f["sha256"] == Sha256Hex(before.at(rel)));
    const Bytes enc = ReadFileBytes(Enc(s, s.session, rel)).value();
    CHECK(f["enc_sha256"] == Sha256Hex(enc));
    CHECK(std::search(enc.begin(), enc.end(), before.at(rel).begin(), before.at(rel).end()) ==
          enc.end());
  }
  CHECK_FALSE(VerifyCaptureFiles(s.catalog, s.session).ok());  // the plaintext is gone

  auto status = GetVaultStatus(s.catalog, s.session).value();
  CHECK(status.plaintext_files == 0);
  CHECK(status.encrypted_files == 5);
  CHECK(status.missing_files == 0);
  CHECK(status.key_present);
  CHECK_FALSE(status.erased);

  // Nothing new: a second close changes nothing.
  const auto vault_before = Snapshot(vault);
  auto again = CloseVault(s.catalog, s.session, s.studio_key);
  REQUIRE(again.ok());
  CHECK(again->encrypted.empty());
  CHECK(again->already.empty());
  CHECK(Snapshot(vault) == vault_before);

  auto opened = OpenVault(s.catalog, s.session, s.studio_key, {});
  INFO((opened.ok() ? "" : opened.error().Describe()));
  REQUIRE(opened.ok());
  CHECK(opened->decrypted.size() == 5);
  CHECK(opened->checked_against_seal == 3);
  CHECK(opened->checked_against_approval == 2);
  CHECK(Likeness(s, s.session) == before);
  CHECK(VerifyCaptureFiles(s.catalog, s.session).ok());
  // Opening again finds everything in place and overwrites nothing.
  auto reopened = OpenVault(s.catalog, s.session, s.studio_key, {});
  REQUIRE(reopened.ok());
  CHECK(reopened->decrypted.empty());
  CHECK(reopened->already.size() == 5);

  // Closing after an open re-uses the vault copies: no ciphertext is rewritten.
  auto reclosed = CloseVault(s.catalog, s.session, s.studio_key);
  REQUIRE(reclosed.ok());
  CHECK(reclosed->encrypted.empty());
  CHECK(reclosed->already.size() == 5);
  CHECK(Snapshot(vault) == vault_before);
  CHECK(Likeness(s, s.session).empty());

  // Opening into another folder leaves the session encrypted.
  const fs::path out = s.dir / "opened";
  auto elsewhere = OpenVault(s.catalog, s.session, s.studio_key, out);
  REQUIRE(elsewhere.ok());
  CHECK(elsewhere->decrypted.size() == 5);
  std::map<std::string, Bytes> out_files = Snapshot(out);
  CHECK(out_files == before);
  CHECK(Likeness(s, s.session).empty());

  CHECK(AuditCount(s, "vault.close", "allowed") == 3);
  CHECK(AuditCount(s, "vault.open", "allowed") == 3);
  CHECK(AuditVerify(s.catalog, KeyRing::FromCatalog(s.catalog).value()).ok());
}

TEST_CASE("one vault operation at a time per session", "[integration]") {
  Studio s;
  Ready(s, s.session);
  const auto before = Likeness(s, s.session);
  {
    // Another close is running (it holds the session's vault lock).
    fs::create_directories(s.root / "locks");
    auto running =
        FileLock::TryLock(s.root / "locks" / (s.session + ".vault.lock"), "twinrig vault close");
    REQUIRE(running.ok());
    auto closed = CloseVault(s.catalog, s.session, s.studio_key);
    REQUIRE_FALSE(closed.ok());
    CHECK_THAT(closed.error().what,
               Catch::Contains("another vault operation on session " + s.session) &&
                   Catch::Contains("twinrig vault close (pid"));
    CHECK(Likeness(s, s.session) == before);  // nothing touched
    auto opened = OpenVault(s.catalog, s.session, s.studio_key, {});
    REQUIRE_FALSE(opened.ok());
    CHECK_THAT(opened.error().what, Catch::Contains("another vault operation"));
  }
  // Once it has finished, the close goes ahead.
  auto closed = CloseVault(s.catalog, s.session, s.studio_key);
  INFO((closed.ok() ? "" : closed.error().Describe()));
  CHECK(closed.ok());
}

TEST_CASE("a flipped bit in a vault file stops the open and names the file", "[integration]") {
  Studio s;
  Ready(s, s.session);
  REQUIRE(CloseVault(s.catalog, s.session, s.studio_key).ok());
  const fs::path enc = Enc(s, s.session, "images/CAM1/0001.jpg");
  Bytes bytes = ReadFileBytes(enc).value();
  bytes[bytes.size() - 20] ^= 0x04;
  testing::Overwrite(enc, bytes);

  auto opened = OpenVault(s.catalog, s.session, s.studio_key, {});
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().where.find("images/CAM1/0001.jpg.enc") != std::string::npos);
  CHECK(opened.error().what.find("altered") != std::string::npos);
  CHECK_FALSE(opened.error().todo.empty());
  // Nothing unverified is left behind.
  CHECK_FALSE(fs::exists(s.SessionDir(s.session) / "images/CAM1/0001.jpg"));
  for (const auto& [rel, bytes_] : Snapshot(s.SessionDir(s.session) / "images")) {
    CHECK(rel.find("vault-open") == std::string::npos);
  }
  CHECK(AuditCount(s, "vault.open", "refused") == 1);
}

TEST_CASE("vault files swapped within or between sessions do not open", "[integration]") {
  Studio s;
  Ready(s, s.session);
  REQUIRE(CloseVault(s.catalog, s.session, s.studio_key).ok());
  const fs::path a = Enc(s, s.session, "images/CAM0/0001.jpg");
  const fs::path b = Enc(s, s.session, "images/CAM2/0001.jpg");

  SECTION("swapped files, index rewritten to match: the associated data still differs") {
    Swap(a, b);
    const fs::path index_path = VaultFolder(s.root, s.session) / "index.json";
    Json index = Json::parse(ReadFileText(index_path).value());
    for (Json& f : index["files"]) {
      if (f["path"] == "images/CAM0/0001.jpg") f["enc_sha256"] = Sha256File(a).value();
      if (f["path"] == "images/CAM2/0001.jpg") f["enc_sha256"] = Sha256File(b).value();
    }
    REQUIRE(WriteFileAtomic(index_path, index.dump(2)).ok());
    auto opened = OpenVault(s.catalog, s.session, s.studio_key, {});
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.error().where.find("images/CAM0/0001.jpg.enc") != std::string::npos);
    CHECK(opened.error().what.find("swapped") != std::string::npos);
  }
  SECTION("a file from another session of the same subject, same key, same relative path") {
    const std::string other = "S-0002";
    Ready(s, other);
    REQUIRE(CloseVault(s.catalog, other, s.studio_key).ok());
    fs::copy_file(Enc(s, other, "images/CAM0/0001.jpg"), a, fs::copy_options::overwrite_existing);
    auto opened = OpenVault(s.catalog, s.session, s.studio_key, {});
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.error().where.find(s.session) != std::string::npos);
    CHECK(opened.error().where.find("images/CAM0/0001.jpg.enc") != std::string::npos);
  }
  SECTION("a file dropped from the vault and its index is missed by the seal") {
    fs::remove(b);
    const fs::path index_path = VaultFolder(s.root, s.session) / "index.json";
    Json index = Json::parse(ReadFileText(index_path).value());
    Json kept = Json::array();
    for (const Json& f : index["files"]) {
      if (f["path"] != "images/CAM2/0001.jpg") kept.push_back(f);
    }
    index["files"] = kept;
    REQUIRE(WriteFileAtomic(index_path, index.dump(2)).ok());
    auto opened = OpenVault(s.catalog, s.session, s.studio_key, {});
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.error().what.find("not in the vault") != std::string::npos);
    CHECK(opened.error().where.find("images/CAM2/0001.jpg") != std::string::npos);
  }
}

TEST_CASE("after erasure the vault cannot be opened and nothing of the subject is readable",
          "[integration]") {
  Studio s;
  Ready(s, s.session);
  REQUIRE(CloseVault(s.catalog, s.session, s.studio_key).ok());
  // What a backup of the vault would hold.
  const fs::path backup = s.dir / "vault-backup";
  fs::copy(VaultFolder(s.root, s.session), backup, fs::copy_options::recursive);

  REQUIRE(Revoke(s.catalog, s.session, {}, true, "withdrawn").ok());
  s.SignAs(s.session, "subject");
  auto erased = EraseSubject(s.catalog, s.subject, s.studio_key, "consent withdrawn");
  INFO((erased.ok() ? "" : erased.error().Describe()));
  REQUIRE(erased.ok());

  // Only the consent records remain in the session.
  for (const auto& [rel, bytes] : Snapshot(s.SessionDir(s.session))) {
    CHECK(rel.rfind("consent/", 0) == 0);
  }
  auto opened = OpenVault(s.catalog, s.session, s.studio_key, {});
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().what.find("was erased") != std::string::npos);
  CHECK(opened.error().what.find(s.subject) != std::string::npos);

  // A restored backup of the ciphertext is just as unreadable.
  fs::copy(backup, VaultFolder(s.root, s.session), fs::copy_options::recursive);
  opened = OpenVault(s.catalog, s.session, s.studio_key, {});
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().what.find("was erased") != std::string::npos);
  CHECK_FALSE(fs::exists(s.SessionDir(s.session) / "images"));
  CHECK_FALSE(fs::exists(s.SessionDir(s.session) / "twin"));

  // Closing is refused too: a new data key must never be created for an erased subject.
  auto closed = CloseVault(s.catalog, s.session, s.studio_key);
  REQUIRE_FALSE(closed.ok());
  CHECK(closed.error().what.find("was erased") != std::string::npos);
  CHECK_FALSE(fs::exists(DataKeyPath(s.root, s.subject)));

  auto status = GetVaultStatus(s.catalog, s.session).value();
  CHECK(status.erased);
  CHECK_FALSE(status.key_present);
  CHECK(status.plaintext_files == 0);
  CHECK(AuditVerify(s.catalog, KeyRing::FromCatalog(s.catalog).value()).ok());
}

TEST_CASE("the vault refuses sessions without consent or with a record waiting for signatures",
          "[integration]") {
  Studio s;
  SECTION("no consent") {
    s.CaptureFiles(s.session, 2);
    auto closed = CloseVault(s.catalog, s.session, s.studio_key);
    REQUIRE_FALSE(closed.ok());
    CHECK(closed.error().what.find("no consent record") != std::string::npos);
    CHECK(Likeness(s, s.session).size() == 2);
    CHECK_FALSE(fs::exists(VaultFolder(s.root, s.session)));
  }
  SECTION("a record waits for signatures") {
    s.NewConsent(s.session, {"subject", "technician"});
    s.CaptureFiles(s.session, 2);
    auto closed = CloseVault(s.catalog, s.session, s.studio_key);
    REQUIRE_FALSE(closed.ok());
    CHECK(closed.error().what.find("waits for signatures") != std::string::npos);
    CHECK(Likeness(s, s.session).size() == 2);
    CHECK_FALSE(fs::exists(VaultFolder(s.root, s.session)));
    CHECK_FALSE(fs::exists(DataKeyPath(s.root, s.subject)));
  }
  CHECK(AuditCount(s, "vault.close", "refused") == 1);
}

TEST_CASE("the vault never replaces one version of a file by another", "[integration]") {
  Studio s;
  Ready(s, s.session);
  REQUIRE(CloseVault(s.catalog, s.session, s.studio_key).ok());
  REQUIRE(OpenVault(s.catalog, s.session, s.studio_key, {}).ok());
  const fs::path metrics = s.SessionDir(s.session) / "twin" / "metrics.json";
  REQUIRE(WriteFileAtomic(metrics, "{\"rms_mm\":9}").ok());

  // Close keeps every plaintext when one differs from its vault copy.
  auto closed = CloseVault(s.catalog, s.session, s.studio_key);
  REQUIRE_FALSE(closed.ok());
  CHECK(closed.error().where.find("twin/metrics.json") != std::string::npos);
  CHECK(Likeness(s, s.session).size() == 5);
  // Open does not overwrite it either.
  auto opened = OpenVault(s.catalog, s.session, s.studio_key, {});
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().what.find("not overwritten") != std::string::npos);
  CHECK(ReadFileText(metrics).value() == "{\"rms_mm\":9}");
}

TEST_CASE("a lost data key is told apart from an erasure and never replaced", "[integration]") {
  Studio s;
  Ready(s, s.session);
  REQUIRE(CloseVault(s.catalog, s.session, s.studio_key).ok());
  const fs::path dek = DataKeyPath(s.root, s.subject);
  const fs::path moved = s.dir / "moved.dek";
  fs::rename(dek, moved);

  auto opened = OpenVault(s.catalog, s.session, s.studio_key, {});
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().what.find("data key is missing") != std::string::npos);
  CHECK(opened.error().what.find("erased") == std::string::npos);
  CHECK(opened.error().todo.find("backup") != std::string::npos);
  // A new capture file cannot be encrypted under a new key beside the old ones.
  fs::create_directories(s.SessionDir(s.session) / "images" / "CAM9");
  REQUIRE(WriteFileAtomic(s.SessionDir(s.session) / "images/CAM9/0001.jpg", "late frame").ok());
  auto closed = CloseVault(s.catalog, s.session, s.studio_key);
  REQUIRE_FALSE(closed.ok());
  CHECK(closed.error().what.find("data key is missing") != std::string::npos);
  CHECK_FALSE(fs::exists(dek));
  CHECK(fs::exists(s.SessionDir(s.session) / "images/CAM9/0001.jpg"));

  // With the key back, the vault opens and the late frame joins it.
  fs::rename(moved, dek);
  auto reclosed = CloseVault(s.catalog, s.session, s.studio_key);
  REQUIRE(reclosed.ok());
  CHECK(reclosed->encrypted == std::vector<std::string>{"images/CAM9/0001.jpg"});
  auto reopened = OpenVault(s.catalog, s.session, s.studio_key, {});
  REQUIRE(reopened.ok());
  CHECK(reopened->decrypted.size() == 6);
}

TEST_CASE("RemoveSessionPlaintext removes every copy of the likeness and keeps the records",
          "[unit]") {
  twinrig::testing::TempDir dir;
  const fs::path session = dir / "sessions" / "S-0001";
  for (const char* rel : {"images/CAM0/0001.jpg", "twin/full/twin.glb", "reconstruction/log.txt",
                          "vault/index.json", "consent/0001-consent.json", "session.json"}) {
    fs::create_directories((session / rel).parent_path());
    REQUIRE(WriteFileAtomic(session / rel, "x").ok());
  }
  auto removed = RemoveSessionPlaintext(dir.path(), "S-0001");
  REQUIRE(removed.ok());
  CHECK(*removed == 10);  // 4 files and 6 folders
  std::set<std::string> left;
  for (const auto& [rel, bytes] : Snapshot(session)) left.insert(rel);
  CHECK(left == std::set<std::string>{"consent/0001-consent.json", "session.json"});
  CHECK(RemoveSessionPlaintext(dir.path(), "S-0001").value() == 0);
  CHECK_FALSE(RemoveSessionPlaintext(dir.path(), "../S-0001").ok());
}

TEST_CASE("twinrig vault close, status and open from the command line", "[integration]") {
  Studio s;
  Ready(s, s.session);
  const auto before = Likeness(s, s.session);
  const fs::path pass = s.dir / "studio.pass";
  const fs::path wrong = s.dir / "wrong.pass";
  REQUIRE(WriteFileAtomic(pass, std::string(testing::kStudioPass) + "\n").ok());
  REQUIRE(WriteFileAtomic(wrong, "not the passphrase\n").ok());
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {twinrig::testing::TwinrigBinary().string(), "--studio",
                                     s.root.string(), "vault"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunSubprocess(argv);
    REQUIRE(r.ok());
    INFO(r->output);
    return *r;
  };

  auto refused = run({"close", s.session, "--studio-passphrase-file", wrong.string()});
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("wrong passphrase") != std::string::npos);
  CHECK(Likeness(s, s.session) == before);

  auto closed = run({"close", s.session, "--studio-passphrase-file", pass.string()});
  INFO(closed.output);
  REQUIRE(closed.succeeded());
  CHECK(closed.output.find("encrypted 5\n") != std::string::npos);
  CHECK(Likeness(s, s.session).empty());

  auto status = run({"status", s.session});
  REQUIRE(status.succeeded());
  CHECK(status.output.find("plaintext_files 0\n") != std::string::npos);
  CHECK(status.output.find("encrypted_files 5\n") != std::string::npos);
  CHECK(status.output.find("data_key present\n") != std::string::npos);

  auto opened = run({"open", s.session, "--studio-passphrase-file", pass.string()});
  INFO(opened.output);
  REQUIRE(opened.succeeded());
  CHECK(opened.output.find("decrypted 5\n") != std::string::npos);
  CHECK(opened.output.find("checked_against_seal 3\n") != std::string::npos);
  CHECK(Likeness(s, s.session) == before);

  auto unknown = run({"status", "S-9999"});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.output.find("no consent record") != std::string::npos);
}

}  // namespace
}  // namespace twinrig::consent
