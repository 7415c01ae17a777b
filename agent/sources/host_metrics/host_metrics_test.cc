// Tests of the host_metrics parsers (against testdata/ copies of real files)
// and of the source end to end through a real Batcher and Spool.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/batcher.h"
#include "agent/core/spool.h"
#include "agent/core/spool_testing.h"
#include "agent/sources/host_metrics/cgroup.h"
#include "agent/sources/host_metrics/host_metrics_source.h"
#include "agent/sources/host_metrics/procfs.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/files.h"
#include "common/metrics.h"
#include "custos/v1/transport.pb.h"

namespace custos::agent::host_metrics {
namespace {

constexpr char kReadErrors[] = "custos_agent_host_metrics_read_errors_total";

std::string TestdataDir() {
  if (const char* src = std::getenv("CUSTOS_SOURCE_DIR")) {
    std::string dir = std::string(src) + "/agent/sources/host_metrics/testdata";
    if (std::filesystem::is_directory(dir)) return dir;
  }
  return (std::filesystem::path(__FILE__).parent_path() / "testdata").string();
}

std::string ReadTestdata(const std::string& rel) {
  Result<std::string> text = ReadFile(TestdataDir() + "/" + rel);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : std::string();
}

// ---------------------------------------------------------------------------
// Parsers on the testdata files: exact values.

TEST(ProcfsTest, ProcStat) {
  auto stat = ParseProcStat(ReadTestdata("proc/stat"), "proc/stat");
  ASSERT_TRUE(stat.ok()) << stat.status().ToString();
  EXPECT_EQ(stat->boot_time_seconds, 1795704714);
  ASSERT_EQ(stat->cpus.size(), 2u);
  struct Case {
    const char* name;
    uint64_t got;
    uint64_t want;
  } cases[] = {
      {"cpu0 user", stat->cpus[0].user, 5578},    {"cpu0 system", stat->cpus[0].system, 1308},
      {"cpu0 idle", stat->cpus[0].idle, 53975},   {"cpu0 steal", stat->cpus[0].steal, 53},
      {"cpu1 iowait", stat->cpus[1].iowait, 417}, {"cpu1 softirq", stat->cpus[1].softirq, 90},
      {"cpu1 nice", stat->cpus[1].nice, 0},       {"cpu1 irq", stat->cpus[1].irq, 0},
  };
  EXPECT_EQ(stat->cpus[0].cpu, "0");
  EXPECT_EQ(stat->cpus[1].cpu, "1");
  for (const Case& c : cases) EXPECT_EQ(c.got, c.want) << c.name;
}

TEST(ProcfsTest, Meminfo) {
  auto info = ParseMeminfo(ReadTestdata("proc/meminfo"), "proc/meminfo");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  struct Case {
    const char* field;
    uint64_t bytes;
  } cases[] = {
      {"MemTotal", 24683656ULL * 1024}, {"MemAvailable", 24379488ULL * 1024},
      {"Buffers", 1848ULL * 1024},      {"SwapFree", 2097000ULL * 1024},
      {"HugePages_Total", 0},  // no unit: not scaled
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(info->contains(c.field)) << c.field;
    EXPECT_EQ(info->at(c.field), c.bytes) << c.field;
  }
}

TEST(ProcfsTest, Loadavg) {
  auto load = ParseLoadavg(ReadTestdata("proc/loadavg"), "proc/loadavg");
  ASSERT_TRUE(load.ok()) << load.status().ToString();
  EXPECT_DOUBLE_EQ(load->load1, 0.31);
  EXPECT_DOUBLE_EQ(load->load5, 0.20);
  EXPECT_DOUBLE_EQ(load->load15, 0.11);
}

TEST(ProcfsTest, Diskstats) {
  auto disks = ParseDiskstats(ReadTestdata("proc/diskstats"), "proc/diskstats");
  ASSERT_TRUE(disks.ok()) << disks.status().ToString();
  std::map<std::string, DiskStats> by_name;
  for (const DiskStats& d : *disks) by_name[d.device] = d;
  ASSERT_EQ(by_name.size(), 5u);
  struct Case {
    const char* device;
    uint64_t reads, sectors_read, writes, sectors_written, io_time_ms;
  } cases[] = {
      {"vda", 32529, 3060186, 8592, 1376488, 8148},
      {"sda", 1200, 96000, 300, 48000, 700},  // the 14-field format of older kernels
      {"sda1", 1100, 88000, 290, 46000, 650},
      {"loop0", 0, 0, 0, 0, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.device);
    const DiskStats& d = by_name[c.device];
    EXPECT_EQ(d.reads_completed, c.reads);
    EXPECT_EQ(d.sectors_read, c.sectors_read);
    EXPECT_EQ(d.writes_completed, c.writes);
    EXPECT_EQ(d.sectors_written, c.sectors_written);
    EXPECT_EQ(d.io_time_ms, c.io_time_ms);
  }
}

TEST(ProcfsTest, NetDev) {
  auto devs = ParseNetDev(ReadTestdata("proc/net/dev"), "proc/net/dev");
  ASSERT_TRUE(devs.ok()) << devs.status().ToString();
  ASSERT_EQ(devs->size(), 2u);
  const NetDevStats& lo = (*devs)[0];
  const NetDevStats& eth0 = (*devs)[1];  // "eth0:22468204": counter touching the colon
  EXPECT_EQ(lo.device, "lo");
  EXPECT_EQ(lo.rx_bytes, 3267u);
  EXPECT_EQ(eth0.device, "eth0");
  struct Case {
    const char* name;
    uint64_t got, want;
  } cases[] = {{"rx_bytes", eth0.rx_bytes, 22468204}, {"rx_packets", eth0.rx_packets, 792},
               {"rx_errs", eth0.rx_errs, 3},          {"rx_drop", eth0.rx_drop, 1},
               {"tx_bytes", eth0.tx_bytes, 49802},    {"tx_packets", eth0.tx_packets, 609},
               {"tx_errs", eth0.tx_errs, 2},          {"tx_drop", eth0.tx_drop, 4}};
  for (const Case& c : cases) EXPECT_EQ(c.got, c.want) << c.name;
}

TEST(ProcfsTest, Pressure) {
  struct Case {
    const char* file;
    double some_avg10;
    uint64_t some_total;
    double full_avg10;
    uint64_t full_total;
  } cases[] = {
      {"proc/pressure/cpu", 0.32, 3701221, 0.0, 0},
      {"proc/pressure/memory", 0.01, 4115963, 0.01, 3904077},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    auto p = ParsePressure(ReadTestdata(c.file), c.file);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_DOUBLE_EQ(p->some.avg10, c.some_avg10);
    EXPECT_EQ(p->some.total_usec, c.some_total);
    ASSERT_TRUE(p->full.has_value());
    EXPECT_DOUBLE_EQ(p->full->avg10, c.full_avg10);
    EXPECT_EQ(p->full->total_usec, c.full_total);
  }
  // Kernels before 5.13 write no "full" line for cpu.
  auto old = ParsePressure("some avg10=1.50 avg60=0.00 avg300=0.00 total=42\n", "cpu");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_FALSE(old->full.has_value());
}

TEST(ProcfsTest, Mounts) {
  auto mounts = ParseMounts(ReadTestdata("proc/mounts"), "proc/mounts");
  ASSERT_TRUE(mounts.ok()) << mounts.status().ToString();
  ASSERT_EQ(mounts->size(), 6u);
  EXPECT_EQ((*mounts)[2].device, "/dev/vda");
  EXPECT_EQ((*mounts)[2].mountpoint, "/");
  EXPECT_EQ((*mounts)[2].fstype, "ext4");
  EXPECT_EQ((*mounts)[4].mountpoint, "/mnt/my data");  // \040 decoded
}

TEST(CgroupTest, InterfaceFiles) {
  const std::string unit = "cgroup/system.slice/sshd.service/";
  auto cpu = ParseCgroupCpuStat(ReadTestdata(unit + "cpu.stat"), "cpu.stat");
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_EQ(cpu->usage_usec, 2500000u);
  EXPECT_EQ(cpu->user_usec, 1500000u);
  EXPECT_EQ(cpu->system_usec, 1000000u);

  auto io = ParseCgroupIoStat(ReadTestdata(unit + "io.stat"), "io.stat");
  ASSERT_TRUE(io.ok()) << io.status().ToString();
  EXPECT_EQ(io->rbytes, 1048576u + 512);  // summed over both devices
  EXPECT_EQ(io->wbytes, 4096u + 8192);
  EXPECT_EQ(io->rios, 21u);
  EXPECT_EQ(io->wios, 3u);

  struct Case {
    const char* name;
    const char* text;
    std::optional<uint64_t> want;
  } cases[] = {{"number", "8654848\n", 8654848}, {"unlimited", "max\n", std::nullopt}};
  for (const Case& c : cases) {
    auto v = ParseCgroupMemoryValue(c.text, "memory.max");
    ASSERT_TRUE(v.ok()) << c.name << ": " << v.status().ToString();
    EXPECT_EQ(*v, c.want) << c.name;
  }
  auto empty_io = ParseCgroupIoStat("", "io.stat");  // a unit that did no I/O yet
  ASSERT_TRUE(empty_io.ok());
  EXPECT_EQ(empty_io->rbytes, 0u);
}

TEST(CgroupTest, ListsServicesOnly) {
  auto units = ListUnitCgroups(TestdataDir() + "/cgroup", {"system.slice", "absent.slice"});
  ASSERT_TRUE(units.ok()) << units.status().ToString();
  std::vector<std::string> names;
  for (const UnitCgroup& u : *units) names.push_back(u.unit);
  EXPECT_EQ(names, (std::vector<std::string>{"broken.service", "cron.service", "sshd.service"}));

  auto none = ListUnitCgroups(TestdataDir() + "/cgroup", {"absent.slice"});
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------
// Malformed input: INVALID_ARGUMENT naming the file and the line.

TEST(ParsersTest, MalformedInputIsNamed) {
  using Parse = std::function<Status(std::string_view text)>;
  auto status_of = [](auto parser) -> Parse {
    return [parser](std::string_view text) { return parser(text, "/proc/x").status(); };
  };
  struct Case {
    const char* name;
    Parse parse;
    const char* text;
    const char* want;  // substring of the message
  } cases[] = {
      {"truncated_stat_cpu_line", status_of(ParseProcStat), "cpu  1 2 3 4 5 6 7 8\ncpu0 5578 0 13\nbtime 1\n",
       "/proc/x:2: 'cpu0' has 3 values, want at least 8"},
      {"stat_non_numeric_cpu", status_of(ParseProcStat), "cpu0 1 2 3 4 5 x 7 8\nbtime 1\n",
       "/proc/x:1: 'cpu0' has a non-numeric value"},
      {"stat_without_btime", status_of(ParseProcStat), "cpu0 1 2 3 4 5 6 7 8\n", "/proc/x: no btime line"},
      {"meminfo_non_numeric_value", status_of(ParseMeminfo), "MemTotal: 1 kB\nMemFree:  lots kB\n",
       "/proc/x:2: 'MemFree': 'lots' is not a number"},
      {"meminfo_without_colon", status_of(ParseMeminfo), "MemTotal 1 kB\n", "/proc/x:1: expected 'Name: value'"},
      {"meminfo_unknown_unit", status_of(ParseMeminfo), "MemTotal: 1 MB\n", "/proc/x:1: 'MemTotal': expected"},
      {"meminfo_empty", status_of(ParseMeminfo), "", "/proc/x: no fields"},
      {"empty_loadavg", status_of(ParseLoadavg), "", "/proc/x:1: expected three load averages"},
      {"loadavg_non_numeric", status_of(ParseLoadavg), "0.1 high 0.3 1/2 3\n", "/proc/x:1: a load average is not"},
      {"diskstats_short_line", status_of(ParseDiskstats), " 8 0 sda 1 2 3\n", "/proc/x:1: expected at least 14"},
      {"diskstats_non_numeric", status_of(ParseDiskstats), " 8 0 sda 1 2 3 4 5 6 7 8 9 x 11\n",
       "/proc/x:1: 'sda' has a non-numeric field"},
      {"netdev_no_colon", status_of(ParseNetDev), "eth0 1 2 3\n", "/proc/x:1: expected 'iface: counters'"},
      {"netdev_short", status_of(ParseNetDev), "eth0: 1 2 3\n", "/proc/x:1: expected an interface name and 16"},
      {"pressure_without_some", status_of(ParsePressure), "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
       "/proc/x: no 'some' line"},
      {"pressure_bad_avg10", status_of(ParsePressure), "some avg10=x avg60=0 avg300=0 total=0\n",
       "/proc/x:1: avg10 is not a number"},
      {"pressure_missing_total", status_of(ParsePressure), "some avg10=0.5\n", "/proc/x:1: missing avg10 or total"},
      {"mounts_short_line", status_of(ParseMounts), "proc /proc\n", "/proc/x:1: expected 'device mountpoint"},
      {"cgroup_cpu_stat_non_numeric", status_of(ParseCgroupCpuStat), "usage_usec lots\n",
       "/proc/x:1: expected 'key number'"},
      {"cgroup_cpu_stat_no_usage", status_of(ParseCgroupCpuStat), "nr_periods 0\n", "/proc/x: no usage_usec"},
      {"cgroup_io_stat_bad_pair", status_of(ParseCgroupIoStat), "8:0 rbytes=12 wbytes\n",
       "/proc/x:1: expected key=number, got 'wbytes'"},
      {"cgroup_memory_garbage", status_of(ParseCgroupMemoryValue), "12ab\n", "/proc/x:1: '12ab' is not a number"},
      {"cgroup_memory_empty", status_of(ParseCgroupMemoryValue), "", "/proc/x:1: expected one number or 'max'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Status s = c.parse(c.text);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
  }
}

// ---------------------------------------------------------------------------
// The source, through a real Spool and Batcher.

class HostMetricsSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/host_metrics_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    node_.set_node_id("node-1");
    node_.set_hostname("host-1");
    OpenBatcher(BatcherOptions{});
  }
  void TearDown() override {
    batcher_.reset();
    spool_.reset();
    std::filesystem::remove_all(dir_);
  }

  void OpenBatcher(BatcherOptions batcher_options) {
    batcher_.reset();
    spool_.reset();
    SpoolOptions spool_options;
    spool_options.dir = dir_ + "/spool";
    spool_options.fsync = false;
    auto spool = Spool::Open(spool_options, metrics_);
    ASSERT_TRUE(spool.ok()) << spool.status().ToString();
    spool_ = std::move(spool).value();
    batcher_options.agent_id = "agent-1";
    batcher_ = std::make_unique<Batcher>(batcher_options, *spool_, node_, metrics_, clock_);
    context_ = std::make_unique<SourceContext>(SourceContext{*batcher_, metrics_, clock_, node_});
  }

  // The testdata roots, a fixed USER_HZ and a fake statvfs.
  HostMetricsOptions TestdataOptions() {
    HostMetricsOptions o;
    o.proc_root = TestdataDir() + "/proc";
    o.sys_root = TestdataDir() + "/sys";
    o.cgroup_root = TestdataDir() + "/cgroup";
    o.user_hz = 100;
    o.filesystems_exclude = DefaultFilesystemsExclude();
    o.stat_filesystem = [](const std::string& mountpoint) -> Result<FilesystemUsage> {
      if (mountpoint == "/") return FilesystemUsage{1000, 400, 300};
      if (mountpoint == "/mnt/my data") return FilesystemUsage{5000, 2000, 2000};
      return NotFound("statvfs " + mountpoint + ": unexpected in this test");
    };
    return o;
  }

  // Flushes and returns every batch in the spool.
  std::vector<v1::Batch> SpooledBatches() {
    Status s = batcher_->FlushNow();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return PendingBatches(*spool_);
  }

  double ReadErrors(const std::string& file) { return metrics_.Value(kReadErrors, {{"file", file}}); }

  std::string dir_;
  MetricsRegistry metrics_;
  FakeClock clock_;
  v1::Resource node_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<SourceContext> context_;
};

// A metric point found in a batch, with its resource resolved.
struct Found {
  const v1::MetricPoint* point = nullptr;
  const v1::Resource* resource = nullptr;
};

// The point named `name` whose attributes include `attrs` and whose resource
// has systemd_unit == `unit` ("" for the node).
Found FindPoint(const v1::Batch& batch, const std::string& name, const std::map<std::string, std::string>& attrs,
                const std::string& unit = "") {
  for (const v1::Record& r : batch.records()) {
    if (!r.has_metric() || r.metric().name() != name) continue;
    const v1::MetricPoint& p = r.metric();
    if (static_cast<int>(p.resource_ref()) >= batch.resources_size()) continue;
    const v1::Resource& res = batch.resources(static_cast<int>(p.resource_ref()));
    if (res.systemd_unit() != unit) continue;
    bool match = true;
    for (const auto& [k, v] : attrs) {
      auto it = p.attributes().find(k);
      if (it == p.attributes().end() || it->second != v) match = false;
    }
    if (match) return {&p, &res};
  }
  return {};
}

TEST_F(HostMetricsSourceTest, SampleReachesTheSpool) {
  HostMetricsSource source(TestdataOptions(), *context_);
  ASSERT_TRUE(source.SampleOnce().ok());
  std::vector<v1::Batch> batches = SpooledBatches();
  ASSERT_EQ(batches.size(), 1u);
  const v1::Batch& batch = batches[0];

  const uint64_t boot = 1795704714ULL * 1'000'000'000;
  using Type = v1::MetricPoint::Type;
  struct Case {
    const char* name;
    std::map<std::string, std::string> attrs;
    std::string unit;  // systemd unit of the resource, "" for the node
    double value;
    Type type;
  } cases[] = {
      {"node_cpu_seconds_total", {{"cpu", "0"}, {"mode", "user"}}, "", 55.78, v1::MetricPoint::TYPE_COUNTER},
      {"node_cpu_seconds_total", {{"cpu", "1"}, {"mode", "idle"}}, "", 525.99, v1::MetricPoint::TYPE_COUNTER},
      {"node_memory_bytes", {{"kind", "total"}}, "", 24683656.0 * 1024, v1::MetricPoint::TYPE_GAUGE},
      {"node_memory_bytes", {{"kind", "available"}}, "", 24379488.0 * 1024, v1::MetricPoint::TYPE_GAUGE},
      {"node_memory_bytes", {{"kind", "swap_free"}}, "", 2097000.0 * 1024, v1::MetricPoint::TYPE_GAUGE},
      {"node_load", {{"window", "5m"}}, "", 0.20, v1::MetricPoint::TYPE_GAUGE},
      {"node_disk_read_bytes_total", {{"device", "vda"}}, "", 3060186.0 * 512, v1::MetricPoint::TYPE_COUNTER},
      {"node_disk_written_bytes_total", {{"device", "sda"}}, "", 48000.0 * 512, v1::MetricPoint::TYPE_COUNTER},
      {"node_disk_io_time_seconds_total", {{"device", "vda"}}, "", 8.148, v1::MetricPoint::TYPE_COUNTER},
      {"node_network_receive_bytes_total", {{"device", "eth0"}}, "", 22468204, v1::MetricPoint::TYPE_COUNTER},
      {"node_network_transmit_errs_total", {{"device", "eth0"}}, "", 2, v1::MetricPoint::TYPE_COUNTER},
      {"node_filesystem_size_bytes", {{"mountpoint", "/"}, {"fstype", "ext4"}}, "", 1000, v1::MetricPoint::TYPE_GAUGE},
      {"node_filesystem_avail_bytes",
       {{"mountpoint", "/mnt/my data"}, {"device", "/dev/vdb"}},
       "",
       2000,
       v1::MetricPoint::TYPE_GAUGE},
      {"node_pressure_cpu_some_avg10", {}, "", 0.32, v1::MetricPoint::TYPE_GAUGE},
      {"node_pressure_memory_full_seconds_total", {}, "", 3.904077, v1::MetricPoint::TYPE_COUNTER},
      {"systemd_unit_cpu_seconds_total", {{"mode", "user"}}, "sshd.service", 1.5, v1::MetricPoint::TYPE_COUNTER},
      {"systemd_unit_cpu_seconds_total", {{"mode", "system"}}, "cron.service", 0.1, v1::MetricPoint::TYPE_COUNTER},
      {"systemd_unit_memory_bytes", {}, "sshd.service", 8654848, v1::MetricPoint::TYPE_GAUGE},
      {"systemd_unit_memory_bytes", {}, "broken.service", 4096, v1::MetricPoint::TYPE_GAUGE},
      {"systemd_unit_memory_max_bytes", {}, "cron.service", 268435456, v1::MetricPoint::TYPE_GAUGE},
      {"systemd_unit_io_read_bytes_total", {}, "sshd.service", 1048576 + 512, v1::MetricPoint::TYPE_COUNTER},
      {"systemd_unit_io_write_bytes_total", {}, "sshd.service", 4096 + 8192, v1::MetricPoint::TYPE_COUNTER},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.name) + " " + c.unit);
    Found f = FindPoint(batch, c.name, c.attrs, c.unit);
    ASSERT_NE(f.point, nullptr);
    EXPECT_NEAR(f.point->value(), c.value, 1e-9 * std::max(1.0, std::abs(c.value)));
    EXPECT_EQ(f.point->type(), c.type);
    EXPECT_EQ(f.point->time_unix_nano(), static_cast<uint64_t>(clock_.NowUnixNanos()));
    EXPECT_EQ(f.resource->node_id(), "node-1");  // unit resources are the node's plus the unit
    if (c.type == v1::MetricPoint::TYPE_COUNTER) {
      if (c.unit.empty()) {
        EXPECT_EQ(f.point->start_time_unix_nano(), boot);
      } else {
        EXPECT_GT(f.point->start_time_unix_nano(), 0u);  // the cgroup's creation
      }
    }
    if (c.unit.empty()) {
      EXPECT_EQ(f.point->resource_ref(), 0u);
    }
  }

