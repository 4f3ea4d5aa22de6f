// twinrig-sim-studio: the running virtual studio (started by `twinrig sim up`). It hosts every
// virtual camera of the rig in one CameraFarm, renders their images from the ground truth, and
// answers the control socket until told to stop (or SIGTERM).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "sim/camera/camera_farm.h"
#include "sim/layout/layout.h"
#include "sim/render/renderer.h"
#include "sim/studio/control_socket.h"
#include "sim/studio/qemu_node.h"
#include "sim/studio/rendering_source.h"
#include "sim/studio/studio.h"
#include "util/files.h"
#include "util/install_layout.h"
#include "util/logging.h"

extern char** environ;

namespace twinrig::sim::studio {
namespace {

// A simulated trigger node (twinrig-node-sim) running as a child of the studio.
struct NodeProcess {
  int id = 0;
  std::string endpoint;
  pid_t pid = -1;
};

// Starts one twinrig-node-sim per node of the rig, with its true clock error from the ground truth
// and its outputs wired to the remote ports of the cameras the rig file says it drives.
Result<std::vector<NodeProcess>> StartNodes(const layout::Rig& rig,
                                            const layout::GroundTruth& truth, const Paths& paths,
                                            const std::filesystem::path& binary) {
  std::vector<NodeProcess> nodes;
  std::error_code ec;
  std::filesystem::create_directories(paths.SimFolder() / "nodes", ec);
  for (const auto& node : rig.nodes) {
    double offset_s = 0;
    double drift_ppm = 0;
    for (const auto& t : truth.nodes) {
      if (t.id == node.id) {
        offset_s = t.clock_offset_s;
        drift_ppm = t.drift_ppm;
      }
    }
    std::vector<std::string> args = {
        binary.string(),
        "--bind",
        node.address,
        "--udp-port",
        std::to_string(node.udp_port),
        "--node-id",
        std::to_string(node.id),
        "--ports",
        std::to_string(node.ports),
        "--offset-ns",
        std::to_string(static_cast<std::int64_t>(offset_s * 1e9)),
        "--drift-ppm",
        std::to_string(drift_ppm),
        "--truth-log",
        (paths.SimFolder() / "nodes" / ("node-" + std::to_string(node.id) + ".jsonl")).string()};
    for (const auto& camera : rig.cameras) {
      if (camera.node_id != node.id) continue;
      args.push_back("--wire");
      args.push_back(std::to_string(camera.node_port) + "=" + camera.address + ":" +
                     std::to_string(wire::kRemotePortUdp));
    }
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
    if (rc != 0) {
      return MakeError(
          "could not start trigger node " + std::to_string(node.id) + ": " + std::strerror(rc),
          binary.string(), "check the twinrig installation (twinrig-node-sim)");
    }
    nodes.push_back({node.id, node.address + ":" + std::to_string(node.udp_port), pid});
  }
  return nodes;
}

void StopNodes(std::vector<NodeProcess>& nodes) {
  for (auto& n : nodes) {
    if (n.pid > 0) ::kill(n.pid, SIGTERM);
  }
  for (auto& n : nodes) {
    if (n.pid <= 0) continue;
    for (int i = 0; i < 100 && ::waitpid(n.pid, nullptr, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (::waitpid(n.pid, nullptr, WNOHANG) == 0) {
      ::kill(n.pid, SIGKILL);
      ::waitpid(n.pid, nullptr, 0);
    }
    n.pid = -1;
  }
}

// The trigger nodes as the firmware image on QEMU, one emulator per node of the rig. Each line
// change the firmware reports on its console becomes the remote-port datagram of the camera that
// output drives, stamped with the host instant of the tick the pin moved at (qemu_node.h:
// ConsoleClock), not with when the report arrived: the camera exposes after the node's own edge,
// however late the console delivered it.
class QemuNodes {
 public:
  ~QemuNodes() {
    Stop();
    if (socket_ >= 0) ::close(socket_);
  }
  Status Start(const layout::Rig& rig, const Paths& paths, const std::filesystem::path& firmware) {
    socket_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (socket_ < 0) return MakeError("cannot open the socket of the camera wires");
    std::error_code ec;
    std::filesystem::create_directories(paths.SimFolder() / "nodes", ec);
    for (const auto& node : rig.nodes) {
      std::vector<sockaddr_in> wiring(static_cast<std::size_t>(node.ports));
      for (const auto& camera : rig.cameras) {
        if (camera.node_id != node.id || camera.node_port < 0 || camera.node_port >= node.ports)
          continue;
        sockaddr_in& to = wiring[static_cast<std::size_t>(camera.node_port)];
        to.sin_family = AF_INET;
        to.sin_port = htons(wire::kRemotePortUdp);
        inet_pton(AF_INET, camera.address.c_str(), &to.sin_addr);
      }
      QemuNodeOptions options;
      options.firmware = firmware;
      options.node_id = static_cast<std::uint16_t>(node.id);
      options.ports = node.ports;
      options.host_address = node.address;
      options.udp_port = node.udp_port;
      options.console_log =
          paths.SimFolder() / "nodes" / ("node-" + std::to_string(node.id) + "-console.log");
      const int fd = socket_;
      const auto node_id = static_cast<std::uint16_t>(node.id);
      auto started = QemuNode::Start(options, [fd, node_id, wiring](const ConsoleEdge& e) {
        if (e.port >= wiring.size() || wiring[e.port].sin_family != AF_INET) return;
        wire::LineEdge edge;
        edge.line = e.shutter ? wire::Line::kShutter : wire::Line::kFocus;
        edge.closed = e.closed;
        edge.true_time_ns = e.moved_ns;
        edge.capture_id = e.capture_id;
        edge.node_id = node_id;
        edge.node_port = e.port;
        const auto bytes = wire::Encode(edge);
        ::sendto(fd, bytes.data(), bytes.size(), 0,
                 reinterpret_cast<const sockaddr*>(&wiring[e.port]), sizeof(sockaddr_in));
      });
      if (!started.ok()) return started.error();
      nodes_.push_back(std::move(*started));
    }
    for (auto& node : nodes_) {
      if (!node->WaitForBoots(1, std::chrono::seconds(20)))
        return MakeError("the firmware did not boot in QEMU within 20 s",
                         "node " + std::to_string(node->options().node_id),
                         "read its console log in sim/nodes/");
    }
    return OkStatus();
  }
  void Stop() {
    for (auto& node : nodes_) node->Stop();
  }
  [[nodiscard]] nlohmann::json Describe() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& node : nodes_) {
      const auto& o = node->options();
      list.push_back({{"id", o.node_id},
                      {"endpoint", o.host_address + ":" + std::to_string(o.udp_port)},
                      {"board", "mps2-an385 (QEMU)"},
                      {"boots", node->boots()},
                      {"running", node->running()}});
    }
    return list;
  }
  [[nodiscard]] bool empty() const { return nodes_.empty(); }

 private:
  int socket_ = -1;
  std::vector<std::unique_ptr<QemuNode>> nodes_;
};

using nlohmann::json;

std::atomic<bool> g_stop{false};
void OnSignal(int /*signal*/) { g_stop = true; }

struct Settings {
  std::filesystem::path studio;
  std::string rig;
  std::filesystem::path head_folder;
  int width = 0;
  int height = 0;
  std::size_t synthetic_bytes = 0;
  bool with_nodes = true;
  std::string nodes = "sim";  // sim | qemu
  std::filesystem::path firmware;
};

// Where the head scan is: --head, else twinrig's data folder (util/install_layout.h).
std::filesystem::path DefaultHeadFolder() { return DataDir() / "head"; }

std::optional<camera::Fault> FaultFromJson(const json& j) {
  camera::Fault f;
  f.drop_connection = j.value("drop_connection", false);
  f.no_events = j.value("no_events", false);
  f.busy_on_capture = j.value("busy_on_capture", false);
  f.transfer_bytes_per_s = j.value("transfer_bytes_per_s", std::uint64_t{0});
  f.corrupt_transfer = j.value("corrupt_transfer", false);
  f.card_full = j.value("card_full", false);
  f.refuse_session = j.value("refuse_session", false);
  if (j.contains("battery_level")) f.battery_level = j.at("battery_level").get<int>();
  return f;
}

// The cameras of the rig file, each with its true shutter lag, rendering at the requested size.
Result<std::vector<camera::CameraConfig>> CameraConfigs(const Settings& settings,
                                                        const layout::Rig& rig,
                                                        const layout::GroundTruth& truth) {
  std::vector<camera::CameraConfig> configs;
  for (const auto& spec : rig.cameras) {
    const auto* cam = truth.Find(spec.serial);
    if (cam == nullptr) {
      return MakeError("camera " + spec.serial + " is in the rig file but not in the truth");
    }
    camera::CameraConfig config;
    config.serial = spec.serial;
    config.manufacturer = "Canon";
    config.model = spec.model;
    config.address = spec.address;
    config.shutter_lag_ns = static_cast<std::int64_t>(cam->shutter_lag_s * 1e9);
    config.seed = static_cast<std::uint32_t>(configs.size() + 1);
    if (settings.synthetic_bytes > 0) config.synthetic_jpeg_bytes = settings.synthetic_bytes;
    // The camera offers the size it renders at as its largest image size.
    config.sensor_width = settings.width > 0 ? settings.width : cam->intrinsics.width;
    config.sensor_height = settings.height > 0 ? settings.height : cam->intrinsics.height;
    configs.push_back(config);
  }
  return configs;
}

const char* SceneModeName(render::SceneState::Mode mode) {
  switch (mode) {
    case render::SceneState::Mode::kSubject:
      return "subject";
    case render::SceneState::Mode::kCalibration:
      return "calibration";
    default:
      return "empty";
  }
}

// The running virtual studio: its camera farm with the renderer in front, its trigger nodes and
// its control socket, started step by step and stopped together.
class VirtualStudio {
 public:
  explicit VirtualStudio(const Settings& settings) : settings_(settings), paths_(settings.studio) {}

