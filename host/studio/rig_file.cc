#include "host/studio/rig_file.h"

#include <arpa/inet.h>

#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "util/files.h"

namespace twinrig::studio {
namespace {

bool IsIpv4(const std::string& text) {
  in_addr address{};
  return inet_pton(AF_INET, text.c_str(), &address) == 1;
}

std::string Line(const toml::node& node) {
  return "line " + std::to_string(node.source().begin.line) + ": ";
}

// Reads the fields of one TOML table; each problem names its line and key.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string where, std::vector<std::string>& problems)
      : table_(table), where_(std::move(where)), problems_(problems), first_(problems.size()) {}

  // True when no field of this table had a problem.
  [[nodiscard]] bool Clean() const { return problems_.size() == first_; }

  std::string String(const char* key) {
    const toml::node* node = table_.get(key);
    const auto value = node != nullptr ? node->value<std::string>() : std::nullopt;
    if (!value || value->empty()) Problem(node, key, "is missing or not a non-empty string");
    return value.value_or("");
  }
  std::int64_t Int(const char* key, std::int64_t lo, std::int64_t hi, bool optional = false) {
    const toml::node* node = table_.get(key);
    if (node == nullptr && optional) return 0;
    const auto value = node != nullptr ? node->value<std::int64_t>() : std::nullopt;
    if (!value) {
      Problem(node, key, "is missing or not an integer");
      return lo;
    }
    if (*value < lo || *value > hi) {
      Problem(node, key,
              "= " + std::to_string(*value) + " is outside " + std::to_string(lo) + ".." +
                  std::to_string(hi));
    }
    return *value;
  }
  Vec3 Point(const char* key) {
    Vec3 out{};
    const toml::node* node = table_.get(key);
    const toml::array* array = node != nullptr ? node->as_array() : nullptr;
    if (array == nullptr || array->size() != 3) {
      Problem(node, key, "is missing or not an array of 3 numbers");
      return out;
    }
    for (size_t i = 0; i < 3; ++i) {
      const auto value = (*array)[i].value<double>();
      if (!value || !std::isfinite(*value) || std::abs(*value) > 1000) {
        Problem(node, std::string(key) + "[" + std::to_string(i) + "]",
                "is not a finite number of metres (|x| <= 1000)");
      } else {
        out[i] = *value;
      }
    }
    return out;
  }

 private:
  void Problem(const toml::node* node, const std::string& key, const std::string& what) {
    problems_.push_back(Line(node != nullptr ? *node : static_cast<const toml::node&>(table_)) +
                        where_ + "." + key + " " + what);
  }

  const toml::table& table_;
  std::string where_;
  std::vector<std::string>& problems_;
  size_t first_;
};

// The tables of an array of tables `key` of `root`; problems for what is not a table.
std::vector<const toml::table*> Tables(const toml::table& root, const char* key,
                                       std::vector<std::string>& problems) {
  std::vector<const toml::table*> out;
  const toml::node* node = root.get(key);
  if (node == nullptr) return out;
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    problems.push_back(Line(*node) + key + " is not an array of tables ([[" + key + "]])");
    return out;
  }
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::table* table = (*array)[i].as_table();
    if (table == nullptr) {
      problems.push_back(Line((*array)[i]) + key + "[" + std::to_string(i) + "] is not a table");
    }
    out.push_back(table);
  }
  return out;
}

void ReadHeader(const toml::table& root, const std::string& folder_name, Rig& rig,
                std::vector<std::string>& problems) {
  if (const toml::node* schema = root.get("schema")) {
    if (schema->value<std::int64_t>().value_or(0) != kRigSchema) {
      problems.push_back(Line(*schema) + "schema is not " + std::to_string(kRigSchema) +
                         ": the file was written for another version of twinrig");
    }
  }
  rig.name = folder_name;
  if (const toml::node* name = root.get("name")) {
    const auto value = name->value<std::string>();
    if (!value || value->empty()) {
      problems.push_back(Line(*name) + "name is not a non-empty string");
    } else {
      rig.name = *value;
    }
  }
  const toml::node* trigger = root.get("trigger");
  if (trigger == nullptr) return;
  if (!trigger->is_table()) {
    problems.push_back(Line(*trigger) + "trigger is not a table ([trigger])");
    return;
  }
  const toml::node* limit = trigger->as_table()->get("max_sync_error_us");
  if (limit == nullptr) return;
  const std::optional<double> value = limit->value<double>();  // an integer reads as well
  if (!value || !(*value >= 1.0 && *value <= kLargestMaxSyncErrorUs)) {
    problems.push_back(Line(*limit) +
                       "[trigger] max_sync_error_us must be a number of microseconds from 1 to " +
                       std::to_string(static_cast<int>(kLargestMaxSyncErrorUs)) +
                       " (without it a capture needs 50 us)");
    return;
  }
  rig.max_sync_error_us = *value;
}

