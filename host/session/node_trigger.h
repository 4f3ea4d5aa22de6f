// The hardware trigger of a capture: the session's cameras are wired to trigger-node outputs (the
// rig file says which); NodeTrigger connects to those nodes through riglink, waits for clock sync,
// and fires exactly the outputs of the cameras asked for, at one common instant.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "host/riglink/riglink.h"
#include "host/session/session.h"
#include "util/result.h"

namespace twinrig::session {

struct NodeTriggerOptions {
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds sync_timeout{std::chrono::seconds(10)};
  // < 0: what the rig file asks for (riglink::ReadRigMaxSyncError), else this many microseconds.
  double max_sync_error_us = -1;
  std::chrono::milliseconds lead{300};  // how far ahead the common instant is scheduled
  std::chrono::milliseconds confirm_timeout{std::chrono::seconds(3)};
};

class NodeTrigger {
 public:
  static Result<std::unique_ptr<NodeTrigger>> Connect(const std::filesystem::path& rig_file,
                                                      const SessionInfo& session,
                                                      const NodeTriggerOptions& options = {});
  // Fires the shutter lines of `serials` together; returns the host instant of the edges (ns).
  Result<std::int64_t> Fire(std::uint32_t capture_id, const std::vector<std::string>& serials);
  [[nodiscard]] std::vector<riglink::NodeReport> Report() const { return link_->Report(); }

 private:
  NodeTrigger(std::unique_ptr<riglink::RigLink> link, std::vector<int> node_ids,
              std::vector<int> port_counts, SessionInfo session, NodeTriggerOptions options)
      : link_(std::move(link)),
        node_ids_(std::move(node_ids)),
        port_counts_(std::move(port_counts)),
        session_(std::move(session)),
        options_(options) {}
  std::unique_ptr<riglink::RigLink> link_;
  std::vector<int> node_ids_;     // riglink index -> rig node id
  std::vector<int> port_counts_;  // riglink index -> outputs
  SessionInfo session_;
  NodeTriggerOptions options_;
};

}  // namespace twinrig::session
