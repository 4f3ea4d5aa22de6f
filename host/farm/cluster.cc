#include "host/farm/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include <toml++/toml.h>

#include "util/files.h"

namespace twinrig::farm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kNodeName = "station";
constexpr const char* kPartition = "twinrig";

struct Daemon {
  const char* name;  // the program, as /proc/PID/comm shows it
  const char* pid_file;
};
// Stopped in this order (the reverse of starting).
constexpr Daemon kDaemons[] = {
    {"slurmd", "slurmd.pid"}, {"slurmctld", "slurmctld.pid"}, {"munged", "munged.pid"}};

fs::path RunFolder(const fs::path& studio) { return LocalFarmFolder(studio) / "run"; }
fs::path LogFolder(const fs::path& studio) { return LocalFarmFolder(studio) / "log"; }
fs::path LocalConf(const fs::path& studio) { return LocalFarmFolder(studio) / "slurm.conf"; }
// munged wants every folder above its socket open to all (execute), which a private studio folder
// is not: the socket lives under /run, in a folder named after the studio's farm folder.
fs::path MungeSocketFolder(const fs::path& studio) {
  return fs::path("/run/twinrig-farm") /
         Sha256Hex(fs::absolute(LocalFarmFolder(studio)).lexically_normal().string()).substr(0, 16);
}
fs::path MungeSocket(const fs::path& studio) { return MungeSocketFolder(studio) / "munge.socket"; }

// The PID a daemon recorded, when that process is alive and is that program (a PID file left by
// a crash may name a PID reused since).
int LivePid(const fs::path& studio, const Daemon& daemon) {
  auto text = ReadFileText(RunFolder(studio) / daemon.pid_file);
  if (!text.ok()) return 0;
  const int pid = std::atoi(text->c_str());
  if (pid <= 0) return 0;
  auto comm = ReadFileText("/proc/" + std::to_string(pid) + "/comm");
  if (!comm.ok()) return 0;
  std::string name = *comm;
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  return name == daemon.name ? pid : 0;
}

bool Alive(int pid) { return pid > 0 && ::kill(pid, 0) == 0; }

bool StopPid(int pid) {
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100 && Alive(pid); ++i) std::this_thread::sleep_for(100ms);
  if (Alive(pid)) {
    ::kill(pid, SIGKILL);
    for (int i = 0; i < 50 && Alive(pid); ++i) std::this_thread::sleep_for(100ms);
  }
  return !Alive(pid);
}

// A loopback port no one listens on now.
Result<int> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return MakeError("cannot open a socket", "127.0.0.1", "check the machine's limits");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  if (port == 0) return MakeError("no free loopback port", "127.0.0.1", "check the machine");
  return port;
}

Status MakeMungeKey(const fs::path& key) {
  std::error_code ec;
  if (fs::exists(key, ec)) return {};
  std::string bytes(1024, '\0');
  if (::getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    return MakeError("cannot read random bytes for the munge key", key.string(),
                     "check the kernel's random source");
  }
  TWINRIG_RETURN_IF_ERROR(WriteFileAtomic(key, bytes));
  fs::permissions(key, fs::perms::owner_read, ec);
  if (ec) {
    return MakeError("cannot make the munge key private: " + ec.message(), key.string(),
                     "check the folder's filesystem supports permissions");
  }
  return {};
}

