// bench/capture-throughput: takes through the station (camera workers, libgphoto2, PTP/IP,
// download, JPEG check, SHA-256 on disk, journal, delete on camera) against baselines in the same
// run. The virtual cameras run in their own process (twinrig-sim-studio, synthetic payload), so the
// peak memory reported is the station's.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <semaphore>
#include <thread>

#include "bench/harness/harness.h"
#include "host/session/capture.h"
#include "host/session/session.h"
#include "sim/layout/layout.h"
#include "sim/studio/studio.h"
#include "store/catalog.h"
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

// Current resident set size of this process in MiB (/proc/self/statm), to see whether memory
// grows with takes (the peak alone cannot show that).
double CurrentRssMb() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  long pages = 0;
  long resident = 0;
  const int read = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  if (read != 2) return -1;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1048576.0;
}

struct StationRun {
  double connect_s = 0;        // every worker started and every camera connected, all at once
  std::vector<double> take_s;  // each take: trigger to every frame verified on disk
  std::vector<double> rss_mb;  // current RSS after each take
  int verified_first = 0;      // frames verified in the first take
  bool all_verified = true;
  int spawns = 0;  // worker processes started during the takes (0: persistent)
};

// A capture run through the station: one runner (one worker per camera, connected once), then
// `takes` takes one after the other.
Result<StationRun> StationTakes(const Studio& studio, const std::string& layout, int takes,
                                int at_once) {
  auto catalog = store::Catalog::Open(studio.root);
  if (!catalog.ok()) return catalog.error();
  auto session = session::CreateSession(*catalog, session::SessionKind::kCalibration, "", layout);
  if (!session.ok()) return session.error();
  session::CaptureOptions options;
  options.software_trigger = true;
  options.worker.worker_binary = BinaryDir() / "twinrig-camera-worker";
  options.worker.home = studio.root / ".gphoto";
  options.worker.capture_deadline = std::chrono::seconds(120);
  options.worker.download_deadline = std::chrono::seconds(300);
  options.takes = 1;
  options.downloads_at_once = at_once;
  session::CaptureRunner runner(*session, options);
  StationRun run;
  Stopwatch connect;
  auto problems = runner.Connect();
  run.connect_s = connect.Seconds();
  if (!problems.empty()) {
    return MakeError("camera " + problems.front().serial + ": " + problems.front().what);
  }
  for (int take = 0; take < takes; ++take) {
    Stopwatch watch;
    auto report = runner.Capture();
    run.take_s.push_back(watch.Seconds());
    if (!report.ok()) return report.error();
    if (take == 0) run.verified_first = report->takes.at(0).verified;
    run.all_verified = run.all_verified && report->complete();
    run.spawns += report->worker_spawns;
    run.rss_mb.push_back(CurrentRssMb());
  }
  // Frames are verified and journalled: free the disk for the next case (the journal stays, with
  // the time of every event, for --keep).
  std::filesystem::remove_all(session->folder / "images");
  return run;
}

