// Which cameras are where: the rig file's PTP/IP addresses and libgphoto2's USB autodetect, each
// port asked for its camera's serial through a worker. Cameras are known by serial number only: a
// camera of the rig that answers at another port or address than the rig file says is reported
// as moved and is used where it is now.
#pragma once

#include <string>
#include <vector>

#include "host/camera/camera_worker.h"
#include "util/result.h"

namespace twinrig::camera {

struct ExpectedCamera {
  std::string serial;
  std::string port;  // from the rig file ("ptpip:127.0.0.2", "usb:001,007")
};

// What one port answered.
struct PortProbe {
  std::string port;
  std::string serial;  // empty when nothing answered
  std::string model;
  std::string error;  // why nothing answered
};

enum class CameraPlace {
  kInPlace,  // the rig's camera answers at the rig's port
  kMoved,    // the rig's camera answers at another port: used there
  kMissing,  // the rig's camera answers nowhere
  kExtra,    // a camera that is not in the rig
};

std::string CameraPlaceName(CameraPlace place);

struct FoundCamera {
  std::string serial;
  CameraPlace place = CameraPlace::kMissing;
  std::string port;      // where to use it now (empty when missing)
  std::string rig_port;  // where the rig file says (empty for an extra camera)
  std::string model;
  std::string note;  // for a missing camera, what its port answered
};

// Matches what the ports answered to the rig by serial: one row per rig camera in rig order, then
// the extra cameras. A serial that answers at several ports is used at its rig port if it answers
// there, else at the first port found.
std::vector<FoundCamera> MergeDiscovery(const std::vector<ExpectedCamera>& expected,
                                        const std::vector<PortProbe>& probes);

// Asks every port at once, one worker each.
std::vector<PortProbe> ProbePorts(const std::vector<std::string>& ports,
                                  const WorkerOptions& options);

struct DiscoveryOptions {
  bool usb = true;  // add libgphoto2's USB autodetect to the rig's ports
  WorkerOptions worker;
};

struct Discovery {
  std::vector<FoundCamera> cameras;
  std::vector<std::string> usb_ports;  // what autodetect found
  std::string usb_error;               // autodetect failed (the PTP/IP side still counts)
};

// The rig's ports and (optionally) every USB camera, probed and merged.
Discovery DiscoverCameras(const std::vector<ExpectedCamera>& expected,
                          const DiscoveryOptions& options);

std::string FormatDiscovery(const Discovery& discovery);

}  // namespace twinrig::camera