Status WriteLocalConf(const fs::path& studio) {
  const fs::path conf = LocalConf(studio);
  std::error_code ec;
  if (fs::exists(conf, ec)) return {};
  auto controller_port = FreeLoopbackPort();
  if (!controller_port.ok()) return controller_port.error();
  auto node_port = FreeLoopbackPort();
  if (!node_port.ok()) return node_port.error();
  if (*node_port == *controller_port) ++*node_port;
  const fs::path f = LocalFarmFolder(studio);
  const unsigned cpus = std::max(1U, std::thread::hardware_concurrency());
  std::ostringstream out;
  out << "# The studio's single-machine Slurm farm, written by `twinrig farm up`.\n"
         "# To span several machines: one NodeName line per machine (NodeAddr: its address),\n"
         "# this file and the munge key on every machine, the studio folder mounted on all.\n"
      << "ClusterName=twinrig\n"
      << "SlurmctldHost=localhost(127.0.0.1)\n"
      << "SlurmctldPort=" << *controller_port << "\n"
      << "SlurmdPort=" << *node_port << "\n"
      << "SlurmUser=root\n"
      << "AuthType=auth/munge\n"
      << "CredType=cred/munge\n"
      << "AuthInfo=socket=" << MungeSocket(studio).string() << "\n"
      << "ProctrackType=proctrack/linuxproc\n"
      << "TaskPlugin=task/none\n"
      << "SelectType=select/cons_tres\n"
      << "SelectTypeParameters=CR_Core\n"
      << "JobAcctGatherType=jobacct_gather/none\n"
      << "AccountingStorageType=accounting_storage/none\n"
      << "MpiDefault=none\n"
      << "ReturnToService=2\n"
      << "MinJobAge=3600\n"
      << "StateSaveLocation=" << (f / "state").string() << "\n"
      << "SlurmdSpoolDir=" << (f / "spool").string() << "\n"
      << "SlurmctldPidFile=" << (RunFolder(studio) / "slurmctld.pid").string() << "\n"
      << "SlurmdPidFile=" << (RunFolder(studio) / "slurmd.pid").string() << "\n"
      << "SlurmctldLogFile=" << (LogFolder(studio) / "slurmctld.log").string() << "\n"
      << "SlurmdLogFile=" << (LogFolder(studio) / "slurmd.log").string() << "\n"
      << "NodeName=" << kNodeName << " NodeAddr=127.0.0.1 CPUs=" << cpus << " State=UNKNOWN\n"
      << "PartitionName=" << kPartition << " Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n";
  return WriteFileAtomic(conf, out.str());
}

// Runs a daemon that forks into the background, and waits for its PID file.
Status StartDaemon(const fs::path& studio, const Daemon& daemon,
                   const std::vector<std::string>& argv) {
  if (LivePid(studio, daemon) != 0) return {};
  std::error_code ec;
  fs::remove(RunFolder(studio) / daemon.pid_file, ec);
  SubprocessOptions options;
  options.timeout = 30s;
  auto run = RunSubprocess(argv, options);
  const fs::path log = LogFolder(studio) / (std::string(daemon.name) + ".log");
  if (!run.ok() || !run->succeeded()) {
    std::string said = run.ok() ? run->output : run.error().what;
    while (!said.empty() && said.back() == '\n') said.pop_back();
    return MakeError(std::string(daemon.name) + " did not start" +
                         (run.ok() ? " (" + run->DescribeEnd() + ")" : std::string()) +
                         (said.empty() ? std::string() : ": " + said),
                     log.string(), "read its log; `twinrig farm down` stops what did start");
  }
  for (int i = 0; i < 100; ++i) {
    if (LivePid(studio, daemon) != 0) return {};
    std::this_thread::sleep_for(100ms);
  }
  return MakeError(std::string(daemon.name) + " started but recorded no running process",
                   log.string(), "read its log; `twinrig farm down` stops what did start");
}

}  // namespace

std::vector<std::string> Settings::Validate() const {
  std::vector<std::string> problems;
  if (depth_chunks < 1 || depth_chunks > 256) problems.push_back("depth_chunks must be 1..256");
  return problems;
}

fs::path SettingsFile(const fs::path& studio) { return studio / "farm.toml"; }
fs::path LocalFarmFolder(const fs::path& studio) { return studio / "farm"; }

Result<Settings> LoadSettings(const fs::path& studio) {
  Settings settings;
  std::error_code ec;
  if (fs::exists(LocalConf(studio), ec)) settings.slurm_conf = LocalConf(studio);
  const fs::path file = SettingsFile(studio);
  if (!fs::exists(file, ec)) return settings;
  toml::table table;
  try {
    table = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    return MakeError(
        "farm.toml is not valid TOML (line " + std::to_string(e.source().begin.line) + ")",
        file.string(), "fix the line or remove the file");
  }
  for (const auto& [key, value] : table) {
    const std::string k(key.str());
    if (k == "reconstruct") {
      const auto where = value.value<std::string>();
      if (!where || (*where != "local" && *where != "slurm")) {
        return MakeError("reconstruct must be \"local\" or \"slurm\"", file.string(),
                         "set reconstruct = \"slurm\" to reconstruct on the farm by default");
      }
      settings.reconstruct_on_farm = *where == "slurm";
    } else if (k == "slurm_conf") {
      const auto path = value.value<std::string>();
      if (!path) return MakeError("slurm_conf must be a string (a path)", file.string(), "");
      settings.slurm_conf = path->empty() ? fs::path() : fs::path(*path);
      if (!settings.slurm_conf.empty() && settings.slurm_conf.is_relative()) {
        settings.slurm_conf = (studio / settings.slurm_conf).lexically_normal();
      }
    } else if (k == "partition") {
      const auto name = value.value<std::string>();
      if (!name) return MakeError("partition must be a string", file.string(), "");
      settings.partition = *name;
    } else if (k == "depth_chunks") {
      const auto n = value.value<int64_t>();
      if (!n) return MakeError("depth_chunks must be a whole number", file.string(), "");
      settings.depth_chunks = static_cast<int>(std::clamp<int64_t>(*n, -1, 100000));
    } else {
      return MakeError("unknown setting \"" + k + "\"", file.string(),
                       "the settings are reconstruct, slurm_conf, partition and depth_chunks");
    }
  }
  if (const auto problems = settings.Validate(); !problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    return MakeError(all, file.string(), "fix the setting in farm.toml");
  }
  return settings;
}

