// PTP/IP download throughput from virtual cameras into the real libgphoto2, against a raw loopback
// TCP copy of the same bytes with the same number of parallel streams, measured in the same run.
//
// Case 1: one camera, one large image (24 MB; 8 MB with --quick).
// Case 48: 48 cameras at once, one image each (8 MB; 2 MB with --quick).
// Each camera captures once (not timed); the timed part is gp_camera_file_get of that image
// (GetObject: StartData, Data packets, EndData, response) on every camera in parallel threads.
// The baseline serves the same bytes from a 2-thread Boost.Asio server (the farm's thread count)
// to the same number of client threads that read them into memory.
#include <gphoto2/gphoto2.h>

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/harness/harness.h"
#include "sim/camera/camera_farm.h"
#include "util/logging.h"

namespace twinrig::bench {
namespace {

namespace asio = boost::asio;
namespace camera = twinrig::sim::camera;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ptpip-throughput: %s\n", what.c_str());
  std::exit(1);
}

// One libgphoto2 camera with one captured image on it.
struct GpCamera {
  Camera* cam = nullptr;
  GPContext* context = nullptr;
  CameraFilePath path{};
  ~GpCamera() {
    if (cam != nullptr) {
      gp_camera_exit(cam, context);
      gp_camera_unref(cam);
    }
    if (context != nullptr) gp_context_unref(context);
    // libgphoto2 2.5.30's PTP/IP disconnect also closes descriptor 0: keep it taken.
    if (fcntl(0, F_GETFD) == -1) {
      int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd > 0) close(fd);
    }
  }
};

struct Libraries {
  CameraAbilitiesList* abilities = nullptr;
  GPPortInfoList* ports = nullptr;
  Libraries() {
    gp_abilities_list_new(&abilities);
    gp_abilities_list_load(abilities, nullptr);
    gp_port_info_list_new(&ports);
    gp_port_info_list_load(ports);
  }
  ~Libraries() {
    gp_abilities_list_free(abilities);
    gp_port_info_list_free(ports);
  }
};

std::unique_ptr<GpCamera> OpenAndCapture(const Libraries& libs, const std::string& port) {
  auto c = std::make_unique<GpCamera>();
  c->context = gp_context_new();
  gp_camera_new(&c->cam);
  CameraAbilities abilities;
  gp_abilities_list_get_abilities(
      libs.abilities, gp_abilities_list_lookup_model(libs.abilities, "PTP/IP Camera"), &abilities);
  gp_camera_set_abilities(c->cam, abilities);
  GPPortInfo info;
  gp_port_info_list_get_info(libs.ports, gp_port_info_list_lookup_path(libs.ports, port.c_str()),
                             &info);
  gp_camera_set_port_info(c->cam, info);
  int rc = gp_camera_init(c->cam, c->context);
  if (rc < GP_OK) Die(fmt::format("gp_camera_init {}: {}", port, gp_result_as_string(rc)));
  rc = gp_camera_capture(c->cam, GP_CAPTURE_IMAGE, &c->path, c->context);
  if (rc < GP_OK) Die(fmt::format("gp_camera_capture {}: {}", port, gp_result_as_string(rc)));
  return c;
}

std::size_t Download(GpCamera& c) {
  CameraFile* file = nullptr;
  gp_file_new(&file);
  int rc =
      gp_camera_file_get(c.cam, c.path.folder, c.path.name, GP_FILE_TYPE_NORMAL, file, c.context);
  if (rc < GP_OK) Die(fmt::format("gp_camera_file_get: {}", gp_result_as_string(rc)));
  const char* data = nullptr;
  unsigned long size = 0;  // NOLINT(google-runtime-int): libgphoto2's type
  gp_file_get_data_and_size(file, &data, &size);
  gp_file_unref(file);
  return size;
}

// Raw TCP: a 2-thread Asio server that writes `bytes` to every client that connects.
class RawServer {
 public:
  RawServer(const std::string& address, std::size_t bytes)
      : acceptor_(io_, {asio::ip::make_address_v4(address), 0}),
        payload_(std::make_shared<std::vector<std::uint8_t>>(bytes, 0x5A)) {
    Accept();
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~RawServer() {
    io_.stop();
    for (auto& t : threads_) t.join();
  }
  [[nodiscard]] asio::ip::tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void Accept() {
    acceptor_.async_accept(
        asio::make_strand(io_), [this](boost::system::error_code ec, asio::ip::tcp::socket socket) {
          if (ec) return;
          auto s = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
          asio::async_write(*s, asio::buffer(*payload_),
                            [s, p = payload_](boost::system::error_code, std::size_t) {
                              boost::system::error_code ignored;
                              s->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                            });
          Accept();
        });
  }
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<std::vector<std::uint8_t>> payload_;
  std::vector<std::thread> threads_;
};

std::size_t RawFetch(const asio::ip::tcp::endpoint& endpoint, std::size_t bytes) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect(endpoint);
  std::vector<std::uint8_t> into(bytes);
  boost::system::error_code ec;
  std::size_t got = asio::read(socket, asio::buffer(into), ec);
  if (got != bytes) Die(fmt::format("raw TCP read {} of {} bytes", got, bytes));
  return got;
}

