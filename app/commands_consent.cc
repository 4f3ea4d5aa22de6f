// The consent commands: keys, subjects, consent records, export, audit. Every command runs
// unattended: passphrases come from --passphrase-file (a file, "-" for stdin or fd:N), texts and
// terms from files, and results go to stdout as "key value" lines that scripts can read.
#include <iostream>
#include <optional>

#include "app/command.h"
#include "app/passphrase.h"
#include "consent/audit.h"
#include "consent/c2pa_signer.h"
#include "consent/gates.h"
#include "consent/keys.h"
#include "consent/records.h"
#include "consent/status.h"
#include "host/usecases/consent.h"
#include "host/usecases/studio.h"
#include "store/catalog.h"
#include "util/files.h"

namespace twinrig::app {
namespace {

namespace cs = twinrig::consent;

int Fail(const Error& error) {
  PrintError(error.what, error.where, error.todo);
  return kExitFailed;
}

// Runs `body` with the opened catalog; errors become exit code 1 with the three-part message.
template <typename Body>
void WithCatalog(const GlobalOptions& global, int& exit_code, Body&& body) {
  auto catalog = store::Catalog::Open(global.studio);
  if (!catalog.ok()) {
    exit_code = Fail(catalog.error());
    return;
  }
  Status status = body(*catalog);
  exit_code = status.ok() ? 0 : Fail(status.error());
}

Result<cs::Json> ReadJsonFile(const std::string& path) {
  auto text = ReadFileText(path);
  if (!text.ok()) return text.error();
  return cs::ParseStrict(*text, path);
}

void PrintRecord(const cs::StoredRecord& rec) {
  std::cout << "record " << rec.path.string() << "\n"
            << "record_id " << rec.record_id() << "\n"
            << "type " << rec.type << "\n"
            << "sha256 " << rec.sha256 << "\n";
  const bool complete =
      cs::AnyOneRoleSuffices(rec.type) ? !rec.signatures.empty() : rec.MissingRoles().empty();
  std::string missing;
  for (const auto& r : rec.MissingRoles()) missing += (missing.empty() ? "" : ",") + r;
  std::cout << "complete " << (complete ? "yes" : "no") << "\n";
  if (!complete) std::cout << "awaiting " << missing << "\n";
}

// Signs the session's newest record as `role` and prints it with the audit receipt.
Status SignAs(store::Catalog& catalog, const std::string& session, const std::string& role,
              const std::string& technician, const std::string& passphrase_file) {
  auto signed_rec = usecases::Sign(
      catalog, {session, role, technician,
                [&] { return Passphrase(passphrase_file, std::string(role) + " key"); }});
  if (!signed_rec.ok()) return signed_rec.error();
  PrintRecord(signed_rec->record);
  std::cout << "receipt " << signed_rec->receipt << "\n";
  return OkStatus();
}

}  // namespace

void AddKeys(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* keys = parent.add_subcommand("keys", "studio and technician signing keys");
  keys->require_subcommand(1);
  struct Opts {
    std::string passphrase_file, kdf = "moderate", name, id, out;
  };
  auto opts = std::make_shared<Opts>();

  auto* init = keys->add_subcommand("init", "create the studio key (keys/studio.key, sealed)");
  init->add_option("--passphrase-file", opts->passphrase_file, "the studio key's passphrase")
      ->transform(UserPath())
      ->required();
  init->add_option("--name", opts->name, "the studio's legal name, written into records");
  init->add_option("--kdf", opts->kdf, "Argon2id cost: moderate (default) or interactive");
  init->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto strength = cs::ParseKdfStrength(opts->kdf);
      if (!strength.ok()) return strength.error();
      auto pass = Passphrase(opts->passphrase_file, "studio key");
      if (!pass.ok()) return pass.error();
      // The name before the key: the C2PA certificates made with the key carry it. A studio
      // that has its key keeps its name (CreateKey refuses).
      if (!opts->name.empty() &&
          !std::filesystem::exists(cs::KeyFilePath(catalog.studio(), cs::kRoleStudio, "studio"))) {
        TWINRIG_RETURN_IF_ERROR(catalog.SetStudioName(opts->name));
      }
      auto key = cs::CreateKey(catalog, cs::kRoleStudio, "studio", *pass, *strength);
      if (!key.ok()) return key.error();
      std::cout << "kid " << key->kid << "\npin " << key->kid << " (write it into a file "
                << "outside the studio folder and name that file in " << cs::kStudioPinVariable
                << ")\npublic_key " << cs::HexEncode(key->public_key) << "\nminisign_public_key "
                << (global.studio / "keys/studio.pub").string() << "\nc2pa_root "
                << cs::C2paRootCertificatePath(global.studio).string() << "\n";
      auto seq = cs::AuditAppend(catalog, "key.created", {{"role", "studio"}, {"kid", key->kid}});
      return seq.ok() ? OkStatus() : Status(seq.error());
    });
  });

  auto* retire = keys->add_subcommand(
      "retire", "retire a key: records made after now with its signature do not verify");
  retire->add_option("kid", opts->id, "the key id (`twinrig keys export` lists them)")->required();
  retire->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      TWINRIG_RETURN_IF_ERROR(cs::RetireKey(catalog, opts->id));
      std::cout << "retired " << opts->id << "\n";
      return OkStatus();
    });
  });

  auto* tech = keys->add_subcommand("add-technician", "create a technician's witness key");
  tech->add_option("id", opts->id, "technician id (letters, digits, - _ .)")->required();
  tech->add_option("--passphrase-file", opts->passphrase_file, "the technician's passphrase")
      ->transform(UserPath())
      ->required();
  tech->add_option("--kdf", opts->kdf, "Argon2id cost: moderate (default) or interactive");
  tech->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto strength = cs::ParseKdfStrength(opts->kdf);
      if (!strength.ok()) return strength.error();
      auto pass = Passphrase(opts->passphrase_file, "technician key");
      if (!pass.ok()) return pass.error();
      auto key = cs::CreateKey(catalog, cs::kRoleTechnician, opts->id, *pass, *strength);
      if (!key.ok()) return key.error();
      std::cout << "kid " << key->kid << "\ntechnician " << opts->id << "\n";
      auto seq = cs::AuditAppend(catalog, "key.created",
                                 {{"role", "technician"}, {"owner", opts->id}, {"kid", key->kid}});
      return seq.ok() ? OkStatus() : Status(seq.error());
    });
  });

  keys->add_subcommand("list", "list the public keys the studio knows")
      ->callback([&global, &exit_code] {
        WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
          auto ring = cs::KeyRing::FromCatalog(catalog);
          if (!ring.ok()) return ring.error();
          for (const auto& k : ring->keys()) {
            std::cout << k.kid << " " << k.role << " " << k.owner << " "
                      << cs::HexEncode(k.public_key) << "\n";
          }
          return OkStatus();
        });
      });

  auto* exp = keys->add_subcommand("export", "write the public key ring for offline verifiers");
  exp->add_option("--out", opts->out, "key-ring JSON file")->transform(UserPath())->required();
  exp->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto ring = cs::KeyRing::FromCatalog(catalog);
      if (!ring.ok()) return ring.error();
      TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(opts->out, ring->ToJson().dump(2) + "\n"));
      std::cout << "keyring " << opts->out << "\n";
      return OkStatus();
    });
  });

  auto* request = keys->add_subcommand(
      "c2pa-request", "write a certificate request for the studio's C2PA signing key, for a CA");
  request->add_option("--out", opts->out, "PEM file (PKCS#10)")->transform(UserPath())->required();
  request->add_option("--passphrase-file", opts->passphrase_file, "the studio key's passphrase")
      ->transform(UserPath())
      ->required();
  request->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto key = Unseal(catalog, cs::kRoleStudio, "studio", opts->passphrase_file);
      if (!key.ok()) return key.error();
      auto name = catalog.StudioName();
      if (!name.ok()) return name.error();
      auto pem = cs::C2paCertificateRequest(*key, *name);
      if (!pem.ok()) return pem.error();
      TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(opts->out, *pem));
      std::cout << "request " << opts->out << "\ninstall_as "
                << cs::C2paInstalledCertificatePath(global.studio).string()
                << " (the CA's certificate, then its intermediates)\n";
      return OkStatus();
    });
  });
}

