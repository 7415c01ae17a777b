#include "agent/sources/host_metrics/host_metrics_source.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <initializer_list>
#include <utility>

#include "agent/sources/host_metrics/cgroup.h"
#include "agent/sources/host_metrics/parse_util.h"
#include "agent/sources/host_metrics/procfs.h"
#include "common/files.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace custos::agent::host_metrics {
namespace {

constexpr char kComponent[] = "host_metrics";
constexpr double kBytesPerSector = 512;  // /proc/diskstats counts 512-byte sectors on every device

using Attributes = std::initializer_list<std::pair<const char*, std::string>>;

// Block devices that are not disks worth watching: loop, ram, zram, floppy.
bool IsVirtualDisk(const std::string& name) {
  for (std::string_view prefix : {"loop", "zram", "ram", "fd"}) {
    if (name.size() > prefix.size() && name.starts_with(prefix) && ParseUint(name.substr(prefix.size()))) return true;
  }
  return false;
}

}  // namespace

Result<FilesystemUsage> StatFilesystem(const std::string& mountpoint) {
  struct statvfs st;
  if (::statvfs(mountpoint.c_str(), &st) != 0) return ErrnoStatus("statvfs " + mountpoint, errno);
  FilesystemUsage u;
  u.size = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
  u.free = static_cast<uint64_t>(st.f_bfree) * st.f_frsize;
  u.avail = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  return u;
}

std::set<std::string> DefaultFilesystemsExclude() {
  return {"autofs",    "binfmt_misc", "bpf",      "cgroup",  "cgroup2",   "configfs",   "debugfs",
          "devpts",    "devtmpfs",    "efivarfs", "fusectl", "hugetlbfs", "mqueue",     "nsfs",
          "overlay",   "proc",        "procfs",   "pstore",  "ramfs",     "rpc_pipefs", "securityfs",
          "selinuxfs", "squashfs",    "sysfs",    "tmpfs",   "tracefs",   "fuse.lxcfs"};
}

// Builds the records of one sample. Lives for one sample; the source's
// sample_mu_ is held throughout.
class HostMetricsSource::Sampler {
 public:
  explicit Sampler(HostMetricsSource& source)
      : source_(source), options_(source.options_), now_(source.context_.clock.NowUnixNanos()) {}

  std::vector<v1::Record> Run() {
    SampleCpu();  // first: it refreshes the boot time the other counters start at
    SampleMemory();
    SampleLoad();
    SampleDisks();
    SampleNetwork();
    SampleFilesystems();
    for (const char* resource : {"cpu", "memory", "io"}) SamplePressure(resource);
    if (options_.cgroups) SampleUnits();
    return std::move(records_);
  }

 private:
  // Counts a failed read in read_errors_total{file}; warns the first time per
  // file. `expected_absence` (PSI on old kernels, no systemd cgroups) is
  // counted and logged at info once, then ignored.
  void ReadError(const std::string& file, const std::string& path, const Status& status,
                 bool expected_absence = false) {
    bool first = source_.warned_files_.insert(file).second;
    if (expected_absence && !first) return;
    source_.context_.metrics
        .GetCounter("custos_agent_host_metrics_read_errors_total", "Host metric files that could not be read or parsed",
                    {{"file", file}})
        .Increment();
    if (!first) return;
    if (expected_absence) {
      log::Info(kComponent, "not available here; its metrics are skipped",
                {{"file", file}, {"path", path}, {"error", status.ToString()}});
    } else {
      log::Warn(kComponent, "cannot read file; its metrics are skipped (further failures are only counted)",
                {{"file", file}, {"path", path}, {"error", status.ToString()}});
    }
  }

  // Reads <root>/<rel> and parses it; nullopt (counted, logged) on failure.
  template <typename T>
  std::optional<T> Load(const std::string& root, const std::string& label, const std::string& rel,
                        Result<T> (*parse)(std::string_view, std::string_view), bool absence_expected = false) {
    std::string path = root + "/" + rel;
    Result<std::string> text = ReadFile(path);
    if (!text.ok()) {
      ReadError(label, path, text.status(), absence_expected && text.status().code() == StatusCode::kNotFound);
      return std::nullopt;
    }
    Result<T> parsed = parse(*text, path);
    if (!parsed.ok()) {
      ReadError(label, path, parsed.status());
      return std::nullopt;
    }
    return std::move(parsed).value();
  }