void Parallel(std::size_t n, const std::function<void(std::size_t)>& work) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (std::size_t i = 0; i < n; ++i) threads.emplace_back([&work, i] { work(i); });
  for (auto& t : threads) t.join();
}

struct CaseResult {
  double ptpip_mb_s = 0;
  double tcp_mb_s = 0;
};

CaseResult RunCase(const Libraries& libs, const std::string& base, int cameras, std::size_t bytes,
                   int repeats) {
  camera::StudioAddressing addressing;
  addressing.base_address = base;
  addressing.serial_prefix = "BEN";
  addressing.synthetic_jpeg_bytes = bytes;
  auto configs = camera::MakeCameraConfigs(cameras, addressing);
  if (!configs.ok()) Die(configs.error().Describe());
  camera::CameraFarm farm(*configs);
  auto started = farm.Start();
  if (!started.ok()) Die(started.error().Describe());
  std::vector<std::unique_ptr<GpCamera>> opened;
  opened.reserve(cameras);
  for (int i = 0; i < cameras; ++i) opened.push_back(OpenAndCapture(libs, farm.GphotoPort(i)));
  RawServer raw(base, bytes);

  const double total_mb = static_cast<double>(bytes) * cameras / 1e6;
  auto [ptpip, tcp] = MeasurePair(
      [&] {
        Parallel(opened.size(), [&](std::size_t i) {
          if (Download(*opened[i]) != bytes) Die("short PTP/IP download");
        });
      },
      [&] { Parallel(opened.size(), [&](std::size_t) { RawFetch(raw.endpoint(), bytes); }); },
      repeats);
  CaseResult result{total_mb / ptpip.Median(), total_mb / tcp.Median()};
  std::printf("%-8d %10.1f %12.3f %12.1f %12.3f %12.1f %8.3f\n", cameras, total_mb, ptpip.Median(),
              result.ptpip_mb_s, tcp.Median(), result.tcp_mb_s,
              result.ptpip_mb_s / result.tcp_mb_s);
  std::fflush(stdout);
  opened.clear();
  return result;
}

}  // namespace
}  // namespace twinrig::bench

int main(int argc, char** argv) {
  using namespace twinrig::bench;  // NOLINT(google-build-using-namespace)
  twinrig::ConfigureLogging("warn");
  std::signal(SIGPIPE, SIG_IGN);
  const bool quick = QuickMode(argc, argv);
  // libgphoto2 keeps its settings (the host GUID) under $HOME: use a scratch one.
  const auto home = std::filesystem::temp_directory_path() /
                    ("twinrig-bench-ptpip-" + std::to_string(::getpid()));
  std::filesystem::create_directories(home);
  setenv("HOME", home.c_str(), 1);

  const std::size_t one_bytes = quick ? (8U << 20) : (24U << 20);
  const std::size_t many_bytes = quick ? (2U << 20) : (8U << 20);
  const int repeats = quick ? 2 : 3;
  Libraries libs;
  std::printf("PTP/IP download into libgphoto2 vs raw loopback TCP (median of %d)\n", repeats);
  std::printf("%-8s %10s %12s %12s %12s %12s %8s\n", "cameras", "MB total", "ptpip s", "ptpip MB/s",
              "tcp s", "tcp MB/s", "ratio");
  CaseResult one = RunCase(libs, "127.77.0.2", 1, one_bytes, repeats);
  CaseResult many = RunCase(libs, "127.77.1.2", 48, many_bytes, repeats);
  std::error_code ignored;
  std::filesystem::remove_all(home, ignored);

  ResultLine("ptpip-throughput")
      .Add("mb_s_1", one.ptpip_mb_s, 1)
      .Add("mb_s_48", many.ptpip_mb_s, 1)
      .Add("tcp_mb_s_1", one.tcp_mb_s, 1)
      .Add("tcp_mb_s_48", many.tcp_mb_s, 1)
      .Add("ratio_1", one.ptpip_mb_s / one.tcp_mb_s)
      .Add("ratio_vs_tcp", many.ptpip_mb_s / many.tcp_mb_s)
      .Add("peak_rss_mb", PeakRssMb(), 0)
      .Print();
  return 0;
}