void AddSubject(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* subject = parent.add_subcommand("subject", "the people scanned");
  subject->require_subcommand(1);
  struct Opts {
    std::string name, id, passphrase_file, reason = "consent withdrawn", in, out;
  };
  auto opts = std::make_shared<Opts>();

  auto* add = subject->add_subcommand("add", "register a subject; prints the new id");
  add->add_option("--name", opts->name, "the subject's name (kept in the catalog only)")
      ->required();
  add->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      TWINRIG_ASSIGN_OR_RETURN(const std::string id, usecases::AddSubject(catalog, opts->name));
      std::cout << id << "\n";
      return OkStatus();
    });
  });

  subject->add_subcommand("list", "id, key id, name")->callback([&global, &exit_code] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      TWINRIG_ASSIGN_OR_RETURN(const auto subjects, usecases::ListSubjects(catalog));
      for (const auto& s : subjects) {
        std::cout << s.id << " " << (s.key_id.empty() ? "-" : s.key_id) << " " << s.name << "\n";
      }
      return OkStatus();
    });
  });

  auto* erase = subject->add_subcommand(
      "erase", "crypto-shred the subject's data key, remove plaintext copies, record it");
  erase->add_option("id", opts->id, "subject id")->required();
  erase->add_option("--passphrase-file", opts->passphrase_file, "the studio key's passphrase")
      ->transform(UserPath())
      ->required();
  erase->add_option("--reason", opts->reason, "why (written into the destruction record)");
  erase->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto key = Unseal(catalog, cs::kRoleStudio, "studio", opts->passphrase_file);
      if (!key.ok()) return key.error();
      auto sessions = cs::EraseSubject(catalog, opts->id, *key, opts->reason);
      if (!sessions.ok()) return sessions.error();
      std::cout << "erased " << opts->id << "\n";
      for (const auto& s : *sessions) std::cout << "destruction_recorded " << s << "\n";
      return OkStatus();
    });
  });

  for (const bool encrypt : {true, false}) {
    auto* cmd = subject->add_subcommand(
        encrypt ? "encrypt" : "decrypt",
        encrypt ? "encrypt a file with the subject's data key (created on first use)"
                : "decrypt a file encrypted with the subject's data key");
    cmd->add_option("id", opts->id, "subject id")->required();
    cmd->add_option("--in", opts->in, "input file")->transform(UserPath())->required();
    cmd->add_option("--out", opts->out, "output file")->transform(UserPath())->required();
    cmd->add_option("--passphrase-file", opts->passphrase_file, "the studio key's passphrase")
        ->transform(UserPath())
        ->required();
    cmd->callback([&global, &exit_code, opts, encrypt] {
      WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
        auto key = Unseal(catalog, cs::kRoleStudio, "studio", opts->passphrase_file);
        if (!key.ok()) return key.error();
        auto dek = encrypt ? cs::LoadOrCreateDataKey(catalog.studio(), opts->id, *key)
                           : cs::LoadDataKey(catalog.studio(), opts->id, *key);
        if (!dek.ok()) return dek.error();
        return encrypt ? cs::EncryptFile(*dek, opts->id, opts->in, opts->out)
                       : cs::DecryptFile(*dek, opts->id, opts->in, opts->out);
      });
    });
  }
}