  v1::MetricPoint* Point(std::string_view name, std::string_view unit, double value, Attributes attributes,
                         uint32_t resource_ref) {
    v1::MetricPoint* p = records_.emplace_back().mutable_metric();
    p->set_time_unix_nano(static_cast<uint64_t>(now_));
    p->set_resource_ref(resource_ref);
    p->set_name(std::string(name));
    p->set_unit(std::string(unit));
    p->set_value(value);
    for (const auto& [key, val] : attributes) (*p->mutable_attributes())[key] = val;
    return p;
  }
  void AddGauge(std::string_view name, std::string_view unit, double value, Attributes attributes = {},
                uint32_t resource_ref = 0) {
    Point(name, unit, value, attributes, resource_ref)->set_type(v1::MetricPoint::TYPE_GAUGE);
  }
  // A cumulative counter that started at zero at `start_nanos`.
  void AddCounter(std::string_view name, std::string_view unit, double value, Attributes attributes = {},
                  uint32_t resource_ref = 0, int64_t start_nanos = -1) {
    v1::MetricPoint* p = Point(name, unit, value, attributes, resource_ref);
    p->set_type(v1::MetricPoint::TYPE_COUNTER);
    p->set_start_time_unix_nano(static_cast<uint64_t>(start_nanos < 0 ? source_.boot_time_nanos_ : start_nanos));
  }

  void SampleCpu() {
    std::optional<ProcStat> stat = Load<ProcStat>(options_.proc_root, "proc/stat", "stat", ParseProcStat);
    if (!stat) return;
    source_.boot_time_nanos_ = stat->boot_time_seconds * kNanosPerSecond;
    const double hz = static_cast<double>(options_.user_hz);
    for (const CpuTimes& c : stat->cpus) {
      const std::pair<const char*, uint64_t> modes[] = {
          {"user", c.user},     {"nice", c.nice}, {"system", c.system},   {"idle", c.idle},
          {"iowait", c.iowait}, {"irq", c.irq},   {"softirq", c.softirq}, {"steal", c.steal}};
      for (const auto& [mode, ticks] : modes) {
        AddCounter("node_cpu_seconds_total", "s", static_cast<double>(ticks) / hz, {{"cpu", c.cpu}, {"mode", mode}});
      }
    }
  }

  void SampleMemory() {
    auto info = Load<std::map<std::string, uint64_t>>(options_.proc_root, "proc/meminfo", "meminfo", ParseMeminfo);
    if (!info) return;
    const std::pair<const char*, const char*> kinds[] = {
        {"total", "MemTotal"}, {"available", "MemAvailable"}, {"free", "MemFree"},      {"buffers", "Buffers"},
        {"cached", "Cached"},  {"swap_total", "SwapTotal"},   {"swap_free", "SwapFree"}};
    for (const auto& [kind, field] : kinds) {
      auto it = info->find(field);
      if (it != info->end()) AddGauge("node_memory_bytes", "By", static_cast<double>(it->second), {{"kind", kind}});
    }
  }

  void SampleLoad() {
    std::optional<LoadAverage> load = Load<LoadAverage>(options_.proc_root, "proc/loadavg", "loadavg", ParseLoadavg);
    if (!load) return;
    AddGauge("node_load", "1", load->load1, {{"window", "1m"}});
    AddGauge("node_load", "1", load->load5, {{"window", "5m"}});
    AddGauge("node_load", "1", load->load15, {{"window", "15m"}});
  }

  void SampleDisks() {
    auto disks = Load<std::vector<DiskStats>>(options_.proc_root, "proc/diskstats", "diskstats", ParseDiskstats);
    if (!disks) return;
    // /sys/block lists whole disks only, so partitions (whose I/O their disk
    // already counts) are left out. Without it, every non-virtual device is kept.
    std::optional<std::set<std::string>> whole_disks;
    Result<std::vector<std::string>> block = ListDir(options_.sys_root + "/block");
    if (block.ok()) {
      whole_disks.emplace(block->begin(), block->end());
    } else {
      ReadError("sys/block", options_.sys_root + "/block", block.status());
    }
    for (const DiskStats& d : *disks) {
      if (IsVirtualDisk(d.device)) continue;
      if (whole_disks && !whole_disks->contains(d.device)) continue;
      AddCounter("node_disk_reads_completed_total", "1", static_cast<double>(d.reads_completed),
                 {{"device", d.device}});
      AddCounter("node_disk_writes_completed_total", "1", static_cast<double>(d.writes_completed),
                 {{"device", d.device}});
      AddCounter("node_disk_read_bytes_total", "By", static_cast<double>(d.sectors_read) * kBytesPerSector,
                 {{"device", d.device}});
      AddCounter("node_disk_written_bytes_total", "By", static_cast<double>(d.sectors_written) * kBytesPerSector,
                 {{"device", d.device}});
      AddCounter("node_disk_io_time_seconds_total", "s", static_cast<double>(d.io_time_ms) / 1000.0,
                 {{"device", d.device}});
    }
  }

