// `twinrig vault close|open|status SESSION`: encryption at rest of a session's raw captures and
// twin with the subject's data key (consent/vault.h). Results go to stdout as "key value" lines.
#include <iostream>
#include <memory>

#include "app/command.h"
#include "app/passphrase.h"
#include "consent/vault.h"
#include "store/catalog.h"

namespace twinrig::app {
namespace {

namespace cs = twinrig::consent;

struct VaultOptions {
  std::string session;
  std::string passphrase_file;
  std::filesystem::path out;
};

// Opens the catalog and runs `body`; errors become exit code 1 with the three-part message.
template <typename Body>
void Run(const GlobalOptions& global, int& exit_code, Body&& body) {
  auto catalog = store::Catalog::Open(global.studio);
  Status status = catalog.ok() ? body(*catalog) : Status(catalog.error());
  if (!status.ok()) PrintError(status.error().what, status.error().where, status.error().todo);
  exit_code = status.ok() ? 0 : 1;
}

void PrintReport(const cs::VaultReport& r, bool open) {
  std::cout << "session " << r.session_id << "\n"
            << "subject " << r.subject_id << "\n";
  if (open) {
    std::cout << "decrypted " << r.decrypted.size() << "\n"
              << "already_in_place " << r.already.size() << "\n"
              << "checked_against_seal " << r.checked_against_seal << "\n"
              << "checked_against_approval " << r.checked_against_approval << "\n"
              << "out " << r.out_dir.string() << "\n";
  } else {
    std::cout << "encrypted " << r.encrypted.size() << "\n"
              << "already_in_vault " << r.already.size() << "\n"
              << "reconstruction_removed " << r.reconstruction_removed << "\n";
  }
  std::cout << "bytes " << r.bytes << "\n";
}

}  // namespace

void AddVault(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* vault = parent.add_subcommand(
      "vault", "encryption at rest of a session's captures and twin with the subject's data key");
  vault->require_subcommand(1);
  auto opts = std::make_shared<VaultOptions>();

  auto* close = vault->add_subcommand(
      "close",
      "encrypt images/ and twin/ into vault/, remove the plaintext and reconstruction/ (the "
      "consent chain must be complete)");
  auto* open = vault->add_subcommand(
      "open",
      "decrypt the vault back into the session (or --out DIR), checked against the index, "
      "the capture seal and the subject's approval");
  for (auto* cmd : {close, open}) {
    cmd->add_option("session", opts->session, "session id")->required();
    cmd->add_option("--studio-passphrase-file,--passphrase-file", opts->passphrase_file,
                    "the studio key's passphrase (a file, - for stdin, fd:N)")
        ->transform(UserPath())
        ->required();
  }
  open->add_option("--out", opts->out, "decrypt into this folder instead of the session")
      ->transform(UserPath());

  close->callback([&global, &exit_code, opts] {
    Run(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto key = Unseal(catalog, cs::kRoleStudio, "studio", opts->passphrase_file);
      if (!key.ok()) return key.error();
      auto report = cs::CloseVault(catalog, opts->session, *key);
      if (!report.ok()) return report.error();
      PrintReport(*report, false);
      return OkStatus();
    });
  });
  open->callback([&global, &exit_code, opts] {
    Run(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto key = Unseal(catalog, cs::kRoleStudio, "studio", opts->passphrase_file);
      if (!key.ok()) return key.error();
      auto report = cs::OpenVault(catalog, opts->session, *key, opts->out);
      if (!report.ok()) return report.error();
      PrintReport(*report, true);
      return OkStatus();
    });
  });

  auto* status = vault->add_subcommand(
      "status", "plaintext and encrypted file counts, and whether the subject's key exists");
  status->add_option("session", opts->session, "session id")->required();
  status->callback([&global, &exit_code, opts] {
    Run(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto s = cs::GetVaultStatus(catalog, opts->session);
      if (!s.ok()) return s.error();
      std::cout << "session " << s->session_id << "\n"
                << "subject " << s->subject_id << "\n"
                << "plaintext_files " << s->plaintext_files << "\n"
                << "encrypted_files " << s->encrypted_files << "\n"
                << "missing_encrypted_files " << s->missing_files << "\n"
                << "reconstruction " << (s->reconstruction_present ? "present" : "absent") << "\n"
                << "data_key " << (s->key_present ? "present" : "destroyed or never created")
                << "\n"
                << "erased " << (s->erased ? "yes" : "no") << "\n";
      return OkStatus();
    });
  });
}

}  // namespace twinrig::app
