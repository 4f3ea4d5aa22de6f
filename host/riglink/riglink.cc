#include "host/riglink/riglink.h"

#include <sys/socket.h>
#include <time.h>

#include <atomic>
#include <boost/asio.hpp>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <thread>
#include <utility>

#include "util/check.h"
#include "util/clock.h"
#include "util/datagram.h"
#include "util/logging.h"
#include "util/options.h"

namespace twinrig::riglink {

namespace asio = boost::asio;
using udp = asio::ip::udp;
namespace fb = protocol::fb;

std::int64_t HostNowNs() { return MonotonicNowNs(); }

namespace {

std::string Where(const NodeEndpoint& endpoint, std::uint16_t node_id) {
  std::string text = "node " + endpoint.ToString();
  if (node_id != 0) text += " (id " + std::to_string(node_id) + ")";
  return text;
}

NodeStatus ToStatus(const fb::Status& status) {
  NodeStatus out;
  out.armed = status.armed();
  out.fault = status.latched_fault();
  out.fault_detail = status.fault_detail() != nullptr ? status.fault_detail()->str() : "";
  out.now_tick = status.now_tick();
  if (status.ports() != nullptr) {
    for (const fb::PortStatus* p : *status.ports()) {
      out.ports.push_back(
          {p->port(), p->last_capture_id(), p->last_fire_tick(), p->fires(), p->pending()});
    }
  }
  if (const fb::Counters* c = status.counters(); c != nullptr) {
    out.counters = {c->frames_rx(),  c->frames_tx(),     c->malformed(),    c->truncated(),
                    c->duplicated(), c->replayed(),      c->out_of_order(), c->fires_scheduled(),
                    c->fires_done(), c->fires_refused(), c->faults()};
  }
  return out;
}

using BuildFn = std::function<flatbuffers::Offset<void>(flatbuffers::FlatBufferBuilder&)>;
// Called once: with the reply frame (valid only during the call) and its kernel receive time, or
// with an error.
using DoneFn = std::function<void(const fb::Frame*, std::int64_t, const Error*)>;

// Counts outstanding operations and finishes once with every error collected.
class Fanout {
 public:
  Fanout(std::size_t count, std::function<void(Status)> finish)
      : remaining_(count), finish_(std::move(finish)) {
    if (remaining_ == 0) finish_(OkStatus());
  }
  void Done(const Error* error) {
    if (error != nullptr) errors_.push_back(*error);
    if (--remaining_ != 0) return;
    if (errors_.empty()) {
      finish_(OkStatus());
      return;
    }
    Error combined = errors_.front();
    for (std::size_t i = 1; i < errors_.size(); ++i) {
      combined.what += "; " + errors_[i].where + ": " + errors_[i].what;
    }
    if (errors_.size() > 1)
      combined.what = std::to_string(errors_.size()) + " nodes failed: " + combined.what;
    finish_(combined);
  }

 private:
  std::size_t remaining_;
  std::vector<Error> errors_;
  std::function<void(Status)> finish_;
};

}  // namespace

std::string NodeEndpoint::ToString() const { return address + ":" + std::to_string(port); }

Result<NodeEndpoint> ParseEndpoint(std::string_view text) {
  NodeEndpoint endpoint;
  std::string host(text);
  if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    host = std::string(text.substr(0, colon));
    int port = -1;
    try {
      port = std::stoi(std::string(text.substr(colon + 1)));
    } catch (const std::exception&) {
      port = -1;
    }
    if (port <= 0 || port > 65535) {
      return MakeError("bad UDP port in node address '" + std::string(text) + "'",
                       std::string(text), "write nodes as IP:PORT, e.g. 127.0.2.1:15800");
    }
    endpoint.port = static_cast<std::uint16_t>(port);
  }
  boost::system::error_code error;
  const auto address = asio::ip::make_address_v4(host, error);
  if (error) {
    return MakeError("'" + host + "' is not an IPv4 address", std::string(text),
                     "write nodes as IP:PORT, e.g. 127.0.2.1:15800");
  }
  endpoint.address = address.to_string();
  return endpoint;
}