  void SampleNetwork() {
    auto devs = Load<std::vector<NetDevStats>>(options_.proc_root, "proc/net/dev", "net/dev", ParseNetDev);
    if (!devs) return;
    for (const NetDevStats& d : *devs) {
      struct {
        const char* name;
        const char* unit;
        uint64_t value;
      } const counters[] = {
          {"node_network_receive_bytes_total", "By", d.rx_bytes},
          {"node_network_receive_packets_total", "1", d.rx_packets},
          {"node_network_receive_errs_total", "1", d.rx_errs},
          {"node_network_receive_drop_total", "1", d.rx_drop},
          {"node_network_transmit_bytes_total", "By", d.tx_bytes},
          {"node_network_transmit_packets_total", "1", d.tx_packets},
          {"node_network_transmit_errs_total", "1", d.tx_errs},
          {"node_network_transmit_drop_total", "1", d.tx_drop},
      };
      for (const auto& c : counters) {
        AddCounter(c.name, c.unit, static_cast<double>(c.value), {{"device", d.device}});
      }
    }
  }

  void SampleFilesystems() {
    auto mounts = Load<std::vector<MountEntry>>(options_.proc_root, "proc/mounts", "mounts", ParseMounts);
    if (!mounts) return;
    // A later mount on the same path hides the earlier one: keep the last.
    std::map<std::string, const MountEntry*> visible;
    for (const MountEntry& m : *mounts) {
      if (!options_.filesystems_exclude.contains(m.fstype)) {
        visible[m.mountpoint] = &m;
      } else {
        visible.erase(m.mountpoint);
      }
    }
    for (const auto& [mountpoint, m] : visible) {
      Result<FilesystemUsage> usage = options_.stat_filesystem(mountpoint);
      if (!usage.ok()) {
        ReadError("statvfs", mountpoint, usage.status());
        continue;
      }
      Attributes attrs = {{"mountpoint", mountpoint}, {"fstype", m->fstype}, {"device", m->device}};
      AddGauge("node_filesystem_size_bytes", "By", static_cast<double>(usage->size), attrs);
      AddGauge("node_filesystem_free_bytes", "By", static_cast<double>(usage->free), attrs);
      AddGauge("node_filesystem_avail_bytes", "By", static_cast<double>(usage->avail), attrs);
    }
  }

  void SamplePressure(const std::string& resource) {
    std::optional<Pressure> p = Load<Pressure>(options_.proc_root, "proc/pressure/" + resource, "pressure/" + resource,
                                               ParsePressure, /*absence_expected=*/true);
    if (!p) return;
    auto emit = [&](const char* kind, const PressureLine& line) {
      std::string prefix = "node_pressure_" + resource + "_" + kind;
      AddGauge(prefix + "_avg10", "%", line.avg10);
      AddCounter(prefix + "_seconds_total", "s", static_cast<double>(line.total_usec) / 1e6);
    };
    emit("some", p->some);
    if (p->full) emit("full", *p->full);
  }

  void SampleUnits() {
    Result<std::vector<UnitCgroup>> units = ListUnitCgroups(options_.cgroup_root, options_.cgroup_slices);
    if (!units.ok()) {
      ReadError("cgroup/slices", options_.cgroup_root, units.status(), units.status().code() == StatusCode::kNotFound);
      return;
    }
    for (const UnitCgroup& unit : *units) {
      auto on_error = [&](std::string_view file, const Status& status) {
        ReadError("cgroup/" + std::string(file), unit.dir + "/" + std::string(file), status);
      };
      UnitCgroupStats s = ReadUnitCgroup(unit, on_error);
      if (s.created_unix_nanos == 0) continue;  // stopped since listed
      uint32_t ref = UnitResource(unit.unit);
      int64_t start = s.created_unix_nanos;
      if (s.cpu && s.cpu->user_usec && s.cpu->system_usec) {
        AddCounter("systemd_unit_cpu_seconds_total", "s", static_cast<double>(*s.cpu->user_usec) / 1e6,
                   {{"mode", "user"}}, ref, start);
        AddCounter("systemd_unit_cpu_seconds_total", "s", static_cast<double>(*s.cpu->system_usec) / 1e6,
                   {{"mode", "system"}}, ref, start);
      }
      if (s.memory_current)
        AddGauge("systemd_unit_memory_bytes", "By", static_cast<double>(*s.memory_current), {}, ref);
      if (s.memory_max) AddGauge("systemd_unit_memory_max_bytes", "By", static_cast<double>(*s.memory_max), {}, ref);
      if (s.io) {
        AddCounter("systemd_unit_io_read_bytes_total", "By", static_cast<double>(s.io->rbytes), {}, ref, start);
        AddCounter("systemd_unit_io_write_bytes_total", "By", static_cast<double>(s.io->wbytes), {}, ref, start);
        AddCounter("systemd_unit_io_reads_total", "1", static_cast<double>(s.io->rios), {}, ref, start);
        AddCounter("systemd_unit_io_writes_total", "1", static_cast<double>(s.io->wios), {}, ref, start);
      }
    }
  }

