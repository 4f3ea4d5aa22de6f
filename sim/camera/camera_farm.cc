#include "sim/camera/camera_farm.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <fmt/ranges.h>

#include <atomic>
#include <boost/asio.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "sim/camera/device.h"
#include "sim/camera/ptpip.h"
#include "sim/camera/synthetic_jpeg.h"
#include "util/check.h"
#include "util/clock.h"
#include "util/files.h"
#include "util/logging.h"
#include "util/options.h"

namespace twinrig::sim::camera {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;

// The most a host may send in one data-out phase (property values are a few bytes).
constexpr std::size_t kMaxDataOut = 1U << 20;

void SleepUntilMonotonic(std::int64_t target_ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(target_ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(target_ns % 1'000'000'000);  // NOLINT(google-runtime-int)
  // Absolute sleep: an interrupted sleep resumes towards the same instant.
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

std::array<std::uint8_t, 16> GuidOf(const std::string& serial) {
  std::array<std::uint8_t, 16> guid{};
  std::uint64_t h = 1469598103934665603ULL;
  for (std::size_t i = 0; i < guid.size(); ++i) {
    for (char c : serial) h = (h ^ static_cast<std::uint8_t>(c)) * 1099511628211ULL;
    h = (h ^ i) * 1099511628211ULL;
    guid[i] = static_cast<std::uint8_t>(h >> 32);
  }
  return guid;
}

nlohmann::json ToJson(const ExposureRecord& r) {
  const ExposureSettings& s = r.settings;
  return {{"serial", r.serial},
          {"camera_index", r.camera_index},
          {"sequence", r.sequence},
          {"capture_id", r.capture_id},
          {"trigger", r.trigger},
          {"edge_time_ns", r.edge_time_ns},
          {"shutter_lag_ns", r.shutter_lag_ns},
          {"true_time_ns", r.true_time_ns},
          {"os_wake_ns", r.os_wake_ns},
          {"os_lateness_ns", r.os_lateness_ns},
          {"stored", r.stored},
          {"handle", r.handle},
          {"filename", r.filename},
          {"bytes", r.bytes},
          {"sha256", r.sha256},
          {"error", r.error},
          {"settings",
           {{"iso", s.iso},
            {"shutter_s", s.shutter_s},
            {"aperture_f", s.aperture_f},
            {"white_balance", s.white_balance},
            {"white_balance_k", s.white_balance_k},
            {"image_size", s.image_size},
            {"jpeg_quality", s.jpeg_quality},
            {"capture_target", s.capture_target}}}};
}

}  // namespace

namespace farm_detail {

class Connection;

struct Camera {
  Camera(std::size_t i, CameraConfig c, asio::io_context& io, CameraFarm::Impl* f)
      : index(i),
        config(c),
        device(std::move(c)),
        log(Log().With("camera", config.serial)),
        acceptor(io),
        remote(io),
        rng(config.seed + i),
        farm(f) {}

  const std::size_t index;
  const CameraConfig config;
  Device device;
  const ContextLogger log;
  tcp::acceptor acceptor;
  udp::socket remote;
  std::array<std::uint8_t, 64> datagram{};
  udp::endpoint datagram_from;

  mutable std::mutex mutex;  // guards everything below
  Fault fault;
  std::vector<std::weak_ptr<Connection>> connections;
  std::uint32_t next_connection = 1;
  CameraStats stats;
  bool focus_closed = false;
  std::int64_t focus_closed_at_ns = 0;
  bool shutter_closed = false;
  std::uint64_t sequence = 0;
  std::mt19937_64 rng;
  CameraFarm::Impl* const farm;

  Fault CurrentFault() const {
    std::lock_guard lock(mutex);
    return fault;
  }
  void Count(std::uint64_t CameraStats::*field, std::uint64_t n = 1) {
    std::lock_guard lock(mutex);
    stats.*field += n;
  }
  std::vector<std::shared_ptr<Connection>> Live() const;
};

// A chunk of bytes to send: a small owned head (packet header) and an optional slice of shared
// data (object bytes, never copied unless corrupted).
struct OutChunk {
  std::vector<std::uint8_t> head;
  std::shared_ptr<const std::vector<std::uint8_t>> data;
  std::size_t offset = 0;
  std::size_t length = 0;
  std::uint64_t pace_bytes_per_s = 0;  // > 0: wait length / pace after sending
};

}  // namespace farm_detail

using farm_detail::Camera;
using farm_detail::Connection;
using farm_detail::OutChunk;

struct PendingExposure {
  Camera* camera = nullptr;
  std::int64_t edge_ns = 0;
  std::int64_t lag_ns = 0;
  std::uint32_t capture_id = 0;
  std::string trigger;
  std::optional<std::uint32_t> ptp_transaction;
  std::string refused;  // non-empty: no exposure, only a record of why
};

struct ShotJob {
  PendingExposure shot;
  std::int64_t woke_ns = 0;
  std::uint64_t sequence = 0;
  ExposureSettings settings;
};

struct CameraFarm::Impl {
  explicit Impl(FarmOptions o) : options(std::move(o)) {}

  void Schedule(PendingExposure shot);
  void ShutterLoop();
  void ImageLoop();
  void RunShot(ShotJob job);
  void Publish(const ExposureRecord& record);
  void SendEvents(Camera& camera, std::uint32_t handle, std::optional<std::uint32_t> tid);
  void Accept(Camera& camera);
  void Receive(Camera& camera);
  void HandleEdge(Camera& camera, const wire::LineEdge& edge);

  FarmOptions options;
  asio::io_context io;  // declared before the cameras: their sockets go first
  std::vector<std::unique_ptr<Camera>> cameras;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> io_threads;
  bool started = false;
  bool stopped = false;

  std::mutex shot_mutex;
  std::condition_variable shot_cv;
  std::multimap<std::int64_t, PendingExposure> pending;  // by true exposure time
  bool shots_stopping = false;
  std::thread shutter_thread;

  std::mutex job_mutex;
  std::condition_variable job_cv;
  std::deque<ShotJob> jobs;
  bool jobs_stopping = false;
  std::vector<std::thread> image_threads;

  std::mutex callback_mutex;
  ImageSource source;
  std::vector<std::function<void(const ExposureRecord&)>> callbacks;

  std::mutex truth_mutex;
  std::FILE* truth = nullptr;
};

namespace farm_detail {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Camera& camera, tcp::socket socket, std::size_t chunk_bytes,
             std::chrono::milliseconds handshake_timeout)
      : camera_(camera),
        socket_(std::move(socket)),
        pace_timer_(socket_.get_executor()),
        handshake_timer_(socket_.get_executor()),
        chunk_bytes_(chunk_bytes),
        handshake_timeout_(handshake_timeout),
        log_(camera.log) {}

  void Start() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      // A peer that connects and never completes the handshake would hold the socket forever.
      self->handshake_timer_.expires_after(self->handshake_timeout_);
      self->handshake_timer_.async_wait([self](boost::system::error_code ec) {
        if (!ec && self->role_ == Role::kUnknown) {
          self->log_.Warn("closing a connection that sent no handshake within {} ms",
                          self->handshake_timeout_.count());
          self->CloseNow("no handshake");
        }
      });
      self->ReadHeader();
    });
  }
  // Thread-safe.
  void Close(const std::string& why) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), why] { self->CloseNow(why); });
  }
  // Thread-safe; only event connections send anything.
  void SendEvent(std::vector<std::uint8_t> packet) {
    asio::post(socket_.get_executor(),
               [self = shared_from_this(), p = std::move(packet)]() mutable {
                 if (self->role_ != Role::kEvent) return;
                 self->Queue(OutChunk{std::move(p)});
               });
  }
  // Called only when the io threads are stopped.
  void CloseStopped() { CloseNow("camera farm stopped"); }

  [[nodiscard]] bool is_event() const { return role_ == Role::kEvent; }
  [[nodiscard]] std::uint32_t connection_number() const { return connection_number_; }

 private:
  enum class Role { kUnknown, kCommand, kEvent };

  void ReadHeader() {
    if (closed_) return;
    asio::async_read(socket_, asio::buffer(header_),
                     [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                       if (ec) return self->CloseNow(EndReason(ec));
                       auto length = ParseHeaderLength(self->header_);
                       if (!length.ok()) return self->Malformed(length.error().what);
                       self->packet_.assign(*length, 0);
                       std::copy(self->header_.begin(), self->header_.end(), self->packet_.begin());
                       if (*length == kHeaderSize) return self->OnPacket();
                       self->ReadBody();
                     });
  }

  void ReadBody() {
    asio::async_read(socket_,
                     asio::buffer(packet_.data() + kHeaderSize, packet_.size() - kHeaderSize),
                     [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                       if (ec) return self->CloseNow(EndReason(ec));
                       self->OnPacket();
                     });
  }

  static std::string EndReason(const boost::system::error_code& ec) {
    return ec == asio::error::eof ? "host closed the connection" : ec.message();
  }

  void OnPacket() {
    if (closed_) return;
    auto parsed = ParseHostPacket(packet_);
    if (!parsed.ok()) return Malformed(parsed.error().what);
    bool keep_reading = true;
    std::visit([&](auto& p) { keep_reading = Handle(p); }, *parsed);
    if (keep_reading) ReadHeader();
  }

  void Malformed(const std::string& what) {
    log_.Warn("closing connection: {}", what);
    camera_.Count(&CameraStats::malformed_packets);
    CloseNow("malformed packet");
  }

  bool Unexpected(const char* what) {
    Malformed(fmt::format("{} is not expected on a {} connection", what,
                          role_ == Role::kCommand ? "command"
                          : role_ == Role::kEvent ? "event"
                                                  : "new"));
    return false;
  }

  bool Handle(InitCommandRequest& request) {
    if (role_ != Role::kUnknown) return Unexpected("InitCommandRequest");
    const Fault fault = camera_.CurrentFault();
    if (fault.refuse_session) {
      log_.Info("refusing session from '{}' (InitFail fault)", request.friendly_name);
      camera_.Count(&CameraStats::refused_sessions);
      Queue(OutChunk{BuildInitFail(1)});
      close_after_write_ = true;
      return false;
    }
    role_ = Role::kCommand;
    handshake_timer_.cancel();
    {
      std::lock_guard lock(camera_.mutex);
      connection_number_ = camera_.next_connection++;
      ++camera_.stats.connections;
    }
    log_ = camera_.log.With("conn", std::to_string(connection_number_));
    log_.Info("host '{}' connected (command channel)", request.friendly_name);
    Queue(OutChunk{BuildInitCommandAck(connection_number_, GuidOf(camera_.config.serial),
                                       camera_.config.serial)});
    return true;
  }

  bool Handle(InitEventRequest& request) {
    if (role_ != Role::kUnknown) return Unexpected("InitEventRequest");
    bool known = false;
    for (const auto& c : camera_.Live()) {
      if (c.get() != this && !c->is_event() &&
          c->connection_number() == request.connection_number) {
        known = true;
      }
    }
    if (!known) {
      log_.Warn("event channel for unknown connection {}: InitFail", request.connection_number);
      Queue(OutChunk{BuildInitFail(1)});
      close_after_write_ = true;
      return false;
    }
    role_ = Role::kEvent;
    handshake_timer_.cancel();
    connection_number_ = request.connection_number;
    log_ = camera_.log.With("conn", std::to_string(connection_number_)).With("channel", "event");
    Queue(OutChunk{BuildInitEventAck()});
    return true;
  }

  bool Handle(OperationRequest& request) {
    if (role_ != Role::kCommand) return Unexpected("OperationRequest");
    if (data_out_request_) return Unexpected("OperationRequest during a data phase");
    if (request.data_phase == kDataPhaseOut) {
      data_out_request_ = std::move(request);
      data_out_.clear();
      return true;
    }
    Execute(request, {});
    return true;
  }

  bool Handle(StartDataPacket& start) {
    if (role_ != Role::kCommand || !data_out_request_) return Unexpected("StartData");
    if (start.transaction_id != data_out_request_->transaction_id) {
      return Unexpected("StartData of another transaction");
    }
    if (start.total_length > kMaxDataOut) return Unexpected("a data-out phase over 1 MiB");
    data_out_.reserve(static_cast<std::size_t>(start.total_length));
    return true;
  }

  bool Handle(DataPacket& data) {
    if (role_ != Role::kCommand || !data_out_request_) return Unexpected("Data");
    if (data.transaction_id != data_out_request_->transaction_id) {
      return Unexpected("Data of another transaction");
    }
    if (data_out_.size() + data.payload.size() > kMaxDataOut) {
      return Unexpected("a data-out phase over 1 MiB");
    }
    data_out_.insert(data_out_.end(), data.payload.begin(), data.payload.end());
    if (data.end) {
      OperationRequest request = std::move(*data_out_request_);
      data_out_request_.reset();
      Execute(request, data_out_);
    }
    return true;
  }

  bool Handle(CancelPacket& cancel) {
    log_.Info("host cancelled transaction {}", cancel.transaction_id);
    return true;
  }

  bool Handle(ProbeRequest&) {
    DataWriter w;
    w.U32(kHeaderSize).U32(static_cast<std::uint32_t>(PacketType::kProbeResponse));
    Queue(OutChunk{w.Take()});
    return true;
  }

  void Execute(const OperationRequest& request, std::span<const std::uint8_t> data_out) {
    camera_.Count(&CameraStats::operations);
    OperationResult result = camera_.device.Handle(request, data_out, session_);
    log_.Debug("{}({}) tid {} -> 0x{:04x}", OperationName(request.code),
               fmt::join(request.params, ","), request.transaction_id, result.code);
    if (request.code == op::kInitiateCapture) {
      if (result.code == rc::kDeviceBusy) {
        log_.Info("InitiateCapture refused: DeviceBusy (fault)");
        camera_.Count(&CameraStats::busy_refusals);
      } else if (result.code == rc::kStoreFull) {
        log_.Info("InitiateCapture refused: StoreFull");
        camera_.Count(&CameraStats::store_full_refusals);
      }
    }
    const std::uint32_t tid = request.transaction_id;
    if (result.has_data) SendData(tid, result);
    Queue(OutChunk{BuildOperationResponse(result.code, tid, result.params)});
    if (result.capture_requested) {
      PendingExposure shot;
      shot.camera = &camera_;
      shot.edge_ns = MonotonicNowNs();
      shot.lag_ns = camera_.config.shutter_lag_ns;
      shot.trigger = "ptp";
      shot.ptp_transaction = tid;
      camera_.farm->Schedule(std::move(shot));
    }
  }

  void SendData(std::uint32_t tid, const OperationResult& result) {
    Queue(OutChunk{BuildStartData(tid, result.data_length)});
    std::shared_ptr<const std::vector<std::uint8_t>> data = result.data;
    std::size_t offset = result.data_offset;
    const std::size_t length = result.data_length;
    std::uint64_t pace = 0;
    std::size_t chunk = chunk_bytes_;
    if (result.object_transfer) {
      const Fault fault = camera_.CurrentFault();
      if (fault.corrupt_transfer && length > 0) {
        // Flip bytes spread over the object, as a bad cable or card would: the size stays right,
        // the content does not.
        auto copy = std::make_shared<std::vector<std::uint8_t>>(
            data->begin() + static_cast<std::ptrdiff_t>(offset),
            data->begin() + static_cast<std::ptrdiff_t>(offset + length));
        for (std::size_t i = length / 2; i < length; i += 4099) (*copy)[i] ^= 0x5A;
        (*copy)[length / 3] ^= 0xFF;
        log_.Info("corrupting {} bytes of object data (fault)", length);
        data = std::move(copy);
        offset = 0;
      }
      if (fault.transfer_bytes_per_s > 0) {
        pace = fault.transfer_bytes_per_s;
        // Pace in slices of about 20 ms so that the rate is even.
        chunk = std::clamp<std::size_t>(static_cast<std::size_t>(pace / 50), 1024, chunk_bytes_);
      }
      camera_.Count(&CameraStats::bytes_sent, length);
    }
    if (length == 0) {
      Queue(OutChunk{BuildDataHeader(true, tid, 0)});
      return;
    }
    for (std::size_t sent = 0; sent < length;) {
      const std::size_t n = std::min(chunk, length - sent);
      const bool last = sent + n == length;
      Queue(OutChunk{BuildDataHeader(last, tid, n), data, offset + sent, n, pace});
      sent += n;
    }
  }

  void Queue(OutChunk chunk) {
    if (closed_) return;
    queue_.push_back(std::move(chunk));
    WriteNext();
  }

  void WriteNext() {
    if (writing_ || closed_) return;
    if (queue_.empty()) {
      if (close_after_write_) CloseNow("session refused");
      return;
    }
    writing_ = true;
    const OutChunk& c = queue_.front();
    std::array<asio::const_buffer, 2> buffers{
        asio::buffer(c.head),
        c.data ? asio::buffer(c.data->data() + c.offset, c.length) : asio::const_buffer()};
    asio::async_write(
        socket_, buffers, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
          self->writing_ = false;
          if (ec) return self->CloseNow("send failed: " + ec.message());
          if (self->queue_.empty()) return;  // closed meanwhile
          const OutChunk done = std::move(self->queue_.front());
          self->queue_.pop_front();
          if (done.pace_bytes_per_s > 0) {
            self->writing_ = true;  // hold the queue while pacing
            self->pace_timer_.expires_after(std::chrono::nanoseconds(
                static_cast<std::int64_t>(done.length * 1'000'000'000ULL / done.pace_bytes_per_s)));
            self->pace_timer_.async_wait([self](boost::system::error_code) {
              self->writing_ = false;
              self->WriteNext();
            });
            return;
          }
          self->WriteNext();
        });
  }

  void CloseNow(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    // A write in flight still uses the front chunk's bytes until its handler runs.
    if (!writing_) queue_.clear();
    if (role_ != Role::kUnknown) log_.Info("connection closed: {}", why);
    boost::system::error_code ignored;
    pace_timer_.cancel();
    handshake_timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    if (role_ == Role::kCommand) {
      // The event channel belongs to this command channel: a camera ends both.
      for (const auto& c : camera_.Live()) {
        if (c.get() != this && c->is_event() && c->connection_number() == connection_number_) {
          c->Close("its command channel closed");
        }
      }
    }
  }

  Camera& camera_;
  tcp::socket socket_;
  asio::steady_timer pace_timer_;
  asio::steady_timer handshake_timer_;
  const std::size_t chunk_bytes_;
  const std::chrono::milliseconds handshake_timeout_;
  ContextLogger log_;
  // Read and written only on the socket's strand; role_ and connection_number_ are set once,
  // before the connection is visible to event routing as an event channel.
  std::atomic<Role> role_{Role::kUnknown};
  std::atomic<std::uint32_t> connection_number_{0};
  std::array<std::uint8_t, kHeaderSize> header_{};
  std::vector<std::uint8_t> packet_;
  SessionState session_;
  std::optional<OperationRequest> data_out_request_;
  std::vector<std::uint8_t> data_out_;
  std::deque<OutChunk> queue_;
  bool writing_ = false;
  bool close_after_write_ = false;
  bool closed_ = false;
};

std::vector<std::shared_ptr<Connection>> Camera::Live() const {
  std::lock_guard lock(mutex);
  std::vector<std::shared_ptr<Connection>> live;
  for (const auto& weak : connections) {
    if (auto c = weak.lock()) live.push_back(std::move(c));
  }
  return live;
}

}  // namespace farm_detail

