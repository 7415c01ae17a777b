// Who a process is: executable, uid, user and systemd unit, read from /proc.
// Used by the sources that see bare pids (fanotify, NVML) to name the
// principal behind an access or a GPU context.
//
//   ProcessInfoCache cache;                      // bounded, pid-reuse safe
//   std::optional<ProcessInfo> p = cache.Lookup(1234);
//   if (p) Use(p->executable, p->systemd_unit);
//
// A process that exited before it was looked up yields nullopt; partial
// information (e.g. a kernel thread without an executable) is returned with
// the unknown fields empty. Thread-safety: ReadProcessInfo and
// UnitFromCgroupFile are thread-compatible; ProcessInfoCache is thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace custos::agent {

struct ProcessInfo {
  int32_t pid = 0;
  int64_t uid = -1;           // real uid; -1 when unknown
  std::string user;           // from the passwd database; empty when unknown
  std::string executable;     // /proc/PID/exe target ("(deleted)" suffix kept off)
  std::string comm;           // /proc/PID/comm
  std::string systemd_unit;   // innermost unit of the cgroup path, e.g. "train.service"
  std::string cgroup;         // the systemd (v2 or name=systemd) cgroup path
  uint64_t start_time = 0;    // /proc/PID/stat field 22: tells pids apart across reuse
};

// Reads /proc/PID under `proc_root` (tests pass a fixture directory).
std::optional<ProcessInfo> ReadProcessInfo(int32_t pid, const std::string& proc_root = "/proc");

// The systemd cgroup path in a /proc/PID/cgroup file: the cgroup v2 line
// ("0::/system.slice/x.service") or the v1 name=systemd hierarchy.
std::string CgroupPathFromFile(std::string_view text);

// The innermost systemd unit named in a cgroup path: the last component that
// is a service, scope, socket, mount or swap ("/user.slice/user-1000.slice/
// user@1000.service/app.slice/run-1.scope" → "run-1.scope"); else the last
// slice; empty for "/" or "".
std::string UnitFromCgroupPath(std::string_view path);

// The user name for a uid, or empty.
std::string UserName(int64_t uid);

// Caches ReadProcessInfo by pid, checking the start time so a reused pid is
// never given another process's identity. At most `capacity` entries (least
// recently used go first).
class ProcessInfoCache {
 public:
  explicit ProcessInfoCache(size_t capacity = 4096, std::string proc_root = "/proc")
      : capacity_(capacity), proc_root_(std::move(proc_root)) {}
  ProcessInfoCache(const ProcessInfoCache&) = delete;
  ProcessInfoCache& operator=(const ProcessInfoCache&) = delete;

  std::optional<ProcessInfo> Lookup(int32_t pid);

 private:
  struct Entry {
    ProcessInfo info;
    std::list<int32_t>::iterator lru;
  };
  // Constant after construction.
  const size_t capacity_;
  const std::string proc_root_;

  std::mutex mu_;
  std::map<int32_t, Entry> entries_;  // guarded by mu_
  std::list<int32_t> lru_;            // guarded by mu_; most recent first
};

}  // namespace custos::agent