Result<std::vector<NodeEndpoint>> ParseEndpointList(std::string_view text) {
  std::vector<NodeEndpoint> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view item = text.substr(start, comma - start);
    if (!item.empty()) {
      auto endpoint = ParseEndpoint(item);
      if (!endpoint.ok()) return endpoint.error();
      out.push_back(*endpoint);
    }
    start = comma + 1;
  }
  if (out.empty()) {
    return MakeError("no node addresses given", "", "give --nodes 127.0.2.1:15800,127.0.2.2:15800");
  }
  return out;
}

std::vector<NodeEndpoint> NodeEndpoints(const std::vector<studio::NodeSpec>& nodes) {
  std::vector<NodeEndpoint> out;
  out.reserve(nodes.size());
  for (const studio::NodeSpec& node : nodes) out.push_back({node.address, node.udp_port});
  return out;
}

std::vector<std::string> RigLinkOptions::Validate() const {
  std::vector<std::string> problems = sync.Validate();
  boost::system::error_code error;
  const auto address = asio::ip::make_address_v4(bind_address, error);
  if (error || !address.is_loopback()) {
    problems.push_back("bind address must be a loopback IPv4 address, not '" + bind_address + "'");
  }
  if (sync_interval.count() < 1) problems.push_back("sync interval must be >= 1 ms");
  if (retransmit_after.count() < 1) problems.push_back("retransmission timeout must be >= 1 ms");
  if (max_attempts < 1 || max_attempts > 100) problems.push_back("attempts must be 1..100");
  if (silent_after <= retransmit_after) {
    problems.push_back("silent-after must be longer than the retransmission timeout");
  }
  return problems;
}

bool CaptureTicket::all_scheduled() const {
  for (const NodeFire& node : nodes) {
    if (!node.scheduled) return false;
  }
  return !nodes.empty();
}

// ---------------------------------------------------------------------------------------------

class RigLink::Impl {
 public:
  explicit Impl(const RigLinkOptions& options)
      : options_(options), work_(asio::make_work_guard(io_)), socket_(io_) {}

