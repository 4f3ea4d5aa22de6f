// The consent steps as the studio's front ends ask for them: the command line (app/) and the review
// station (host/review) call these and only parse their input and render the result. One rule set
// for both: a session gets one consent record, and a subject's new key needs a passphrase of
// kMinPassphraseLength characters or more.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "consent/keys.h"
#include "consent/records.h"
#include "host/usecases/outcome.h"
#include "store/catalog.h"

namespace twinrig::usecases {

inline constexpr std::size_t kMinPassphraseLength = 8;

// A passphrase read only when a step needs it (the command line reads a file, the station has it
// in the request).
using PassphraseSource = std::function<Result<std::string>()>;

struct ConsentRequest {
  std::string subject_id;
  std::string session_id;
  std::string technician;  // the witness; must have a key
  std::string text;        // the exact consent text shown: its SHA-256 goes into the record
  std::string text_version;
  std::string language = "en";
  std::string notice_given_at;  // empty: now
  consent::Json terms = consent::Json::object();
  std::string kdf = "moderate";  // Argon2id cost of a new subject key
  // The subject's passphrase: for their new key (first consent), and to sign at once.
  PassphraseSource subject_passphrase;
  bool subject_signs_now = false;  // the station: the subject signs as the record is written
  // When the terms name a guardian (a minor, R23): the guardian's passphrase for their new key.
  // They sign the record later, as the role "guardian".
  PassphraseSource guardian_passphrase;
};

struct OpenedConsent {
  std::optional<consent::KeyInfo> new_subject_key;   // set when this consent created it
  std::optional<consent::KeyInfo> new_guardian_key;  // likewise
  consent::StoredRecord record;                      // signed by the subject when they signed now
};

// Writes the session's consent record: the subject is registered, the session has no consent
// record yet, the witness has a key, a new subject key gets a long enough passphrase, and when the
// subject signs now a wrong passphrase writes nothing.
Outcome<OpenedConsent> OpenConsent(store::Catalog& catalog, const ConsentRequest& request);

struct SignRequest {
  std::string session_id;
  std::string role;        // subject, guardian, technician or studio
  std::string technician;  // the technician's key (default: the record's witness)
  PassphraseSource passphrase;
};

struct SignedRecord {
  consent::StoredRecord record;
  std::string receipt;  // "COUNT:HEAD" of the audit log after signing, for the signer to keep
};

// Signs the session's newest record as `role`; the studio's signature also writes an audit
// checkpoint.
Outcome<SignedRecord> Sign(store::Catalog& catalog, const SignRequest& request);

struct ReviewRequest {
  std::string session_id;
  bool approve = false;
  std::string note;  // the subject's words
  // Given: the subject signs at once (and a rejection removes the capture at once); empty: the
  // record waits for `twinrig consent sign`.
  PassphraseSource subject_passphrase;
};

struct ReviewedTwin {
  consent::StoredRecord record;
  std::uintmax_t files_destroyed = 0;
};

// The subject's verdict on their twin, once per session.
Outcome<ReviewedTwin> ReviewTwin(store::Catalog& catalog, const ReviewRequest& request);

struct RevokeRequest {
  std::string session_id;
  std::vector<std::string> grant_ids;  // none: everything
  bool erase = false;                  // also ask for erasure of the biometric data
  std::string reason;
  std::string role = "subject";  // or the studio, on the subject's verified request
  PassphraseSource passphrase;
};

struct Revocation {
  consent::StoredRecord record;  // signed
  std::string subject_id;
};

// Withdraws consent (some grants, or all), signed at once: a wrong passphrase writes nothing.
Outcome<Revocation> Revoke(store::Catalog& catalog, const RevokeRequest& request);

struct CountersignRequest {
  std::string session_id;
  std::string technician;  // the witness when the records name none (the station's technician)
  PassphraseSource technician_passphrase;
  PassphraseSource studio_passphrase;
};

struct Countersigned {
  std::vector<std::string> roles;  // technician, studio: the signatures added
  std::string destruction;         // the destruction record's id, when a rejection was closed
};

// The studio's side of the newest record, after the subject: the witness and the studio sign what
// waits for them; a rejection the studio countersigns is followed by the signed record of the
// destruction of the capture; the studio's signature writes an audit checkpoint.
Outcome<Countersigned> Countersign(store::Catalog& catalog, const CountersignRequest& request);

// Licenses the twin (type "grant") or changes existing grants ("amendment"): `grants` is one grant
// or a list; the record then waits for the subject's signature.
Outcome<consent::StoredRecord> ProposeGrants(store::Catalog& catalog, const std::string& session_id,
                                             const std::string& type, const consent::Json& grants);

// The technician who witnessed the newest record (or the consent), else `fallback`.
std::string WitnessOf(const consent::Chain& chain, const std::string& fallback);

// Whether the newest record of the chain still waits for `role`'s signature.
bool NewestWaitsFor(const consent::Chain& chain, const std::string& role);

}  // namespace twinrig::usecases