  struct Absent {
    const char* name;
    std::map<std::string, std::string> attrs;
    std::string unit;
    const char* why;
  } absent[] = {
      {"node_disk_read_bytes_total", {{"device", "sda1"}}, "", "partition (not in sys/block)"},
      {"node_disk_read_bytes_total", {{"device", "loop0"}}, "", "loop device"},
      {"node_disk_read_bytes_total", {{"device", "ram0"}}, "", "ram device"},
      {"node_filesystem_size_bytes", {{"mountpoint", "/proc"}}, "", "excluded fstype"},
      {"node_filesystem_size_bytes", {{"mountpoint", "/dev/shm"}}, "", "excluded fstype"},
      {"node_pressure_io_some_avg10", {}, "", "no pressure/io in testdata"},
      {"systemd_unit_memory_max_bytes", {}, "sshd.service", "memory.max is 'max'"},
      {"systemd_unit_io_read_bytes_total", {}, "cron.service", "no io.stat"},
      {"systemd_unit_cpu_seconds_total", {}, "broken.service", "malformed cpu.stat"},
      {"systemd_unit_memory_bytes", {}, "systemd-journald.socket", "not a service"},
  };
  for (const Absent& a : absent) EXPECT_EQ(FindPoint(batch, a.name, a.attrs, a.unit).point, nullptr) << a.why;