  ~Impl() {
    asio::post(io_, [this] {
      for (auto& node : nodes_) node->sync_timer.cancel();
      for (auto& [seq, pending] : pending_) pending->timer.cancel();
      boost::system::error_code ignored;
      socket_.close(ignored);
    });
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status Open() {
    boost::system::error_code error;
    socket_.open(udp::v4(), error);
    if (!error) {
      socket_.bind(udp::endpoint(asio::ip::make_address_v4(options_.bind_address), 0), error);
    }
    if (error) {
      return MakeError("cannot open the host's UDP socket: " + error.message(),
                       options_.bind_address, "check that no firewall blocks loopback UDP");
    }
    const int on = 1;
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    socket_.non_blocking(true, error);
    std::uint64_t session = 0;
    std::random_device random;
    session = (static_cast<std::uint64_t>(random()) << 32) ^ random() ^
              static_cast<std::uint64_t>(HostNowNs());
    session_ = session == 0 ? 1 : session;
    StartReceive();
    thread_ = std::thread([this] { io_.run(); });
    return OkStatus();
  }

  // Runs `start` on the network thread; it calls `finish` exactly once. Blocks the caller.
  Status Await(const std::function<void(std::function<void(Status)>)>& start,
               std::chrono::milliseconds limit) {
    auto promise = std::make_shared<std::promise<Status>>();
    auto once = std::make_shared<std::atomic<bool>>(false);
    auto future = promise->get_future();
    asio::post(io_, [start, promise, once] {
      start([promise, once](Status status) {
        if (!once->exchange(true)) promise->set_value(std::move(status));
      });
    });
    if (future.wait_for(limit + std::chrono::seconds(2)) != std::future_status::ready) {
      return MakeError("riglink did not finish an operation in time", "riglink",
                       "report this as a bug with the log");
    }
    return future.get();
  }

  template <typename T>
  T OnIo(const std::function<T()>& work) const {
    std::promise<T> promise;
    auto future = promise.get_future();
    asio::post(const_cast<asio::io_context&>(io_), [&] { promise.set_value(work()); });
    return future.get();
  }

  // --- operations (network thread)

  Status Connect(const std::vector<NodeEndpoint>& endpoints, std::chrono::milliseconds timeout) {
    const int attempts = std::max<int>(1, static_cast<int>(timeout / options_.retransmit_after));
    return Await(
        [this, endpoints, attempts](const std::function<void(Status)>& finish) {
          auto fanout = std::make_shared<Fanout>(endpoints.size(), finish);
          for (const NodeEndpoint& endpoint : endpoints) {
            auto node = std::make_unique<NodeState>(io_, options_);
            node->endpoint = endpoint;
            node->address =
                udp::endpoint(asio::ip::make_address_v4(endpoint.address), endpoint.port);
            node->report.endpoint = endpoint;
            nodes_.push_back(std::move(node));
            const std::size_t index = nodes_.size() - 1;
            Identify(index, attempts, [this, index, fanout](const Error* error) {
              fanout->Done(error);
              StartSyncTimer(index);
            });
          }
        },
        timeout);
  }

  Status WaitForSync(std::chrono::milliseconds timeout, double max_error_us) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int round = 0; round < 100000; ++round) {
      std::string lagging;
      const auto reports = Report();
      for (const NodeReport& report : reports) {
        if (!report.identified) continue;
        if (!report.sync.ready || report.sync.est_error_us > max_error_us) {
          lagging += (lagging.empty() ? "" : ", ") + report.endpoint.ToString() + " (" +
                     std::to_string(report.sync.samples) + " exchanges, est. error " +
                     std::to_string(report.sync.est_error_us) + " us)";
        }
      }
      if (lagging.empty()) return OkStatus();
      if (std::chrono::steady_clock::now() >= deadline) {
        return MakeError("clock sync did not converge within " + std::to_string(timeout.count()) +
                             " ms to " + std::to_string(max_error_us) + " us",
                         lagging,
                         "check the network between station and nodes (twinrig rig status)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return MakeError("clock sync wait exceeded its bound", "riglink", "report this as a bug");
  }

  std::vector<NodeReport> Report() const {
    return OnIo<std::vector<NodeReport>>([this] {
      std::vector<NodeReport> out;
      const std::int64_t now = HostNowNs();
      for (const auto& node : nodes_) {
        NodeReport report = node->report;
        report.online =
            node->last_heard_ns != 0 &&
            now - node->last_heard_ns < std::chrono::nanoseconds(options_.silent_after).count();
        report.sync = node->sync.quality();
        out.push_back(report);
      }
      return out;
    });
  }

  std::size_t NodeCount() const {
    return OnIo<std::size_t>([this] { return nodes_.size(); });
  }

  Status CheckIndex(std::size_t node) const {
    if (node >= NodeCount()) {
      return MakeError("no node number " + std::to_string(node), "riglink",
                       "use an index below the number of connected nodes");
    }
    return OkStatus();
  }

  Status ConfigurePorts(std::size_t index, const std::vector<PortSetting>& ports, bool persist) {
    TWINRIG_RETURN_IF_ERROR(CheckIndex(index));
    return Await(
        [this, index, ports, persist](const std::function<void(Status)>& finish) {
          nodes_[index]->desired_ports = ports;
          nodes_[index]->desired_persist = persist;
          SendConfigure(index, [finish](const Error* error) {
            finish(error != nullptr ? Status(*error) : OkStatus());
          });
        },
        RequestLimit());
  }

  Status Arm(bool armed) {
    return Await(
        [this, armed](const std::function<void(Status)>& finish) {
          std::vector<std::size_t> targets;
          for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (nodes_[i]->report.identified) targets.push_back(i);
          }
          auto fanout = std::make_shared<Fanout>(targets.size(), finish);
          for (std::size_t i : targets) {
            nodes_[i]->desired_armed = armed;
            SendArm(i, [fanout](const Error* error) { fanout->Done(error); });
          }
        },
        RequestLimit());
  }

  Result<CaptureTicket> ScheduleCapture(std::uint32_t capture_id, std::int64_t host_instant_ns) {
    auto ticket = std::make_shared<CaptureTicket>();
    ticket->capture_id = capture_id;
    ticket->host_instant_ns = host_instant_ns;
    const Status status = Await(
        [this, ticket, capture_id, host_instant_ns](const std::function<void(Status)>& finish) {
          ticket->nodes.resize(nodes_.size());
          auto fanout = std::make_shared<Fanout>(nodes_.size(), finish);
          for (std::size_t i = 0; i < nodes_.size(); ++i) {
            NodeState& node = *nodes_[i];
            NodeFire& fire = ticket->nodes[i];
            fire.endpoint = node.endpoint;
            if (!node.report.identified || !node.sync.ready()) {
              fire.error =
                  MakeError(node.report.identified ? "clock not yet in sync" : "not identified",
                            Where(node.endpoint, node.report.node_id),
                            "wait for sync (twinrig rig status), then retry");
              fanout->Done(&*fire.error);
              continue;
            }
            fire.fire_tick = node.sync.HostToTick(host_instant_ns);
            const std::uint64_t mask =
                node.report.port_count >= 64 ? ~0ULL : (1ULL << node.report.port_count) - 1;
            const std::uint64_t tick = fire.fire_tick;
            Request(
                i, fb::Body::FireAt,
                [capture_id, tick, mask](flatbuffers::FlatBufferBuilder& b) {
                  return fb::CreateFireAt(b, capture_id, tick, mask).Union();
                },
                [this, i, ticket, fanout](const fb::Frame* frame, std::int64_t,
                                          const Error* error) {
                  NodeFire& outcome = ticket->nodes[i];
                  if (error == nullptr) error = AckError(frame, i, "fire-at");
                  if (error != nullptr) {
                    outcome.error = *error;
                    fanout->Done(error);
                    return;
                  }
                  outcome.scheduled = true;
                  fanout->Done(nullptr);
                });
          }
        },
        RequestLimit());
    (void)status;  // per-node outcomes are in the ticket
    return *ticket;
  }

  Result<NodeStatus> GetStatus(std::size_t index) {
    TWINRIG_RETURN_IF_ERROR(CheckIndex(index));
    auto out = std::make_shared<NodeStatus>();
    const Status status = Await(
        [this, index, out](const std::function<void(Status)>& finish) {
          Request(
              index, fb::Body::GetStatus,
              [](flatbuffers::FlatBufferBuilder& b) { return fb::CreateGetStatus(b).Union(); },
              [out, finish, this, index](const fb::Frame* frame, std::int64_t, const Error* error) {
                if (error != nullptr) {
                  finish(*error);
                  return;
                }
                const fb::Status* reply = frame->body_as_Status();
                if (reply == nullptr) {
                  finish(MakeError("answered GetStatus with something else",
                                   Where(nodes_[index]->endpoint, nodes_[index]->report.node_id),
                                   "check the node's firmware version"));
                  return;
                }
                *out = ToStatus(*reply);
                finish(OkStatus());
              });
        },
        RequestLimit());
    if (!status.ok()) return status.error();
    return *out;
  }

  Status SimpleCommand(std::size_t index, fb::Body type, const char* name) {
    TWINRIG_RETURN_IF_ERROR(CheckIndex(index));
    return Await(
        [this, index, type, name](const std::function<void(Status)>& finish) {
          Request(
              index, type,
              [type](flatbuffers::FlatBufferBuilder& b) -> flatbuffers::Offset<void> {
                if (type == fb::Body::ClearFault) return fb::CreateClearFault(b).Union();
                return fb::CreateReboot(b).Union();
              },
              [this, index, finish, name](const fb::Frame* frame, std::int64_t,
                                          const Error* error) {
                if (error == nullptr) error = AckError(frame, index, name);
                finish(error != nullptr ? Status(*error) : OkStatus());
              });
        },
        RequestLimit());
  }

  std::optional<std::int64_t> TickToHost(std::size_t index, std::uint64_t tick) const {
    return OnIo<std::optional<std::int64_t>>([this, index, tick]() -> std::optional<std::int64_t> {
      if (index >= nodes_.size() || !nodes_[index]->sync.ready()) return std::nullopt;
      return nodes_[index]->sync.TickToHost(tick);
    });
  }

 private:
  struct NodeState {
    NodeState(asio::io_context& io, const RigLinkOptions& options)
        : sync(1, options.sync), sync_timer(io) {}
    NodeEndpoint endpoint;
    udp::endpoint address;
    NodeReport report;
    ClockSync sync;
    std::int64_t last_heard_ns = 0;
    asio::steady_timer sync_timer;
    bool sync_timer_running = false;
    bool identify_in_flight = false;
    int rediscover_ticks = 0;
    std::optional<std::vector<PortSetting>> desired_ports;
    bool desired_persist = false;
    std::optional<bool> desired_armed;
  };
  struct Pending {
    explicit Pending(asio::io_context& io) : timer(io) {}
    std::size_t node = 0;
    fb::Body type = fb::Body::NONE;
    BuildFn build;
    DoneFn done;
    int attempts = 0;
    int max_attempts = 1;
    asio::steady_timer timer;
    std::vector<std::uint32_t> seqs;
    bool finished = false;
  };

  std::chrono::milliseconds RequestLimit() const {
    return options_.retransmit_after * (options_.max_attempts + 1);
  }

  // An error from an Ack that refused (or from a reply of the wrong kind), else nullptr. The
  // returned pointer stays valid until the next call on this thread.
  const Error* AckError(const fb::Frame* frame, std::size_t index, const char* what) {
    const NodeState& node = *nodes_[index];
    const fb::Ack* ack = frame->body_as_Ack();
    if (ack == nullptr) {
      last_error_ = MakeError(std::string("answered ") + what + " with something else",
                              Where(node.endpoint, node.report.node_id),
                              "check the node's firmware version (twinrig rig status)");
      return &last_error_;
    }
    if (ack->ok()) return nullptr;
    std::string todo = "see twinrig rig status";
    switch (ack->fault()) {
      case fb::Fault::FireInPast:
        todo = "schedule the capture further ahead (check the node's clock sync)";
        break;
      case fb::Fault::NotArmed:
        todo = "arm the rig first";
        break;
      case fb::Fault::Busy:
        todo = "disarm the rig before changing port settings";
        break;
      case fb::Fault::BadConfig:
        todo = "fix the port settings";
        break;
      default:
        todo = "find the cause, then clear the fault (twinrig rig clear-fault)";
        break;
    }
    last_error_ = MakeError(std::string(what) + " refused: " + protocol::FaultName(ack->fault()) +
                                (ack->detail() != nullptr && ack->detail()->size() > 0
                                     ? " (" + ack->detail()->str() + ")"
                                     : ""),
                            Where(node.endpoint, node.report.node_id), todo);
    return &last_error_;
  }

  void Request(std::size_t index, fb::Body type, BuildFn build, DoneFn done,
               int max_attempts = -1) {
    auto pending = std::make_shared<Pending>(io_);
    pending->node = index;
    pending->type = type;
    pending->build = std::move(build);
    pending->done = std::move(done);
    pending->max_attempts = max_attempts > 0 ? max_attempts : options_.max_attempts;
    Transmit(pending);
  }

  void Transmit(const std::shared_ptr<Pending>& pending) {
    NodeState& node = *nodes_[pending->node];
    const std::uint32_t seq = ++seq_;
    builder_.Clear();
    builder_.ForceDefaults(true);  // fields stamped after building must be present
    auto body = pending->build(builder_);
    builder_.ForceDefaults(false);
    const std::uint16_t address_id =
        node.report.identified ? node.report.node_id : protocol::kAnyNode;
    auto frame = fb::CreateFrame(builder_, session_, seq, 0, address_id, pending->type, body);
    fb::FinishFrameBuffer(builder_, frame);
    pending->seqs.push_back(seq);
    pending_[seq] = pending;
    ++pending->attempts;
    if (pending->attempts > 1) ++node.report.retransmissions;
    // A sync request carries the host's send time: stamp it as the last thing before the send, so
    // that building the frame is not counted as network delay.
    if (pending->type == fb::Body::SyncRequest) {
      std::uint8_t* buffer = builder_.GetBufferPointer();
      const auto* request =
          reinterpret_cast<const flatbuffers::Table*>(fb::GetFrame(buffer)->body_as_SyncRequest());
      const std::uint8_t* field =
          request != nullptr ? request->GetAddressOf(fb::SyncRequest::VT_HOST_SEND_NS) : nullptr;
      if (field != nullptr) {
        const std::int64_t now = HostNowNs();
        std::memcpy(buffer + (field - buffer), &now, sizeof(now));  // little-endian host
      }
    }
    boost::system::error_code error;
    socket_.send_to(asio::buffer(builder_.GetBufferPointer(), builder_.GetSize()), node.address, 0,
                    error);
    pending->timer.expires_after(options_.retransmit_after);
    pending->timer.async_wait([this, pending](const boost::system::error_code& wait_error) {
      if (wait_error || pending->finished) return;
      if (pending->attempts < pending->max_attempts) {
        Transmit(pending);
        return;
      }
      Finish(pending);
      NodeState& silent = *nodes_[pending->node];
      ++silent.report.failed_requests;
      const Error failure =
          MakeError("did not answer " + std::string(fb::EnumNameBody(pending->type)) + " after " +
                        std::to_string(pending->attempts) + " attempts",
                    Where(silent.endpoint, silent.report.node_id),
                    "check the node's power and network cable, then run twinrig rig status");
      pending->done(nullptr, 0, &failure);
    });
  }

  void Finish(const std::shared_ptr<Pending>& pending) {
    pending->finished = true;
    pending->timer.cancel();
    for (std::uint32_t seq : pending->seqs) pending_.erase(seq);
  }

  void StartReceive() {
    socket_.async_wait(udp::socket::wait_read, [this](const boost::system::error_code& error) {
      if (error) return;  // closed
      ReceiveAll();
      StartReceive();
    });
  }

  void ReceiveAll() {
    for (int budget = 0; budget < 512; ++budget) {
      std::uint8_t buffer[protocol::kMaxDatagram + 1];
      const auto datagram = ReceiveStamped(socket_.native_handle(), buffer);
      if (!datagram) return;
      const udp::endpoint from(asio::ip::address_v4(ntohl(datagram->peer.sin_addr.s_addr)),
                               ntohs(datagram->peer.sin_port));
      HandleDatagram(buffer, datagram->size, from, datagram->arrival_ns);
    }
  }

  void HandleDatagram(const std::uint8_t* data, std::size_t size, const udp::endpoint& from,
                      std::int64_t rx_ns) {
    NodeState* node = nullptr;
    std::size_t index = 0;
    for (; index < nodes_.size(); ++index) {
      if (nodes_[index]->address == from) {
        node = nodes_[index].get();
        break;
      }
    }
    if (node == nullptr) return;  // not one of ours
    protocol::DecodeError decode_error = protocol::DecodeError::kNone;
    const fb::Frame* frame = protocol::DecodeFrame(data, size, &decode_error);
    if (frame == nullptr) {
      ++node->report.dropped_frames;
      return;
    }
    node->last_heard_ns = rx_ns;
    // A new boot id on anything but an Identity: the node rebooted behind our back.
    if (node->report.identified && frame->session() != node->report.boot_id &&
        frame->body_type() != fb::Body::Identity) {
      OnReboot(index);
    }
    const auto it = pending_.find(frame->ack());
    if (it == pending_.end()) {
      ++node->report.dropped_frames;  // a duplicate, or the answer to a retransmitted request
      return;
    }
    const std::shared_ptr<Pending> pending = it->second;
    if (pending->node != index) {
      ++node->report.dropped_frames;
      return;
    }
    Finish(pending);
    pending->done(frame, rx_ns, nullptr);
  }

  void OnReboot(std::size_t index) {
    NodeState& node = *nodes_[index];
    ++node.report.reboots_seen;
    node.report.identified = false;
    node.sync.Reset(node.report.tick_rate_hz);
    Log().With("node", node.endpoint.ToString()).Warn("node rebooted: re-identifying");
    Identify(index, options_.max_attempts, [](const Error*) {});
  }

  void Identify(std::size_t index, int attempts, const std::function<void(const Error*)>& done) {
    nodes_[index]->identify_in_flight = true;
    Request(
        index, fb::Body::Identify,
        [](flatbuffers::FlatBufferBuilder& b) { return fb::CreateIdentify(b).Union(); },
        [this, index, done](const fb::Frame* frame, std::int64_t, const Error* error) {
          NodeState& node = *nodes_[index];
          node.identify_in_flight = false;
          if (error != nullptr) {
            done(error);
            return;
          }
          const fb::Identity* identity = frame->body_as_Identity();
          if (identity == nullptr) {
            const Error wrong = MakeError("answered Identify with something else",
                                          Where(node.endpoint, 0), "check the node's firmware");
            done(&wrong);
            return;
          }
          const bool rebooted =
              node.report.boot_id != 0 && identity->boot_id() != node.report.boot_id;
          if (rebooted && node.report.identified) ++node.report.reboots_seen;
          node.report.node_id = identity->node_id();
          node.report.board = identity->board() != nullptr ? identity->board()->str() : "";
          node.report.firmware =
              identity->firmware_version() != nullptr ? identity->firmware_version()->str() : "";
          node.report.schema_hash = identity->schema_hash();
          node.report.schema_matches = identity->schema_hash() == protocol::kSchemaHash;
          node.report.port_count = identity->port_count();
          node.report.boot_id = identity->boot_id();
          if (node.report.tick_rate_hz != identity->tick_rate_hz() || rebooted) {
            node.report.tick_rate_hz = identity->tick_rate_hz();
            node.sync.Reset(identity->tick_rate_hz());
          }
          if (!node.report.schema_matches) {
            node.report.identified = false;
            const Error mismatch = MakeError(
                "runs firmware " + node.report.firmware + " built from a different protocol schema",
                Where(node.endpoint, node.report.node_id),
                "update the node's firmware to match this twinrig");
            done(&mismatch);
            return;
          }
          node.report.identified = true;
          if (rebooted) Reapply(index);
          done(nullptr);
        },
        attempts);
  }

  // After a reboot the node has forgotten its configuration and arm state: send them again.
  void Reapply(std::size_t index) {
    NodeState& node = *nodes_[index];
    auto arm = [this, index] {
      if (nodes_[index]->desired_armed.value_or(false)) SendArm(index, [](const Error*) {});
    };
    if (node.desired_ports.has_value()) {
      SendConfigure(index, [arm](const Error*) { arm(); });
    } else {
      arm();
    }
  }

  void SendConfigure(std::size_t index, const std::function<void(const Error*)>& done) {
    const std::vector<PortSetting> ports =
        nodes_[index]->desired_ports.value_or(std::vector<PortSetting>{});
    const bool persist = nodes_[index]->desired_persist;
    Request(
        index, fb::Body::ConfigurePorts,
        [ports, persist](flatbuffers::FlatBufferBuilder& b) {
          std::vector<flatbuffers::Offset<fb::PortConfig>> configs;
          configs.reserve(ports.size());
          for (const PortSetting& p : ports) {
            configs.push_back(fb::CreatePortConfig(b, p.port, p.enabled, p.focus_lead_us,
                                                   p.shutter_pulse_us, p.trim_us));
          }
          return fb::CreateConfigurePortsDirect(b, &configs, persist).Union();
        },
        [this, index, done](const fb::Frame* frame, std::int64_t, const Error* error) {
          if (error == nullptr) error = AckError(frame, index, "port configuration");
          done(error);
        });
  }

  void SendArm(std::size_t index, const std::function<void(const Error*)>& done) {
    const bool armed = nodes_[index]->desired_armed.value_or(false);
    Request(
        index, fb::Body::Arm,
        [armed](flatbuffers::FlatBufferBuilder& b) { return fb::CreateArm(b, armed).Union(); },
        [this, index, done](const fb::Frame* frame, std::int64_t, const Error* error) {
          if (error == nullptr) error = AckError(frame, index, "arm");
          done(error);
        });
  }

  void StartSyncTimer(std::size_t index) {
    NodeState& node = *nodes_[index];
    if (node.sync_timer_running) return;
    node.sync_timer_running = true;
    SyncTick(index);
  }

  void SyncTick(std::size_t index) {
    NodeState& node = *nodes_[index];
    if (node.report.identified) {
      SendSync(index);
    } else if (!node.identify_in_flight && ++node.rediscover_ticks % 10 == 0) {
      Identify(index, 1, [](const Error*) {});  // a silent or rebooted node: look for it again
    }
    node.sync_timer.expires_after(options_.sync_interval);
    node.sync_timer.async_wait([this, index](const boost::system::error_code& error) {
      if (!error) SyncTick(index);
    });
  }

  void SendSync(std::size_t index) {
    const std::uint64_t boot = nodes_[index]->report.boot_id;
    Request(
        index, fb::Body::SyncRequest,
        [](flatbuffers::FlatBufferBuilder& b) {
          return fb::CreateSyncRequest(b, HostNowNs()).Union();
        },
        [this, index, boot](const fb::Frame* frame, std::int64_t rx_ns, const Error* error) {
          if (error != nullptr) return;  // a lost exchange is just a missing sample
          const fb::SyncReply* reply = frame->body_as_SyncReply();
          NodeState& node = *nodes_[index];
          if (reply == nullptr || frame->session() != boot || node.report.boot_id != boot) return;
          node.sync.Add({reply->host_send_ns(), reply->rx_tick(), reply->tx_tick(), rx_ns});
        },
        1);
  }

  RigLinkOptions options_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  udp::socket socket_;
  std::thread thread_;
  std::uint64_t session_ = 1;
  std::uint32_t seq_ = 0;
  flatbuffers::FlatBufferBuilder builder_{1024};
  std::vector<std::unique_ptr<NodeState>> nodes_;
  std::map<std::uint32_t, std::shared_ptr<Pending>> pending_;
  Error last_error_;
};

// ---------------------------------------------------------------------------------------------

RigLink::RigLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RigLink::~RigLink() = default;

Result<std::unique_ptr<RigLink>> RigLink::Create(const RigLinkOptions& options) {
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(options, "riglink options"));
  auto impl = std::make_unique<Impl>(options);
  TWINRIG_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<RigLink>(new RigLink(std::move(impl)));
}

