// What `twinrig capture` runs with, for any part that captures in a studio (the calibration takes
// board views the same way): the worker settings of the studio, the deadlines, and the trigger
// nodes of the session's rig connected and ready to fire (unless the trigger is software).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "host/camera/camera_pool.h"
#include "host/session/capture.h"
#include "host/session/node_trigger.h"
#include "host/session/session.h"
#include "util/result.h"

namespace twinrig::session {

struct StudioCaptureArgs {
  int takes = 1;
  bool software_trigger = false;  // InitiateCapture instead of the trigger nodes
  bool connect_nodes = true;      // false for a resume, which fires nothing
  int capture_timeout_s = 15;     // trigger to a new image before a camera counts as hung
};

// Owns the trigger nodes the options fire through: keep it alive while a CaptureRunner built from
// `options` works.
struct StudioCapture {
  CaptureOptions options;
  std::unique_ptr<NodeTrigger> trigger;  // null with a software trigger or without nodes
};

Result<std::unique_ptr<StudioCapture>> PrepareStudioCapture(const std::filesystem::path& studio,
                                                            const SessionInfo& session,
                                                            const StudioCaptureArgs& args);

// The cameras of a rig file (serial and libgphoto2 port), in rig order.
Result<std::vector<camera::PoolCamera>> RigCameras(const std::filesystem::path& rig_file);

}  // namespace twinrig::session