  // Each unit has its own resource in the batch.
  std::set<std::string> units;
  for (const v1::Resource& r : batch.resources()) units.insert(r.systemd_unit());
  EXPECT_EQ(units, (std::set<std::string>{"", "broken.service", "cron.service", "sshd.service"}));

  EXPECT_EQ(ReadErrors("cgroup/cpu.stat"), 1);   // broken.service
  EXPECT_EQ(ReadErrors("proc/pressure/io"), 1);  // absent: counted once
  EXPECT_EQ(ReadErrors("proc/stat"), 0);
}

TEST_F(HostMetricsSourceTest, RepeatedSamplesCountErrorsButAbsentPressureOnce) {
  HostMetricsSource source(TestdataOptions(), *context_);
  ASSERT_TRUE(source.SampleOnce().ok());
  clock_.Advance(10 * kNanosPerSecond);
  ASSERT_TRUE(source.SampleOnce().ok());
  EXPECT_EQ(ReadErrors("cgroup/cpu.stat"), 2);
  EXPECT_EQ(ReadErrors("proc/pressure/io"), 1);
  std::vector<v1::Batch> batches = SpooledBatches();
  ASSERT_FALSE(batches.empty());
  size_t cpu_points = 0;
  for (const v1::Batch& b : batches) {
    for (const v1::Record& r : b.records()) cpu_points += r.metric().name() == "node_cpu_seconds_total";
  }
  EXPECT_EQ(cpu_points, 2u * 2 * 8);  // two samples, two CPUs, eight modes
}