Status RigLink::Connect(const std::vector<NodeEndpoint>& nodes, std::chrono::milliseconds timeout) {
  return impl_->Connect(nodes, timeout);
}
Status RigLink::WaitForSync(std::chrono::milliseconds timeout, double max_error_us) {
  return impl_->WaitForSync(timeout, max_error_us);
}
std::vector<NodeReport> RigLink::Report() const { return impl_->Report(); }
std::size_t RigLink::node_count() const { return impl_->NodeCount(); }
Status RigLink::ConfigurePorts(std::size_t node, const std::vector<PortSetting>& ports,
                               bool persist) {
  return impl_->ConfigurePorts(node, ports, persist);
}
Status RigLink::Arm(bool armed) { return impl_->Arm(armed); }
Result<CaptureTicket> RigLink::ScheduleCapture(std::uint32_t capture_id,
                                               std::int64_t host_instant_ns) {
  return impl_->ScheduleCapture(capture_id, host_instant_ns);
}
Result<NodeStatus> RigLink::GetStatus(std::size_t node) { return impl_->GetStatus(node); }
Status RigLink::ClearFault(std::size_t node) {
  return impl_->SimpleCommand(node, fb::Body::ClearFault, "clear-fault");
}
Status RigLink::Reboot(std::size_t node) {
  return impl_->SimpleCommand(node, fb::Body::Reboot, "reboot");
}
std::optional<std::int64_t> RigLink::TickToHost(std::size_t node, std::uint64_t tick) const {
  return impl_->TickToHost(node, tick);
}

Result<std::vector<std::size_t>> RigLink::ConfirmCapture(const CaptureTicket& ticket,
                                                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::size_t> unconfirmed;
  for (std::size_t i = 0; i < ticket.nodes.size(); ++i) {
    if (ticket.nodes[i].scheduled) unconfirmed.push_back(i);
  }
  for (int round = 0; round < 10000 && !unconfirmed.empty(); ++round) {
    std::vector<std::size_t> still;
    for (std::size_t i : unconfirmed) {
      auto status = GetStatus(i);
      bool done = status.ok() && status->fault == fb::Fault::None;
      if (done) {
        for (const NodePortStatus& port : status->ports) {
          if (port.pending > 0) done = false;
        }
        bool any = false;
        for (const NodePortStatus& port : status->ports) {
          if (port.last_capture_id == ticket.capture_id) any = true;
        }
        done = done && any;
      }
      if (!done) still.push_back(i);
    }
    unconfirmed = std::move(still);
    if (unconfirmed.empty() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return unconfirmed;
}

}  // namespace twinrig::riglink