// ---- exposures -------------------------------------------------------------------------------

void CameraFarm::Impl::Schedule(PendingExposure shot) {
  const std::int64_t when = shot.edge_ns + shot.lag_ns;
  {
    std::lock_guard lock(shot_mutex);
    if (shots_stopping) return;
    pending.emplace(when, std::move(shot));
  }
  shot_cv.notify_one();
}

void CameraFarm::Impl::ShutterLoop() {
  std::unique_lock lock(shot_mutex);
  while (!shots_stopping) {
    if (pending.empty()) {
      shot_cv.wait(lock);
      continue;
    }
    const std::int64_t target = pending.begin()->first;
    // Wait on the condition variable until 2 ms before (a new, earlier shot may arrive), then
    // sleep the last stretch with an absolute clock_nanosleep for precision.
    const std::int64_t now = MonotonicNowNs();
    if (target - now > 2'000'000) {
      shot_cv.wait_for(lock, std::chrono::nanoseconds(target - now - 1'000'000));
      continue;
    }
    lock.unlock();
    SleepUntilMonotonic(target);
    const std::int64_t woke = MonotonicNowNs();
    lock.lock();
    // Every shot due by now exposes at this wake-up: take them all before any slower work, so a
    // studio of cameras firing together is not exposed one bookkeeping step after another.
    std::vector<ShotJob> due;
    while (!pending.empty() && pending.begin()->first <= woke) {
      ShotJob job;
      job.shot = std::move(pending.begin()->second);
      job.woke_ns = woke;
      pending.erase(pending.begin());
      due.push_back(std::move(job));
    }
    lock.unlock();
    for (ShotJob& job : due) {
      Camera& camera = *job.shot.camera;
      job.settings = camera.device.Settings();
      std::lock_guard camera_lock(camera.mutex);
      job.sequence = ++camera.sequence;
      if (job.shot.refused.empty()) ++camera.stats.exposures;
    }
    {
      std::lock_guard job_lock(job_mutex);
      for (ShotJob& job : due) jobs.push_back(std::move(job));
    }
    job_cv.notify_all();
    lock.lock();
  }
}

