#include "host/camera/discovery.h"

#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace twinrig::camera {

std::string CameraPlaceName(CameraPlace place) {
  switch (place) {
    case CameraPlace::kInPlace:
      return "ok";
    case CameraPlace::kMoved:
      return "MOVED";
    case CameraPlace::kMissing:
      return "MISSING";
    case CameraPlace::kExtra:
      return "extra";
  }
  return "?";
}

std::vector<FoundCamera> MergeDiscovery(const std::vector<ExpectedCamera>& expected,
                                        const std::vector<PortProbe>& probes) {
  std::map<std::string, std::vector<const PortProbe*>> by_serial;
  std::map<std::string, const PortProbe*> by_port;
  for (const auto& p : probes) {
    by_port[p.port] = &p;
    if (!p.serial.empty()) by_serial[p.serial].push_back(&p);
  }
  std::vector<FoundCamera> out;
  std::set<std::string> rig_serials;
  for (const auto& e : expected) {
    rig_serials.insert(e.serial);
    FoundCamera found;
    found.serial = e.serial;
    found.rig_port = e.port;
    auto it = by_serial.find(e.serial);
    if (it == by_serial.end()) {
      found.place = CameraPlace::kMissing;
      auto at = by_port.find(e.port);
      if (at != by_port.end()) {
        found.note = at->second->serial.empty()
                         ? at->second->error
                         : "camera " + at->second->serial + " answers at " + e.port;
      }
      out.push_back(found);
      continue;
    }
    const PortProbe* use = it->second.front();
    for (const PortProbe* p : it->second) {
      if (p->port == e.port) use = p;
    }
    found.port = use->port;
    found.model = use->model;
    found.place = use->port == e.port ? CameraPlace::kInPlace : CameraPlace::kMoved;
    if (found.place == CameraPlace::kMoved) {
      found.note = "the rig file says " + e.port + ": used at " + use->port +
                   "; update the rig file when the move is permanent";
    }
    out.push_back(found);
  }
  std::set<std::string> extra_done;
  for (const auto& p : probes) {
    if (p.serial.empty() || rig_serials.contains(p.serial) || extra_done.contains(p.serial)) {
      continue;
    }
    extra_done.insert(p.serial);
    FoundCamera found;
    found.serial = p.serial;
    found.place = CameraPlace::kExtra;
    found.port = p.port;
    found.model = p.model;
    found.note = "not in the rig file";
    out.push_back(found);
  }
  return out;
}

std::vector<PortProbe> ProbePorts(const std::vector<std::string>& ports,
                                  const WorkerOptions& options) {
  std::vector<PortProbe> probes(ports.size());
  std::vector<std::thread> threads;
  threads.reserve(ports.size());
  for (std::size_t i = 0; i < ports.size(); ++i) {
    threads.emplace_back([&, i] {
      probes[i].port = ports[i];
      CameraClient client(ports[i], options);
      auto id = client.Connect();
      if (id.ok()) {
        probes[i].serial = id->serial;
        probes[i].model = id->model;
      } else {
        probes[i].error = id.error().what;
      }
      client.Stop();
    });
  }
  for (auto& t : threads) t.join();
  return probes;
}

Discovery DiscoverCameras(const std::vector<ExpectedCamera>& expected,
                          const DiscoveryOptions& options) {
  Discovery discovery;
  std::vector<std::string> ports;
  std::set<std::string> seen;
  for (const auto& e : expected) {
    if (seen.insert(e.port).second) ports.push_back(e.port);
  }
  if (options.usb) {
    auto usb = AutodetectUsbPorts(options.worker);
    if (usb.ok()) {
      discovery.usb_ports = *usb;
      for (const auto& p : *usb) {
        if (seen.insert(p).second) ports.push_back(p);
      }
    } else {
      discovery.usb_error = usb.error().what;
    }
  }
  discovery.cameras = MergeDiscovery(expected, ProbePorts(ports, options.worker));
  return discovery;
}

std::string FormatDiscovery(const Discovery& d) {
  std::ostringstream out;
  out << std::left << "  " << std::setw(14) << "camera" << std::setw(9) << "state" << std::setw(24)
      << "port" << std::setw(20) << "model"
      << "note\n";
  int missing = 0;
  int moved = 0;
  int present = 0;
  for (const auto& c : d.cameras) {
    out << "  " << std::setw(14) << c.serial << std::setw(9) << CameraPlaceName(c.place)
        << std::setw(24) << (c.port.empty() ? c.rig_port : c.port) << std::setw(20)
        << (c.model.empty() ? "-" : c.model) << c.note << "\n";
    if (c.place == CameraPlace::kMissing) ++missing;
    if (c.place == CameraPlace::kMoved) ++moved;
    if (c.place == CameraPlace::kInPlace || c.place == CameraPlace::kMoved) ++present;
  }
  out << "USB: ";
  if (!d.usb_error.empty()) {
    out << "autodetect failed: " << d.usb_error << "\n";
  } else {
    out << d.usb_ports.size() << " camera(s) on USB\n";
  }
  out << present << " camera(s) of the rig found, " << moved << " moved, " << missing
      << " missing\n";
  return out.str();
}

}  // namespace twinrig::camera
