// Pure parsers of the /proc text files that host_metrics samples.
//
// Each parser takes the file's text and the path it came from (used only in
// error messages) and returns plain structs; none touches the filesystem, so
// they are tested with literal strings and fuzzable as they are.
//
//   CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/loadavg"));
//   CUSTOS_ASSIGN_OR_RETURN(LoadAverage load, ParseLoadavg(text, "/proc/loadavg"));
//
// Malformed text is INVALID_ARGUMENT naming the path and the 1-based line.
// Lines a parser does not use are skipped, so newer kernels that add lines or
// trailing columns still parse. Thread-compatible: no shared state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace custos::agent::host_metrics {

// One "cpuN" line of /proc/stat, in USER_HZ ticks. guest and guest_nice are
// left out: the kernel already counts them in user and nice.
struct CpuTimes {
  std::string cpu;  // "0", "1", ...
  uint64_t user = 0;
  uint64_t nice = 0;
  uint64_t system = 0;
  uint64_t idle = 0;
  uint64_t iowait = 0;
  uint64_t irq = 0;
  uint64_t softirq = 0;
  uint64_t steal = 0;
};

struct ProcStat {
  std::vector<CpuTimes> cpus;     // per-CPU lines; the aggregate "cpu" line is not kept
  int64_t boot_time_seconds = 0;  // btime, seconds since the Unix epoch
};

Result<ProcStat> ParseProcStat(std::string_view text, std::string_view path);

// /proc/meminfo: field name -> value, in bytes where the kernel gave "kB".
Result<std::map<std::string, uint64_t>> ParseMeminfo(std::string_view text, std::string_view path);

struct LoadAverage {
  double load1 = 0;
  double load5 = 0;
  double load15 = 0;
};

Result<LoadAverage> ParseLoadavg(std::string_view text, std::string_view path);

// One device line of /proc/diskstats (kernel Documentation/admin-guide/iostats).
struct DiskStats {
  std::string device;
  uint64_t reads_completed = 0;
  uint64_t sectors_read = 0;  // always 512-byte units, whatever the device's sector size
  uint64_t writes_completed = 0;
  uint64_t sectors_written = 0;
  uint64_t io_time_ms = 0;  // time spent doing I/O
};

Result<std::vector<DiskStats>> ParseDiskstats(std::string_view text, std::string_view path);

// One interface of /proc/net/dev.
struct NetDevStats {
  std::string device;
  uint64_t rx_bytes = 0;
  uint64_t rx_packets = 0;
  uint64_t rx_errs = 0;
  uint64_t rx_drop = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_errs = 0;
  uint64_t tx_drop = 0;
};

Result<std::vector<NetDevStats>> ParseNetDev(std::string_view text, std::string_view path);

// /proc/pressure/{cpu,memory,io} (PSI). "full" is absent on kernels before
// 5.13 for cpu.
struct PressureLine {
  double avg10 = 0;         // percent of the last 10 s
  uint64_t total_usec = 0;  // cumulative stall time
};
struct Pressure {
  PressureLine some;
  std::optional<PressureLine> full;
};

Result<Pressure> ParsePressure(std::string_view text, std::string_view path);

// One line of /proc/mounts; mountpoint has the kernel's octal escapes
// (\040 for a space, ...) decoded.
struct MountEntry {
  std::string device;
  std::string mountpoint;
  std::string fstype;
};

Result<std::vector<MountEntry>> ParseMounts(std::string_view text, std::string_view path);

}  // namespace custos::agent::host_metrics