namespace {

// What the `consent` subcommands read from their flags (one set, shared by the subcommands).
struct ConsentOpts {
  std::string subject, session, technician, text, text_version,
      language = "en", notice, terms, subject_passphrase_file, guardian_passphrase_file,
      kdf = "moderate", role, passphrase_file, manifest, note, grants,
      reason = "withdrawn by the subject", dir, keys, licensee, from, to, out;
  int valid_hours = 24;
  std::vector<std::string> grant_ids, pins;
  bool erase = false, no_check = false, json = false;
};
using Opts = std::shared_ptr<ConsentOpts>;

// The use of a twin as an export declares it and an approval of one use (R9) names it.
void AddUseOptions(CLI::App* cmd, cs::ExportRequest& req) {
  cmd->add_option("session", req.session_id, "session id")->required();
  cmd->add_option("--licensee", req.licensee, "licensee id")->required();
  cmd->add_option("--purpose", req.purpose, "the purpose, as written in the grant")->required();
  cmd->add_option("--medium", req.medium, "the medium (e.g. social, ecommerce)")->required();
  cmd->add_option("--territory", req.territory, "where it will be used (checked when given)");
  cmd->add_option("--context", req.contexts,
                  "a context the output appears in (repeatable); refused when the grant "
                  "prohibits it");
  cmd->add_option("--alteration", req.alterations,
                  "an alteration made (repeatable); refused unless the grant permits it");
  cmd->add_flag("--generative", req.generative,
                "generative AI is used; refused unless the grant allows it");
}

void AddConsentApproveUse(CLI::App* consent, const GlobalOptions& global, int& exit_code) {
  auto* cmd = consent->add_subcommand(
      "approve-use",
      "ask the subject to approve one use under a grant that needs it (per_use_approval); the "
      "subject, then the studio, sign the record with `twinrig consent sign`; one export spends "
      "it");
  auto req = std::make_shared<cs::ExportRequest>();
  auto grant = std::make_shared<std::string>();
  auto description = std::make_shared<std::string>();
  auto until = std::make_shared<std::string>();
  AddUseOptions(cmd, *req);
  cmd->add_option("--grant", *grant, "the grant's id")->required();
  cmd->add_option("--description", *description, "the use in words, as the subject reads it")
      ->required();
  cmd->add_option("--valid-until", *until, "the approval's last day (YYYY-MM-DD)")->required();
  cmd->callback([&global, &exit_code, req, grant, description, until] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      TWINRIG_ASSIGN_OR_RETURN(const cs::StoredRecord rec,
                               cs::ProposeUse(catalog, *grant, *req, *description, *until));
      PrintRecord(rec);
      std::cout << "next: the subject signs (`twinrig consent sign --session " << req->session_id
                << " --role subject …`), then the studio\n";
      return OkStatus();
    });
  });
}

