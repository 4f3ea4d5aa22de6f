// The studio's rig file, rigs/<rig>/rig.toml: the trigger nodes, their outputs, and the cameras
// they drive with the positions the rig was planned with. The one reader and writer of it in the
// product; the virtual studio writes its rig files with WriteRigFile too.
//
// Schema 1 (world metres, +Y up):
//   schema = 1                    optional: a file without it reads as schema 1; another number
//                                 is refused (written by another twinrig version)
//   name = "head24"               optional: the rig folder's name when missing
//   [trigger]
//   max_sync_error_us = 500       optional, 1..1000: the clock sync the station needs before it
//                                 fires through the nodes (kDefaultMaxSyncErrorUs when missing)
//   [[nodes]]                     at least one
//   id = 1                        1..65535, unique
//   address = "127.0.2.1"         IPv4
//   udp_port = 15800              1..65535; address:udp_port unique
//   ports = 8                     optional, 1..64: the node's camera outputs (a node without it
//                                 has its outputs left as they are, and cameras' node_port is
//                                 only checked against 0..63)
//   [[cameras]]                   needed for capture, preflight and calibration
//                                 (RigNeeds::kCameras); a rig of nodes only serves `twinrig rig`
//   serial = "TR000001"           unique: a camera's identity everywhere
//   model = "Canon EOS 2000D"
//   address = "127.0.0.2"         PTP/IP address (IPv4), unique
//   node = 1                      the node whose output drives its remote port
//   node_port = 0                 0-based output of that node; one camera per output
//   position = [x, y, z]          planned position, |x| <= 1000 m
//   look_at = [x, y, z]           the point it is aimed at (not its position)
//
// A bad file is refused with every problem listed, each with its line and key.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace twinrig::studio {

using Vec3 = std::array<double, 3>;

inline constexpr int kRigSchema = 1;

struct NodeSpec {
  int id = 0;                  // 1-based
  std::string address;         // IPv4 address of the node
  std::uint16_t udp_port = 0;  // the node's control port
  int ports = 0;               // number of camera outputs; 0: not given in the rig file
};

struct CameraSpec {
  std::string serial;   // "TR000001"; a camera's identity everywhere
  std::string model;    // what the camera reports over PTP/IP
  std::string address;  // PTP/IP address
  int node_id = 0;      // which node output drives its remote port
  int node_port = 0;    // 0-based output of that node
  Vec3 position{};      // expected (planned) position, world metres
  Vec3 look_at{};       // the point it is aimed at
};

// The estimated sync error (SyncQuality::est_error_us) every node must be within before the
// station fires through the rig. 50 us is far below a camera body's own trigger-to-exposure
// jitter (0.5-2.5 ms), so it costs a real rig nothing; a rig whose nodes cannot reach it (the
// virtual studio's emulated boards, whose clock is host time seen through a scheduled emulator)
// says what it can hold in its rig file, and the station checks against that instead.
inline constexpr double kDefaultMaxSyncErrorUs = 50.0;
inline constexpr double kLargestMaxSyncErrorUs = 1000.0;  // beyond: as loose as the bodies

struct Rig {
  std::string name;  // "head24"
  std::vector<NodeSpec> nodes;
  std::vector<CameraSpec> cameras;
  // [trigger] max_sync_error_us; 0 leaves it out of the file (the station's default).
  double max_sync_error_us = 0;
  // What the station requires: the rig's own limit, or kDefaultMaxSyncErrorUs.
  [[nodiscard]] double MaxSyncErrorUs() const {
    return max_sync_error_us > 0 ? max_sync_error_us : kDefaultMaxSyncErrorUs;
  }
};

// What the reader needs the file to have beyond its nodes.
enum class RigNeeds { kNodes, kCameras };

Status WriteRigFile(const std::filesystem::path& path, const Rig& rig);
Result<Rig> ReadRigFile(const std::filesystem::path& path, RigNeeds needs = RigNeeds::kCameras);
// The same from text; `where` names the file in problems, `folder_name` is the name of a rig
// whose file has none.
Result<Rig> ParseRigFile(std::string_view text, const std::string& where,
                         const std::string& folder_name, RigNeeds needs = RigNeeds::kCameras);

}  // namespace twinrig::studio
