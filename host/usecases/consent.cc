#include "host/usecases/consent.h"

#include <algorithm>

#include "consent/audit.h"
#include "consent/crypto.h"
#include "consent/gates.h"
#include "consent/vault.h"
#include "util/files.h"

namespace twinrig::usecases {
namespace {

namespace cs = twinrig::consent;

// Each step of OpenConsent, in order.

Status CheckSubjectRegistered(store::Catalog& catalog, const std::string& subject_id) {
  TWINRIG_RETURN_IF_ERROR(cs::CheckOwnerId(subject_id, "subject"));
  TWINRIG_ASSIGN_OR_RETURN(const bool found, catalog.SubjectExists(subject_id));
  if (!found) {
    return MakeError("unknown subject " + subject_id, "",
                     "register them with `twinrig subject add --name …`");
  }
  return OkStatus();
}

// A session gets one consent record: later changes are amendments, grants and revocations.
std::optional<Failure> ConsentAlreadyOpen(store::Catalog& catalog, const std::string& session_id) {
  auto chain = cs::Chain::ForSession(catalog, session_id);
  if (!chain.ok()) return Fails(Why::kInternal, chain.error());
  if (!chain->records().empty()) {
    return Fails(Why::kConflict, "this session already has a consent record", session_id,
                 "nothing to do; the technician can start a new session");
  }
  return std::nullopt;
}

// A person's new key (the subject's or a guardian's), sealed with their passphrase.
Outcome<cs::KeyInfo> NewPersonKey(store::Catalog& catalog, std::string_view role,
                                  const ConsentRequest& request, const PassphraseSource& source) {
  auto strength = cs::ParseKdfStrength(request.kdf);
  if (!strength.ok()) return Fails(Why::kInternal, strength.error());
  auto pass = source();
  if (!pass.ok()) return Fails(Why::kBadRequest, pass.error());
  if (pass->size() < kMinPassphraseLength) {
    return Fails(
        Why::kRefused, "the " + std::string(role) + "'s passphrase is too short",
        request.subject_id,
        "choose a passphrase of " + std::to_string(kMinPassphraseLength) + " characters or more");
  }
  auto created = cs::CreateKey(catalog, role, request.subject_id, *pass, *strength);
  if (!created.ok()) return Fails(Why::kRefused, created.error());
  return *created;
}

// The subject's key: theirs when they have one, else a new one sealed with their passphrase.
Outcome<cs::KeyInfo> SubjectKey(store::Catalog& catalog, const cs::KeyRing& ring,
                                const ConsentRequest& request, OpenedConsent& opened) {
  if (const cs::KeyInfo* k = ring.FindOwner(cs::kRoleSubject, request.subject_id); k != nullptr) {
    return *k;
  }
  TWINRIG_ASSIGN_OR_FAIL(const cs::KeyInfo created, NewPersonKey(catalog, cs::kRoleSubject, request,
                                                                 request.subject_passphrase));
  opened.new_subject_key = created;
  return created;
}

// Whether the terms name a guardian, who then has a key and signs beside the subject (R23).
bool TermsNameGuardian(const cs::Json& terms) {
  return terms.is_object() && terms.contains("subject") && terms["subject"].is_object() &&
         terms["subject"].contains("guardian") && terms["subject"]["guardian"].is_object();
}

// The guardian's key when the terms name one: theirs when they have one, else a new one.
Outcome<std::optional<cs::KeyInfo>> GuardianKey(store::Catalog& catalog, const cs::KeyRing& ring,
                                                const ConsentRequest& request,
                                                OpenedConsent& opened) {
  if (!TermsNameGuardian(request.terms)) return std::optional<cs::KeyInfo>{};
  if (const cs::KeyInfo* k = ring.FindOwner(cs::kRoleGuardian, request.subject_id)) {
    return std::optional<cs::KeyInfo>{*k};
  }
  if (!request.guardian_passphrase) {
    return Fails(Why::kBadRequest, "the terms name a guardian, who needs a passphrase to sign",
                 request.subject_id, "give the guardian's passphrase (--guardian-passphrase-file)");
  }
  TWINRIG_ASSIGN_OR_FAIL(
      const cs::KeyInfo created,
      NewPersonKey(catalog, cs::kRoleGuardian, request, request.guardian_passphrase));
  opened.new_guardian_key = created;
  return std::optional<cs::KeyInfo>{created};
}

Outcome<cs::Json> ConsentBody(store::Catalog& catalog, const ConsentRequest& request,
                              const cs::KeyInfo& subject_key,
                              const std::optional<cs::KeyInfo>& guardian_key) {
  auto studio_name = catalog.StudioName();
  if (!studio_name.ok()) return Fails(Why::kInternal, studio_name.error());
  cs::ConsentInput input;
  input.subject_id = request.subject_id;
  input.session_id = request.session_id;
  input.technician = request.technician;
  input.text_sha256 = Sha256Hex(request.text);
  input.text_version = request.text_version;
  input.language = request.language;
  input.notice_given_at = request.notice_given_at;
  input.terms = request.terms;
  input.guardian_key = guardian_key;
  auto body = cs::BuildConsentBody(input, subject_key, *studio_name);
  if (!body.ok()) return Fails(Why::kInternal, body.error());  // the terms as the studio set them
  return *body;
}

Result<cs::SecretKey> UnsealWith(store::Catalog& catalog, std::string_view role,
                                 const std::string& owner, const PassphraseSource& passphrase) {
  TWINRIG_ASSIGN_OR_RETURN(const std::string pass, passphrase());
  return cs::UnsealKey(catalog, role, owner, pass);
}

}  // namespace

Outcome<OpenedConsent> OpenConsent(store::Catalog& catalog, const ConsentRequest& request) {
  if (Status known = CheckSubjectRegistered(catalog, request.subject_id); !known.ok()) {
    return Fails(Why::kNotFound, known.error());
  }
  if (auto open = ConsentAlreadyOpen(catalog, request.session_id)) return *open;
  auto ring = cs::KeyRing::FromCatalog(catalog);
  if (!ring.ok()) return Fails(Why::kInternal, ring.error());
  if (ring->FindOwner(cs::kRoleTechnician, request.technician) == nullptr) {
    return Fails(Why::kInternal, "unknown technician " + request.technician, "",
                 "create their key with `twinrig keys add-technician`");
  }
  OpenedConsent opened;
  TWINRIG_ASSIGN_OR_FAIL(const cs::KeyInfo subject_key,
                         SubjectKey(catalog, *ring, request, opened));
  // The subject's passphrase is checked before anything is written.
  std::optional<cs::SecretKey> subject_secret;
  if (request.subject_signs_now) {
    auto key =
        UnsealWith(catalog, cs::kRoleSubject, request.subject_id, request.subject_passphrase);
    if (!key.ok()) return Fails(Why::kDenied, key.error());
    subject_secret = *key;
  }
  TWINRIG_ASSIGN_OR_FAIL(const std::optional<cs::KeyInfo> guardian_key,
                         GuardianKey(catalog, *ring, request, opened));
  TWINRIG_ASSIGN_OR_FAIL(const cs::Json body,
                         ConsentBody(catalog, request, subject_key, guardian_key));
  auto rec = cs::AppendRecord(catalog, request.session_id, "consent", body);
  if (!rec.ok()) return Fails(Why::kRefused, rec.error());
  opened.record = *rec;
  if (subject_secret) {
    auto signed_rec =
        cs::SignNewest(catalog, request.session_id, std::string(cs::kRoleSubject), *subject_secret);
    if (!signed_rec.ok()) return Fails(Why::kRefused, signed_rec.error());
    opened.record = *signed_rec;
  }
  return opened;
}

Outcome<cs::StoredRecord> ProposeGrants(store::Catalog& catalog, const std::string& session_id,
                                        const std::string& type, const cs::Json& grants) {
  if (!grants.is_array() && !grants.is_object()) {
    return Fails(Why::kBadRequest, "grants: a grant or a list", session_id);
  }
  const cs::Json list = grants.is_object() ? cs::Json::array({grants}) : grants;
  auto rec = cs::AddGrants(catalog, session_id, type, list);
  if (!rec.ok()) return Fails(Why::kRefused, rec.error());
  return *rec;
}

std::string WitnessOf(const cs::Chain& chain, const std::string& fallback) {
  const auto& newest = chain.records().back();
  std::string owner;
  if (newest.body.contains("studio") && newest.body["studio"].is_object()) {
    owner = newest.body["studio"].value("witness", "");
  }
  if (owner.empty()) owner = newest.body.value("technician", "");
  if (owner.empty() && chain.state().consent != nullptr &&
      chain.state().consent->body.contains("studio")) {
    owner = chain.state().consent->body["studio"].value("witness", "");
  }
  return owner.empty() ? fallback : owner;
}

bool NewestWaitsFor(const cs::Chain& chain, const std::string& role) {
  if (chain.records().empty()) return false;
  const auto missing = chain.records().back().MissingRoles();
  return std::find(missing.begin(), missing.end(), role) != missing.end();
}

Outcome<SignedRecord> Sign(store::Catalog& catalog, const SignRequest& request) {
  auto chain = cs::Chain::ForSession(catalog, request.session_id);
  if (!chain.ok()) return Fails(Why::kInternal, chain.error());
  if (chain->records().empty()) {
    return Fails(Why::kConflict, "the session has no consent record",
                 "session " + request.session_id, "create one with `twinrig consent new`");
  }
  std::string owner = "studio";
  if (request.role == cs::kRoleSubject || request.role == cs::kRoleGuardian) {
    owner = chain->state().subject_id;
  }
  if (request.role == cs::kRoleTechnician) {
    owner = request.technician.empty() ? WitnessOf(*chain, "") : request.technician;
  }
  auto key = UnsealWith(catalog, request.role, owner, request.passphrase);
  if (!key.ok()) return Fails(Why::kDenied, key.error());
  auto rec = cs::SignNewest(catalog, request.session_id, request.role, *key);
  if (!rec.ok()) return Fails(Why::kRefused, rec.error());
  if (request.role == cs::kRoleStudio) {
    if (Status cp = cs::AuditCheckpoint(catalog, *key); !cp.ok()) {
      return Fails(Why::kInternal, cp.error());
    }
  }
  // The subject (and the studio) keep this: `twinrig audit verify --receipt` checks it later.
  auto receipt = cs::AuditReceipt(catalog);
  if (!receipt.ok()) return Fails(Why::kInternal, receipt.error());
  return SignedRecord{*rec, *receipt};
}

Outcome<ReviewedTwin> ReviewTwin(store::Catalog& catalog, const ReviewRequest& request) {
  const std::string& session = request.session_id;
  auto chain = cs::Chain::ForSession(catalog, session);
  if (!chain.ok()) return Fails(Why::kInternal, chain.error());
  // Once only: a review waiting for the studio's countersignature counts too.
  const auto& records = chain->records();
  const bool reviewed = chain->state().twin != nullptr ||
                        std::any_of(records.begin(), records.end(), [](const cs::StoredRecord& r) {
                          return r.type == "twin_approval" || r.type == "twin_rejection";
                        });
  if (reviewed) return Fails(Why::kConflict, "the twin was already reviewed", session);
  // The passphrase is checked before anything is written.
  std::optional<cs::SecretKey> key;
  if (request.subject_passphrase) {
    auto unsealed = UnsealWith(catalog, cs::kRoleSubject, chain->state().subject_id,
                               request.subject_passphrase);
    if (!unsealed.ok()) return Fails(Why::kDenied, unsealed.error());
    key = *unsealed;
  }
  auto rec = cs::ReviewTwin(catalog, session, request.approve, request.note);
  if (!rec.ok()) return Fails(Why::kRefused, rec.error());
  ReviewedTwin out{*rec, 0};
  if (!key) return out;
  auto signed_rec = cs::SignNewest(catalog, session, std::string(cs::kRoleSubject), *key);
  if (!signed_rec.ok()) return Fails(Why::kRefused, signed_rec.error());
  out.record = *signed_rec;
  if (!request.approve) {
    // The person said no: the capture goes now. The rejection record already holds the hashes of
    // what was shown; the studio's countersignature adds the destruction record.
    auto removed = cs::RemoveSessionPlaintext(catalog.studio(), session);
    if (!removed.ok()) return Fails(Why::kInternal, removed.error());
    out.files_destroyed = *removed;
  }
  return out;
}

Outcome<Revocation> Revoke(store::Catalog& catalog, const RevokeRequest& request) {
  const std::string& session = request.session_id;
  auto chain = cs::Chain::ForSession(catalog, session);
  if (!chain.ok()) return Fails(Why::kInternal, chain.error());
  for (const auto& id : request.grant_ids) {
    if (!chain->state().grants.contains(id)) {
      return Fails(Why::kNotFound, "there is no grant " + id + " to revoke", "session " + session,
                   "`twinrig consent status` lists the grants");
    }
  }
  const std::string owner =
      request.role == cs::kRoleSubject ? chain->state().subject_id : std::string("studio");
  // Unseal first: a wrong passphrase must not leave an unsigned revocation behind.
  auto key = UnsealWith(catalog, request.role, owner, request.passphrase);
  if (!key.ok()) return Fails(Why::kDenied, key.error());
  auto rec = cs::Revoke(catalog, session, request.grant_ids, request.erase, request.reason);
  if (!rec.ok()) return Fails(Why::kRefused, rec.error());
  auto signed_rec = cs::SignNewest(catalog, session, request.role, *key);
  if (!signed_rec.ok()) return Fails(Why::kRefused, signed_rec.error());
  return Revocation{*signed_rec, chain->state().subject_id};
}

namespace {

// Signs the newest record as `role` with the key of `owner`, unsealed by `passphrase`.
Outcome<cs::SecretKey> SignNewestAs(store::Catalog& catalog, const std::string& session,
                                    const std::string& role, const std::string& owner,
                                    const PassphraseSource& passphrase) {
  auto key = UnsealWith(catalog, role, owner, passphrase);
  if (!key.ok()) return Fails(Why::kDenied, key.error());
  auto rec = cs::SignNewest(catalog, session, role, *key);
  if (!rec.ok()) return Fails(Why::kRefused, rec.error());
  return *key;
}

// After the studio countersigned a rejection: the capture goes, and a signed record says so.
Outcome<std::string> RecordDestruction(store::Catalog& catalog, const std::string& session,
                                       const cs::SecretKey& studio_key) {
  auto removed = cs::RemoveSessionPlaintext(catalog.studio(), session);
  if (!removed.ok()) return Fails(Why::kInternal, removed.error());
  auto rec = cs::AppendRecord(
      catalog, session, "destruction",
      {{"destroyed_files",
        {{"parts", cs::Json::array({"images", "twin", "reconstruction", "vault"})},
         {"method", "removed from the station after the subject rejected the twin"}}},
       {"plaintext_files_removed", *removed},
       {"reason", "the subject rejected the twin"}});
  if (!rec.ok()) return Fails(Why::kRefused, rec.error());
  auto signed_rec = cs::SignNewest(catalog, session, std::string(cs::kRoleStudio), studio_key);
  if (!signed_rec.ok()) return Fails(Why::kRefused, signed_rec.error());
  return signed_rec->record_id();
}

}  // namespace

Outcome<Countersigned> Countersign(store::Catalog& catalog, const CountersignRequest& request) {
  const std::string& session = request.session_id;
  auto chain = cs::Chain::ForSession(catalog, session);
  if (!chain.ok()) return Fails(Why::kInternal, chain.error());
  if (chain->records().empty()) return Fails(Why::kConflict, "nothing to sign", session);
  if (NewestWaitsFor(*chain, "subject")) {
    return Fails(Why::kConflict, "the record waits for the subject's signature first", session,
                 "the model signs on their screen");
  }
  Countersigned out;
  if (NewestWaitsFor(*chain, "technician")) {
    auto witness =
        SignNewestAs(catalog, session, std::string(cs::kRoleTechnician),
                     WitnessOf(*chain, request.technician), request.technician_passphrase);
    if (!witness.ok()) return witness.failure();
    out.roles.emplace_back("technician");
  }
  if (!NewestWaitsFor(*chain, "studio")) {
    if (out.roles.empty())
      return Fails(Why::kConflict, "nothing waits for a countersignature", session);
    return out;
  }
  TWINRIG_ASSIGN_OR_FAIL(const cs::SecretKey studio_key,
                         SignNewestAs(catalog, session, std::string(cs::kRoleStudio), "studio",
                                      request.studio_passphrase));
  out.roles.emplace_back("studio");
  // A rejection the studio has countersigned is followed by the record of the destruction.
  auto after = cs::Chain::ForSession(catalog, session);
  if (!after.ok()) return Fails(Why::kInternal, after.error());
  const cs::EffectiveState& s = after->state();
  if (s.twin != nullptr && !s.twin_approved && !s.destroyed && !s.pending) {
    TWINRIG_ASSIGN_OR_FAIL(out.destruction, RecordDestruction(catalog, session, studio_key));
  }
  if (Status checkpoint = cs::AuditCheckpoint(catalog, studio_key); !checkpoint.ok()) {
    return Fails(Why::kInternal, checkpoint.error());
  }
  return out;
}

}  // namespace twinrig::usecases