TEST_F(HostMetricsSourceTest, BadFilesAreCountedAndTheRestIsStillSent) {
  HostMetricsOptions o = TestdataOptions();
  o.proc_root = TestdataDir() + "/bad_proc";  // malformed meminfo, empty loadavg, the rest missing
  o.cgroup_root = dir_ + "/no-cgroups";       // not a systemd host
  HostMetricsSource source(std::move(o), *context_);
  ASSERT_TRUE(source.SampleOnce().ok());
  ASSERT_TRUE(source.SampleOnce().ok());
  std::vector<v1::Batch> batches = SpooledBatches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_NE(FindPoint(batches[0], "node_cpu_seconds_total", {{"cpu", "1"}, {"mode", "user"}}).point, nullptr);
  EXPECT_EQ(FindPoint(batches[0], "node_memory_bytes", {}).point, nullptr);
  EXPECT_EQ(FindPoint(batches[0], "node_load", {}).point, nullptr);

  struct Case {
    const char* file;
    double count;
  } cases[] = {{"proc/meminfo", 2}, {"proc/loadavg", 2}, {"proc/diskstats", 2},    {"proc/net/dev", 2},
               {"proc/mounts", 2},  {"proc/stat", 0},    {"proc/pressure/cpu", 1}, {"cgroup/slices", 1}};
  for (const Case& c : cases) EXPECT_EQ(ReadErrors(c.file), c.count) << c.file;
}

