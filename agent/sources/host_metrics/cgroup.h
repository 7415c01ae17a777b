// Readers of cgroup v2 interface files for systemd units.
//
// systemd puts each service in its own cgroup, <root>/system.slice/<unit>,
// so per-unit CPU, memory and I/O come from that directory:
//
//   CUSTOS_ASSIGN_OR_RETURN(auto units, ListUnitCgroups("/sys/fs/cgroup", {"system.slice"}));
//   for (const UnitCgroup& u : units) {
//     UnitCgroupStats s = ReadUnitCgroup(u, on_error);
//   }
//
// A file missing from a unit's directory means its controller is not enabled
// there (or the unit just stopped): the value is left unset, quietly. A file
// that is present but malformed is reported through the error callback and
// the unit's other values are still read. Thread-compatible: no shared state.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace custos::agent::host_metrics {

// cpu.stat (microseconds).
struct CgroupCpuStat {
  std::optional<uint64_t> usage_usec;
  std::optional<uint64_t> user_usec;
  std::optional<uint64_t> system_usec;
};

// io.stat, summed over devices.
struct CgroupIoStat {
  uint64_t rbytes = 0;
  uint64_t wbytes = 0;
  uint64_t rios = 0;
  uint64_t wios = 0;
};

Result<CgroupCpuStat> ParseCgroupCpuStat(std::string_view text, std::string_view path);
Result<CgroupIoStat> ParseCgroupIoStat(std::string_view text, std::string_view path);
// memory.current or memory.max: a number, or "max" (no limit) as nullopt.
Result<std::optional<uint64_t>> ParseCgroupMemoryValue(std::string_view text, std::string_view path);

struct UnitCgroup {
  std::string unit;  // "sshd.service"
  std::string dir;   // "/sys/fs/cgroup/system.slice/sshd.service"
};

// Directories named *.service directly under each of <root>/<slice>, sorted
// by unit name. A slice directory that does not exist is skipped (no units);
// NOT_FOUND only when none of them exists (not a cgroup v2 systemd host).
Result<std::vector<UnitCgroup>> ListUnitCgroups(const std::string& root, const std::vector<std::string>& slices);

struct UnitCgroupStats {
  std::optional<CgroupCpuStat> cpu;
  std::optional<uint64_t> memory_current;
  std::optional<uint64_t> memory_max;  // unset when absent or "max"
  std::optional<CgroupIoStat> io;
  int64_t created_unix_nanos = 0;  // the directory's ctime: when the unit's counters began
};

// Called for a file that could not be read or parsed: `file` is the interface
// file's name ("cpu.stat"), `status` names the full path.
using CgroupErrorFn = std::function<void(std::string_view file, const Status& status)>;

UnitCgroupStats ReadUnitCgroup(const UnitCgroup& unit, const CgroupErrorFn& on_error);

}  // namespace custos::agent::host_metrics