void AddConsentNew(CLI::App* consent, const GlobalOptions& global, int& exit_code,
                   const Opts& opts) {
  auto* create = consent->add_subcommand(
      "new", "write a consent record for a session (before capture); then sign it");
  create->add_option("--subject", opts->subject, "subject id")->required();
  create->add_option("--session", opts->session, "session id")->required();
  create->add_option("--technician", opts->technician, "the witnessing technician")->required();
  create->add_option("--text", opts->text, "the exact consent text shown (file)")
      ->transform(UserPath())
      ->required();
  create->add_option("--text-version", opts->text_version, "its version")->required();
  create->add_option("--language", opts->language, "its language (default en)");
  create->add_option("--notice-given-at", opts->notice, "RFC 3339 time notice was given");
  create
      ->add_option("--terms", opts->terms,
                   "JSON terms: jurisdictions, biometric_processing, "
                   "representation, subject, grants …")
      ->transform(UserPath())
      ->required();
  create
      ->add_option("--subject-passphrase-file", opts->subject_passphrase_file,
                   "the subject's passphrase; creates their key at first consent")
      ->transform(UserPath());
  create
      ->add_option("--guardian-passphrase-file", opts->guardian_passphrase_file,
                   "when the terms name a guardian (a minor): their passphrase; creates their key")
      ->transform(UserPath());
  create->add_option("--kdf", opts->kdf, "Argon2id cost for a new subject key");
  create->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      TWINRIG_ASSIGN_OR_RETURN(const auto text, ReadFileBytes(opts->text));
      TWINRIG_ASSIGN_OR_RETURN(auto terms, ReadJsonFile(opts->terms));
      usecases::ConsentRequest request;
      request.subject_id = opts->subject;
      request.session_id = opts->session;
      request.technician = opts->technician;
      request.text.assign(text.begin(), text.end());
      request.text_version = opts->text_version;
      request.language = opts->language;
      request.notice_given_at = opts->notice;
      request.terms = std::move(terms);
      request.kdf = opts->kdf;
      request.subject_passphrase = [&] {
        return Passphrase(opts->subject_passphrase_file,
                          "subject's new key (--subject-passphrase-file)");
      };
      if (!opts->guardian_passphrase_file.empty()) {
        request.guardian_passphrase = [&] {
          return Passphrase(opts->guardian_passphrase_file,
                            "guardian's new key (--guardian-passphrase-file)");
        };
      }
      auto opened = usecases::OpenConsent(catalog, request);
      if (!opened.ok()) return opened.error();
      if (opened->new_subject_key) {
        std::cout << "subject_key " << opened->new_subject_key->kid << "\n";
      }
      if (opened->new_guardian_key) {
        std::cout << "guardian_key " << opened->new_guardian_key->kid << "\n";
      }
      PrintRecord(opened->record);
      return OkStatus();
    });
  });
}

void AddConsentSign(CLI::App* consent, const GlobalOptions& global, int& exit_code,
                    const Opts& opts) {
  auto* sign = consent->add_subcommand("sign", "sign the session's newest record as a role");
  sign->add_option("--session", opts->session, "session id")->required();
  sign->add_option("--role", opts->role, "subject, guardian (of a minor), technician or studio")
      ->required()
      ->check(CLI::IsMember({"subject", "guardian", "technician", "studio"}));
  sign->add_option("--technician", opts->technician, "technician id (default: the witness)");
  sign->add_option("--passphrase-file", opts->passphrase_file, "the signer's passphrase")
      ->transform(UserPath())
      ->required();
  sign->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      return SignAs(catalog, opts->session, opts->role, opts->technician, opts->passphrase_file);
    });
  });
}

void AddConsentCheckCapture(CLI::App* consent, const GlobalOptions& global, int& exit_code,
                            const Opts& opts) {
  auto* check = consent->add_subcommand(
      "check-capture", "the capture gate: exit 0 when the session may be captured");
  check->add_option("--subject", opts->subject, "subject id")->required();
  check->add_option("--session", opts->session, "session id")->required();
  check->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      TWINRIG_RETURN_IF_ERROR(cs::CheckCaptureAllowed(catalog, opts->subject, opts->session));
      std::cout << "capture allowed\n";
      return OkStatus();
    });
  });
}

