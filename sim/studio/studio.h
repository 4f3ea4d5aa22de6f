// The virtual studio as a service: `twinrig sim up` generates a layout, writes the rig file where
// the host reads it, and starts `twinrig-sim-studio` in the background; that process hosts the
// virtual cameras (sim/camera) with the renderer (sim/render) as their image source, and the
// simulated trigger nodes. `sim status` and `sim down` talk to it over a control socket in the
// studio folder.
//
// On disk, inside the studio folder:
//   rigs/<rig>/rig.toml          the rig file (what the station reads)
//   sim/<rig>/groundtruth.json   the truth (only sim/ and scoring read it; calibration never does)
//   sim/control.sock             JSON-lines control socket of the running virtual studio
//   sim/studio.json              what runs: pid, rig, cameras, nodes, addresses
//   sim/exposures.jsonl          the truth log of every exposure (true times, lags, hashes)
//   sim/studio.log               the virtual studio's log
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "host/studio/studio_paths.h"
#include "util/result.h"

namespace twinrig::sim::studio {

struct Paths {
  explicit Paths(std::filesystem::path studio_folder) : studio(std::move(studio_folder)) {}
  std::filesystem::path studio;
  [[nodiscard]] std::filesystem::path SimFolder() const {
    return ::twinrig::studio::StudioPaths(studio).SimFolder();
  }
  [[nodiscard]] std::filesystem::path RigFolder(const std::string& rig) const {
    return ::twinrig::studio::StudioPaths(studio).RigFolder(rig);
  }
  [[nodiscard]] std::filesystem::path RigFile(const std::string& rig) const {
    return ::twinrig::studio::StudioPaths(studio).RigFile(rig);
  }
  [[nodiscard]] std::filesystem::path TruthFile(const std::string& rig) const {
    return SimFolder() / rig / "groundtruth.json";
  }
  [[nodiscard]] std::filesystem::path ControlSocket() const { return SimFolder() / "control.sock"; }
  [[nodiscard]] std::filesystem::path StateFile() const { return SimFolder() / "studio.json"; }
  [[nodiscard]] std::filesystem::path ExposureLog() const {
    return SimFolder() / "exposures.jsonl";
  }
  [[nodiscard]] std::filesystem::path LogFile() const { return SimFolder() / "studio.log"; }
};

struct UpOptions {
  std::string layout =
      "head24";     // head24 | body160 | a layout folder with rig.toml + groundtruth.json
  int cameras = 0;  // 0: all of the layout; else the first N cameras
  std::uint64_t seed = 1;
  std::string camera_base_address = "127.0.0.2";  // camera k at base + k - 1
  std::string node_base_address = "127.0.2.1";
  int image_width = 0;  // 0: the layout's sensor size; else render at this size
  int image_height = 0;
  std::size_t synthetic_bytes = 0;  // > 0: synthetic payload of this size instead of renders
  // Trigger nodes: "sim" (twinrig-node-sim, simulated clocks) or "qemu" (the firmware image on an
  // emulated mps2-an385 per node, sim/studio/qemu_node.h).
  std::string nodes = "sim";
  std::filesystem::path firmware;  // qemu: the image (empty: DefaultFirmwareImage())
  std::vector<std::string> Validate() const;
};

// Generates/reads the layout, writes the rig and truth files, starts the virtual studio in the
// background and waits until every camera listens. `studio_binary` is twinrig-sim-studio.
Result<nlohmann::json> Up(const std::filesystem::path& studio, const UpOptions& options,
                          const std::filesystem::path& studio_binary);
// Asks the running virtual studio; an Error when none runs.
Result<nlohmann::json> Call(const std::filesystem::path& studio, const nlohmann::json& request,
                            int timeout_ms = 5000);
Result<nlohmann::json> QueryStatus(const std::filesystem::path& studio);
// Stops it cleanly (and for sure: a studio that does not stop in time is killed).
Status Down(const std::filesystem::path& studio);

std::filesystem::path DefaultStudioBinary();

}  // namespace twinrig::sim::studio