void CameraFarm::Impl::ImageLoop() {
  // Image production is bulk work (a renderer, JPEG encoding, hashing); the shutter thread must
  // win the CPU when an exposure is due, so the image workers run at a lower priority.
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10) != 0) {
    Log().Debug("could not lower the image worker's priority");
  }
  for (;;) {
    ShotJob job;
    {
      std::unique_lock lock(job_mutex);
      job_cv.wait(lock, [this] { return jobs_stopping || !jobs.empty(); });
      if (jobs.empty()) return;
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    RunShot(std::move(job));
  }
}

void CameraFarm::Impl::RunShot(ShotJob job) {
  Camera& camera = *job.shot.camera;
  ExposureRecord record;
  record.serial = camera.config.serial;
  record.camera_index = camera.index;
  record.sequence = job.sequence;
  record.capture_id = job.shot.capture_id;
  record.trigger = job.shot.trigger;
  record.edge_time_ns = job.shot.edge_ns;
  record.shutter_lag_ns = job.shot.lag_ns;
  record.true_time_ns = job.shot.edge_ns + job.shot.lag_ns;
  record.os_wake_ns = job.woke_ns;
  record.os_lateness_ns = job.woke_ns - record.true_time_ns;
  record.settings = job.settings;
  if (!job.shot.refused.empty()) {
    record.error = job.shot.refused;
    camera.log.Warn("shot not taken: {}", record.error);
    Publish(record);
    return;
  }

  ExposureRequest request;
  request.serial = camera.config.serial;
  request.manufacturer = camera.config.manufacturer;
  request.model = camera.config.model;
  request.camera_index = camera.index;
  request.sequence = job.sequence;
  request.capture_id = job.shot.capture_id;
  request.true_time_ns = record.true_time_ns;
  request.settings = job.settings;
  request.sensor_width = camera.config.sensor_width;
  request.sensor_height = camera.config.sensor_height;
  ImageSource image_source;
  {
    std::lock_guard lock(callback_mutex);
    image_source = source;
  }
  Result<std::vector<std::uint8_t>> image =
      image_source ? image_source(request)
                   : SyntheticJpeg(request, camera.config.synthetic_jpeg_bytes);
  if (!image.ok()) {
    record.error = "image source failed: " + image.error().Describe();
    camera.log.Error("exposure {}: {}", job.sequence, record.error);
    Publish(record);
    return;
  }
  auto bytes = std::make_shared<const std::vector<std::uint8_t>>(std::move(image).value());
  record.bytes = bytes->size();
  record.sha256 = Sha256Hex(*bytes);
  auto stored = camera.device.StoreImage(bytes, job.settings);
  if (!stored.ok()) {
    record.error = stored.error().what;
    camera.log.Warn("exposure {}: {}", job.sequence, record.error);
    Publish(record);
    return;
  }
  record.stored = true;
  record.handle = stored->handle;
  record.filename = stored->filename;
  camera.Count(&CameraStats::images_stored);
  camera.log.Debug("exposed {} at {} ns (OS {} us late), {} bytes", record.filename,
                   record.true_time_ns, record.os_lateness_ns / 1000, record.bytes);
  // The truth goes out before the host can hear of the object, so a reader of the truth never
  // sees a download it has no record for.
  Publish(record);
  SendEvents(camera, record.handle, job.shot.ptp_transaction);
}

