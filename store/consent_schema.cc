// Consent's tables: public keys, signed records, the audit log and its checkpoints, usage.
// Never edit a step that has shipped: add a new one.
#include "store/schema.h"

namespace twinrig::store {

const std::vector<Migration>& ConsentMigrations() {
  static const std::vector<Migration> kMigrations = {
      {3, "consent: public keys, signed records, audit log, usage", R"sql(
        CREATE TABLE public_keys (
          kid         TEXT PRIMARY KEY,         -- first 8 bytes of SHA-256(public key), hex
          role        TEXT NOT NULL,            -- studio, technician, subject
          owner       TEXT NOT NULL,            -- studio, technician id, subject id
          public_key  TEXT NOT NULL,            -- Ed25519, hex
          created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
          retired_at  TEXT
        );
        CREATE INDEX public_keys_by_owner ON public_keys(role, owner);
        CREATE TABLE consent_records (
          record_id   TEXT PRIMARY KEY,
          session_id  TEXT NOT NULL,
          subject_id  TEXT NOT NULL,
          seq         INTEGER NOT NULL,
          record_type TEXT NOT NULL,
          sha256      TEXT NOT NULL,            -- of the exact stored bytes
          created_at  TEXT NOT NULL,
          UNIQUE (session_id, seq)
        );
        CREATE INDEX consent_records_by_subject ON consent_records(subject_id);
        CREATE TABLE audit_log (
          seq         INTEGER PRIMARY KEY,      -- 1, 2, 3 … without gaps
          payload     TEXT NOT NULL,            -- canonical JSON: at, event, decision, details
          hash        TEXT NOT NULL             -- SHA-256("audit-v1" || prev || len || payload)
        );
        CREATE TABLE audit_checkpoints (
          id          INTEGER PRIMARY KEY,
          count       INTEGER NOT NULL,         -- entries covered
          head        TEXT NOT NULL,            -- hash of entry `count`
          at          TEXT NOT NULL,
          kid         TEXT NOT NULL,
          signature   TEXT NOT NULL             -- Ed25519 by the studio key, hex
        );
        CREATE TABLE usage (
          id          INTEGER PRIMARY KEY,
          export_id   TEXT NOT NULL,
          at          TEXT NOT NULL,
          session_id  TEXT NOT NULL,
          subject_id  TEXT NOT NULL,
          record_id   TEXT NOT NULL,            -- the record that holds the grant
          grant_id    TEXT NOT NULL,
          licensee    TEXT NOT NULL,
          purpose     TEXT NOT NULL,
          medium      TEXT NOT NULL,
          per_use_minor INTEGER NOT NULL DEFAULT 0,
          currency    TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX usage_by_licensee ON usage(licensee, at);
      )sql"},
  };
  return kMigrations;
}

}  // namespace twinrig::store