  // The rig file and the truth.
  Status Load() {
    TWINRIG_ASSIGN_OR_RETURN(rig_, layout::ReadRigFile(paths_.RigFile(settings_.rig)));
    TWINRIG_ASSIGN_OR_RETURN(truth_, layout::ReadGroundTruth(paths_.TruthFile(settings_.rig)));
    return OkStatus();
  }

  // The camera farm, with the renderer as its image source unless the payloads are synthetic.
  Status StartCameras() {
    TWINRIG_ASSIGN_OR_RETURN(auto configs, CameraConfigs(settings_, rig_, truth_));
    camera::FarmOptions farm_options;
    farm_options.truth_log = paths_.ExposureLog();
    farm_ = std::make_unique<camera::CameraFarm>(std::move(configs), farm_options);
    if (settings_.synthetic_bytes == 0) {
      TWINRIG_ASSIGN_OR_RETURN(renderer_, render::Renderer::Create(settings_.head_folder, truth_));
      farm_->SetImageSource(
          RenderingImageSource(*renderer_, truth_, settings_.width, settings_.height, [this] {
            std::lock_guard lock(scene_mutex_);
            return scene_;
          }));
    }
    return farm_->Start();
  }

  // One twinrig-node-sim, or one QEMU board, per node of the rig.
  Status StartTriggerNodes() {
    if (!settings_.with_nodes || rig_.nodes.empty()) return OkStatus();
    if (settings_.nodes == "qemu") {
      const auto firmware =
          settings_.firmware.empty() ? DefaultFirmwareImage() : settings_.firmware;
      return qemu_nodes_.Start(rig_, paths_, firmware);
    }
    TWINRIG_ASSIGN_OR_RETURN(nodes_,
                             StartNodes(rig_, truth_, paths_, HelperProgram("twinrig-node-sim")));
    return OkStatus();
  }

