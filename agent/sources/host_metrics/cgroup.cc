#include "agent/sources/host_metrics/cgroup.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "agent/sources/host_metrics/parse_util.h"
#include "common/files.h"

namespace custos::agent::host_metrics {
namespace {

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Reads and parses <dir>/<file>. Returns nullopt when the file is absent
// (controller not enabled, unit gone) or bad; only bad is reported.
template <typename T, typename Parser>
std::optional<T> ReadInterfaceFile(const std::string& dir, std::string_view file, Parser parse,
                                   const CgroupErrorFn& on_error) {
  std::string path = dir + "/" + std::string(file);
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) {
    if (text.status().code() != StatusCode::kNotFound) on_error(file, text.status());
    return std::nullopt;
  }
  Result<T> parsed = parse(*text, path);
  if (!parsed.ok()) {
    on_error(file, parsed.status());
    return std::nullopt;
  }
  return std::move(parsed).value();
}

}  // namespace

Result<CgroupCpuStat> ParseCgroupCpuStat(std::string_view text, std::string_view path) {
  CgroupCpuStat out;
  std::vector<std::string_view> lines = SplitLines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    std::vector<std::string_view> f = SplitFields(lines[n]);
    if (f.empty()) continue;
    std::optional<uint64_t> v = f.size() == 2 ? ParseUint(f[1]) : std::nullopt;
    if (!v) return ParseError(path, n + 1, "expected 'key number'");
    if (f[0] == "usage_usec") out.usage_usec = v;
    if (f[0] == "user_usec") out.user_usec = v;
    if (f[0] == "system_usec") out.system_usec = v;
  }
  if (!out.usage_usec) return ParseError(path, 0, "no usage_usec");
  return out;
}

Result<CgroupIoStat> ParseCgroupIoStat(std::string_view text, std::string_view path) {
  CgroupIoStat out;
  std::vector<std::string_view> lines = SplitLines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    std::vector<std::string_view> f = SplitFields(lines[n]);
    if (f.empty()) continue;
    if (f[0].find(':') == std::string_view::npos) return ParseError(path, n + 1, "expected 'MAJ:MIN key=value ...'");
    for (size_t i = 1; i < f.size(); ++i) {
      size_t eq = f[i].find('=');
      std::optional<uint64_t> v = eq == std::string_view::npos ? std::nullopt : ParseUint(f[i].substr(eq + 1));
      if (!v) return ParseError(path, n + 1, "expected key=number, got '" + std::string(f[i]) + "'");
      std::string_view key = f[i].substr(0, eq);
      if (key == "rbytes") out.rbytes += *v;
      if (key == "wbytes") out.wbytes += *v;
      if (key == "rios") out.rios += *v;
      if (key == "wios") out.wios += *v;
    }
  }
  return out;
}

Result<std::optional<uint64_t>> ParseCgroupMemoryValue(std::string_view text, std::string_view path) {
  std::vector<std::string_view> lines = SplitLines(text);
  std::vector<std::string_view> f = lines.empty() ? std::vector<std::string_view>() : SplitFields(lines[0]);
  if (f.size() != 1) return ParseError(path, 1, "expected one number or 'max'");
  if (f[0] == "max") return std::optional<uint64_t>();
  std::optional<uint64_t> v = ParseUint(f[0]);
  if (!v) return ParseError(path, 1, "'" + std::string(f[0]) + "' is not a number");
  return v;
}

Result<std::vector<UnitCgroup>> ListUnitCgroups(const std::string& root, const std::vector<std::string>& slices) {
  std::vector<UnitCgroup> out;
  bool any_slice = false;
  for (const std::string& slice : slices) {
    std::string slice_dir = root + "/" + slice;
    Result<std::vector<std::string>> names = ListDir(slice_dir);
    if (!names.ok()) {
      if (names.status().code() == StatusCode::kNotFound) continue;
      return names.status();
    }
    any_slice = true;
    for (const std::string& name : *names) {
      if (!name.ends_with(".service")) continue;
      std::string dir = slice_dir + "/" + name;
      if (IsDir(dir)) out.push_back({name, std::move(dir)});
    }
  }
  if (!any_slice) return NotFound("no systemd slice under " + root + " (not a cgroup v2 systemd host?)");
  std::sort(out.begin(), out.end(), [](const UnitCgroup& a, const UnitCgroup& b) { return a.unit < b.unit; });
  return out;
}

UnitCgroupStats ReadUnitCgroup(const UnitCgroup& unit, const CgroupErrorFn& on_error) {
  UnitCgroupStats s;
  struct stat st;
  if (::stat(unit.dir.c_str(), &st) != 0) return s;  // the unit stopped since it was listed
  // cgroupfs sets a directory's ctime when it is created and systemd creates
  // a fresh cgroup on each start, so this is when the counters began at zero.
  s.created_unix_nanos = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  s.cpu = ReadInterfaceFile<CgroupCpuStat>(unit.dir, "cpu.stat", ParseCgroupCpuStat, on_error);
  std::optional<std::optional<uint64_t>> current =
      ReadInterfaceFile<std::optional<uint64_t>>(unit.dir, "memory.current", ParseCgroupMemoryValue, on_error);
  if (current) s.memory_current = *current;
  std::optional<std::optional<uint64_t>> max =
      ReadInterfaceFile<std::optional<uint64_t>>(unit.dir, "memory.max", ParseCgroupMemoryValue, on_error);
  if (max) s.memory_max = *max;
  s.io = ReadInterfaceFile<CgroupIoStat>(unit.dir, "io.stat", ParseCgroupIoStat, on_error);
  return s;
}

}  // namespace custos::agent::host_metrics