// Reads [[nodes]]; the nodes whose own fields are fine go to `checked` for the cross checks.
void ReadNodes(const toml::table& root, Rig& rig, std::vector<const NodeSpec*>& checked,
               std::vector<std::string>& problems) {
  const auto tables = Tables(root, "nodes", problems);
  if (tables.empty()) problems.push_back("no trigger nodes: add the rig's [[nodes]]");
  std::vector<bool> clean;
  for (size_t i = 0; i < tables.size(); ++i) {
    if (tables[i] == nullptr) continue;
    TableReader field(*tables[i], "nodes[" + std::to_string(i) + "]", problems);
    NodeSpec node;
    node.id = static_cast<int>(field.Int("id", 1, 65535));
    node.address = field.String("address");
    node.udp_port = static_cast<std::uint16_t>(field.Int("udp_port", 1, 65535));
    node.ports = static_cast<int>(field.Int("ports", 1, 64, /*optional=*/true));
    if (!node.address.empty() && !IsIpv4(node.address)) {
      problems.push_back(Line(*tables[i]->get("address")) + "nodes[" + std::to_string(i) +
                         "].address '" + node.address + "' is not an IPv4 address");
    }
    rig.nodes.push_back(node);
    clean.push_back(field.Clean());
  }
  for (size_t i = 0; i < rig.nodes.size(); ++i) {
    if (clean[i]) checked.push_back(&rig.nodes[i]);
  }
}

void ReadCameras(const toml::table& root, RigNeeds needs, Rig& rig,
                 std::vector<const CameraSpec*>& checked, std::vector<std::string>& problems) {
  const auto tables = Tables(root, "cameras", problems);
  if (tables.empty() && needs == RigNeeds::kCameras) {
    problems.push_back("no cameras: add the rig's [[cameras]]");
  }
  std::vector<bool> clean;
  for (size_t i = 0; i < tables.size(); ++i) {
    if (tables[i] == nullptr) continue;
    TableReader field(*tables[i], "cameras[" + std::to_string(i) + "]", problems);
    CameraSpec camera;
    camera.serial = field.String("serial");
    camera.model = field.String("model");
    camera.address = field.String("address");
    camera.node_id = static_cast<int>(field.Int("node", 1, 65535));
    camera.node_port = static_cast<int>(field.Int("node_port", 0, 63));
    camera.position = field.Point("position");
    camera.look_at = field.Point("look_at");
    rig.cameras.push_back(camera);
    clean.push_back(field.Clean());
  }
  for (size_t i = 0; i < rig.cameras.size(); ++i) {
    if (clean[i]) checked.push_back(&rig.cameras[i]);
  }
}

void CheckCamera(const CameraSpec& camera, const std::map<int, const NodeSpec*>& nodes,
                 std::set<std::string>& serials, std::set<std::string>& addresses,
                 std::set<std::pair<int, int>>& outputs, std::vector<std::string>& problems) {
  const std::string name = "camera " + camera.serial;
  if (!serials.insert(camera.serial).second) problems.push_back(name + ": serial appears twice");
  if (!addresses.insert(camera.address).second) {
    problems.push_back(name + ": address " + camera.address + " appears twice");
  }
  if (!IsIpv4(camera.address)) {
    problems.push_back(name + ": address '" + camera.address + "' is not an IPv4 address");
  }
  const auto node = nodes.find(camera.node_id);
  if (node == nodes.end()) {
    problems.push_back(name + ": node " + std::to_string(camera.node_id) + " is not in [[nodes]]");
  } else if (node->second->ports > 0 && camera.node_port >= node->second->ports) {
    problems.push_back(name + ": node_port " + std::to_string(camera.node_port) +
                       " is not an output of node " + std::to_string(camera.node_id) + " (" +
                       std::to_string(node->second->ports) + " ports)");
  }
  if (!outputs.insert({camera.node_id, camera.node_port}).second) {
    problems.push_back(name + ": node " + std::to_string(camera.node_id) + " port " +
                       std::to_string(camera.node_port) + " drives two cameras");
  }
  const Vec3 d{camera.look_at[0] - camera.position[0], camera.look_at[1] - camera.position[1],
               camera.look_at[2] - camera.position[2]};
  if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < 1e-6) {
    problems.push_back(name + ": look_at equals position");
  }
}

