#include "host/camera/settings.h"

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <iomanip>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "util/files.h"

namespace twinrig::camera {

const std::vector<std::pair<std::string, std::string>>& ProfileKeys() {
  // Capture target and quality first: they decide where and how the exposure settings take effect.
  static const std::vector<std::pair<std::string, std::string>> keys = {
      {"capturetarget", "capturetarget"},
      {"imagequality", "imagequality"},
      {"iso", "iso"},
      {"shutter", "shutterspeed"},
      {"aperture", "f-number"},
      {"whitebalance", "whitebalance"},
  };
  return keys;
}

const std::vector<std::string>& UniformSettings() {
  static const std::vector<std::string> names = {"iso",          "shutterspeed", "f-number",
                                                 "whitebalance", "imagesize",    "imagequality",
                                                 "capturetarget"};
  return names;
}

namespace {

std::string NumberText(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

Result<SettingsProfile> FromPairs(const std::map<std::string, std::string>& given,
                                  const std::vector<std::string>& problems,
                                  const std::string& where) {
  std::vector<std::string> all = problems;
  std::set<std::string> known;
  for (const auto& [key, name] : ProfileKeys()) known.insert(key);
  for (const auto& [key, value] : given) {
    if (!known.contains(key)) {
      all.push_back("unknown key '" + key +
                    "' (known: iso, shutter, aperture, whitebalance, imagequality, capturetarget)");
    } else if (value.empty()) {
      all.push_back(key + " is empty");
    }
  }
  if (given.empty() && all.empty()) all.emplace_back("the profile sets nothing");
  if (!all.empty()) {
    std::string text;
    for (const auto& p : all) text += (text.empty() ? "" : "; ") + p;
    return MakeError("bad settings profile: " + text, where,
                     "fix the profile file (e.g. iso = 200, shutter = \"1/125\", aperture = 8)");
  }
  SettingsProfile profile;
  for (const auto& [key, name] : ProfileKeys()) {
    auto it = given.find(key);
    if (it == given.end()) continue;
    std::string value = it->second;
    // libgphoto2 lists apertures as "f/8": a bare number means that.
    if (key == "aperture" && !value.empty() && std::isdigit(static_cast<unsigned char>(value[0]))) {
      value = "f/" + value;
    }
    profile.values.emplace_back(name, value);
  }
  return profile;
}

}  // namespace

Result<SettingsProfile> ParseSettingsProfile(std::string_view text, bool json,
                                             const std::string& where) {
  std::map<std::string, std::string> given;
  std::vector<std::string> problems;
  if (json) {
    auto root = nlohmann::json::parse(text, nullptr, false);
    if (root.is_discarded() || !root.is_object()) {
      return MakeError("the settings profile is not a JSON object", where,
                       "write it as {\"iso\": 200, \"shutter\": \"1/125\", …}");
    }
    for (const auto& [key, value] : root.items()) {
      if (value.is_string()) {
        given[key] = value.get<std::string>();
      } else if (value.is_number_integer()) {
        given[key] = std::to_string(value.get<long long>());
      } else if (value.is_number()) {
        given[key] = NumberText(value.get<double>());
      } else {
        problems.push_back(key + " is not a string or a number");
      }
    }
    return FromPairs(given, problems, where);
  }
  toml::table root;
  try {
    root = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    std::ostringstream line;
    line << "the settings profile is not valid TOML: " << e.description() << " (line "
         << e.source().begin.line << ")";
    return MakeError(line.str(), where, "fix the profile file");
  }
  for (const auto& [key, node] : root) {
    const std::string name(key.str());
    if (auto s = node.value_exact<std::string>()) {
      given[name] = *s;
    } else if (auto i = node.value_exact<std::int64_t>()) {
      given[name] = std::to_string(*i);
    } else if (auto d = node.value_exact<double>()) {
      given[name] = NumberText(*d);
    } else {
      problems.push_back(name + " is not a string or a number");
    }
  }
  return FromPairs(given, problems, where);
}

Result<SettingsProfile> LoadSettingsProfile(const std::filesystem::path& file) {
  auto text = ReadFileText(file);
  if (!text.ok()) {
    return MakeError("cannot read the settings profile", file.string(),
                     "check the path given to --profile");
  }
  return ParseSettingsProfile(*text, file.extension() == ".json", file.string());
}

bool SettingsSurvey::uniform() const {
  for (const auto& c : cameras) {
    if (!c.error.empty()) return false;
  }
  return differing.empty();
}

SettingsSurvey Survey(std::vector<CameraSettings> cameras, std::vector<std::string> names) {
  SettingsSurvey survey;
  survey.cameras = std::move(cameras);
  survey.names = std::move(names);
  for (const auto& name : survey.names) {
    std::map<std::string, int> votes;
    for (const auto& c : survey.cameras) {
      auto it = c.values.find(name);
      if (it != c.values.end()) ++votes[it->second];
    }
    if (votes.empty()) continue;
    // max_element keeps the first of equal counts, and the map is ordered: ties go to the smallest.
    auto best = std::max_element(votes.begin(), votes.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    survey.majority[name] = best->first;
    for (const auto& c : survey.cameras) {
      auto it = c.values.find(name);
      if (it != c.values.end() && it->second != best->first)
        survey.differing[c.serial].push_back(name);
    }
  }
  return survey;
}

namespace {

// Other names a setting goes by: on libgphoto2's generic PTP driver a vendor property is named by
// its code, and the capture target (0xD0C0 on the virtual camera) is one of them.
std::string ResolveName(const std::string& name, const std::map<std::string, std::string>& has) {
  static const std::map<std::string, std::vector<std::string>> aliases = {
      {"capturetarget", {"d0c0"}}};
  if (has.contains(name)) return name;
  auto it = aliases.find(name);
  if (it != aliases.end()) {
    for (const auto& alias : it->second) {
      if (has.contains(alias)) return alias;
    }
  }
  return name;
}

}  // namespace

SettingsSurvey ReadSettings(CameraPool& pool, std::vector<std::string> names) {
  std::vector<CameraSettings> cameras;
  for (const auto& c : pool.cameras()) cameras.push_back({c.serial, c.port, {}, {}, {}});
  std::mutex mutex;
  pool.ForEach(pool.Serials(), [&](const std::string& serial, CameraClient& client) {
    CameraSettings read;
    auto id = client.Connect();
    Result<std::map<std::string, std::string>> values =
        id.ok() ? client.Settings() : Result<std::map<std::string, std::string>>(id.error());
    if (id.ok() && id->serial != serial) {
      values = MakeError("camera " + id->serial + " answers where the rig expects " + serial,
                         client.port(), "fix the wiring or the rig file; run `twinrig cameras`");
    }
    std::lock_guard lock(mutex);
    for (auto& c : cameras) {
      if (c.serial != serial) continue;
      if (values.ok()) {
        c.values = *values;
        for (const auto& name : names) {
          const std::string known_as = ResolveName(name, *values);
          if (known_as != name) c.values[name] = values->at(known_as);
        }
      } else {
        c.error = values.error().what;
        c.todo = values.error().todo;
      }
    }
  });
  return Survey(std::move(cameras), std::move(names));
}

std::string FormatSurvey(const SettingsSurvey& survey, bool colour) {
  std::vector<std::size_t> widths;
  for (const auto& name : survey.names) {
    std::size_t w = name.size();
    for (const auto& c : survey.cameras) {
      auto it = c.values.find(name);
      if (it != c.values.end()) w = std::max(w, it->second.size() + 1);
    }
    widths.push_back(w + 2);
  }
  std::size_t serial_width = 8;
  for (const auto& c : survey.cameras) serial_width = std::max(serial_width, c.serial.size());
  std::ostringstream out;
  out << std::left << "  " << std::setw(static_cast<int>(serial_width + 2)) << "camera";
  for (std::size_t i = 0; i < survey.names.size(); ++i) {
    out << std::setw(static_cast<int>(widths[i])) << survey.names[i];
  }
  out << "\n";
  for (const auto& c : survey.cameras) {
    out << "  " << std::setw(static_cast<int>(serial_width + 2)) << c.serial;
    if (!c.error.empty()) {
      out << "UNREADABLE: " << c.error << "\n";
      continue;
    }
    for (std::size_t i = 0; i < survey.names.size(); ++i) {
      const std::string& name = survey.names[i];
      auto it = c.values.find(name);
      std::string cell = it == c.values.end() ? "-" : it->second;
      auto majority = survey.majority.find(name);
      const bool odd = it != c.values.end() && majority != survey.majority.end() &&
                       it->second != majority->second;
      if (odd) cell += "*";
      // Padding is computed on the plain text so that colour codes do not shift the columns.
      std::string padded =
          cell + std::string(widths[i] > cell.size() ? widths[i] - cell.size() : 1, ' ');
      if (odd && colour) {
        out << "\033[1;31m" << cell << "\033[0m" << padded.substr(cell.size());
      } else {
        out << padded;
      }
    }
    out << "\n";
  }
  out << "  " << std::setw(static_cast<int>(serial_width + 2)) << "majority";
  for (std::size_t i = 0; i < survey.names.size(); ++i) {
    auto it = survey.majority.find(survey.names[i]);
    out << std::setw(static_cast<int>(widths[i]))
        << (it == survey.majority.end() ? "-" : it->second);
  }
  out << "\n";
  int unreadable = 0;
  for (const auto& c : survey.cameras) unreadable += c.error.empty() ? 0 : 1;
  if (survey.uniform()) {
    out << "UNIFORM: " << survey.cameras.size() << " cameras have the same settings\n";
  } else {
    out << "DIFFERENT: " << survey.differing.size() << " camera(s) differ from the majority";
    if (unreadable > 0) out << ", " << unreadable << " unreadable";
    out << " (* marks the odd values)\n";
    for (const auto& c : survey.cameras) {
      auto it = survey.differing.find(c.serial);
      if (!c.error.empty()) {
        out << "  - " << c.serial << ": " << c.error;
        if (!c.todo.empty()) out << " (" << c.todo << ")";
        out << "\n";
      }
      if (it == survey.differing.end()) continue;
      out << "  - " << c.serial << ":";
      for (const auto& name : it->second) {
        out << " " << name << " is " << c.values.at(name) << " (others " << survey.majority.at(name)
            << ")";
      }
      out << "\n";
    }
  }
  return out.str();
}

ApplyReport ApplyProfile(CameraPool& pool, const SettingsProfile& profile) {
  std::vector<std::string> names;
  names.reserve(profile.values.size());
  for (const auto& [name, value] : profile.values) names.push_back(name);
  std::vector<CameraSettings> cameras;
  for (const auto& c : pool.cameras()) cameras.push_back({c.serial, c.port, {}, {}, {}});
  std::mutex mutex;
  std::map<std::string, std::vector<std::string>> problems_of;  // serial -> what went wrong
  pool.ForEach(pool.Serials(), [&](const std::string& serial, CameraClient& client) {
    std::vector<std::string> problems;
    std::map<std::string, std::string> after;  // by the profile's names
    std::string unreadable;
    auto id = client.Connect();
    auto before =
        id.ok() ? client.Settings() : Result<std::map<std::string, std::string>>(id.error());
    if (!before.ok()) {
      unreadable = before.error().what;
      problems.push_back("not reachable: " + before.error().what);
    } else {
      std::map<std::string, std::string> resolved;
      for (const auto& [name, value] : profile.values) {
        resolved[name] = ResolveName(name, *before);
        Status applied = client.Apply(resolved[name], value);
        if (!applied.ok()) problems.push_back("cannot set " + name + ": " + applied.error().what);
      }
      // Read back: what the camera says now is what counts.
      auto now = client.Settings();
      if (!now.ok()) {
        unreadable = now.error().what;
        problems.push_back("unreadable after applying: " + now.error().what);
      } else {
        for (const auto& [name, value] : profile.values) {
          auto it = now->find(resolved[name]);
          const std::string got = it == now->end() ? "absent" : it->second;
          if (it != now->end()) after[name] = got;
          if (got != value) problems.push_back(name + " is " + got + ", not " + value);
        }
      }
    }
    std::lock_guard lock(mutex);
    for (auto& c : cameras) {
      if (c.serial != serial) continue;
      c.values = after;
      c.error = unreadable;
    }
    if (!problems.empty()) problems_of[serial] = std::move(problems);
  });
  ApplyReport report;
  report.after = Survey(std::move(cameras), names);
  for (const auto& c : report.after.cameras) {
    auto it = problems_of.find(c.serial);
    if (it == problems_of.end()) continue;
    std::string line;
    for (const auto& p : it->second) line += (line.empty() ? "" : "; ") + p;
    report.differ.push_back(c.serial + ": " + line);
  }
  return report;
}

}  // namespace twinrig::camera
