// Camera settings across a rig: every camera's settings read at once, the value most cameras have
// per setting, the cameras that differ; and a settings profile (ISO, shutter speed, aperture, white
// balance, image quality, capture target) applied to every camera at once, read back and compared.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/camera/camera_pool.h"
#include "util/result.h"

namespace twinrig::camera {

// A profile's keys and the libgphoto2 settings they set, in the order they are applied.
const std::vector<std::pair<std::string, std::string>>& ProfileKeys();

// The settings a studio keeps uniform across its cameras (libgphoto2 names), in table order.
const std::vector<std::string>& UniformSettings();

struct SettingsProfile {
  // libgphoto2 setting name -> value, in ProfileKeys() order.
  std::vector<std::pair<std::string, std::string>> values;
};

// A profile file: TOML (`iso = 200`, `shutter = "1/125"`, …) or, for a ".json" file, a JSON object
// with the same keys. Keys: iso, shutter, aperture, whitebalance, imagequality, capturetarget; at
// least one. An unknown key or a value that is not a string or number is an error naming the file
// and the key.
Result<SettingsProfile> ParseSettingsProfile(std::string_view text, bool json,
                                             const std::string& where);
Result<SettingsProfile> LoadSettingsProfile(const std::filesystem::path& file);

struct CameraSettings {
  std::string serial;
  std::string port;
  std::map<std::string, std::string> values;  // empty when unreadable
  std::string error;                          // why the camera could not be read, or ""
  std::string todo;
};

struct SettingsSurvey {
  std::vector<CameraSettings> cameras;
  std::vector<std::string> names;               // the settings compared, in table order
  std::map<std::string, std::string> majority;  // per setting, the value most cameras have
  // serial -> the settings where that camera has another value than the majority
  std::map<std::string, std::vector<std::string>> differing;
  [[nodiscard]] bool uniform() const;  // every camera read and none differs
};

// The majority of each of `names` over the cameras that have it (ties: the smallest value, so the
// answer does not depend on camera order), and who differs.
SettingsSurvey Survey(std::vector<CameraSettings> cameras, std::vector<std::string> names);

// Reads every camera of the pool at once.
SettingsSurvey ReadSettings(CameraPool& pool, std::vector<std::string> names = UniformSettings());

// A table: one row per camera, one column per setting; a value that differs from the majority is
// marked with '*' (and shown in bold red when `colour`); a last block lists who differs.
std::string FormatSurvey(const SettingsSurvey& survey, bool colour);

struct ApplyReport {
  SettingsSurvey after;  // read back from every camera after applying
  // One line per camera that does not have the profile now: "TR000003: iso is 800, not 200".
  std::vector<std::string> differ;
  [[nodiscard]] bool ok() const { return differ.empty(); }
};

// Applies the profile to every camera of the pool at once (each camera's settings one after the
// other, in ProfileKeys() order), reads every camera back and lists those that differ from it.
ApplyReport ApplyProfile(CameraPool& pool, const SettingsProfile& profile);

}  // namespace twinrig::camera