void CameraFarm::Impl::SendEvents(Camera& camera, std::uint32_t handle,
                                  std::optional<std::uint32_t> tid) {
  const std::uint32_t event_tid = tid.value_or(0xFFFFFFFF);
  const std::array<std::uint32_t, 1> added{handle};
  const std::array<std::uint32_t, 1> complete{event_tid};
  if (camera.CurrentFault().no_events) {
    camera.log.Info("events for object {} swallowed (fault)", handle);
    camera.Count(&CameraStats::events_suppressed, 2);
    return;
  }
  const auto live = camera.Live();
  bool sent = false;
  for (const auto& c : live) {
    if (!c->is_event()) continue;
    c->SendEvent(BuildEvent(ev::kObjectAdded, event_tid, added));
    c->SendEvent(BuildEvent(ev::kCaptureComplete, event_tid, complete));
    camera.Count(&CameraStats::events_sent, 2);
    sent = true;
  }
  if (!sent) {
    camera.log.Info("object {} added with no host on the event channel ({} connections)", handle,
                    live.size());
  }
}

void CameraFarm::Impl::Publish(const ExposureRecord& record) {
  if (truth != nullptr) {
    const std::string line = ToJson(record).dump() + "\n";
    std::lock_guard lock(truth_mutex);
    if (std::fwrite(line.data(), 1, line.size(), truth) != line.size() || std::fflush(truth) != 0) {
      Log().With("file", options.truth_log.string()).Error("could not append to the truth log");
    }
  }
  std::vector<std::function<void(const ExposureRecord&)>> copy;
  {
    std::lock_guard lock(callback_mutex);
    copy = callbacks;
  }
  for (const auto& callback : copy) callback(record);
}