void AddConsentSeal(CLI::App* consent, const GlobalOptions& global, int& exit_code,
                    const Opts& opts) {
  auto* seal = consent->add_subcommand(
      "seal", "seal the captured files (manifest of path, size, SHA-256); then sign");
  seal->add_option("--session", opts->session, "session id")->required();
  seal->add_option("--technician", opts->technician, "the technician who captured")->required();
  seal->add_option("--manifest", opts->manifest, "manifest JSON")
      ->transform(UserPath())
      ->required();
  seal->add_flag("--no-check", opts->no_check, "do not re-hash the files in the session folder");
  seal->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto manifest = ReadFileText(opts->manifest);
      if (!manifest.ok()) return manifest.error();
      auto rec = cs::SealCapture(
          catalog, opts->session, opts->technician, *manifest,
          opts->no_check ? std::filesystem::path() : global.studio / "sessions" / opts->session);
      if (!rec.ok()) return rec.error();
      PrintRecord(*rec);
      return OkStatus();
    });
  });
}

void AddConsentReview(CLI::App* consent, const GlobalOptions& global, int& exit_code,
                      const Opts& opts) {
  for (const bool approve : {true, false}) {
    auto* review = consent->add_subcommand(
        approve ? "approve" : "reject",
        approve ? "the subject approves the twin (hashes of twin/); then sign"
                : "the subject rejects the twin; then sign");
    review->add_option("--session", opts->session, "session id")->required();
    review->add_option("--note", opts->note, "the subject's words");
    review->callback([&global, &exit_code, opts, approve] {
      WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
        auto reviewed = usecases::ReviewTwin(catalog, {opts->session, approve, opts->note, {}});
        if (!reviewed.ok()) return reviewed.error();
        PrintRecord(reviewed->record);
        return OkStatus();
      });
    });
  }
}

void AddConsentGrants(CLI::App* consent, const GlobalOptions& global, int& exit_code,
                      const Opts& opts) {
  for (const char* type : {"grant", "amend"}) {
    const std::string record_type = std::string(type) == "grant" ? "grant" : "amendment";
    auto* cmd = consent->add_subcommand(
        type, record_type == "grant" ? "license the twin to licensees (JSON grants); then sign"
                                     : "change existing grants (new consent, R9); then sign");
    cmd->add_option("--session", opts->session, "session id")->required();
    cmd->add_option("--grants", opts->grants, "JSON: a grant, a list, or {\"grants\":[…]}")
        ->transform(UserPath())
        ->required();
    cmd->callback([&global, &exit_code, opts, record_type] {
      WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
        auto json = ReadJsonFile(opts->grants);
        if (!json.ok()) return json.error();
        cs::Json list = *json;
        if (list.is_object() && list.contains("grants")) list = list["grants"];
        auto rec = usecases::ProposeGrants(catalog, opts->session, record_type, list);
        if (!rec.ok()) return rec.error();
        PrintRecord(*rec);
        return OkStatus();
      });
    });
  }
}

void AddConsentRevoke(CLI::App* consent, const GlobalOptions& global, int& exit_code,
                      const Opts& opts) {
  auto* revoke = consent->add_subcommand(
      "revoke", "withdraw consent (some grants, or all); signed at once by the subject");
  revoke->add_option("--session", opts->session, "session id")->required();
  revoke->add_option("--grant", opts->grant_ids, "grant id (repeat); none: everything");
  revoke->add_flag("--erase", opts->erase, "also ask for erasure of the biometric data");
  revoke->add_option("--reason", opts->reason, "why");
  revoke
      ->add_option("--role", opts->role,
                   "who signs: subject (default) or studio on the "
                   "subject's verified request")
      ->check(CLI::IsMember({"subject", "studio"}));
  revoke->add_option("--passphrase-file", opts->passphrase_file, "the signer's passphrase")
      ->transform(UserPath())
      ->required();
  revoke->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      const std::string role = opts->role.empty() ? "subject" : opts->role;
      auto revoked = usecases::Revoke(
          catalog, {opts->session, opts->grant_ids, opts->erase, opts->reason, role,
                    [&] { return Passphrase(opts->passphrase_file, role + " key"); }});
      if (!revoked.ok()) return revoked.error();
      PrintRecord(revoked->record);
      if (opts->erase) {
        std::cout << "next run `twinrig subject erase " << revoked->subject_id
                  << "` to crypto-shred the data\n";
      }
      return OkStatus();
    });
  });
}

