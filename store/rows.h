// The rows the catalog's typed queries read and write, one struct per table, grouped by the
// library that owns the table (its migrations are in store/<owner>_schema.cc).
#pragma once

#include <cstdint>
#include <string>

namespace twinrig::store {

// --- studio, subjects, sessions (host/session, the CLI, the review station) ---------------------

struct SubjectRow {
  std::string id;  // e.g. SUB-000001
  std::string name;
  std::string key_id;  // the subject's newest signing key, "" when it has none
};

struct SessionRow {
  std::string id;          // e.g. S-20261128-0001
  std::string subject_id;  // "" for a calibration (board) capture
  std::string rig;
  std::string state;  // "new" …
  std::string kind;   // "subject" or "calibration"
  std::string created_at;
};

// --- consent: keys, signed records, audit log, usage --------------------------------------------

struct PublicKeyRow {
  std::string kid;
  std::string role;        // studio, technician, subject
  std::string owner;       // studio, technician id, subject id
  std::string public_key;  // Ed25519, hex
  std::string retired_at;  // "" while in use
};

struct ConsentRecordRow {
  std::string record_id;
  std::string session_id;
  std::string subject_id;
  int seq = 0;
  std::string record_type;
  std::string sha256;  // of the exact stored bytes
  std::string created_at;
};

struct AuditEntryRow {
  std::int64_t seq = 0;  // 1, 2, 3 … without gaps
  std::string payload;   // canonical JSON
  std::string hash;      // hex, as stored (never trusted: verification recomputes it)
};

struct AuditCheckpointRow {
  std::int64_t id = 0;
  std::int64_t count = 0;
  std::string head;
  std::string at;
  std::string kid;
  std::string signature;
};

// Where an export recorded in the audit log wrote its files.
struct ExportCopyRow {
  std::string out;      // the export's folder
  std::string written;  // JSON array of the paths it wrote, relative to `out`
};

struct UsageRow {
  std::string export_id;
  std::string at;
  std::string session_id;
  std::string subject_id;
  std::string record_id;  // the record that holds the grant
  std::string grant_id;
  std::string licensee;
  std::string purpose;
  std::string medium;
  std::int64_t per_use_minor = 0;
  std::string currency;
};

// Usage summed per (licensee, grant, session, currency).
struct UsageSumRow {
  std::string licensee;
  std::string grant_id;
  std::string session_id;
  std::int64_t uses = 0;
  std::int64_t amount_minor = 0;
  std::string currency;
};

}  // namespace twinrig::store
