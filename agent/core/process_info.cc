#include "agent/core/process_info.h"

#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <vector>

#include "common/files.h"
#include "common/systemd_unit.h"

namespace custos::agent {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::optional<uint64_t> ParseU64(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Field 22 of /proc/PID/stat; the comm in field 2 may hold spaces and
// parentheses, so count from the last ')'.
std::optional<uint64_t> StartTimeFromStat(std::string_view stat) {
  size_t close = stat.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = stat.substr(close + 1);
  int field = 2;
  size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    size_t j = rest.find(' ', i);
    if (j == std::string_view::npos) j = rest.size();
    ++field;
    if (field == 22) return ParseU64(rest.substr(i, j - i));
    i = j;
  }
  return std::nullopt;
}

// The real uid from the "Uid:" line of /proc/PID/status.
int64_t UidFromStatus(std::string_view status) {
  size_t at = status.find("\nUid:");
  if (at == std::string_view::npos) return -1;
  size_t i = at + 5;
  while (i < status.size() && (status[i] == '\t' || status[i] == ' ')) ++i;
  size_t j = i;
  while (j < status.size() && status[j] >= '0' && status[j] <= '9') ++j;
  auto v = ParseU64(status.substr(i, j - i));
  return v ? static_cast<int64_t>(*v) : -1;
}

}  // namespace

std::string CgroupPathFromFile(std::string_view text) {
  std::string_view v1_systemd;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    // hierarchy-id:controllers:path
    size_t a = line.find(':');
    if (a == std::string_view::npos) continue;
    size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    std::string_view id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1);
    std::string_view path = line.substr(b + 1);
    if (id == "0" && controllers.empty()) return std::string(path);
    if (controllers == "name=systemd") v1_systemd = path;
  }
  return std::string(v1_systemd);
}

std::string UnitFromCgroupPath(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    path = path.substr(slash + 1);
  }
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    for (std::string_view suffix : kProcessUnitSuffixes) {
      if (EndsWith(*it, suffix)) return std::string(*it);
    }
  }
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (EndsWith(*it, ".slice")) return std::string(*it);
  }
  return "";
}

std::string UserName(int64_t uid) {
  if (uid < 0) return "";
  struct passwd pw {};
  struct passwd* result = nullptr;
  std::vector<char> buf(4096);
  if (getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr) return "";
  return result->pw_name;
}

std::optional<ProcessInfo> ReadProcessInfo(int32_t pid, const std::string& proc_root) {
  const std::string dir = proc_root + "/" + std::to_string(pid);
  auto stat = ReadFile(dir + "/stat");
  if (!stat.ok()) return std::nullopt;  // exited (or never was)
  ProcessInfo info;
  info.pid = pid;
  info.start_time = StartTimeFromStat(*stat).value_or(0);
  if (auto status = ReadFile(dir + "/status"); status.ok()) info.uid = UidFromStatus(*status);
  info.user = UserName(info.uid);
  if (auto comm = ReadFile(dir + "/comm"); comm.ok()) info.comm = std::string(Trim(*comm));
  std::vector<char> buf(4096);
  ssize_t n = readlink((dir + "/exe").c_str(), buf.data(), buf.size() - 1);
  if (n > 0) {
    std::string exe(buf.data(), static_cast<size_t>(n));
    constexpr std::string_view kDeleted = " (deleted)";
    if (EndsWith(exe, kDeleted)) exe.resize(exe.size() - kDeleted.size());
    info.executable = std::move(exe);
  }
  if (auto cg = ReadFile(dir + "/cgroup"); cg.ok()) {
    info.cgroup = CgroupPathFromFile(*cg);
    info.systemd_unit = UnitFromCgroupPath(info.cgroup);
  }
  return info;
}

std::optional<ProcessInfo> ProcessInfoCache::Lookup(int32_t pid) {
  // The start time is cheap to read and tells a reused pid apart.
  auto stat = ReadFile(proc_root_ + "/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    // The process is gone; a cached identity is still the right answer for
    // events it caused just before it exited.
    auto it = entries_.find(pid);
    if (it == entries_.end()) return std::nullopt;
    return it->second.info;
  }
  uint64_t start = StartTimeFromStat(*stat).value_or(0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(pid);
    if (it != entries_.end() && it->second.info.start_time == start) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.info;
    }
  }
  std::optional<ProcessInfo> info = ReadProcessInfo(pid, proc_root_);
  if (!info) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(pid);
  if (it != entries_.end()) {
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }
  lru_.push_front(pid);
  entries_[pid] = Entry{*info, lru_.begin()};
  while (entries_.size() > capacity_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  return info;
}

}  // namespace custos::agent
