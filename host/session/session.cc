#include "host/session/session.h"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "host/studio/rig_file.h"
#include "host/studio/studio_paths.h"
#include "util/clock.h"
#include "util/files.h"

namespace twinrig::session {

using nlohmann::json;

namespace {

std::string Today() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[16];
  std::strftime(text, sizeof(text), "%Y%m%d", &tm);
  return text;
}

std::string_view KindName(SessionKind kind) {
  return kind == SessionKind::kCalibration ? "calibration" : "subject";
}

}  // namespace

json SessionInfo::ToJson() const {
  json cams = json::array();
  for (const auto& c : cameras) {
    cams.push_back({{"serial", c.serial},
                    {"address", c.address},
                    {"node_id", c.node_id},
                    {"node_port", c.node_port}});
  }
  json j = {{"id", id},   {"kind", KindName(kind)},   {"subject_id", subject_id},
            {"rig", rig}, {"created_at", created_at}, {"cameras", cams}};
  if (!calibration.empty()) j["calibration"] = calibration;
  return j;
}

std::string FramePath(const std::string& serial, int take) {
  char name[32];
  std::snprintf(name, sizeof(name), "take-%04d.jpg", take);
  return "images/" + serial + "/" + name;
}

Result<std::string> ResolveRig(const std::filesystem::path& studio, const std::string& rig) {
  if (!rig.empty()) return rig;
  return DefaultRig(studio);
}

Result<std::string> DefaultRig(const std::filesystem::path& studio) {
  const std::vector<std::string> rigs = studio::StudioPaths(studio).Rigs();
  if (rigs.size() == 1) return rigs.front();
  if (rigs.empty()) {
    return MakeError("the studio has no rig file (rigs/<rig>/rig.toml)", studio.string(),
                     "write the rig file, or start the virtual studio with `twinrig sim up`");
  }
  return MakeError("the studio has several rigs", studio.string(), "choose one with --rig");
}

Result<SessionInfo> CreateSession(store::Catalog& catalog, SessionKind kind,
                                  const std::string& subject_id, const std::string& rig_name) {
  const auto studio = catalog.studio();
  if (kind == SessionKind::kSubject) {
    if (subject_id.empty()) {
      return MakeError(
          "a capture session needs the subject it captures", "twinrig session new",
          "give --subject ID (twinrig subject list), or --calibration for board takes");
    }
    TWINRIG_ASSIGN_OR_RETURN(const bool known, catalog.SubjectExists(subject_id));
    if (!known) {
      return MakeError("no subject " + subject_id + " in this studio", "twinrig session new",
                       "add the subject first: twinrig subject add --name ...");
    }
  } else if (!subject_id.empty()) {
    return MakeError("a calibration session captures no subject", "twinrig session new",
                     "leave out --subject, or leave out --calibration");
  }
  const studio::StudioPaths paths(studio);
  TWINRIG_ASSIGN_OR_RETURN(const studio::Rig rig, studio::ReadRigFile(paths.RigFile(rig_name)));

  SessionInfo info;
  info.kind = kind;
  info.subject_id = subject_id;
  info.rig = rig_name;
  info.created_at = UtcIsoNow();
  // The calibration in use now (its id, in the text file `current`; see calibration/).
  if (auto current = ReadFileText(paths.RigFolder(rig_name) / "calibration" / "current");
      current.ok()) {
    for (const char ch : *current) {
      if (std::isspace(static_cast<unsigned char>(ch)) == 0) info.calibration += ch;
    }
  }
  for (const auto& camera : rig.cameras) {
    info.cameras.push_back(
        {camera.serial, "ptpip:" + camera.address, camera.node_id, camera.node_port});
  }

  // The id is the day and a counter; the catalog's primary key makes a clash impossible.
  const std::string prefix = "S-" + Today() + "-";
  TWINRIG_ASSIGN_OR_RETURN(const std::int64_t count, catalog.CountSessionsWithPrefix(prefix));
  char number[24];
  std::snprintf(number, sizeof(number), "%04lld", static_cast<long long>(count) + 1);
  info.id = prefix + number;
  info.folder = paths.SessionFolder(info.id);

  TWINRIG_RETURN_IF_ERROR(catalog.InsertSession({.id = info.id,
                                                 .subject_id = subject_id,
                                                 .rig = rig_name,
                                                 .state = "new",
                                                 .kind = std::string(KindName(kind))}));

  std::error_code ec;
  std::filesystem::create_directories(info.folder / "images", ec);
  if (ec)
    return MakeError("could not create the session folder: " + ec.message(), info.folder.string());
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(info.folder / "session.json", info.ToJson().dump(2)));
  return info;
}

Result<SessionInfo> LoadSession(const std::filesystem::path& studio, const std::string& id) {
  const auto folder = studio::StudioPaths(studio).SessionFolder(id);
  auto text = ReadFileText(folder / "session.json");
  if (!text.ok()) {
    return MakeError(
        "no session " + id + " in this studio", folder.string(),
        "list sessions with `twinrig session list`, or create one with `twinrig session new`");
  }
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) {
    return MakeError("session.json is not valid JSON", (folder / "session.json").string(),
                     "restore it from a backup");
  }
  SessionInfo info;
  info.id = j.value("id", id);
  info.kind = j.value("kind", "subject") == "calibration" ? SessionKind::kCalibration
                                                          : SessionKind::kSubject;
  info.subject_id = j.value("subject_id", "");
  info.rig = j.value("rig", "");
  info.created_at = j.value("created_at", "");
  info.calibration = j.value("calibration", "");
  info.folder = folder;
  for (const auto& c : j.value("cameras", json::array())) {
    info.cameras.push_back({c.value("serial", ""), c.value("address", ""), c.value("node_id", 0),
                            c.value("node_port", 0)});
  }
  return info;
}

Result<std::string> LatestSessionId(store::Catalog& catalog) {
  TWINRIG_ASSIGN_OR_RETURN(const auto latest, catalog.LatestSession());
  if (!latest) {
    return MakeError("the studio has no session yet", catalog.studio().string(),
                     "create one with `twinrig session new`");
  }
  return latest->id;
}

Status WriteManifest(const SessionInfo& session, const JournalState& state) {
  json files = json::array();
  json accepted_missing = json::array();
  std::uint64_t total = 0;
  for (const auto& [take, t] : state.takes) {
    for (const auto& [serial, frame] : t.frames) {
      if (!frame.verified() && frame.accepted_missing) {
        accepted_missing.push_back(
            {{"camera", serial}, {"take", take}, {"reason", *frame.accepted_missing}});
      }
      if (!frame.verified()) continue;
      files.push_back({{"path", *frame.path},
                       {"camera", serial},
                       {"take", take},
                       {"size", frame.size},
                       {"sha256", frame.sha256}});
      total += frame.size;
    }
  }
  json manifest = {
      {"session", session.id}, {"files", files}, {"count", files.size()}, {"bytes", total}};
  // Frames closed as missing on purpose: the seal vouches for their absence and its reason.
  if (!accepted_missing.empty()) manifest["accepted_missing"] = accepted_missing;
  return WriteFileAtomic(session.folder / "manifest.json", manifest.dump(2));
}

}  // namespace twinrig::session
