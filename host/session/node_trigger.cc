#include "host/session/node_trigger.h"

#include <algorithm>

#include "host/studio/rig_file.h"

namespace twinrig::session {

Result<std::unique_ptr<NodeTrigger>> NodeTrigger::Connect(const std::filesystem::path& rig_file,
                                                          const SessionInfo& session,
                                                          const NodeTriggerOptions& options) {
  // The reader refuses a rig file without nodes, naming the file and what to add.
  TWINRIG_ASSIGN_OR_RETURN(const studio::Rig rig,
                           studio::ReadRigFile(rig_file, studio::RigNeeds::kNodes));
  const double max_sync_error_us =
      options.max_sync_error_us < 0 ? rig.MaxSyncErrorUs() : options.max_sync_error_us;
  auto link = riglink::RigLink::Create();
  if (!link.ok()) return link.error();
  std::vector<int> ids;
  std::vector<int> ports;
  for (const auto& n : rig.nodes) {
    ids.push_back(n.id);
    ports.push_back(n.ports);
  }
  TWINRIG_RETURN_IF_ERROR(
      (*link)->Connect(riglink::NodeEndpoints(rig.nodes), options.connect_timeout));
  TWINRIG_RETURN_IF_ERROR((*link)->WaitForSync(options.sync_timeout, max_sync_error_us));
  return std::unique_ptr<NodeTrigger>(
      new NodeTrigger(std::move(link).value(), std::move(ids), std::move(ports), session, options));
}

Result<std::int64_t> NodeTrigger::Fire(std::uint32_t capture_id,
                                       const std::vector<std::string>& serials) {
  // A node refuses port changes while armed, and stays armed after a fire: disarm first, so that
  // every take of a run (and a retake) can choose its own outputs.
  TWINRIG_RETURN_IF_ERROR(link_->Arm(false));
  // Enable exactly the outputs wired to the cameras asked for (a retake fires only those).
  for (size_t index = 0; index < node_ids_.size(); ++index) {
    std::vector<riglink::PortSetting> settings;
    for (int port = 0; port < port_counts_[index]; ++port) {
      riglink::PortSetting setting;
      setting.port = static_cast<std::uint8_t>(port);
      setting.enabled = false;
      for (const auto& camera : session_.cameras) {
        if (camera.node_id == node_ids_[index] && camera.node_port == port &&
            std::find(serials.begin(), serials.end(), camera.serial) != serials.end()) {
          setting.enabled = true;
        }
      }
      settings.push_back(setting);
    }
    TWINRIG_RETURN_IF_ERROR(link_->ConfigurePorts(index, settings));
  }
  TWINRIG_RETURN_IF_ERROR(link_->Arm(true));
  const std::int64_t instant =
      riglink::HostNowNs() +
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.lead).count();
  auto ticket = link_->ScheduleCapture(capture_id, instant);
  if (!ticket.ok()) return ticket.error();
  for (const auto& node : ticket->nodes) {
    if (!node.scheduled) {
      return node.error.value_or(MakeError("the node did not schedule the capture",
                                           node.endpoint.ToString(), "run `twinrig rig status`"));
    }
  }
  auto unconfirmed = link_->ConfirmCapture(*ticket, options_.lead + options_.confirm_timeout);
  if (!unconfirmed.ok()) return unconfirmed.error();
  if (!unconfirmed->empty()) {
    std::string names;
    for (size_t i : *unconfirmed)
      names += (names.empty() ? "" : ", ") + ticket->nodes[i].endpoint.ToString();
    return MakeError(
        "trigger nodes did not confirm the fire: " + names, names,
        "check those nodes (twinrig rig status); cameras they drive may have missed the take");
  }
  return instant;
}

}  // namespace twinrig::session