// Baseline: the same bytes over loopback TCP into files on the same disk, fsynced and hashed with
// the same SHA-256, one connection per camera, `at_once` transfers at a time (the station's own
// limit on simultaneous downloads).
Result<double> TcpCopyBaseline(const std::filesystem::path& folder, int cameras, std::size_t bytes,
                               int at_once) {
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
  std::counting_semaphore<> slots(at_once);
  Stopwatch watch;
  std::vector<std::thread> clients;
  clients.reserve(static_cast<std::size_t>(cameras));
  for (int i = 0; i < cameras; ++i) {
    clients.emplace_back([&, i] {
      slots.acquire();
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(fd);
        slots.release();
        return;
      }
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
      slots.release();
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
  const int memory_takes = quick ? 20 : 100;
  // --keep: leave the studios (journals with the time of every event, worker logs) for a look.
  const bool keep = HasFlag(argc, argv, "--keep");
  // --downloads-at-once N: transfers at a time, for the station and the copy baseline alike.
  int at_once = session::CaptureOptions{}.downloads_at_once;
  if (const char* n = FlagValue(argc, argv, "--downloads-at-once"))
    at_once = std::max(1, std::atoi(n));
  char pattern[] = "/tmp/twinrig-bench-capture-XXXXXX";
  const std::filesystem::path work = ::mkdtemp(pattern);

  std::printf(
      "capture throughput (%s): %d cameras x %zu MB; CLI comparison and %d takes on %d cameras\n",
      quick ? "quick" : "full", big_cameras, big_bytes >> 20, memory_takes, cli_cameras);
  auto fail = [](const Error& error) {
    std::cerr << "error: " << error.Describe() << "\n";
    return 1;
  };

  // 1. The big take against the TCP copy baseline (two takes: the second is the steady state of a
  //    session; the first includes the cameras' first transfer).
  auto big =
      StartStudio(work / "big", quick ? "head24" : "body160", big_cameras, big_bytes, "127.0.60.2");
  if (!big.ok()) return fail(big.error());
  auto station = StationTakes(**big, quick ? "head24" : "body160", 2, at_once);
  big->reset();
  if (!station.ok()) return fail(station.error());
  const double rss_after_big = PeakRssMb();
  auto copy = TcpCopyBaseline(work / "copy", big_cameras, big_bytes, at_once);
  std::filesystem::remove_all(work / "copy");
  if (!copy.ok()) return fail(copy.error());
  const double total_mb = static_cast<double>(big_cameras) * static_cast<double>(big_bytes) / 1e6;
  const double take_s = std::min(station->take_s.at(0), station->take_s.at(1));

  // 2. Small frames on few cameras against the gphoto2 CLI in sequence (the CLI's own cost
  //    dominates), then many takes on the same runner: memory must stay flat.
  auto small = StartStudio(work / "small", "head24", cli_cameras, 2U << 20, "127.0.61.2");
  if (!small.ok()) return fail(small.error());
  auto cli = CliBaseline(**small, work / "cli");
  auto station_small = StationTakes(**small, "head24", memory_takes, at_once);
  small->reset();
  if (!cli.ok()) return fail(cli.error());
  if (!station_small.ok()) return fail(station_small.error());
  if (keep) {
    std::printf("kept %s\n", work.c_str());
  } else {
    std::filesystem::remove_all(work);
  }
  const auto& takes = station_small->take_s;
  const double small_take = Percentile(takes, 50);
  const double rss_first = station_small->rss_mb.front();
  const double rss_last = station_small->rss_mb.back();

  std::printf("%-48s %10s %10s\n", "case", "seconds", "MB/s");
  std::printf("%-48s %10.2f\n", "station: start workers, connect every camera", station->connect_s);
  std::printf("%-48s %10.2f %10.1f  (%d/%d verified)\n", "station take 1 (trigger -> all verified)",
              station->take_s.at(0), total_mb / station->take_s.at(0), station->verified_first,
              big_cameras);
  std::printf("%-48s %10.2f %10.1f\n", "station take 2", station->take_s.at(1),
              total_mb / station->take_s.at(1));
  std::printf("%-48s %10.2f %10.1f\n", "baseline: loopback TCP -> disk + SHA-256", *copy,
              total_mb / *copy);
  std::printf("(both: %d transfers at a time)\n", at_once);
  std::printf("%-48s %10.2f\n", "station take, CLI comparison (median)", small_take);
  std::printf("%-48s %10.2f\n", "station connect + first take, CLI comparison",
              station_small->connect_s + takes.front());
  std::printf("%-48s %10.2f\n", "baseline: gphoto2 CLI per camera in sequence", *cli);
  std::printf(
      "station RSS over %d takes: %.1f MB after the first, %.1f MB after the last "
      "(peak %.1f MB after the big takes)\n",
      memory_takes, rss_first, rss_last, rss_after_big);
  ResultLine("capture-throughput")
      .Add("cameras", big_cameras, 0)
      .Add("mb_per_image", static_cast<double>(big_bytes >> 20), 0)
      .Add("connect_s", station->connect_s, 2)
      .Add("station_s", take_s, 2)
      .Add("copy_s", *copy, 2)
      .Add("transfers_at_once", at_once, 0)
      .Add("ratio_vs_copy", take_s / *copy, 2)
      .Add("speedup_vs_cli", *cli / small_take, 2)
      .Add("speedup_vs_cli_with_connect", *cli / (station_small->connect_s + takes.front()), 2)
      .Add("rss_first_mb", rss_first, 1)
      .Add("rss_last_mb", rss_last, 1)
      .Add("takes", memory_takes, 0)
      .Add("worker_spawns_in_takes", station->spawns + station_small->spawns, 0)
      .Add("verified", station->verified_first, 0)
      .Print();
  return station->all_verified && station_small->all_verified ? 0 : 1;
}

}  // namespace
}  // namespace twinrig::bench

int main(int argc, char** argv) { return twinrig::bench::Main(argc, argv); }