// ---- sockets ---------------------------------------------------------------------------------

void CameraFarm::Impl::Accept(Camera& camera) {
  camera.acceptor.async_accept(
      asio::make_strand(io), [this, &camera](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !camera.acceptor.is_open()) return;
        if (!ec) {
          if (camera.CurrentFault().drop_connection) {
            camera.log.Info("dropping a new connection (fault)");
            camera.Count(&CameraStats::dropped_connections);
            boost::system::error_code ignored;
            socket.close(ignored);
          } else {
            boost::system::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            auto connection = std::make_shared<Connection>(
                camera, std::move(socket), options.data_chunk_bytes, options.handshake_timeout);
            {
              std::lock_guard lock(camera.mutex);
              std::erase_if(camera.connections, [](const auto& w) { return w.expired(); });
              camera.connections.push_back(connection);
            }
            connection->Start();
          }
        } else {
          camera.log.Warn("accept failed: {}", ec.message());
        }
        Accept(camera);
      });
}

void CameraFarm::Impl::Receive(Camera& camera) {
  camera.remote.async_receive_from(
      asio::buffer(camera.datagram), camera.datagram_from,
      [this, &camera](boost::system::error_code ec, std::size_t n) {
        if (ec == asio::error::operation_aborted || !camera.remote.is_open()) return;
        if (!ec) {
          auto edge = wire::Decode(std::span<const std::uint8_t>(camera.datagram.data(), n));
          if (!edge) {
            camera.log.Warn("ignoring a malformed remote-port datagram of {} bytes", n);
            camera.Count(&CameraStats::remote_rejected);
          } else {
            HandleEdge(camera, *edge);
          }
        }
        Receive(camera);
      });
}

