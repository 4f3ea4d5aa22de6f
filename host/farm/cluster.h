// The studio's Slurm farm: its settings (<studio>/farm.toml), the Slurm client commands run
// against it, and the single-machine farm `twinrig farm up|down` runs for development, CI and a
// station that is its own farm: munged, slurmctld and slurmd with their key, configuration,
// state and logs under <studio>/farm/, started and stopped by the PIDs they record there.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "util/result.h"
#include "util/subprocess.h"

namespace twinrig::farm {

// <studio>/farm.toml:
//   reconstruct = "slurm"       # where `twinrig reconstruct` runs by default: "local" | "slurm"
//   slurm_conf = "farm/slurm.conf"  # the cluster's slurm.conf (relative: to the studio folder);
//                                   # "" is Slurm's own default (/etc/slurm/slurm.conf)
//   partition = ""              # "" is the cluster's default partition
//   depth_chunks = 4            # the dense stage's job array: this many chunks of views
// Without the file: local by default, and the single-machine farm's slurm.conf when it exists.
struct Settings {
  bool reconstruct_on_farm = false;
  std::filesystem::path slurm_conf;  // absolute; empty: Slurm's default
  std::string partition;
  int depth_chunks = 4;
  [[nodiscard]] std::vector<std::string> Validate() const;
};

std::filesystem::path SettingsFile(const std::filesystem::path& studio);
Result<Settings> LoadSettings(const std::filesystem::path& studio);
// Sets `reconstruct` in farm.toml (creating it with the defaults), keeping the other settings.
Status SetReconstructOnFarm(const std::filesystem::path& studio, bool on_farm);

// A Slurm client command (sbatch, squeue, scontrol, scancel, sinfo) against the studio's farm.
Result<SubprocessResult> RunSlurm(const Settings& settings, std::vector<std::string> argv,
                                  std::chrono::seconds timeout = std::chrono::seconds(30));

struct Node {
  std::string name;
  std::string state;  // sinfo's: idle, mixed, allocated, down, drained, ...
  int cpus = 0;
};

// The farm's nodes (sinfo); an error says why the controller cannot be reached.
Result<std::vector<Node>> ListNodes(const Settings& settings);

// The single-machine farm.
std::filesystem::path LocalFarmFolder(const std::filesystem::path& studio);  // <studio>/farm
struct UpOptions {
  std::chrono::seconds wait{30};  // for the node to report idle
};
struct UpReport {
  std::filesystem::path slurm_conf;
  std::vector<Node> nodes;
  bool already_up = false;
};
// Starts munged, slurmctld and slurmd (as root: slurmd runs jobs as their users). The first run
// makes the munge key and slurm.conf (free loopback ports, this machine's CPUs).
Result<UpReport> Up(const std::filesystem::path& studio, const UpOptions& options = {});
// Cancels the farm's jobs, then stops slurmd, slurmctld and munged by their PIDs (SIGTERM, then
// SIGKILL after a bounded wait). Nothing to do when it is not up.
Status Down(const std::filesystem::path& studio);
// The daemons of the single-machine farm that are running (name and PID).
std::vector<std::pair<std::string, int>> RunningDaemons(const std::filesystem::path& studio);

}  // namespace twinrig::farm