void AddConsentVerify(CLI::App* consent, const GlobalOptions& global, int& exit_code,
                      const Opts& opts) {
  auto* verify = consent->add_subcommand(
      "verify", "verify a session's chain, or offline a folder of records with a key ring");
  verify->add_option("--session", opts->session, "session id in this studio");
  verify->add_option("--dir", opts->dir, "folder of records (offline; with --keys)")
      ->transform(UserPath());
  verify->add_option("--keys", opts->keys, "key-ring JSON (from `twinrig keys export`)")
      ->transform(UserPath());
  verify->add_option("--pin", opts->pins,
                     "studio key id to trust (repeatable; offline): any other studio key in the "
                     "key ring is refused");
  verify->add_flag("--json", opts->json, "print JSON");
  verify->callback([&global, &exit_code, opts] {
    auto run = [&](std::optional<store::Catalog*> catalog) -> Status {
      Result<cs::Chain> chain = MakeError("no chain");
      if (catalog.has_value()) {
        chain = cs::Chain::ForSession(**catalog, opts->session);
      } else {
        auto ring = cs::KeyRing::FromFile(opts->keys);
        if (!ring.ok()) return ring.error();
        if (!opts->pins.empty()) {
          TWINRIG_RETURN_IF_ERROR(cs::CheckPinnedStudioKeys(*ring, opts->pins, opts->keys));
        }
        chain = cs::Chain::Load(opts->dir, *ring);
      }
      if (!chain.ok()) return chain.error();
      if (chain->records().empty()) {
        return MakeError("no consent records found", opts->dir.empty() ? opts->session : opts->dir,
                         "check the session id or folder");
      }
      const auto& state = chain->state();
      cs::Json out = {{"valid", true},
                      {"subject_id", state.subject_id},
                      {"session_id", state.session_id},
                      {"records", cs::Json::array()}};
      for (const auto& rec : chain->records()) {
        cs::Json roles = cs::Json::array();
        for (const auto& s : rec.signatures) roles.push_back(s.role);
        out["records"].push_back({{"seq", rec.seq},
                                  {"type", rec.type},
                                  {"record_id", rec.record_id()},
                                  {"sha256", rec.sha256},
                                  {"signed_by", roles},
                                  {"complete", rec.complete}});
      }
      if (catalog.has_value() && state.seal != nullptr) {
        Status files = cs::VerifyCaptureFiles(**catalog, opts->session);
        out["capture_files"] = files.ok() ? "match the seal" : files.error().Describe();
        if (!files.ok()) out["valid"] = false;
      }
      if (opts->json) {
        std::cout << out.dump(2) << "\n";
      } else {
        for (const auto& r : out["records"]) {
          std::cout << r["seq"].get<int>() << " " << r["type"].get<std::string>() << " "
                    << r["record_id"].get<std::string>() << " signed_by=" << r["signed_by"].dump()
                    << (r["complete"].get<bool>() ? "" : " INCOMPLETE") << "\n";
        }
        if (out.contains("capture_files")) {
          std::cout << "capture files: " << out["capture_files"].get<std::string>() << "\n";
        }
        std::cout << (out["valid"].get<bool>() ? "valid" : "INVALID") << "\n";
      }
      if (!out["valid"].get<bool>()) {
        return MakeError("captured files do not match the seal", opts->session,
                         "restore them from a backup");
      }
      return OkStatus();
    };
    if (!opts->dir.empty()) {
      if (opts->keys.empty()) {
        exit_code = Fail(MakeError("--dir needs --keys", "", "pass the key ring file"));
        return;
      }
      Status s = run(std::nullopt);
      exit_code = s.ok() ? 0 : Fail(s.error());
      return;
    }
    if (opts->session.empty()) {
      exit_code = Fail(MakeError("give --session, or --dir with --keys", "", ""));
      return;
    }
    WithCatalog(global, exit_code,
                [&](store::Catalog& catalog) -> Status { return run(&catalog); });
  });
}

