#include <iomanip>
#include <iostream>

#include "app/command.h"
#include "sim/studio/studio.h"

namespace twinrig::app {
namespace {

void PrintStudio(const nlohmann::json& status) {
  std::cout << "virtual studio: rig " << status.value("rig", "?") << ", "
            << status.at("cameras").size() << " cameras, images: " << status.value("render", "?")
            << ", pid " << status.value("pid", 0) << "\n";
  std::cout << "rig file: " << status.value("rig_file", "") << "\n";
  for (const auto& node : status.value("nodes", nlohmann::json::array())) {
    std::cout << "  trigger node " << node.value("id", 0) << " at " << node.value("endpoint", "")
              << (node.contains("board") ? "  " + node.value("board", "") : std::string())
              << (node.value("running", false) ? "  running" : "  STOPPED") << "\n";
  }
  std::cout << "  " << std::left << std::setw(16) << "serial" << std::setw(28) << "port"
            << std::setw(11) << "exposures"
            << "on card\n";
  for (const auto& camera : status.at("cameras")) {
    std::cout << "  " << std::left << std::setw(16) << camera.value("serial", "") << std::setw(28)
              << camera.value("port", "") << std::setw(11) << camera.value("exposures", 0)
              << camera.value("images_on_card", 0) << "\n";
  }
}

}  // namespace

void AddSim(CLI::App& parent, const GlobalOptions& global, int& exit_code) {
  auto* sim =
      parent.add_subcommand("sim", "the virtual studio: virtual cameras, renderer, trigger nodes");
  sim->require_subcommand(1);

  static sim::studio::UpOptions up;
  auto* up_cmd = sim->add_subcommand("up", "start the virtual studio in the background");
  up_cmd->add_option("--layout", up.layout,
                     "head24, body160, or a folder with rig.toml + groundtruth.json");
  up_cmd->add_option("--cameras", up.cameras, "use only the first N cameras of the layout");
  up_cmd->add_option("--seed", up.seed, "layout seed (same seed, same studio)");
  up_cmd->add_option("--camera-base-address", up.camera_base_address,
                     "address of camera 1 (loopback)");
  up_cmd->add_option("--node-base-address", up.node_base_address,
                     "address of trigger node 1 (loopback)");
  up_cmd->add_option("--width", up.image_width, "render width (default: the camera's sensor)");
  up_cmd->add_option("--height", up.image_height, "render height");
  up_cmd->add_option("--synthetic-bytes", up.synthetic_bytes,
                     "serve fixed-size synthetic JPEGs of this size instead of renders");
  up_cmd->add_option("--nodes", up.nodes,
                     "trigger nodes: sim (simulated) or qemu (the firmware on QEMU mps2-an385)");
  up_cmd->add_option("--firmware", up.firmware, "firmware image for --nodes qemu");
  up_cmd->callback([&global, &exit_code] {
    // A layout folder the user names is resolved here like every other path (the studio process
    // runs in its own working directory); the built-in names stay names.
    if (up.layout.find('/') != std::string::npos || std::filesystem::is_directory(up.layout)) {
      up.layout = AbsoluteUserPath(up.layout).string();
    }
    auto started = sim::studio::Up(global.studio, up, sim::studio::DefaultStudioBinary());
    if (!started.ok()) {
      PrintError(started.error().what, started.error().where, started.error().todo);
      exit_code = kExitFailed;
      return;
    }
    PrintStudio(*started);
    exit_code = kExitOk;
  });

  sim->add_subcommand("status", "what the virtual studio runs")->callback([&global, &exit_code] {
    auto status = sim::studio::QueryStatus(global.studio);
    if (!status.ok()) {
      PrintError(status.error().what, status.error().where, status.error().todo);
      exit_code = kExitFailed;
      return;
    }
    PrintStudio(*status);
    exit_code = kExitOk;
  });

  sim->add_subcommand("down", "stop the virtual studio")->callback([&global, &exit_code] {
    Status stopped = sim::studio::Down(global.studio);
    if (!stopped.ok()) {
      PrintError(stopped.error().what, stopped.error().where, stopped.error().todo);
      exit_code = kExitFailed;
      return;
    }
    std::cout << "virtual studio stopped\n";
    exit_code = kExitOk;
  });
}

}  // namespace twinrig::app