// What no single table shows: duplicates, cameras wired to outputs that do not exist. Only the
// entries whose own fields are fine are compared (a field that failed would add echoes), but a
// camera finds its node among all of them.
void CrossCheck(const Rig& rig, const std::vector<const NodeSpec*>& nodes,
                const std::vector<const CameraSpec*>& cameras, std::vector<std::string>& problems) {
  std::map<int, const NodeSpec*> by_id;
  for (const NodeSpec& node : rig.nodes) by_id.emplace(node.id, &node);
  std::set<int> ids;
  std::set<std::string> endpoints;
  for (const NodeSpec* node : nodes) {
    const std::string name = "node " + std::to_string(node->id);
    if (!ids.insert(node->id).second) problems.push_back(name + ": id appears twice");
    const std::string endpoint = node->address + ":" + std::to_string(node->udp_port);
    if (!endpoints.insert(endpoint).second) {
      problems.push_back(name + ": address " + endpoint + " appears twice");
    }
  }
  std::set<std::string> serials;
  std::set<std::string> addresses;
  std::set<std::pair<int, int>> outputs;
  for (const CameraSpec* camera : cameras) {
    CheckCamera(*camera, by_id, serials, addresses, outputs, problems);
  }
}

Error FileProblems(const std::string& where, const std::vector<std::string>& problems) {
  constexpr size_t kListed = 50;  // a file of garbage still gets a readable message
  std::string what = "rig file has " + std::to_string(problems.size()) + " problem(s): ";
  for (size_t i = 0; i < problems.size() && i < kListed; ++i) {
    if (i > 0) what += "; ";
    what += problems[i];
  }
  if (problems.size() > kListed) what += "; ...";
  return MakeError(what, where, "fix these keys of the rig file, or write it again");
}

toml::array ToTomlArray(const Vec3& v) { return toml::array{v[0], v[1], v[2]}; }

}  // namespace

Status WriteRigFile(const std::filesystem::path& path, const Rig& rig) {
  toml::table root;
  root.insert("schema", kRigSchema);
  root.insert("name", rig.name);
  toml::array nodes;
  for (const NodeSpec& node : rig.nodes) {
    toml::table table{
        {"id", node.id}, {"address", node.address}, {"udp_port", static_cast<int>(node.udp_port)}};
    if (node.ports > 0) table.insert("ports", node.ports);
    nodes.push_back(std::move(table));
  }
  root.insert("nodes", std::move(nodes));
  if (rig.max_sync_error_us > 0)
    root.insert("trigger", toml::table{{"max_sync_error_us", rig.max_sync_error_us}});
  toml::array cameras;
  for (const CameraSpec& camera : rig.cameras) {
    cameras.push_back(toml::table{{"serial", camera.serial},
                                  {"model", camera.model},
                                  {"address", camera.address},
                                  {"node", camera.node_id},
                                  {"node_port", camera.node_port},
                                  {"position", ToTomlArray(camera.position)},
                                  {"look_at", ToTomlArray(camera.look_at)}});
  }
  if (!cameras.empty()) root.insert("cameras", std::move(cameras));
  std::ostringstream out;
  out << "# twinrig rig file: nodes, their outputs, and the cameras they drive with the positions\n"
         "# the rig was planned with (metres, +Y up).\n"
      << toml::toml_formatter(root) << "\n";
  return WriteFileAtomic(path, out.str());
}

Result<Rig> ParseRigFile(std::string_view text, const std::string& where,
                         const std::string& folder_name, RigNeeds needs) {
  toml::table root;
  try {
    root = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    std::ostringstream what;
    what << "rig file is not valid TOML at line " << e.source().begin.line << ", column "
         << e.source().begin.column << ": " << e.description();
    return MakeError(what.str(), where, "fix the rig file or write it again");
  }
  std::vector<std::string> problems;
  Rig rig;
  ReadHeader(root, folder_name, rig, problems);
  std::vector<const NodeSpec*> nodes;
  std::vector<const CameraSpec*> cameras;
  ReadNodes(root, rig, nodes, problems);
  ReadCameras(root, needs, rig, cameras, problems);
  CrossCheck(rig, nodes, cameras, problems);
  if (!problems.empty()) return FileProblems(where, problems);
  return rig;
}

Result<Rig> ReadRigFile(const std::filesystem::path& path, RigNeeds needs) {
  TWINRIG_ASSIGN_OR_RETURN(const std::string text, ReadFileText(path));
  return ParseRigFile(text, path.string(), path.parent_path().filename().string(), needs);
}

}  // namespace twinrig::studio
