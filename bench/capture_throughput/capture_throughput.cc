// bench/capture-throughput: a take through the station (camera workers, libgphoto2, PTP/IP,
// download, JPEG check, SHA-256 on disk, journal, delete on camera) against baselines in the same
// run. The virtual cameras run in their own process (twinrig-sim-studio, synthetic payload), so the
// peak memory reported is the station's.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

#include "bench/harness/harness.h"
#include "host/catalog/catalog.h"
#include "host/session/capture.h"
#include "host/session/session.h"
#include "sim/layout/layout.h"
#include "sim/studio/studio.h"
#include "util/files.h"
#include "util/subprocess.h"

namespace twinrig::bench {
namespace {

std::filesystem::path BinaryDir() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path() / "host" /
         "app";
}

struct Studio {
  std::filesystem::path root;
  sim::layout::Rig rig;
  ~Studio() { (void)sim::studio::Down(root); }
};

// Starts a virtual studio of `cameras` synthetic cameras at `base`.
Result<std::unique_ptr<Studio>> StartStudio(const std::filesystem::path& root,
                                            const std::string& layout, int cameras,
                                            std::size_t bytes, const std::string& base) {
  sim::studio::UpOptions up;
  up.layout = layout;
  up.cameras = cameras;
  up.synthetic_bytes = bytes;
  up.camera_base_address = base;
  auto started = sim::studio::Up(root, up, BinaryDir() / "twinrig-sim-studio");
  if (!started.ok()) return started.error();
  auto studio = std::make_unique<Studio>();
  studio->root = root;
  auto rig = sim::layout::ReadRigFile(root / "rigs" / layout / "rig.toml");
  if (!rig.ok()) return rig.error();
  studio->rig = *rig;
  return studio;
}

// One take through the station; returns seconds from trigger to every frame verified.
Result<double> StationTake(const Studio& studio, const std::string& layout, int* verified) {
  auto catalog = catalog::Catalog::Open(studio.root);
  if (!catalog.ok()) return catalog.error();
  auto session = session::CreateSession(*catalog, session::SessionKind::kCalibration, "", layout);
  if (!session.ok()) return session.error();
  session::CaptureOptions options;
  options.software_trigger = true;
  options.worker.worker_binary = BinaryDir() / "twinrig-camera-worker";
  options.worker.home = studio.root / ".gphoto";
  options.worker.capture_deadline = std::chrono::seconds(120);
  options.worker.download_deadline = std::chrono::seconds(300);
  Stopwatch watch;
  auto report = session::CaptureRunner(*session, options).Capture();
  double seconds = watch.Seconds();
  if (!report.ok()) return report.error();
  *verified = report->takes.at(0).verified;
  return seconds;
}

// Baseline: the same bytes over loopback TCP into files on the same disk, fsynced and hashed with
// the same SHA-256, one connection per camera, all at once.
Result<double> TcpCopyBaseline(const std::filesystem::path& folder, int cameras,
                               std::size_t bytes) {
  std::vector<std::uint8_t> payload(bytes);
  for (std::size_t i = 0; i < bytes; ++i) payload[i] = static_cast<std::uint8_t>(i * 131 + 7);
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener, cameras) != 0) {
    return MakeError("could not listen on loopback for the baseline");
  }
  socklen_t length = sizeof(address);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::thread server([&] {
    std::vector<std::thread> senders;
    senders.reserve(static_cast<std::size_t>(cameras));
    for (int i = 0; i < cameras; ++i) {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      senders.emplace_back([fd, &payload] {
        std::size_t done = 0;
        while (done < payload.size()) {
          ssize_t n = ::send(fd, payload.data() + done, payload.size() - done, MSG_NOSIGNAL);
          if (n <= 0) break;
          done += static_cast<std::size_t>(n);
        }
        ::close(fd);
      });
    }
    for (auto& t : senders) t.join();
  });
  std::filesystem::create_directories(folder);
  std::atomic<int> good{0};
  Stopwatch watch;
  std::vector<std::thread> clients;
  clients.reserve(static_cast<std::size_t>(cameras));
  for (int i = 0; i < cameras; ++i) {
    clients.emplace_back([&, i] {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return;
      std::vector<std::uint8_t> received;
      received.reserve(payload.size());
      std::vector<std::uint8_t> buffer(1 << 20);
      while (true) {
        ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (n <= 0) break;
        received.insert(received.end(), buffer.begin(), buffer.begin() + n);
      }
      ::close(fd);
      auto path = folder / ("frame-" + std::to_string(i) + ".jpg");
      if (WriteFileAtomic(path, received).ok() && Sha256File(path).ok()) ++good;
    });
  }
  for (auto& t : clients) t.join();
  double seconds = watch.Seconds();
  server.join();
  ::close(listener);
  if (good != cameras) return MakeError("the baseline lost frames");
  return seconds;
}