TEST_F(HostMetricsSourceTest, FullBufferDropsTheSampleAndReportsALoss) {
  BatcherOptions tight;
  tight.max_pending_records = 1;
  OpenBatcher(tight);
  std::vector<v1::Record> filler(1);
  filler[0].mutable_metric()->set_name("filler");
  ASSERT_TRUE(batcher_->Add("other", std::move(filler)).ok());

  HostMetricsOptions o = TestdataOptions();
  o.cgroups = false;
  HostMetricsSource source(std::move(o), *context_);
  const size_t sample_size = source.BuildSample().size();
  Status s = source.SampleOnce();
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();

  std::vector<v1::Batch> batches = SpooledBatches();
  ASSERT_EQ(batches.size(), 1u);
  const v1::Gap* gap = nullptr;
  for (const v1::Record& r : batches[0].records()) {
    if (r.has_gap()) gap = &r.gap();
    EXPECT_FALSE(r.has_metric() && r.metric().name() != "filler") << "the refused sample was spooled";
  }
  ASSERT_NE(gap, nullptr);
  EXPECT_EQ(gap->reason(), v1::Gap::REASON_SOURCE_OVERFLOW);
  EXPECT_EQ(gap->source(), "host_metrics");
  EXPECT_EQ(gap->lost_records(), sample_size);
  EXPECT_EQ(metrics_.Value("custos_agent_records_dropped_total"), static_cast<double>(sample_size));
}