  // The batcher's ref for the node's resource with systemd_unit = unit.
  uint32_t UnitResource(const std::string& unit) {
    auto it = source_.unit_resources_.find(unit);
    if (it != source_.unit_resources_.end()) return it->second;
    v1::Resource r = source_.context_.node;
    r.set_systemd_unit(unit);
    uint32_t ref = source_.context_.batcher.InternResource(r);
    source_.unit_resources_.emplace(unit, ref);
    return ref;
  }

  HostMetricsSource& source_;
  const HostMetricsOptions& options_;
  const int64_t now_;
  std::vector<v1::Record> records_;
};

namespace {

HostMetricsOptions WithDefaults(HostMetricsOptions options) {
  if (options.user_hz <= 0) {
    long hz = ::sysconf(_SC_CLK_TCK);
    options.user_hz = hz > 0 ? hz : 100;  // 100 on every mainstream Linux
  }
  if (!options.stat_filesystem) options.stat_filesystem = StatFilesystem;
  return options;
}

}  // namespace

HostMetricsSource::HostMetricsSource(HostMetricsOptions options, SourceContext& context)
    : options_(WithDefaults(std::move(options))), context_(context) {}

HostMetricsSource::~HostMetricsSource() { Stop(); }

Status HostMetricsSource::Start(const std::string& /*position*/) {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return FailedPrecondition("host_metrics already started");
  stop_ = false;
  thread_ = std::thread([this] {
    SetThreadName("host-metrics");
    Run();
  });
  return Status::Ok();
}

void HostMetricsSource::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HostMetricsSource::Run() {
  const auto interval = std::chrono::nanoseconds(options_.interval_nanos);
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    // Failures are already counted and reported inside.
    static_cast<void>(SampleOnce());
    next += interval;
    // After a sample slower than the interval, skip the missed ticks rather
    // than sampling back to back.
    auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + interval;
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_until(lock, next, [this] { return stop_; })) return;
  }
}

std::vector<v1::Record> HostMetricsSource::BuildSample() {
  std::lock_guard<std::mutex> lock(sample_mu_);
  return Sampler(*this).Run();
}

Status HostMetricsSource::SampleOnce() {
  std::lock_guard<std::mutex> lock(sample_mu_);
  std::vector<v1::Record> records = Sampler(*this).Run();
  const size_t n = records.size();
  Status s = context_.batcher.Add(name_, std::move(records));
  if (s.code() == StatusCode::kResourceExhausted) {
    // A sample cannot be taken again later: drop it, but never silently.
    context_.batcher.ReportLoss(name_, v1::Gap::REASON_SOURCE_OVERFLOW, n,
                                "host metrics sample dropped: agent buffer full");
    if (!dropping_) log::Warn(kComponent, "agent buffer full; dropping samples", {{"error", s.ToString()}});
    dropping_ = true;
    return s;
  }
  dropping_ = false;
  return s;
}

Result<std::unique_ptr<Source>> CreateHostMetricsSource(ConfigSection& config, SourceContext& context) {
  HostMetricsOptions o;
  o.interval_nanos = config.Duration("interval", 10 * kNanosPerSecond);
  o.proc_root = config.String("proc_root", o.proc_root);
  o.sys_root = config.String("sys_root", o.sys_root);
  o.cgroup_root = config.String("cgroup_root", o.cgroup_root);
  o.cgroups = config.Bool("cgroups", o.cgroups);
  if (config.Has("cgroup_slices")) o.cgroup_slices = config.StringList("cgroup_slices");
  if (config.Has("filesystems_exclude")) {
    std::vector<std::string> types = config.StringList("filesystems_exclude");
    o.filesystems_exclude = std::set<std::string>(types.begin(), types.end());
  } else {
    o.filesystems_exclude = DefaultFilesystemsExclude();
  }
  // Faster than this costs CPU for nothing: the kernel's own averages (load,
  // PSI avg10) move on a scale of seconds.
  if (o.interval_nanos < kNanosPerSecond) {
    return InvalidArgument("sources.host_metrics.interval must be at least 1s");
  }
  return std::unique_ptr<Source>(std::make_unique<HostMetricsSource>(std::move(o), context));
}

}  // namespace custos::agent::host_metrics