// Baseline: the usual script, the gphoto2 CLI once per camera in sequence, capture and download.
Result<double> CliBaseline(const Studio& studio, const std::filesystem::path& folder) {
  std::filesystem::create_directories(folder / "home");
  Stopwatch watch;
  for (const auto& camera : studio.rig.cameras) {
    SubprocessOptions options;
    options.timeout = std::chrono::seconds(120);
    options.working_directory = folder;
    options.extra_environment = {"HOME=" + (folder / "home").string()};
    auto run = RunSubprocess(
        {"gphoto2", "--port", "ptpip:" + camera.address, "--camera", "PTP/IP Camera",
         "--capture-image-and-download", "--filename", camera.serial + ".jpg", "--force-overwrite"},
        options);
    if (!run.ok()) return run.error();
    if (!std::filesystem::exists(folder / (camera.serial + ".jpg"))) {
      return MakeError("gphoto2 did not download a frame: " + run->output.substr(0, 200),
                       camera.serial);
    }
  }
  return watch.Seconds();
}

int Main(int argc, char** argv) {
  const bool quick = QuickMode(argc, argv);
  const int big_cameras = quick ? 24 : 160;
  const std::size_t big_bytes = (quick ? 4U : 24U) << 20;
  const int cli_cameras = quick ? 6 : 24;
  char pattern[] = "/tmp/twinrig-bench-capture-XXXXXX";
  const std::filesystem::path work = ::mkdtemp(pattern);

  std::printf("capture throughput (%s): %d cameras x %zu MB; CLI comparison on %d cameras\n",
              quick ? "quick" : "full", big_cameras, big_bytes >> 20, cli_cameras);

  // 1. The big take against the TCP copy baseline.
  auto big =
      StartStudio(work / "big", quick ? "head24" : "body160", big_cameras, big_bytes, "127.0.60.2");
  if (!big.ok()) {
    std::cerr << "error: " << big.error().Describe() << "\n";
    return 1;
  }
  int verified = 0;
  auto station = StationTake(**big, quick ? "head24" : "body160", &verified);
  big->reset();
  if (!station.ok()) {
    std::cerr << "error: " << station.error().Describe() << "\n";
    return 1;
  }
  const double rss_after_big = PeakRssMb();
  std::filesystem::remove_all(work / "big" / "sessions");
  auto copy = TcpCopyBaseline(work / "copy", big_cameras, big_bytes);
  std::filesystem::remove_all(work / "copy");
  if (!copy.ok()) {
    std::cerr << "error: " << copy.error().Describe() << "\n";
    return 1;
  }
  const double total_mb = static_cast<double>(big_cameras) * static_cast<double>(big_bytes) / 1e6;

  // 2. head24 against the gphoto2 CLI in sequence (small frames: the CLI's own cost dominates).
  auto small = StartStudio(work / "small", "head24", cli_cameras, 2U << 20, "127.0.61.2");
  if (!small.ok()) {
    std::cerr << "error: " << small.error().Describe() << "\n";
    return 1;
  }
  int small_verified = 0;
  auto station_small = StationTake(**small, "head24", &small_verified);
  auto cli = CliBaseline(**small, work / "cli");
  // A second station take: peak memory must not grow with the number of takes.
  int again_verified = 0;
  auto station_again = StationTake(**small, "head24", &again_verified);
  const double rss_end = PeakRssMb();
  small->reset();
  if (!station_small.ok() || !cli.ok() || !station_again.ok()) {
    std::cerr << "error: "
              << (!station_small.ok() ? station_small.error().Describe()
                  : !cli.ok()         ? cli.error().Describe()
                                      : station_again.error().Describe())
              << "\n";
    return 1;
  }
  std::filesystem::remove_all(work);

  std::printf("%-44s %10s %10s\n", "case", "seconds", "MB/s");
  std::printf("%-44s %10.2f %10.1f  (%d/%d verified)\n", "station take (trigger -> all verified)",
              *station, total_mb / *station, verified, big_cameras);
  std::printf("%-44s %10.2f %10.1f\n", "baseline: loopback TCP -> disk + SHA-256", *copy,
              total_mb / *copy);
  std::printf("%-44s %10.2f\n", "station take, CLI comparison", *station_small);
  std::printf("%-44s %10.2f\n", "baseline: gphoto2 CLI per camera in sequence", *cli);
  std::printf("station peak RSS: %.1f MB after the big take, %.1f MB after two more takes\n",
              rss_after_big, rss_end);
  ResultLine("capture-throughput")
      .Add("cameras", big_cameras, 0)
      .Add("mb_per_image", static_cast<double>(big_bytes >> 20), 0)
      .Add("station_s", *station, 2)
      .Add("copy_s", *copy, 2)
      .Add("ratio_vs_copy", *station / *copy, 2)
      .Add("speedup_vs_cli", *cli / *station_small, 2)
      .Add("peak_rss_mb", rss_end, 1)
      .Add("verified", verified, 0)
      .Print();
  return verified == big_cameras && small_verified == cli_cameras ? 0 : 1;
}

}  // namespace
}  // namespace twinrig::bench

int main(int argc, char** argv) { return twinrig::bench::Main(argc, argv); }