  // The control socket, and the state file that says what runs.
  Status Listen() {
    TWINRIG_RETURN_IF_ERROR(control_.Start(
        paths_.ControlSocket(), [this](const json& request) { return Handle(request); }));
    (void)WriteFileAtomic(paths_.StateFile(), Describe().dump(2));
    return OkStatus();
  }

  void Stop() {
    control_.Stop();
    StopNodes(nodes_);
    qemu_nodes_.Stop();
    if (farm_ != nullptr) farm_->Stop();
  }

  [[nodiscard]] std::size_t CameraCount() const { return farm_ != nullptr ? farm_->size() : 0; }

 private:
  json Describe() {
    json cameras = json::array();
    for (size_t i = 0; i < farm_->size(); ++i) {
      auto stats = farm_->Stats(i);
      cameras.push_back({{"serial", farm_->config(i).serial},
                         {"port", farm_->GphotoPort(i)},
                         {"exposures", stats.exposures},
                         {"images_on_card", stats.images_on_card},
                         {"connections", stats.connections}});
    }
    std::lock_guard lock(scene_mutex_);
    json node_list = json::array();
    for (const auto& n : nodes_) {
      bool alive = n.pid > 0 && ::waitpid(n.pid, nullptr, WNOHANG) == 0;
      node_list.push_back({{"id", n.id}, {"endpoint", n.endpoint}, {"running", alive}});
    }
    if (!qemu_nodes_.empty()) node_list = qemu_nodes_.Describe();
    return json{
        {"ok", true},
        {"ready", true},
        {"nodes", node_list},
        {"pid", ::getpid()},
        {"rig", settings_.rig},
        {"rig_file", paths_.RigFile(settings_.rig).string()},
        {"render", settings_.synthetic_bytes == 0 ? "head scan" : "synthetic"},
        {"scene", {{"mode", SceneModeName(scene_.mode)}, {"board_pose", scene_.board_pose}}},
        {"cameras", cameras}};
  }

