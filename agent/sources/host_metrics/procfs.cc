#include "agent/sources/host_metrics/procfs.h"

#include <limits>

#include "agent/sources/host_metrics/parse_util.h"

namespace custos::agent::host_metrics {
namespace {

// Parses fields[first..first+count) into `out` (count entries); false when one
// is not a number.
bool ParseUints(const std::vector<std::string_view>& fields, size_t first, size_t count, uint64_t* out) {
  for (size_t i = 0; i < count; ++i) {
    std::optional<uint64_t> v = ParseUint(fields[first + i]);
    if (!v) return false;
    out[i] = *v;
  }
  return true;
}

// Decodes the octal escapes (\040 space, \011 tab, \012 newline, \134
// backslash) that the kernel writes in /proc/mounts paths.
std::string UnescapeMountPath(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool is_octal = true;
      for (char c : s.substr(i + 1, 3)) {
        if (c < '0' || c > '7') is_octal = false;
        v = v * 8 + (c - '0');
      }
      if (is_octal && v < 256) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

Result<ProcStat> ParseProcStat(std::string_view text, std::string_view path) {
  ProcStat stat;
  bool have_btime = false;
  std::vector<std::string_view> lines = SplitLines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    std::vector<std::string_view> f = SplitFields(lines[n]);
    if (f.empty()) continue;
    if (f[0].starts_with("cpu")) {
      // user nice system idle iowait irq softirq steal [guest guest_nice]:
      // every kernel since 2.6.11 writes at least these eight.
      constexpr size_t kValues = 8;
      uint64_t v[kValues];
      if (f.size() < 1 + kValues) {
        return ParseError(path, n + 1,
                          "'" + std::string(f[0]) + "' has " + std::to_string(f.size() - 1) +
                              " values, want at least " + std::to_string(kValues));
      }
      if (!ParseUints(f, 1, kValues, v)) {
        return ParseError(path, n + 1, "'" + std::string(f[0]) + "' has a non-numeric value");
      }
      if (f[0] == "cpu") continue;  // the aggregate line; per-CPU lines carry the same
      CpuTimes c;
      c.cpu = std::string(f[0].substr(3));
      c.user = v[0];
      c.nice = v[1];
      c.system = v[2];
      c.idle = v[3];
      c.iowait = v[4];
      c.irq = v[5];
      c.softirq = v[6];
      c.steal = v[7];
      stat.cpus.push_back(std::move(c));
    } else if (f[0] == "btime") {
      std::optional<int64_t> bt = f.size() == 2 ? ParseInt(f[1]) : std::nullopt;
      if (!bt) return ParseError(path, n + 1, "malformed btime line");
      stat.boot_time_seconds = *bt;
      have_btime = true;
    }
  }
  if (stat.cpus.empty()) return ParseError(path, 0, "no per-CPU lines");
  if (!have_btime) return ParseError(path, 0, "no btime line");
  return stat;
}

Result<std::map<std::string, uint64_t>> ParseMeminfo(std::string_view text, std::string_view path) {
  std::map<std::string, uint64_t> out;
  std::vector<std::string_view> lines = SplitLines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    if (SplitFields(lines[n]).empty()) continue;
    size_t colon = lines[n].find(':');
    if (colon == std::string_view::npos || colon == 0) return ParseError(path, n + 1, "expected 'Name: value'");
    std::string name(lines[n].substr(0, colon));
    std::vector<std::string_view> f = SplitFields(lines[n].substr(colon + 1));
    if (f.empty() || f.size() > 2 || (f.size() == 2 && f[1] != "kB")) {
      return ParseError(path, n + 1, "'" + name + "': expected a number and an optional 'kB'");
    }
    std::optional<uint64_t> v = ParseUint(f[0]);
    if (!v) return ParseError(path, n + 1, "'" + name + "': '" + std::string(f[0]) + "' is not a number");
    if (f.size() == 2) {
      if (*v > std::numeric_limits<uint64_t>::max() / 1024) return ParseError(path, n + 1, "'" + name + "' overflows");
      *v *= 1024;
    }
    out[name] = *v;
  }
  if (out.empty()) return ParseError(path, 0, "no fields");
  return out;
}

Result<LoadAverage> ParseLoadavg(std::string_view text, std::string_view path) {
  std::vector<std::string_view> lines = SplitLines(text);
  std::vector<std::string_view> f = lines.empty() ? std::vector<std::string_view>() : SplitFields(lines[0]);
  if (f.size() < 3) return ParseError(path, 1, "expected three load averages");
  std::optional<double> l1 = ParseDouble(f[0]), l5 = ParseDouble(f[1]), l15 = ParseDouble(f[2]);
  if (!l1 || !l5 || !l15) return ParseError(path, 1, "a load average is not a number");
  return LoadAverage{*l1, *l5, *l15};
}

Result<std::vector<DiskStats>> ParseDiskstats(std::string_view text, std::string_view path) {
  std::vector<DiskStats> out;
  std::vector<std::string_view> lines = SplitLines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    std::vector<std::string_view> f = SplitFields(lines[n]);
    if (f.empty()) continue;
    // major minor name, then the 11 fields every kernel since 2.6 writes.
    constexpr size_t kValues = 11;
    if (f.size() < 3 + kValues) {
      return ParseError(
          path, n + 1, "expected at least " + std::to_string(3 + kValues) + " fields, got " + std::to_string(f.size()));
    }
    uint64_t v[kValues];
    if (!ParseUint(f[0]) || !ParseUint(f[1]) || !ParseUints(f, 3, kValues, v)) {
      return ParseError(path, n + 1, "'" + std::string(f[2]) + "' has a non-numeric field");
    }
    DiskStats d;
    d.device = std::string(f[2]);
    d.reads_completed = v[0];
    d.sectors_read = v[2];
    d.writes_completed = v[4];
    d.sectors_written = v[6];
    d.io_time_ms = v[9];
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::vector<NetDevStats>> ParseNetDev(std::string_view text, std::string_view path) {
  std::vector<NetDevStats> out;
  std::vector<std::string_view> lines = SplitLines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    if (lines[n].find('|') != std::string_view::npos) continue;  // the two header lines
    if (SplitFields(lines[n]).empty()) continue;
    // "  eth0:22468204 ..." — large counters may touch the colon, so split on it
    // rather than on whitespace. Interface names cannot contain ':'.
    size_t colon = lines[n].find(':');
    if (colon == std::string_view::npos) return ParseError(path, n + 1, "expected 'iface: counters'");
    std::vector<std::string_view> name = SplitFields(lines[n].substr(0, colon));
    std::vector<std::string_view> f = SplitFields(lines[n].substr(colon + 1));
    constexpr size_t kValues = 16;
    uint64_t v[kValues];
    if (name.size() != 1 || f.size() < kValues || !ParseUints(f, 0, kValues, v)) {
      return ParseError(path, n + 1, "expected an interface name and 16 numeric counters");
    }
    NetDevStats d;
    d.device = std::string(name[0]);
    d.rx_bytes = v[0];
    d.rx_packets = v[1];
    d.rx_errs = v[2];
    d.rx_drop = v[3];
    d.tx_bytes = v[8];
    d.tx_packets = v[9];
    d.tx_errs = v[10];
    d.tx_drop = v[11];
    out.push_back(std::move(d));
  }
  return out;
}

Result<Pressure> ParsePressure(std::string_view text, std::string_view path) {
  Pressure p;
  bool have_some = false;
  std::vector<std::string_view> lines = SplitLines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    std::vector<std::string_view> f = SplitFields(lines[n]);
    if (f.empty()) continue;
    if (f[0] != "some" && f[0] != "full") continue;  // unknown kinds: newer kernels
    PressureLine line;
    bool have_avg10 = false, have_total = false;
    for (size_t i = 1; i < f.size(); ++i) {
      size_t eq = f[i].find('=');
      if (eq == std::string_view::npos)
        return ParseError(path, n + 1, "expected key=value, got '" + std::string(f[i]) + "'");
      std::string_view key = f[i].substr(0, eq), value = f[i].substr(eq + 1);
      if (key == "avg10") {
        std::optional<double> d = ParseDouble(value);
        if (!d) return ParseError(path, n + 1, "avg10 is not a number");
        line.avg10 = *d;
        have_avg10 = true;
      } else if (key == "total") {
        std::optional<uint64_t> t = ParseUint(value);
        if (!t) return ParseError(path, n + 1, "total is not a number");
        line.total_usec = *t;
        have_total = true;
      }
    }
    if (!have_avg10 || !have_total) return ParseError(path, n + 1, "missing avg10 or total");
    if (f[0] == "some") {
      p.some = line;
      have_some = true;
    } else {
      p.full = line;
    }
  }
  if (!have_some) return ParseError(path, 0, "no 'some' line");
  return p;
}

Result<std::vector<MountEntry>> ParseMounts(std::string_view text, std::string_view path) {
  std::vector<MountEntry> out;
  std::vector<std::string_view> lines = SplitLines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    std::vector<std::string_view> f = SplitFields(lines[n]);
    if (f.empty()) continue;
    if (f.size() < 3) return ParseError(path, n + 1, "expected 'device mountpoint fstype ...'");
    out.push_back({UnescapeMountPath(f[0]), UnescapeMountPath(f[1]), std::string(f[2])});
  }
  return out;
}

}  // namespace custos::agent::host_metrics