void CameraFarm::Impl::HandleEdge(Camera& camera, const wire::LineEdge& edge) {
  PendingExposure shot;
  {
    std::lock_guard lock(camera.mutex);
    ++camera.stats.remote_edges;
    if (edge.line == wire::Line::kFocus) {
      camera.focus_closed = edge.closed;
      camera.focus_closed_at_ns = edge.true_time_ns;
      return;
    }
    const bool was_closed = camera.shutter_closed;
    camera.shutter_closed = edge.closed;
    if (!edge.closed || was_closed) return;  // only the closing edge fires
    shot.camera = &camera;
    shot.edge_ns = edge.true_time_ns;
    shot.capture_id = edge.capture_id;
    shot.trigger = "remote";
    std::int64_t jitter = 0;
    if (camera.config.shutter_lag_jitter_ns > 0) {
      std::uniform_int_distribution<std::int64_t> dist(-camera.config.shutter_lag_jitter_ns,
                                                       camera.config.shutter_lag_jitter_ns);
      jitter = dist(camera.rng);
    }
    shot.lag_ns = camera.config.shutter_lag_ns + jitter;
    if (camera.config.focus_lead_ns > 0 &&
        (!camera.focus_closed ||
         edge.true_time_ns - camera.focus_closed_at_ns < camera.config.focus_lead_ns)) {
      shot.refused = fmt::format(
          "shutter closed without focus held for {} ms (node {} port {}, capture {})",
          camera.config.focus_lead_ns / 1'000'000, edge.node_id, edge.node_port, edge.capture_id);
      shot.lag_ns = 0;
    }
  }
  Schedule(std::move(shot));
}

// ---- the farm ---------------------------------------------------------------------------------

std::vector<std::string> FarmOptions::Validate() const {
  std::vector<std::string> problems;
  if (io_threads < 1 || io_threads > 64) problems.push_back("io_threads must be 1..64");
  if (image_threads < 1 || image_threads > 64) problems.push_back("image_threads must be 1..64");
  if (handshake_timeout.count() < 1) problems.push_back("handshake_timeout must be positive");
  if (data_chunk_bytes < 1024 || data_chunk_bytes > (16U << 20)) {
    problems.push_back("data_chunk_bytes must be 1 KiB..16 MiB");
  }
  return problems;
}