TEST_F(HostMetricsSourceTest, StartSamplesAtOnceAndStopIsPromptAndIdempotent) {
  HostMetricsOptions o = TestdataOptions();
  o.interval_nanos = 3600 * kNanosPerSecond;  // Stop must not wait for the next tick
  HostMetricsSource source(std::move(o), *context_);
  ASSERT_TRUE(source.Start("").ok());
  EXPECT_EQ(source.Start("").code(), StatusCode::kFailedPrecondition);
  source.Stop();
  source.Stop();
  std::vector<v1::Batch> batches = SpooledBatches();
  ASSERT_EQ(batches.size(), 1u);  // the immediate first sample, and only it
  EXPECT_NE(FindPoint(batches[0], "node_memory_bytes", {{"kind", "total"}}).point, nullptr);
}

TEST_F(HostMetricsSourceTest, FactoryReadsItsConfig) {
  const std::string root = TestdataDir();
  auto file =
      ConfigFile::Parse("[sources.host_metrics]\ninterval = \"30s\"\nproc_root = \"" + root + "/proc\"\nsys_root = \"" +
                            root + "/sys\"\ncgroups = false\n" + "filesystems_exclude = [\"ext4\"]\n",
                        "agent.toml");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ConfigSection section = file->Section("sources").Section("host_metrics");
  auto source = CreateHostMetricsSource(section, *context_);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ASSERT_TRUE(file->Finish().ok()) << file->Finish().ToString();
  EXPECT_EQ((*source)->name(), "host_metrics");
  auto* host = dynamic_cast<HostMetricsSource*>(source->get());
  ASSERT_NE(host, nullptr);
  std::vector<v1::Record> records = host->BuildSample();
  bool load = false, unit = false, ext4 = false;
  for (const v1::Record& r : records) {
    load |= r.metric().name() == "node_load" && r.metric().value() == 0.31;  // from the testdata proc_root
    unit |= r.metric().name().starts_with("systemd_unit_");
    auto it = r.metric().attributes().find("fstype");
    ext4 |= it != r.metric().attributes().end() && it->second == "ext4";
  }
  EXPECT_TRUE(load);
  EXPECT_FALSE(unit) << "cgroups = false";
  EXPECT_FALSE(ext4) << "filesystems_exclude replaces the defaults";

  auto fast = ConfigFile::Parse("interval = \"100ms\"\n", "agent.toml");
  ASSERT_TRUE(fast.ok());
  ConfigSection fast_section = fast->Root();
  EXPECT_EQ(CreateHostMetricsSource(fast_section, *context_).status().code(), StatusCode::kInvalidArgument);
}

