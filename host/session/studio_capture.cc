#include "host/session/studio_capture.h"

#include <random>

#include "host/studio/rig_file.h"
#include "host/studio/studio_paths.h"

namespace twinrig::session {

Result<std::unique_ptr<StudioCapture>> PrepareStudioCapture(const std::filesystem::path& studio,
                                                            const SessionInfo& session,
                                                            const StudioCaptureArgs& args) {
  auto prepared = std::make_unique<StudioCapture>();
  CaptureOptions& options = prepared->options;
  options.takes = args.takes;
  options.software_trigger = args.software_trigger;
  options.worker.home = studio / ".gphoto";
  options.worker.capture_deadline = std::chrono::seconds(args.capture_timeout_s);
  options.frame_wait = std::chrono::seconds(args.capture_timeout_s);
  if (!args.software_trigger && args.connect_nodes) {
    auto connected =
        NodeTrigger::Connect(studio::StudioPaths(studio).RigFile(session.rig), session);
    if (!connected.ok()) {
      Error error = connected.error();
      error.todo += "; or capture without nodes: --software-trigger";
      return error;
    }
    prepared->trigger = std::move(connected).value();
    NodeTrigger* trigger = prepared->trigger.get();
    // Capture ids differ between runs so a node never mistakes a new take for a repeat.
    const std::uint32_t base = std::random_device{}() & 0xFFFF0000U;
    options.hardware_fire = [trigger, base](int take,
                                            const std::vector<std::string>& serials) -> Status {
      auto fired = trigger->Fire(base + static_cast<std::uint32_t>(take), serials);
      if (!fired.ok()) return fired.error();
      return OkStatus();
    };
  }
  return prepared;
}

Result<std::vector<camera::PoolCamera>> RigCameras(const std::filesystem::path& rig_file) {
  TWINRIG_ASSIGN_OR_RETURN(const studio::Rig rig, studio::ReadRigFile(rig_file));
  std::vector<camera::PoolCamera> cameras;
  cameras.reserve(rig.cameras.size());
  for (const auto& c : rig.cameras) cameras.push_back({c.serial, "ptpip:" + c.address});
  return cameras;
}

}  // namespace twinrig::session