void AddConsentStatus(CLI::App* consent, const GlobalOptions& global, int& exit_code,
                      const Opts& opts) {
  auto* status = consent->add_subcommand(
      "status",
      "what the chain allows now (--session); the signed status list for licensees (--export); "
      "a licensee's offline check of one grant (--check)");
  status->add_option("--session", opts->session, "session id");
  status->add_option("--export", opts->out, "write the studio-signed revocation status list")
      ->transform(UserPath());
  status
      ->add_option("--passphrase-file", opts->passphrase_file,
                   "the studio key's passphrase (with --export)")
      ->transform(UserPath());
  status
      ->add_option("--valid-hours", opts->valid_hours,
                   "hours until the list is stale and licensees must fetch a new one")
      ->check(CLI::Range(1, 24 * 31));
  status->add_option("--check", opts->dir, "a status list to check offline (with --keys, --pin)")
      ->transform(UserPath());
  status->add_option("--keys", opts->keys, "key-ring JSON (with --check)")->transform(UserPath());
  status->add_option("--pin", opts->pins, "the studio key id to trust (with --check)");
  status->add_option("--grant", opts->grant_ids, "the grant to check (with --check)");
  status->callback([&global, &exit_code, opts] {
    if (!opts->dir.empty()) {
      // Offline, as a licensee runs it: no studio folder needed.
      auto ring = cs::KeyRing::FromFile(opts->keys);
      if (!ring.ok()) return (void)(exit_code = Fail(ring.error()));
      if (opts->grant_ids.size() != 1 || opts->session.empty() || opts->pins.empty()) {
        exit_code = Fail(MakeError("--check needs --session, one --grant, --keys and --pin", "",
                                   "give the grant to check and the studio key id to trust"));
        return;
      }
      auto entry = cs::CheckStatus(opts->dir, *ring, opts->pins, cs::NowUtc(), opts->session,
                                   opts->grant_ids.front());
      if (!entry.ok()) return (void)(exit_code = Fail(entry.error()));
      std::cout << "status " << entry->status << "\n";
      exit_code = kExitOk;
      return;
    }
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      if (!opts->out.empty()) {
        auto key = Unseal(catalog, cs::kRoleStudio, "studio", opts->passphrase_file);
        if (!key.ok()) return key.error();
        TWINRIG_RETURN_IF_ERROR(
            cs::WriteStatusList(catalog, *key, opts->out, opts->valid_hours, ""));
        std::cout << "status_list " << opts->out << "\n";
        return OkStatus();
      }
      if (opts->session.empty()) {
        return MakeError("give --session, --export or --check", "",
                         "`twinrig consent status --help` shows the three");
      }
      auto chain = cs::Chain::ForSession(catalog, opts->session);
      if (!chain.ok()) return chain.error();
      const auto& s = chain->state();
      cs::Json grants = cs::Json::array();
      for (const auto& [id, g] : s.grants) {
        cs::Json line = {{"grant_id", id},
                         {"licensee", g.grant["licensee"]["id"]},
                         {"purpose", g.grant["purpose"]},
                         {"media", g.grant["media"]},
                         {"territory", g.grant["territory"]},
                         {"not_before", g.grant["not_before"]},
                         {"not_after", g.grant["not_after"]},
                         {"record_id", g.record->record_id()},
                         {"revoked", s.all_revoked || s.revoked_grants.contains(id)}};
        grants.push_back(line);
      }
      const cs::Json out = {
          {"subject_id", s.subject_id},
          {"session_id", s.session_id},
          {"records", chain->records().size()},
          {"consent_signed", s.consent != nullptr && s.consent->complete},
          {"sealed", s.seal != nullptr},
          {"twin",
           s.twin == nullptr ? "not reviewed" : (s.twin_approved ? "approved" : "rejected")},
          {"revoked", s.all_revoked},
          {"destroyed", s.destroyed},
          {"pending", s.pending},
          {"grants", grants}};
      std::cout << out.dump(2) << "\n";
      return OkStatus();
    });
  });
}

void AddConsentUsage(CLI::App* consent, const GlobalOptions& global, int& exit_code,
                     const Opts& opts) {
  auto* usage = consent->add_subcommand("usage", "exports per licensee and grant, with amounts");
  usage->add_option("--licensee", opts->licensee, "one licensee (default all)");
  usage->add_option("--from", opts->from, "from this date/time (inclusive, RFC 3339 prefix)");
  usage->add_option("--to", opts->to, "to this date/time (exclusive)");
  usage->add_flag("--json", opts->json, "print JSON");
  usage->callback([&global, &exit_code, opts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto lines = cs::UsageReport(catalog, opts->licensee, opts->from, opts->to);
      if (!lines.ok()) return lines.error();
      cs::Json out = cs::Json::array();
      for (const auto& l : *lines) {
        out.push_back({{"licensee", l.licensee},
                       {"grant_id", l.grant_id},
                       {"session_id", l.session_id},
                       {"uses", l.uses},
                       {"amount_minor", l.amount_minor},
                       {"currency", l.currency}});
      }
      if (opts->json) {
        std::cout << out.dump(2) << "\n";
        return OkStatus();
      }
      std::cout << "licensee grant session uses amount_minor currency\n";
      for (const auto& l : *lines) {
        std::cout << l.licensee << " " << l.grant_id << " " << l.session_id << " " << l.uses << " "
                  << l.amount_minor << " " << l.currency << "\n";
      }
      return OkStatus();
    });
  });
}

}  // namespace

void AddConsent(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* consent = parent.add_subcommand("consent", "signed consent records, grants, verification");
  consent->require_subcommand(1);
  auto opts = std::make_shared<ConsentOpts>();
  AddConsentNew(consent, global, exit_code, opts);
  AddConsentSign(consent, global, exit_code, opts);
  AddConsentCheckCapture(consent, global, exit_code, opts);
  AddConsentSeal(consent, global, exit_code, opts);
  AddConsentReview(consent, global, exit_code, opts);
  AddConsentGrants(consent, global, exit_code, opts);
  AddConsentRevoke(consent, global, exit_code, opts);
  AddConsentVerify(consent, global, exit_code, opts);
  AddConsentStatus(consent, global, exit_code, opts);
  AddConsentUsage(consent, global, exit_code, opts);
  AddConsentApproveUse(consent, global, exit_code);
}

