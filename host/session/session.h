// A capture session: a folder in the studio and a row in the catalog.
//   sessions/<id>/session.json     plan: subject, rig, the cameras (serial -> address, node, port)
//   sessions/<id>/journal.jsonl    what happened (host/session/journal.h)
//   sessions/<id>/images/<serial>/take-0001.jpg   the same file name for a frame in every folder
//   sessions/<id>/manifest.json    every verified file with size and SHA-256
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "host/session/journal.h"
#include "store/catalog.h"
#include "util/result.h"

namespace twinrig::session {

struct SessionCamera {
  std::string serial;
  std::string address;  // libgphoto2 port, e.g. "ptpip:127.0.0.2"
  int node_id = 0;
  int node_port = 0;
};

// A subject session captures a person and needs their signed consent before any capture; a
// calibration session captures boards and charts only, never a person.
enum class SessionKind { kSubject, kCalibration };

struct SessionInfo {
  std::string id;
  SessionKind kind = SessionKind::kSubject;
  std::string subject_id;
  std::string rig;
  std::string created_at;
  // The rig calibration in use when the session was created (rigs/<rig>/calibration/current);
  // empty when the rig had none.
  std::string calibration;
  std::vector<SessionCamera> cameras;
  std::filesystem::path folder;
  [[nodiscard]] nlohmann::json ToJson() const;
};

// Creates a session on the rig `rig` (rigs/<rig>/rig.toml in the studio): for a subject known to
// the catalog, or (kCalibration, empty subject) for board takes.
Result<SessionInfo> CreateSession(store::Catalog& catalog, SessionKind kind,
                                  const std::string& subject_id, const std::string& rig);
Result<SessionInfo> LoadSession(const std::filesystem::path& studio, const std::string& id);
// The newest session in the catalog.
Result<std::string> LatestSessionId(store::Catalog& catalog);
// The only rig in the studio, when there is exactly one.
Result<std::string> DefaultRig(const std::filesystem::path& studio);
// `rig` when one is given, else the studio's only rig.
Result<std::string> ResolveRig(const std::filesystem::path& studio, const std::string& rig);

// "images/<serial>/take-0001.jpg"
std::string FramePath(const std::string& serial, int take);

// Writes manifest.json (atomically) from the journal's verified frames.
Status WriteManifest(const SessionInfo& session, const JournalState& state);

}  // namespace twinrig::session