  json Handle(const json& request) {
    const std::string op = request.value("op", "");
    if (op == "status") return Describe();
    if (op == "shutdown") {
      g_stop = true;
      return {{"ok", true}};
    }
    if (op == "scene") return SetScene(request);
    if (op == "fault") {
      auto fault = FaultFromJson(request.value("fault", json::object()));
      Status set = farm_->SetFault(request.value("serial", ""), *fault);
      if (!set.ok()) return {{"ok", false}, {"error", set.error().Describe()}};
      return {{"ok", true}};
    }
    return {{"ok", false}, {"error", "unknown request " + op}};
  }

  json SetScene(const json& request) {
    std::lock_guard lock(scene_mutex_);
    std::string mode = request.value("mode", "subject");
    if (mode == "subject") {
      scene_.mode = render::SceneState::Mode::kSubject;
    } else if (mode == "calibration") {
      int pose = request.value("board_pose", 0);
      if (pose < 0 || static_cast<size_t>(pose) >= truth_.calibration.poses.size()) {
        return {{"ok", false}, {"error", "no board pose " + std::to_string(pose)}};
      }
      scene_.mode = render::SceneState::Mode::kCalibration;
      scene_.board_pose = pose;
    } else if (mode == "empty") {
      scene_.mode = render::SceneState::Mode::kEmpty;
    } else {
      return {{"ok", false}, {"error", "unknown scene mode " + mode}};
    }
    return {{"ok", true}};
  }

  const Settings& settings_;
  Paths paths_;
  layout::Rig rig_;
  layout::GroundTruth truth_;
  std::unique_ptr<camera::CameraFarm> farm_;
  // What is in front of the cameras; the control socket changes it.
  std::mutex scene_mutex_;
  render::SceneState scene_;
  std::unique_ptr<render::Renderer> renderer_;
  std::vector<NodeProcess> nodes_;
  QemuNodes qemu_nodes_;
  ControlServer control_;
};

int Run(const Settings& settings) {
  VirtualStudio studio(settings);
  Status started = studio.Load();
  if (started.ok()) started = studio.StartCameras();
  if (started.ok()) started = studio.StartTriggerNodes();
  if (started.ok()) started = studio.Listen();
  if (!started.ok()) {
    std::cerr << "error: " << started.error().Describe() << "\n";
    studio.Stop();
    return 1;
  }
  Log().Info("virtual studio {}: {} cameras ready", settings.rig, studio.CameraCount());
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Log().Info("virtual studio {}: stopping", settings.rig);
  studio.Stop();
  std::filesystem::remove(Paths(settings.studio).StateFile());
  return 0;
}

}  // namespace
}  // namespace twinrig::sim::studio

int main(int argc, char** argv) {
  using twinrig::sim::studio::Settings;
  CLI::App app{"twinrig-sim-studio: the running virtual studio (use `twinrig sim up`)"};
  Settings settings;
  app.add_option("--studio", settings.studio, "studio folder")->required();
  app.add_option("--rig", settings.rig, "rig name under rigs/")->required();
  app.add_option("--head", settings.head_folder, "folder of the head scan (head.obj, Map-COL.jpg)");
  app.add_option("--width", settings.width, "render width (0: the camera's sensor)");
  app.add_option("--height", settings.height, "render height");
  app.add_option("--synthetic-bytes", settings.synthetic_bytes,
                 "synthetic payload size instead of renders");
  bool no_nodes = false;
  app.add_flag("--no-nodes", no_nodes, "start the cameras only (no simulated trigger nodes)");
  app.add_option("--nodes", settings.nodes,
                 "trigger nodes: sim (simulated) or qemu (the firmware image on QEMU mps2-an385)")
      ->check(CLI::IsMember({"sim", "qemu"}));
  app.add_option("--firmware", settings.firmware, "the firmware image for --nodes qemu");
  CLI11_PARSE(app, argc, argv);
  settings.with_nodes = !no_nodes;
  if (settings.head_folder.empty())
    settings.head_folder = twinrig::sim::studio::DefaultHeadFolder();
  twinrig::ConfigureLogging("info");
  signal(SIGTERM, twinrig::sim::studio::OnSignal);
  signal(SIGINT, twinrig::sim::studio::OnSignal);
  return twinrig::sim::studio::Run(settings);
}