std::vector<std::string> CameraConfig::Validate() const {
  std::vector<std::string> problems;
  if (serial.empty() || serial.size() > 64) problems.push_back("serial must be 1..64 characters");
  in_addr parsed{};
  if (inet_pton(AF_INET, address.c_str(), &parsed) != 1 || (ntohl(parsed.s_addr) >> 24) != 127) {
    problems.push_back("address '" + address + "' must be an IPv4 loopback address (127.x.y.z)");
  }
  if (port == 0) problems.push_back("port must not be 0");
  if (remote_port == 0) problems.push_back("remote_port must not be 0");
  if (shutter_lag_ns < 0 || shutter_lag_ns > 10'000'000'000) {
    problems.push_back("shutter_lag_ns must be 0..10 s");
  }
  if (shutter_lag_jitter_ns < 0 || shutter_lag_jitter_ns > shutter_lag_ns) {
    problems.push_back("shutter_lag_jitter_ns must be 0..shutter_lag_ns");
  }
  if (focus_lead_ns < 0) problems.push_back("focus_lead_ns must not be negative");
  if (battery_level < 0 || battery_level > 100) problems.push_back("battery_level must be 0..100");
  if (synthetic_jpeg_bytes < 4096 || synthetic_jpeg_bytes > (1U << 30)) {
    problems.push_back("synthetic_jpeg_bytes must be 4 KiB..1 GiB");
  }
  if (storage_capacity_bytes == 0) problems.push_back("storage_capacity_bytes must not be 0");
  return problems;
}

Result<std::vector<CameraConfig>> MakeCameraConfigs(int count, const StudioAddressing& addressing) {
  in_addr base{};
  if (inet_pton(AF_INET, addressing.base_address.c_str(), &base) != 1) {
    return MakeError("base address '" + addressing.base_address + "' is not an IPv4 address",
                     "virtual studio", "use a loopback address such as 127.0.0.2");
  }
  if (count < 0 || count > 100'000) {
    return MakeError(fmt::format("{} cameras is not a studio", count), "virtual studio",
                     "ask for 1..100000 cameras");
  }
  const std::uint32_t first = ntohl(base.s_addr);
  std::vector<CameraConfig> configs;
  for (int k = 1; k <= count; ++k) {
    const std::uint64_t host =
        static_cast<std::uint64_t>(first) + static_cast<std::uint64_t>(k - 1);
    if ((host >> 24) != 127 || (host & 0xFFFFFFu) == 0xFFFFFFu) {
      return MakeError(fmt::format("camera {} would leave 127.0.0.0/8", k), "virtual studio",
                       "choose a lower base address or fewer cameras");
    }
    in_addr a{htonl(static_cast<std::uint32_t>(host))};
    std::array<char, INET_ADDRSTRLEN> text{};
    inet_ntop(AF_INET, &a, text.data(), text.size());
    CameraConfig c;
    c.serial = fmt::format("{}{:05d}", addressing.serial_prefix, k);
    c.address = text.data();
    c.port = addressing.port;
    c.remote_port = addressing.remote_port;
    // Spread each body's lag evenly over lag +- spread, the same every run.
    const double unit =
        static_cast<double>((static_cast<std::uint64_t>(k) * 2654435761ULL) % 1001) / 1000.0;
    c.shutter_lag_ns =
        addressing.shutter_lag_ns +
        static_cast<std::int64_t>((2.0 * unit - 1.0) *
                                  static_cast<double>(addressing.shutter_lag_spread_ns));
    c.synthetic_jpeg_bytes = addressing.synthetic_jpeg_bytes;
    c.seed = static_cast<std::uint32_t>(k);
    configs.push_back(std::move(c));
  }
  return configs;
}

CameraFarm::CameraFarm(std::vector<CameraConfig> cameras, FarmOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  for (std::size_t i = 0; i < cameras.size(); ++i) {
    impl_->cameras.push_back(
        std::make_unique<Camera>(i, std::move(cameras[i]), impl_->io, impl_.get()));
  }
}

CameraFarm::~CameraFarm() { Stop(); }

Status CameraFarm::Start() {
  Impl& d = *impl_;
  TWINRIG_CHECK(!d.started) << "CameraFarm::Start called twice";
  TWINRIG_RETURN_IF_ERROR(ValidateOptions(d.options, "camera farm options"));
  std::set<std::string> serials;
  std::set<std::pair<std::string, std::uint16_t>> endpoints;
  for (const auto& camera : d.cameras) {
    const CameraConfig& c = camera->config;
    auto problems = c.Validate();
    if (!serials.insert(c.serial).second) problems.push_back("serial is used twice");
    if (!endpoints.insert({c.address, c.port}).second) {
      problems.push_back(fmt::format("{}:{} is used by another camera", c.address, c.port));
    }
    TWINRIG_RETURN_IF_ERROR(ProblemsToStatus(problems, "camera " + c.serial + " config"));
  }
  if (!d.options.truth_log.empty()) {
    d.truth = std::fopen(d.options.truth_log.c_str(), "ae");
    if (d.truth == nullptr) {
      return MakeError("cannot open the truth log for appending", d.options.truth_log.string(),
                       "check that the folder exists and is writable");
    }
  }
  auto fail = [&](Camera& camera, const std::string& what, std::uint16_t port,
                  const boost::system::error_code& ec) -> Status {
    Error error = MakeError(fmt::format("cannot listen on {} {}:{}: {}", what,
                                        camera.config.address, port, ec.message()),
                            camera.config.serial,
                            "another studio or program uses this address; choose another base "
                            "address or stop the other studio");
    Stop();
    return error;
  };
  for (const auto& camera : d.cameras) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address_v4(camera->config.address, ec);
    tcp::endpoint endpoint(address, camera->config.port);
    camera->acceptor.open(endpoint.protocol(), ec);
    if (!ec) camera->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) camera->acceptor.bind(endpoint, ec);
    if (!ec) camera->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail(*camera, "PTP/IP TCP", camera->config.port, ec);
    udp::endpoint remote(address, camera->config.remote_port);
    camera->remote.open(remote.protocol(), ec);
    if (!ec) camera->remote.bind(remote, ec);
    if (ec) return fail(*camera, "remote-port UDP", camera->config.remote_port, ec);
  }
  for (const auto& camera : d.cameras) {
    d.Accept(*camera);
    d.Receive(*camera);
  }
  d.started = true;
  d.work.emplace(d.io.get_executor());
  for (int i = 0; i < d.options.io_threads; ++i) d.io_threads.emplace_back([&d] { d.io.run(); });
  d.shutter_thread = std::thread([&d] { d.ShutterLoop(); });
  for (int i = 0; i < d.options.image_threads; ++i)
    d.image_threads.emplace_back([&d] { d.ImageLoop(); });
  Log().Info("virtual camera farm: {} cameras listening (first {}:{})", d.cameras.size(),
             d.cameras.empty() ? "-" : d.cameras.front()->config.address,
             d.cameras.empty() ? 0 : d.cameras.front()->config.port);
  return OkStatus();
}

