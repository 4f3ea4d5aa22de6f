#include "host/camera/camera_pool.h"

#include <algorithm>
#include <semaphore>
#include <thread>

#include "util/check.h"

namespace twinrig::camera {

CameraPool::CameraPool(std::vector<PoolCamera> cameras, WorkerOptions options,
                       std::filesystem::path log_folder)
    : cameras_(std::move(cameras)),
      options_(std::move(options)),
      log_folder_(std::move(log_folder)) {}

CameraPool::~CameraPool() = default;

bool CameraPool::Contains(const std::string& serial) const {
  return std::any_of(cameras_.begin(), cameras_.end(),
                     [&](const PoolCamera& c) { return c.serial == serial; });
}

CameraClient& CameraPool::Client(const std::string& serial) {
  std::lock_guard lock(mutex_);
  auto& client = clients_[serial];
  if (!client) {
    auto it = std::find_if(cameras_.begin(), cameras_.end(),
                           [&](const PoolCamera& c) { return c.serial == serial; });
    TWINRIG_CHECK(it != cameras_.end()) << "camera " << serial << " is not in this pool";
    WorkerOptions worker = options_;
    if (!log_folder_.empty()) worker.log_file = log_folder_ / ("camera-" + serial + ".log");
    client = std::make_unique<CameraClient>(it->port, worker);
  }
  return *client;
}

void CameraPool::ForEach(
    const std::vector<std::string>& serials,
    const std::function<void(const std::string& serial, CameraClient& client)>& work) {
  std::vector<std::thread> threads;
  threads.reserve(serials.size());
  for (const auto& serial : serials) {
    CameraClient& client = Client(serial);
    threads.emplace_back([&work, &client, serial] { work(serial, client); });
  }
  for (auto& t : threads) t.join();
}

std::map<std::string, Error> CameraPool::Connect(const std::vector<std::string>& serials) {
  std::mutex failures_mutex;
  std::map<std::string, Error> failures;
  // Starting a worker and opening a camera is a burst of work for the station and for the
  // camera's link; a rig of a hundred or more cameras opened all at once overloads a small host
  // until the handshakes time out. A few dozen at a time connect the whole rig sooner.
  std::counting_semaphore<kConnectAtOnce> slots(kConnectAtOnce);
  ForEach(serials, [&](const std::string& serial, CameraClient& client) {
    slots.acquire();
    auto id = client.Connect();
    slots.release();
    Error error;
    if (!id.ok()) {
      error = id.error();
    } else if (id->serial != serial) {
      error = MakeError("camera " + id->serial + " answers at " + client.port() +
                            " where the rig expects " + serial,
                        client.port(), "fix the wiring or the rig file; run `twinrig cameras`");
      client.Stop();
    } else {
      return;
    }
    std::lock_guard lock(failures_mutex);
    failures.emplace(serial, std::move(error));
  });
  return failures;
}

std::map<std::string, Error> CameraPool::ConnectAll() { return Connect(Serials()); }

void CameraPool::Relocate(const std::string& serial, const std::string& port) {
  std::lock_guard lock(mutex_);
  for (auto& c : cameras_) {
    if (c.serial == serial) c.port = port;
  }
  clients_.erase(serial);
}

void CameraPool::StopWorker(const std::string& serial) {
  std::lock_guard lock(mutex_);
  clients_.erase(serial);
}

std::vector<std::string> CameraPool::Serials() const {
  std::vector<std::string> serials;
  serials.reserve(cameras_.size());
  for (const auto& c : cameras_) serials.push_back(c.serial);
  return serials;
}

int CameraPool::Spawns() const {
  std::lock_guard lock(mutex_);
  int n = 0;
  for (const auto& [serial, client] : clients_) n += client->spawns();
  return n;
}

int CameraPool::Reopens() const {
  std::lock_guard lock(mutex_);
  int n = 0;
  for (const auto& [serial, client] : clients_) n += client->reopens();
  return n;
}

void CameraPool::StopAll() {
  std::lock_guard lock(mutex_);
  for (auto& [serial, client] : clients_) client->Stop();
}

}  // namespace twinrig::camera
