#include "host/session/preflight.h"

#include <iomanip>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "host/riglink/riglink.h"
#include "host/studio/rig_file.h"

namespace twinrig::session {
namespace {

int BatteryPercent(const std::string& text) {
  try {
    return std::stoi(text);
  } catch (const std::exception&) {
    return -1;
  }
}

void CheckCamera(CameraCheck& check, const PreflightOptions& options) {
  camera::CameraClient client(check.port, options.worker);
  auto id = client.Connect();
  if (!id.ok()) {
    check.problems.push_back("not reachable: " + id.error().what);
    return;
  }
  if (id->serial != check.serial) {
    check.problems.push_back("camera " + id->serial + " answers at " + check.port +
                             ", the rig file expects " + check.serial +
                             ": fix the wiring or the rig file");
    return;
  }
  check.present = true;
  auto settings = client.Settings();
  if (!settings.ok()) {
    check.problems.push_back("settings unreadable: " + settings.error().what);
  } else {
    for (const auto& name : options.uniform) {
      auto it = settings->find(name);
      if (it != settings->end()) check.settings[name] = it->second;
    }
    auto battery = settings->find("batterylevel");
    if (battery != settings->end()) {
      check.battery = battery->second;
      int percent = BatteryPercent(battery->second);
      if (percent >= 0 && percent < options.min_battery_percent) {
        check.problems.push_back("battery at " + battery->second + ": charge or swap it");
      }
    }
  }
  auto storage = client.Storage();
  if (!storage.ok()) {
    check.problems.push_back("card unreadable: " + storage.error().what);
  } else {
    check.free_frames = static_cast<double>(storage->free_kb) / 1024.0 / options.frame_megabytes;
    if (check.free_frames < options.takes) {
      std::ostringstream line;
      line << "card has room for " << static_cast<int>(check.free_frames) << " frames, "
           << options.takes << " planned: free space or change the card";
      check.problems.push_back(line.str());
    }
  }
  // Frames left on a card belong to someone's session (a lost event, an abandoned capture): the
  // biometric data of a person, which a new session must not pick up and must not go unnoticed.
  auto files = client.ListFiles();
  if (files.ok() && !files->empty()) {
    std::int64_t oldest = 0;
    for (const auto& f : *files) {
      if (f.captured > 0 && (oldest == 0 || f.captured < oldest)) oldest = f.captured;
    }
    check.problems.push_back(
        std::to_string(files->size()) + " image(s) left on the card (" + files->front().folder +
        "/" + files->front().name +
        (oldest > 0 ? ", the oldest taken at " + std::to_string(oldest) + " s since 1970"
                    : std::string()) +
        "): finish their session with `twinrig capture --resume`, or delete them on the camera");
  }
  client.Stop();
}

}  // namespace

std::vector<std::string> PreflightOptions::Validate() const {
  std::vector<std::string> problems = worker.Validate();
  if (takes < 1) problems.push_back("takes must be at least 1");
  if (frame_megabytes <= 0) problems.push_back("frame size must be positive");
  return problems;
}

Result<PreflightReport> RunPreflight(const std::filesystem::path& rig_file,
                                     const PreflightOptions& options) {
  TWINRIG_ASSIGN_OR_RETURN(const studio::Rig rig, studio::ReadRigFile(rig_file));
  PreflightReport report;
  for (const auto& camera : rig.cameras) {
    CameraCheck check;
    check.serial = camera.serial;
    check.port = "ptpip:" + camera.address;
    report.cameras.push_back(check);
  }
  // Every camera at once: one worker process each, as in a capture.
  std::vector<std::thread> threads;
  threads.reserve(report.cameras.size());
  for (auto& check : report.cameras) {
    threads.emplace_back([&check, &options] { CheckCamera(check, options); });
  }
  for (auto& t : threads) t.join();

  // Uniform settings: the value most cameras have is the reference.
  for (const auto& name : options.uniform) {
    std::map<std::string, int> votes;
    for (const auto& c : report.cameras) {
      auto it = c.settings.find(name);
      if (it != c.settings.end()) ++votes[it->second];
    }
    if (votes.empty()) continue;
    auto best = std::max_element(votes.begin(), votes.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    report.majority[name] = best->first;
    for (auto& c : report.cameras) {
      auto it = c.settings.find(name);
      if (it != c.settings.end() && it->second != best->first) {
        c.problems.push_back(name + " is " + it->second + ", the others have " + best->first);
      }
    }
  }

  if (options.check_nodes && !rig.nodes.empty()) {
    // The sync the capture will require (the rig file's, or the default when it says nothing).
    const double max_sync_error_us = rig.MaxSyncErrorUs();
    auto link = riglink::RigLink::Create();
    if (link.ok()) {
      (void)(*link)->Connect(riglink::NodeEndpoints(rig.nodes), std::chrono::seconds(3));
      (void)(*link)->WaitForSync(std::chrono::seconds(5), max_sync_error_us);
      for (const auto& r : (*link)->Report()) {
        NodeCheck node;
        node.endpoint = r.endpoint.ToString();
        node.online = r.online && r.identified;
        node.sync_error_us = r.sync.est_error_us;
        if (!node.online) {
          node.problems.push_back("not answering: check its power and network cable");
        } else if (!r.sync.ready || r.sync.est_error_us > max_sync_error_us) {
          node.problems.push_back("clock not in sync yet: wait, then run preflight again");
        }
        if (!r.schema_matches && node.online) {
          node.problems.push_back("firmware speaks another protocol version: update it");
        }
        report.nodes.push_back(node);
      }
    } else {
      report.to_fix.push_back("trigger nodes: " + link.error().Describe());
    }
  }

  for (const auto& c : report.cameras) {
    for (const auto& p : c.problems) report.to_fix.push_back("camera " + c.serial + ": " + p);
  }
  for (const auto& n : report.nodes) {
    for (const auto& p : n.problems) report.to_fix.push_back("node " + n.endpoint + ": " + p);
  }
  return report;
}

std::string CameraState(const CameraCheck& camera) {
  if (!camera.present) return "MISSING";
  return camera.problems.empty() ? "ok" : "FIX";
}

std::string PreflightJson(const PreflightReport& report) {
  nlohmann::json cameras = nlohmann::json::array();
  for (const auto& c : report.cameras) {
    cameras.push_back({{"serial", c.serial},
                       {"port", c.port},
                       {"state", CameraState(c)},
                       {"battery", c.battery},
                       {"free_frames", static_cast<long>(c.free_frames)},
                       {"settings", c.settings},
                       {"problems", c.problems}});
  }
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : report.nodes) {
    nodes.push_back({{"endpoint", n.endpoint},
                     {"online", n.online},
                     {"sync_error_us", n.sync_error_us},
                     {"problems", n.problems}});
  }
  return nlohmann::json{
      {"ready", report.ready()}, {"cameras", cameras}, {"nodes", nodes}, {"to_fix", report.to_fix}}
      .dump();
}

std::string FormatPreflight(const PreflightReport& report) {
  std::ostringstream out;
  out << std::left << "  " << std::setw(16) << "camera" << std::setw(22) << "port" << std::setw(8)
      << "state" << std::setw(9) << "battery" << std::setw(9) << "frames"
      << "settings\n";
  for (const auto& c : report.cameras) {
    std::string settings;
    for (const auto& [k, v] : c.settings) settings += (settings.empty() ? "" : " ") + k + "=" + v;
    out << "  " << std::setw(16) << c.serial << std::setw(22) << c.port << std::setw(8)
        << CameraState(c) << std::setw(9) << (c.battery.empty() ? "-" : c.battery) << std::setw(9)
        << static_cast<long>(c.free_frames) << settings << "\n";
  }
  for (const auto& n : report.nodes) {
    out << "  node " << std::setw(22) << n.endpoint << (n.online ? "online" : "OFFLINE");
    if (n.online)
      out << "  sync error " << std::fixed << std::setprecision(1) << n.sync_error_us << " us";
    out << "\n";
  }
  if (report.ready()) {
    out << "READY: " << report.cameras.size() << " cameras and " << report.nodes.size()
        << " trigger nodes checked\n";
  } else {
    out << "NOT READY: " << report.to_fix.size() << " thing(s) to fix:\n";
    for (const auto& line : report.to_fix) out << "  - " << line << "\n";
  }
  return out.str();
}

}  // namespace twinrig::session