Status SetReconstructOnFarm(const fs::path& studio, bool on_farm) {
  auto settings = LoadSettings(studio);
  if (!settings.ok()) return settings.error();
  std::string conf = settings->slurm_conf.string();
  const std::string studio_prefix = studio.string() + "/";
  if (conf.rfind(studio_prefix, 0) == 0) conf = conf.substr(studio_prefix.size());
  std::ostringstream out;
  out << "# The studio's reconstruction farm (see `twinrig farm --help`).\n"
      << "reconstruct = \"" << (on_farm ? "slurm" : "local") << "\"\n"
      << "slurm_conf = " << toml::value<std::string>(conf) << "\n"
      << "partition = " << toml::value<std::string>(settings->partition) << "\n"
      << "depth_chunks = " << settings->depth_chunks << "\n";
  return WriteFileAtomic(SettingsFile(studio), out.str());
}

Result<SubprocessResult> RunSlurm(const Settings& settings, std::vector<std::string> argv,
                                  std::chrono::seconds timeout) {
  SubprocessOptions options;
  options.timeout = timeout;
  if (!settings.slurm_conf.empty()) {
    options.extra_environment.push_back("SLURM_CONF=" + settings.slurm_conf.string());
  }
  if (!ProgramExists(argv.front())) {
    return MakeError("the Slurm client program " + argv.front() + " is not installed", "",
                     "install slurm-client (scripts/setup)");
  }
  return RunSubprocess(argv, options);
}

