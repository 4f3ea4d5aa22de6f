#include "host/riglink/rig_file.h"

#include <toml++/toml.h>

#include <optional>
#include <string>

namespace twinrig::riglink {

namespace {

Result<toml::table> ParseRigFile(const std::string& where) {
  try {
    return toml::parse_file(where);
  } catch (const toml::parse_error& e) {
    return MakeError(std::string("rig file is not valid TOML: ") + std::string(e.description()),
                     where, "fix the file or write it again with twinrig sim up");
  }
}

}  // namespace

Result<std::vector<RigNode>> ReadRigNodes(const std::filesystem::path& rig_toml) {
  const std::string where = rig_toml.string();
  auto parsed = ParseRigFile(where);
  if (!parsed.ok()) return parsed.error();
  const toml::table& root = *parsed;
  const toml::array* nodes = root["nodes"].as_array();
  if (nodes == nullptr || nodes->empty()) {
    return MakeError("rig file lists no trigger nodes ([[nodes]])", where,
                     "add the rig's nodes, or give them with --nodes");
  }
  std::vector<RigNode> out;
  for (std::size_t i = 0; i < nodes->size(); ++i) {
    const toml::table* table = (*nodes)[i].as_table();
    const std::string item = where + ": nodes[" + std::to_string(i) + "]";
    if (table == nullptr) return MakeError("is not a table", item, "fix the rig file");
    const auto id = (*table)["id"].value<std::int64_t>();
    const auto address = (*table)["address"].value<std::string>();
    const auto port = (*table)["udp_port"].value<std::int64_t>();
    const auto ports = (*table)["ports"].value<std::int64_t>();
    if (!id || !address || !port) {
      return MakeError("needs id, address and udp_port", item, "fix the rig file");
    }
    if (*port <= 0 || *port > 65535)
      return MakeError("udp_port out of range", item, "fix the rig file");
    auto endpoint = ParseEndpoint(*address + ":" + std::to_string(*port));
    if (!endpoint.ok()) return MakeError(endpoint.error().what, item, endpoint.error().todo);
    out.push_back({static_cast<int>(*id), *endpoint, static_cast<int>(ports.value_or(0))});
  }
  return out;
}

Result<double> ReadRigMaxSyncError(const std::filesystem::path& rig_toml) {
  const std::string where = rig_toml.string();
  auto parsed = ParseRigFile(where);
  if (!parsed.ok()) return parsed.error();
  const auto limit = (*parsed)["trigger"]["max_sync_error_us"];
  if (!limit) return kDefaultMaxSyncErrorUs;
  const std::optional<double> value = limit.value<double>();  // an integer reads as well
  if (!value || !(*value >= 1.0 && *value <= kLargestMaxSyncErrorUs)) {
    return MakeError("[trigger] max_sync_error_us must be a number of microseconds from 1 to " +
                         std::to_string(static_cast<int>(kLargestMaxSyncErrorUs)),
                     where, "fix the rig file (without it a capture needs 50 us)");
  }
  return *value;
}

Result<std::filesystem::path> FindRigFile(const std::filesystem::path& studio,
                                          const std::string& rig) {
  const std::filesystem::path rigs = studio / "rigs";
  if (!rig.empty()) {
    const auto path = rigs / rig / "rig.toml";
    if (!std::filesystem::exists(path)) {
      return MakeError("no rig file for rig '" + rig + "'", path.string(),
                       "start the virtual studio (twinrig sim up) or give --nodes");
    }
    return path;
  }
  std::vector<std::filesystem::path> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(rigs, error)) {
    if (std::filesystem::exists(entry.path() / "rig.toml"))
      found.push_back(entry.path() / "rig.toml");
  }
  if (found.empty()) {
    return MakeError("the studio has no rig", rigs.string(),
                     "start the virtual studio (twinrig sim up) or give --nodes ADDR:PORT,...");
  }
  if (found.size() > 1) {
    return MakeError("the studio has " + std::to_string(found.size()) + " rigs", rigs.string(),
                     "choose one with --rig NAME");
  }
  return found.front();
}

}  // namespace twinrig::riglink