// The real /proc of this machine: the parsers accept what the kernel writes.
TEST_F(HostMetricsSourceTest, RealProcIsParsedAndPlausible) {
  HostMetricsOptions o;  // the real roots and statvfs
  o.filesystems_exclude = DefaultFilesystemsExclude();
  HostMetricsSource source(std::move(o), *context_);
  std::vector<v1::Record> records = source.BuildSample();

  double mem_total = 0, mem_available = -1, cpu_seconds = 0;
  bool load = false;
  for (const v1::Record& r : records) {
    const v1::MetricPoint& p = r.metric();
    if (p.name() == "node_memory_bytes" && p.attributes().at("kind") == "total") mem_total = p.value();
    if (p.name() == "node_memory_bytes" && p.attributes().at("kind") == "available") mem_available = p.value();
    if (p.name() == "node_cpu_seconds_total") cpu_seconds += p.value();
    if (p.name() == "node_load") load = p.value() >= 0;
    if (p.name() == "node_cpu_seconds_total") {
      EXPECT_GT(p.start_time_unix_nano(), 1'000'000'000ULL * 1'000'000'000) << "boot time after 2001";
    }
  }
  EXPECT_GT(mem_total, 1 << 20);
  EXPECT_GE(mem_available, 0);
  EXPECT_LE(mem_available, mem_total);
  EXPECT_GT(cpu_seconds, 0);
  EXPECT_TRUE(load);
  for (const char* file :
       {"proc/stat", "proc/meminfo", "proc/loadavg", "proc/diskstats", "proc/net/dev", "proc/mounts"}) {
    EXPECT_EQ(ReadErrors(file), 0) << file;
  }
}

}  // namespace
}  // namespace custos::agent::host_metrics
