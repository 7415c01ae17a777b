// host_metrics: samples host metrics from /proc and /sys, and per-systemd-unit
// cgroup v2 metrics, every `interval`, as custos::v1::MetricPoint records.
//
//   [sources.host_metrics]
//   interval = "10s"
//   proc_root = "/proc"              # sys_root, cgroup_root likewise
//   cgroups = true
//   cgroup_slices = ["system.slice"]
//   filesystems_exclude = ["tmpfs", "overlay"]   # replaces the default list
//
// Host metrics use the node resource (ref 0); each unit's metrics use a
// resource that is the node's plus systemd_unit. Names follow node_exporter:
// node_cpu_seconds_total, node_memory_bytes, node_load, node_disk_*,
// node_network_*, node_filesystem_*, node_pressure_*, systemd_unit_*.
//
// A missing or malformed file never stops the source: it is logged once (per
// file), counted in custos_agent_host_metrics_read_errors_total{file}, and the
// rest of the sample is still sent. A sample the batcher refuses (agent buffer
// full) is dropped and reported with Batcher::ReportLoss: a metric sample
// cannot be re-read later. No position is kept.
//
// Thread-safety: Start() and Stop() from one controlling thread. SampleOnce()
// and BuildSample() may be called from any thread (they serialise on a mutex);
// tests call them directly instead of starting the thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/source.h"
#include "common/status.h"
#include "custos/v1/records.pb.h"

namespace custos::agent::host_metrics {

inline constexpr char kSourceName[] = "host_metrics";

// What statvfs() says of a mounted filesystem, in bytes.
struct FilesystemUsage {
  uint64_t size = 0;
  uint64_t free = 0;
  uint64_t avail = 0;  // free to unprivileged users
};
using StatFilesystemFn = std::function<Result<FilesystemUsage>(const std::string& mountpoint)>;

// statvfs(2). Note it can block on an unresponsive network filesystem.
Result<FilesystemUsage> StatFilesystem(const std::string& mountpoint);

struct HostMetricsOptions {
  int64_t interval_nanos = 10 * 1'000'000'000LL;
  std::string proc_root = "/proc";
  std::string sys_root = "/sys";
  std::string cgroup_root = "/sys/fs/cgroup";
  bool cgroups = true;
  std::vector<std::string> cgroup_slices = {"system.slice"};
  std::set<std::string> filesystems_exclude;          // filesystem types to skip
  int64_t user_hz = 0;                                // ticks per second in /proc/stat; 0: sysconf(_SC_CLK_TCK)
  StatFilesystemFn stat_filesystem = StatFilesystem;  // injectable for tests
};

// Filesystem types that hold no disk space worth watching (pseudo and
// memory-backed filesystems, container layers).
std::set<std::string> DefaultFilesystemsExclude();

class HostMetricsSource final : public Source {
 public:
  HostMetricsSource(HostMetricsOptions options, SourceContext& context);
  ~HostMetricsSource() override;
  HostMetricsSource(const HostMetricsSource&) = delete;
  HostMetricsSource& operator=(const HostMetricsSource&) = delete;

  // Source
  const std::string& name() const override { return name_; }
  Status Start(const std::string& position) override;  // position is ignored
  void Stop() override;

  // Takes one sample and hands it to the batcher. OK also when files were
  // unreadable (they are counted); RESOURCE_EXHAUSTED when the batcher
  // refused the sample, which has then been reported as a loss.
  Status SampleOnce();
  // The records of one sample, without handing them to the batcher.
  std::vector<v1::Record> BuildSample();

 private:
  class Sampler;  // builds one sample's records (host_metrics_source.cc)

  void Run();

  // Constant after construction.
  const std::string name_ = kSourceName;
  const HostMetricsOptions options_;
  SourceContext& context_;

  std::mutex sample_mu_;                            // serialises samples; guards sampler state below
  std::set<std::string> warned_files_;              // guarded by sample_mu_
  std::map<std::string, uint32_t> unit_resources_;  // guarded by sample_mu_
  int64_t boot_time_nanos_ = 0;                     // guarded by sample_mu_; last btime read (0 until one is)
  bool dropping_ = false;                           // guarded by sample_mu_; last sample was refused

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

// Reads [sources.host_metrics]; see the header comment for the keys.
Result<std::unique_ptr<Source>> CreateHostMetricsSource(ConfigSection& config, SourceContext& context);

}  // namespace custos::agent::host_metrics
