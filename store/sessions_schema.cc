// The studio's, subjects' and sessions' tables.
// Never edit a step that has shipped: add a new one.
#include "store/schema.h"

namespace twinrig::store {

const std::vector<Migration>& SessionsMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "studio and subjects", R"sql(
        CREATE TABLE studio_meta (
          key   TEXT PRIMARY KEY,
          value TEXT NOT NULL
        );
        CREATE TABLE subjects (
          id         TEXT PRIMARY KEY,          -- e.g. SUB-000001
          name       TEXT NOT NULL,
          created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
      )sql"},
      {2, "cameras and sessions", R"sql(
        CREATE TABLE cameras (
          serial     TEXT PRIMARY KEY,          -- identity is the serial number, never the port
          model      TEXT NOT NULL DEFAULT '',
          last_port  TEXT NOT NULL DEFAULT '',
          first_seen TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
          last_seen  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE TABLE sessions (
          id          TEXT PRIMARY KEY,         -- e.g. S-20261128-0001
          subject_id  TEXT REFERENCES subjects(id),
          rig         TEXT NOT NULL,
          state       TEXT NOT NULL DEFAULT 'new',
          created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE INDEX sessions_by_subject ON sessions(subject_id);
      )sql"},
      {4, "session kinds: subject captures and calibration (board) captures", R"sql(
        ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'subject';
      )sql"},
  };
  return kMigrations;
}

}  // namespace twinrig::store