Result<std::vector<Node>> ListNodes(const Settings& settings) {
  auto run = RunSlurm(settings, {"sinfo", "--noheader", "--Node", "--format=%N|%T|%c"}, 15s);
  if (!run.ok()) return run.error();
  if (!run->succeeded()) {
    std::string said = run->output;
    while (!said.empty() && said.back() == '\n') said.pop_back();
    return MakeError(
        "the farm's controller does not answer (sinfo " + run->DescribeEnd() +
            (said.empty() ? std::string() : ": " + said) + ")",
        settings.slurm_conf.empty() ? "/etc/slurm/slurm.conf" : settings.slurm_conf.string(),
        "start it (`twinrig farm up` for this station's own farm) or check "
        "slurm_conf in farm.toml");
  }
  std::vector<Node> nodes;
  std::istringstream lines(run->output);
  for (std::string line; std::getline(lines, line);) {
    const auto a = line.find('|');
    const auto b = line.find('|', a == std::string::npos ? a : a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    Node node;
    node.name = line.substr(0, a);
    node.state = line.substr(a + 1, b - a - 1);
    node.cpus = std::atoi(line.c_str() + b + 1);
    nodes.push_back(node);
  }
  return nodes;
}

std::vector<std::pair<std::string, int>> RunningDaemons(const fs::path& studio) {
  std::vector<std::pair<std::string, int>> running;
  for (const Daemon& d : kDaemons) {
    if (const int pid = LivePid(studio, d); pid != 0) running.emplace_back(d.name, pid);
  }
  return running;
}

Result<UpReport> Up(const fs::path& studio, const UpOptions& options) {
  UpReport report;
  report.slurm_conf = LocalConf(studio);
  for (const char* program : {"munged", "slurmctld", "slurmd", "sinfo", "sbatch"}) {
    if (!ProgramExists(program) && !ProgramExists(std::string("/usr/sbin/") + program)) {
      return MakeError(std::string(program) + " is not installed", "",
                       "install munge, slurmctld, slurmd and slurm-client (scripts/setup)");
    }
  }
  if (::geteuid() != 0) {
    return MakeError(
        "the single-machine farm starts its daemons as root (slurmd runs each job "
        "as the user who submitted it)",
        "", "run `twinrig farm up` as root, or use the studio's cluster (farm.toml)");
  }
  report.already_up = RunningDaemons(studio).size() == std::size(kDaemons);
  const fs::path f = LocalFarmFolder(studio);
  std::error_code ec;
  for (const char* sub : {"munge", "run", "state", "spool", "log"}) {
    fs::create_directories(f / sub, ec);
    if (ec) {
      return MakeError("cannot create the farm's folder: " + ec.message(), (f / sub).string(),
                       "check permissions and free space");
    }
  }
  // munged refuses a key others can read and a socket folder others cannot enter.
  fs::permissions(f / "munge", fs::perms::owner_all, ec);
  fs::permissions(f / "run",
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec,
                  ec);
  const auto open_to_all = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec;
  fs::create_directories(MungeSocketFolder(studio), ec);
  fs::permissions(MungeSocketFolder(studio).parent_path(), open_to_all, ec);
  fs::permissions(MungeSocketFolder(studio), open_to_all, ec);
  if (ec) {
    return MakeError("cannot create the folder of munge's socket: " + ec.message(),
                     MungeSocketFolder(studio).string(), "check that /run is writable by root");
  }
  TWINRIG_RETURN_IF_ERROR(MakeMungeKey(f / "munge" / "munge.key"));
  TWINRIG_RETURN_IF_ERROR(WriteLocalConf(studio));
  const auto sbin = [](const std::string& program) {
    return ProgramExists(program) ? program : "/usr/sbin/" + program;
  };
  Status started = StartDaemon(studio, kDaemons[2],
                               {sbin("munged"), "--socket=" + MungeSocket(studio).string(),
                                "--key-file=" + (f / "munge" / "munge.key").string(),
                                "--pid-file=" + (RunFolder(studio) / "munged.pid").string(),
                                "--seed-file=" + (f / "munge" / "munged.seed").string(),
                                "--log-file=" + (LogFolder(studio) / "munged.log").string()});
  if (started.ok()) {
    started =
        StartDaemon(studio, kDaemons[1], {sbin("slurmctld"), "-f", LocalConf(studio).string()});
  }
  if (started.ok()) {
    started = StartDaemon(studio, kDaemons[0],
                          {sbin("slurmd"), "-f", LocalConf(studio).string(), "-N", kNodeName});
  }
  if (!started.ok()) {
    (void)Down(studio);
    return started.error();
  }
  Settings settings;
  settings.slurm_conf = LocalConf(studio);
  const auto deadline = std::chrono::steady_clock::now() + options.wait;
  std::string last = "no answer";
  while (true) {
    auto nodes = ListNodes(settings);
    if (nodes.ok()) {
      report.nodes = *nodes;
      const bool ready = !nodes->empty() && std::all_of(nodes->begin(), nodes->end(), [](auto& n) {
        return n.state == "idle" || n.state == "mixed" || n.state == "allocated";
      });
      if (ready) return report;
      last = nodes->empty() ? "no node" : "node " + nodes->front().state;
    } else {
      last = nodes.error().what;
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(500ms);
  }
  (void)Down(studio);
  return MakeError("the farm did not become ready within " + std::to_string(options.wait.count()) +
                       " s (" + last + ")",
                   LogFolder(studio).string(), "read slurmctld.log and slurmd.log there");
}

Status Down(const fs::path& studio) {
  const auto running = RunningDaemons(studio);
  if (running.empty()) return {};
  Settings settings;
  settings.slurm_conf = LocalConf(studio);
  // Jobs first: a job step outlives slurmd and would keep running unsupervised.
  if (LivePid(studio, kDaemons[1]) != 0) {
    (void)RunSlurm(settings, {"scancel", "--partition=" + std::string(kPartition)}, 15s);
    for (int i = 0; i < 40; ++i) {
      auto queue = RunSlurm(settings, {"squeue", "--noheader", "--states=RUNNING,COMPLETING"}, 10s);
      if (!queue.ok() || !queue->succeeded() || queue->output.empty()) break;
      std::this_thread::sleep_for(500ms);
    }
  }
  std::vector<std::string> stuck;
  for (const Daemon& d : kDaemons) {
    const int pid = LivePid(studio, d);
    if (pid != 0 && !StopPid(pid)) stuck.push_back(std::string(d.name) + " " + std::to_string(pid));
  }
  if (!stuck.empty()) {
    std::string list;
    for (const auto& s : stuck) list += (list.empty() ? "" : ", ") + s;
    return MakeError("these farm daemons did not stop: " + list, RunFolder(studio).string(),
                     "stop them by hand (kill -9 PID)");
  }
  return {};
}

}  // namespace twinrig::farm