void AddExport(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* cmd = parent.add_subcommand(
      "export", "export a twin to a licensee under a current grant, with signed provenance");
  auto req = std::make_shared<cs::ExportRequest>();
  auto pass = std::make_shared<std::string>();
  AddUseOptions(cmd, *req);
  cmd->add_option("--out", req->out, "output folder")->transform(UserPath())->required();
  cmd->add_flag("--composite", req->composite,
                "label as compositeWithTrainedAlgorithmicMedia (default trainedAlgorithmicMedia)");
  cmd->add_option("--passphrase-file", *pass, "the studio key's passphrase (signs provenance)")
      ->transform(UserPath())
      ->required();
  cmd->callback([&global, &exit_code, req, pass] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto key = Unseal(catalog, cs::kRoleStudio, "studio", *pass);
      if (!key.ok()) return key.error();
      auto result = cs::Export(catalog, *req, *key);
      if (!result.ok()) return result.error();
      std::cout << "export_id " << result->export_id << "\ngrant_id " << result->grant_id
                << "\nprovenance " << result->sidecar.string() << "\n";
      for (const auto& f : result->files) std::cout << "file " << f.string() << "\n";
      return OkStatus();
    });
  });
}

void AddRetention(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* retention = parent.add_subcommand("retention", "act on the retention schedule (R15)");
  retention->require_subcommand(1);
  auto pass = std::make_shared<std::string>();
  auto today = std::make_shared<std::string>();
  auto* run = retention->add_subcommand(
      "run", "destroy every session past its destroy_by date, with a signed destruction record");
  run->add_option("--passphrase-file", *pass, "the studio key's passphrase")
      ->transform(UserPath())
      ->required();
  run->add_option("--today", *today, "the date to act on, YYYY-MM-DD (default: today, UTC)");
  run->callback([&global, &exit_code, pass, today] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto key = Unseal(catalog, cs::kRoleStudio, "studio", *pass);
      if (!key.ok()) return key.error();
      auto destroyed = cs::RunRetention(catalog, *key, *today);
      if (!destroyed.ok()) return destroyed.error();
      for (const auto& session : *destroyed) std::cout << "destroyed " << session << "\n";
      std::cout << "sessions " << destroyed->size() << "\n";
      return OkStatus();
    });
  });
}

void AddAudit(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* audit = parent.add_subcommand("audit", "the hash-chained audit log");
  audit->require_subcommand(1);
  auto pass = std::make_shared<std::string>();
  auto receipts = std::make_shared<std::vector<std::string>>();
  auto* verify =
      audit->add_subcommand("verify", "recompute the chain and check the signed checkpoints");
  verify->add_option("--receipt", *receipts,
                     "a receipt COUNT:HEAD printed at a signature (repeatable): still in the log");
  verify->callback([&global, &exit_code, receipts] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto ring = cs::KeyRing::FromCatalog(catalog);
      if (!ring.ok()) return ring.error();
      auto report = cs::AuditVerify(catalog, *ring);
      if (!report.ok()) return report.error();
      for (const auto& receipt : *receipts) {
        TWINRIG_RETURN_IF_ERROR(cs::CheckAuditReceipt(*report, receipt));
      }
      TWINRIG_ASSIGN_OR_RETURN(const std::int64_t records, cs::CheckAuditedRecords(catalog));
      std::cout << "records " << records << "\nentries " << report->entries << "\ncheckpoints "
                << report->checkpoints << "\ncovered " << report->covered << "\nanchored "
                << report->anchored << "\nhead " << report->head << "\n";
      if (report->covered < report->entries) {
        std::cout << "unanchored " << report->entries - report->covered
                  << " (entries after the newest checkpoint; run `twinrig audit "
                     "checkpoint`)\n";
      }
      std::cout << "valid\n";
      return OkStatus();
    });
  });
  auto* cp = audit->add_subcommand("checkpoint", "sign (count, head) with the studio key");
  cp->add_option("--passphrase-file", *pass, "the studio key's passphrase")
      ->transform(UserPath())
      ->required();
  cp->callback([&global, &exit_code, pass] {
    WithCatalog(global, exit_code, [&](store::Catalog& catalog) -> Status {
      auto key = Unseal(catalog, cs::kRoleStudio, "studio", *pass);
      if (!key.ok()) return key.error();
      TWINRIG_RETURN_IF_ERROR(cs::AuditCheckpoint(catalog, *key));
      std::cout << "checkpoint written\n";
      return OkStatus();
    });
  });
}

}  // namespace twinrig::app