void CameraFarm::Stop() {
  Impl& d = *impl_;
  if (d.stopped) return;
  d.stopped = true;
  {
    std::lock_guard lock(d.shot_mutex);
    d.shots_stopping = true;
  }
  d.shot_cv.notify_all();
  if (d.shutter_thread.joinable()) d.shutter_thread.join();
  {
    std::lock_guard lock(d.job_mutex);
    d.jobs_stopping = true;
  }
  d.job_cv.notify_all();
  for (auto& t : d.image_threads) t.join();
  d.io.stop();
  for (auto& t : d.io_threads) t.join();
  // No io thread runs now: close everything from here.
  for (const auto& camera : d.cameras) {
    boost::system::error_code ignored;
    camera->acceptor.close(ignored);
    camera->remote.close(ignored);
    for (const auto& c : camera->Live()) c->CloseStopped();
  }
  d.work.reset();
  if (d.truth != nullptr) {
    std::fclose(d.truth);
    d.truth = nullptr;
  }
}

void CameraFarm::SetImageSource(ImageSource source) {
  std::lock_guard lock(impl_->callback_mutex);
  impl_->source = std::move(source);
}

void CameraFarm::OnExposure(std::function<void(const ExposureRecord&)> callback) {
  std::lock_guard lock(impl_->callback_mutex);
  impl_->callbacks.push_back(std::move(callback));
}

Status CameraFarm::SetFault(const std::string& serial, const Fault& fault) {
  auto index = Find(serial);
  if (!index.ok()) return index.error();
  return SetFault(*index, fault);
}

Status CameraFarm::SetFault(std::size_t index, const Fault& fault) {
  if (index >= impl_->cameras.size()) {
    return MakeError(
        fmt::format("no camera at index {} (the farm has {})", index, impl_->cameras.size()),
        "camera farm", "use an index below the camera count");
  }
  Camera& camera = *impl_->cameras[index];
  {
    std::lock_guard lock(camera.mutex);
    camera.fault = fault;
  }
  camera.device.SetFault(fault);
  camera.log.Info(
      "faults: drop={} no_events={} busy={} rate={} corrupt={} card_full={} "
      "battery={} refuse={}",
      fault.drop_connection, fault.no_events, fault.busy_on_capture, fault.transfer_bytes_per_s,
      fault.corrupt_transfer, fault.card_full,
      fault.battery_level ? std::to_string(*fault.battery_level) : "-", fault.refuse_session);
  if (fault.drop_connection) {
    const auto live = camera.Live();
    camera.Count(&CameraStats::dropped_connections, live.size());
    for (const auto& c : live) c->Close("dropped (fault)");
  }
  return OkStatus();
}

std::size_t CameraFarm::size() const { return impl_->cameras.size(); }

const CameraConfig& CameraFarm::config(std::size_t index) const {
  TWINRIG_CHECK_LT(index, impl_->cameras.size());
  return impl_->cameras[index]->config;
}

Result<std::size_t> CameraFarm::Find(const std::string& serial) const {
  for (const auto& camera : impl_->cameras) {
    if (camera->config.serial == serial) return camera->index;
  }
  return MakeError("no virtual camera with serial " + serial, serial,
                   "check the serial against the studio's camera list");
}

CameraStats CameraFarm::Stats(std::size_t index) const {
  TWINRIG_CHECK_LT(index, impl_->cameras.size());
  Camera& camera = *impl_->cameras[index];
  CameraStats stats;
  {
    std::lock_guard lock(camera.mutex);
    stats = camera.stats;
  }
  stats.free_bytes = camera.device.FreeBytes();
  stats.images_on_card = camera.device.ImageCount();
  return stats;
}

std::string CameraFarm::GphotoPort(std::size_t index) const {
  const CameraConfig& c = config(index);
  if (c.port == kDefaultPtpIpPort) return "ptpip:" + c.address;
  return fmt::format("ptpip:{}:{}:{}", c.address, c.port, c.port);
}

}  // namespace twinrig::sim::camera
