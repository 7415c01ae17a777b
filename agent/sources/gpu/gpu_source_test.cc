#include "agent/sources/gpu/gpu_source.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>

#include "agent/core/spool.h"
#include "agent/core/spool_testing.h"
#include "agent/sources/gpu/xid_watcher.h"

extern char** environ;

namespace custos::agent::gpu {
namespace {

// Two GPUs with every value set; the values are distinct so that a field
// mapped from the wrong NVML answer shows.
constexpr char kTwoGpus[] = R"(
gpus = 2
gpu0.uuid = GPU-00000000-1111-2222-3333-444444444444
gpu0.name = NVIDIA H100 80GB HBM3
gpu0.utilization = 87,40
gpu0.memory = 85899345920,85000000000,899345920
gpu0.power_mw = 312500
gpu0.energy_mj = 123456789012
gpu0.temperature = 61
gpu0.clock.sm = 1980
gpu0.clock.mem = 2619
gpu0.clock_event_reasons = 0x4
gpu0.ecc.aggregate = 7,2
gpu0.ecc.volatile = 1,0
gpu1.uuid = GPU-99999999-8888-7777-6666-555555555555
gpu1.name = NVIDIA A100-SXM4-40GB
gpu1.utilization = 3,1
gpu1.memory = 42949672960,42000000000,949672960
gpu1.power_mw = 61250
gpu1.energy_mj = 5000
gpu1.temperature = 34
gpu1.clock.sm = 210
gpu1.clock.mem = 1215
gpu1.clock_event_reasons = 0x1
gpu1.ecc.aggregate = 0,0
)";

// Every GpuSample (or GpuEvent) record in the batches, with the systemd unit
// of its resource.
struct Spooled {
  std::vector<v1::GpuSample> samples;
  std::vector<std::string> sample_units;
  std::vector<v1::GpuEvent> events;
  std::vector<v1::Gap> gaps;
};

class GpuSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custos_gpu_XXXXXX";
    dir_ = mkdtemp(tmpl);
    scenario_ = dir_ + "/scenario.txt";
    setenv("CUSTOS_FAKE_NVML_SCENARIO", scenario_.c_str(), 1);
    node_.set_node_id("node-1");
    OpenBatcher(BatcherOptions{.agent_id = "node-1"});
  }
  void TearDown() override {
    for (pid_t pid : children_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    unsetenv("CUSTOS_FAKE_NVML_SCENARIO");
    std::filesystem::remove_all(dir_);
  }

  void OpenBatcher(BatcherOptions options) {
    context_.reset();
    batcher_.reset();
    spool_.reset();
    std::filesystem::remove_all(dir_ + "/spool");
    auto s = Spool::Open(SpoolOptions{.dir = dir_ + "/spool"}, metrics_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    spool_ = std::move(*s);
    batcher_ = std::make_unique<Batcher>(options, *spool_, node_, metrics_, clock_);
    context_ = std::make_unique<SourceContext>(SourceContext{*batcher_, metrics_, clock_, node_});
  }

  // Replaces the scenario atomically (the fake sees a new inode).
  void WriteScenario(const std::string& text) {
    const std::string tmp = scenario_ + ".tmp";
    std::ofstream(tmp) << text;
    ASSERT_EQ(rename(tmp.c_str(), scenario_.c_str()), 0);
  }

  std::unique_ptr<GpuSource> Make(const std::string& extra_toml, const std::string& library = CUSTOS_FAKE_NVML) {
    auto file = ConfigFile::Parse("[sources.gpu]\nlibrary = \"" + library + "\"\n" + extra_toml, "agent.toml");
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    ConfigSection section = file->Section("sources").Section("gpu");
    auto src = CreateGpuSource(section, *context_);
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    Status finished = file->Finish();
    EXPECT_TRUE(finished.ok()) << finished.ToString();
    return std::unique_ptr<GpuSource>(static_cast<GpuSource*>(src->release()));
  }

  // A child process that sleeps until the test ends.
  pid_t SpawnSleep() {
    pid_t pid = 0;
    char arg0[] = "/bin/sleep";
    char arg1[] = "600";
    char* argv[] = {arg0, arg1, nullptr};
    EXPECT_EQ(posix_spawn(&pid, "/bin/sleep", nullptr, nullptr, argv, environ), 0);
    children_.push_back(pid);
    // posix_spawn returns after the exec (vfork semantics), so /proc/PID/exe is sleep's.
    return pid;
  }

  Spooled Read() {
    Status s = batcher_->FlushNow();
    EXPECT_TRUE(s.ok()) << s.ToString();
    Spooled out;
    for (const v1::Batch& b : PendingBatches(*spool_)) {
      for (const v1::Record& r : b.records()) {
        if (r.has_gpu_sample()) {
          out.samples.push_back(r.gpu_sample());
          const int ref = static_cast<int>(r.gpu_sample().resource_ref());
          out.sample_units.push_back(ref < b.resources_size() ? b.resources(ref).systemd_unit() : "<bad ref>");
        }
        if (r.has_gpu_event()) out.events.push_back(r.gpu_event());
        if (r.has_gap()) out.gaps.push_back(r.gap());
      }
    }
    return out;
  }

  // Waits (bounded) until `done` holds for what is spooled.
  template <typename Pred>
  Spooled WaitFor(Pred done) {
    Spooled s;
    for (int i = 0; i < 1000; ++i) {
      s = Read();
      if (done(s)) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "timed out waiting for spooled GPU records";
    return s;
  }

  double Metric(const std::string& name, const MetricLabels& labels = {}) { return metrics_.Value(name, labels); }

  std::string dir_;
  std::string scenario_;
  std::vector<pid_t> children_;
  MetricsRegistry metrics_;
  FakeClock clock_;
  v1::Resource node_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<SourceContext> context_;
};

// How often the loaded stand-in library saw a call of `function`.
unsigned long long FakeCalls(const char* library, const char* function) {
  void* h = dlopen(library, RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return 0;
  auto calls = reinterpret_cast<unsigned long long (*)(const char*)>(dlsym(h, "custos_fake_nvml_calls"));
  unsigned long long n = calls != nullptr ? calls(function) : 0;
  dlclose(h);
  return n;
}

// Lines of captured stderr that contain `text`.
int CountLines(const std::string& log, const std::string& text) {
  int n = 0;
  for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
  return n;
}

const v1::GpuSample* DeviceSample(const Spooled& s, uint32_t gpu) {
  for (const v1::GpuSample& g : s.samples) {
    if (g.pid() == 0 && g.gpu_index() == gpu) return &g;
  }
  return nullptr;
}

TEST_F(GpuSourceTest, TwoGpusAreMappedExactly) {
  WriteScenario(kTwoGpus);
  auto source = Make("processes = false\n");
  ASSERT_TRUE(source->SampleOnce().ok());
  EXPECT_TRUE(source->available());
  EXPECT_EQ(Metric("custos_agent_gpu_available"), 1);
  EXPECT_EQ(Metric("custos_agent_gpu_devices"), 2);

  Spooled s = Read();
  ASSERT_EQ(s.samples.size(), 2u);
  const v1::GpuSample* g0 = DeviceSample(s, 0);
  ASSERT_NE(g0, nullptr);
  EXPECT_EQ(g0->time_unix_nano(), static_cast<uint64_t>(clock_.NowUnixNanos()));
  EXPECT_EQ(g0->resource_ref(), 0u);
  EXPECT_EQ(g0->gpu_uuid(), "GPU-00000000-1111-2222-3333-444444444444");
  EXPECT_EQ(g0->gpu_name(), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(g0->sm_utilization_pct(), 87);
  EXPECT_EQ(g0->memory_utilization_pct(), 40);
  EXPECT_EQ(g0->memory_total_bytes(), 85899345920u);
  EXPECT_EQ(g0->memory_used_bytes(), 899345920u);
  EXPECT_DOUBLE_EQ(g0->power_watts(), 312.5);  // 312500 mW
  EXPECT_EQ(g0->energy_millijoules(), 123456789012u);
  EXPECT_EQ(g0->temperature_celsius(), 61);
  EXPECT_EQ(g0->sm_clock_mhz(), 1980u);
  EXPECT_EQ(g0->memory_clock_mhz(), 2619u);
  EXPECT_EQ(g0->clock_event_reasons(), 0x4u);
  EXPECT_EQ(g0->ecc_corrected_total(), 7u);  // aggregate counters by default
  EXPECT_EQ(g0->ecc_uncorrected_total(), 2u);
  EXPECT_EQ(g0->pid(), 0);

  const v1::GpuSample* g1 = DeviceSample(s, 1);
  ASSERT_NE(g1, nullptr);
  EXPECT_EQ(g1->gpu_uuid(), "GPU-99999999-8888-7777-6666-555555555555");
  EXPECT_EQ(g1->gpu_name(), "NVIDIA A100-SXM4-40GB");
  EXPECT_EQ(g1->sm_utilization_pct(), 3);
  EXPECT_EQ(g1->memory_utilization_pct(), 1);
  EXPECT_EQ(g1->memory_total_bytes(), 42949672960u);
  EXPECT_EQ(g1->memory_used_bytes(), 949672960u);
  EXPECT_DOUBLE_EQ(g1->power_watts(), 61.25);
  EXPECT_EQ(g1->energy_millijoules(), 5000u);
  EXPECT_EQ(g1->temperature_celsius(), 34);
  EXPECT_EQ(g1->sm_clock_mhz(), 210u);
  EXPECT_EQ(g1->memory_clock_mhz(), 1215u);
  EXPECT_EQ(g1->clock_event_reasons(), 0x1u);

  // New values are read on the next sample.
  std::string changed = kTwoGpus;
  changed.replace(changed.find("gpu0.temperature = 61"), 21, "gpu0.temperature = 83");
  WriteScenario(changed);
  clock_.Advance(10 * kNanosPerSecond);
  ASSERT_TRUE(source->SampleOnce().ok());
  s = Read();
  ASSERT_EQ(s.samples.size(), 4u);
  EXPECT_EQ(s.samples[2].temperature_celsius(), 83);
  EXPECT_EQ(Metric("custos_agent_gpu_samples_total"), 4);
}

TEST_F(GpuSourceTest, VolatileEccCountersWhenAsked) {
  WriteScenario(kTwoGpus);
  auto source = Make("processes = false\necc_counter = \"volatile\"\n");
  ASSERT_TRUE(source->SampleOnce().ok());
  const Spooled s = Read();
  const v1::GpuSample* g0 = DeviceSample(s, 0);
  ASSERT_NE(g0, nullptr);
  EXPECT_EQ(g0->ecc_corrected_total(), 1u);
  EXPECT_EQ(g0->ecc_uncorrected_total(), 0u);
}

TEST_F(GpuSourceTest, ProcessesOfRealChildrenAreNamed) {
  const pid_t a = SpawnSleep();
  const pid_t b = SpawnSleep();
  const std::string pa = std::to_string(a), pb = std::to_string(b);
  // a has a compute and a graphics context (one process, listed twice), b a
  // compute context on the other GPU; only a has a utilisation sample.
  WriteScenario(std::string(kTwoGpus) + "gpu0.compute_processes = " + pa + ":1073741824\n" +
                "gpu0.graphics_processes = " + pa + ":1073741824\n" + "gpu0.process_utilization = " + pa + ":55:22\n" +
                "gpu1.compute_processes = " + pb + ":2147483648\n");
  auto source = Make("");
  ASSERT_TRUE(source->SampleOnce().ok());
  Spooled s = Read();

  char sleep_path[PATH_MAX];
  ASSERT_NE(realpath("/bin/sleep", sleep_path), nullptr);
  const std::optional<ProcessInfo> self = ReadProcessInfo(getpid());
  ASSERT_TRUE(self.has_value());  // children inherit this process's cgroup, hence its unit
  std::vector<const v1::GpuSample*> processes;
  std::vector<std::string> units;
  for (size_t i = 0; i < s.samples.size(); ++i) {
    if (s.samples[i].pid() != 0) {
      processes.push_back(&s.samples[i]);
      units.push_back(s.sample_units[i]);
    }
  }
  ASSERT_EQ(processes.size(), 2u);
  EXPECT_EQ(processes[0]->pid(), a);
  EXPECT_EQ(processes[0]->gpu_index(), 0u);
  EXPECT_EQ(processes[0]->gpu_uuid(), "GPU-00000000-1111-2222-3333-444444444444");
  EXPECT_EQ(processes[0]->executable(), sleep_path);
  EXPECT_EQ(processes[0]->memory_used_bytes(), 1073741824u);  // not counted twice
  EXPECT_EQ(processes[0]->sm_utilization_pct(), 55);
  EXPECT_EQ(processes[0]->memory_utilization_pct(), 22);
  EXPECT_EQ(units[0], self->systemd_unit);
  EXPECT_EQ(processes[1]->pid(), b);
  EXPECT_EQ(processes[1]->gpu_index(), 1u);
  EXPECT_EQ(processes[1]->executable(), sleep_path);
  EXPECT_EQ(processes[1]->memory_used_bytes(), 2147483648u);
  EXPECT_EQ(processes[1]->sm_utilization_pct(), 0);
}

TEST_F(GpuSourceTest, ProcessUnitBecomesTheResource) {
  // A /proc fixture: pid 4242 runs /usr/bin/train in train.service.
  const std::string proc = dir_ + "/proc/4242";
  std::filesystem::create_directories(proc);
  std::ofstream(proc + "/stat") << "4242 (train) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12345\n";
  std::ofstream(proc + "/status") << "Name:\ttrain\nUid:\t0\t0\t0\t0\n";
  std::ofstream(proc + "/comm") << "train\n";
  std::ofstream(proc + "/cgroup") << "0::/system.slice/train.service\n";
  std::filesystem::create_symlink("/usr/bin/train", proc + "/exe");
  WriteScenario(std::string(kTwoGpus) + "gpu1.compute_processes = 4242:5000\n");
  auto source = Make("proc_root = \"" + dir_ + "/proc\"\n");
  ASSERT_TRUE(source->SampleOnce().ok());
  clock_.Advance(kNanosPerSecond);
  ASSERT_TRUE(source->SampleOnce().ok());  // the second sample reuses the interned resource
  Spooled s = Read();
  int found = 0;
  for (size_t i = 0; i < s.samples.size(); ++i) {
    if (s.samples[i].pid() != 4242) continue;
    ++found;
    EXPECT_EQ(s.samples[i].executable(), "/usr/bin/train");
    EXPECT_EQ(s.sample_units[i], "train.service");
    EXPECT_EQ(s.samples[i].memory_used_bytes(), 5000u);
  }
  EXPECT_EQ(found, 2);
}

TEST_F(GpuSourceTest, ProcessesBeyondTheBoundAreCutAndCounted) {
  // Pids that do not exist: samples without an executable, on the node.
  WriteScenario(std::string(kTwoGpus) + "gpu0.compute_processes = 900001:100 900002:400 900003:300 900004:200\n");
  auto source = Make("max_processes_per_gpu = 2\n");
  const char* kList = "nvmlDeviceGetComputeRunningProcesses";
  const unsigned long long before = FakeCalls(CUSTOS_FAKE_NVML, kList);
  ASSERT_TRUE(source->SampleOnce().ok());
  // The buffer for 2 was too small: NVML said 4, the buffer grew, one retry.
  EXPECT_EQ(FakeCalls(CUSTOS_FAKE_NVML, kList) - before, 2u + 1u);  // gpu0 twice, gpu1 once
  ASSERT_TRUE(source->SampleOnce().ok());
  EXPECT_EQ(FakeCalls(CUSTOS_FAKE_NVML, kList) - before, 3u + 2u);  // no regrowth
  Spooled s = Read();
  std::vector<int32_t> pids;
  for (const v1::GpuSample& g : s.samples) {
    if (g.pid() != 0) {
      pids.push_back(g.pid());
      EXPECT_EQ(g.executable(), "");
      EXPECT_EQ(g.resource_ref(), 0u);
    }
  }
  EXPECT_EQ(pids, (std::vector<int32_t>{900002, 900003, 900002, 900003}));  // the largest two, twice
  EXPECT_EQ(Metric("custos_agent_gpu_processes_cut_total"), 4);
}

TEST_F(GpuSourceTest, XidEventsBecomeGpuEvents) {
  WriteScenario(kTwoGpus);
  auto source = Make("interval = \"1h\"\n");
  ASSERT_TRUE(source->Start("").ok());
  WaitFor([](const Spooled& s) { return s.samples.size() >= 2; });  // loaded, event thread running
  ASSERT_TRUE(source->available());

  WriteScenario(std::string(kTwoGpus) + "event.1 = 1:xid:79\nevent.2 = 0:dbe:0\nevent.3 = 0:xid:13\n");
  Spooled s = WaitFor([](const Spooled& sp) { return sp.events.size() >= 3; });
  source->Stop();
  ASSERT_EQ(s.events.size(), 3u);
  EXPECT_EQ(s.events[0].kind(), "xid");
  EXPECT_EQ(s.events[0].code(), 79u);
  EXPECT_EQ(s.events[0].description(), "GPU has fallen off the bus");
  EXPECT_EQ(s.events[0].gpu_index(), 1u);
  EXPECT_EQ(s.events[0].gpu_uuid(), "GPU-99999999-8888-7777-6666-555555555555");
  EXPECT_EQ(s.events[0].time_unix_nano(), static_cast<uint64_t>(clock_.NowUnixNanos()));
  EXPECT_EQ(s.events[1].kind(), "ecc_double_bit");
  EXPECT_EQ(s.events[1].gpu_index(), 0u);
  EXPECT_EQ(s.events[2].kind(), "xid");
  EXPECT_EQ(s.events[2].code(), 13u);
  EXPECT_EQ(s.events[2].description(), "Graphics Engine Exception");
  EXPECT_EQ(Metric("custos_agent_gpu_events_total"), 3);
}

// An event whose device is no registered GPU (here gpu1, left out by
// max_gpus, with the stand-in told to deliver its events anyway) is sent with
// the unknown index and uuid, counted and logged once; it used to be GPU 0.
TEST_F(GpuSourceTest, EventOfAnUnregisteredDeviceIsReportedAsUnknownNotGpu0) {
  WriteScenario(kTwoGpus);
  auto source = Make("max_gpus = 1\nprocesses = false\ninterval = \"1h\"\n");
  testing::internal::CaptureStderr();
  ASSERT_TRUE(source->Start("").ok());
  WaitFor([](const Spooled& s) { return s.samples.size() >= 1; });  // loaded, event thread running
  WriteScenario(std::string(kTwoGpus) +
                "deliver_unregistered_events = 1\nevent.1 = 1:xid:79\nevent.2 = 1:dbe:0\nevent.3 = 0:xid:13\n");
  Spooled s = WaitFor([](const Spooled& sp) { return sp.events.size() >= 3; });
  source->Stop();
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_EQ(s.events.size(), 3u);
  EXPECT_EQ(s.events[0].code(), 79u);
  EXPECT_EQ(s.events[0].gpu_index(), kUnknownGpuIndex);
  EXPECT_EQ(s.events[0].gpu_uuid(), "unknown");
  EXPECT_EQ(s.events[1].kind(), "ecc_double_bit");
  EXPECT_EQ(s.events[1].gpu_index(), kUnknownGpuIndex);
  EXPECT_EQ(s.events[1].gpu_uuid(), "unknown");
  EXPECT_EQ(s.events[2].code(), 13u);
  EXPECT_EQ(s.events[2].gpu_index(), 0u);
  EXPECT_EQ(s.events[2].gpu_uuid(), "GPU-00000000-1111-2222-3333-444444444444");
  EXPECT_EQ(Metric("custos_agent_gpu_events_unknown_device_total"), 2);
  EXPECT_EQ(Metric("custos_agent_gpu_events_total"), 3);
  EXPECT_EQ(CountLines(log, "matches no registered GPU"), 1) << log;
}

TEST_F(GpuSourceTest, FailingAndUnsupportedCallsLeavePartialSamples) {
  // gpu0: no ECC (a consumer GPU), power fails with UNKNOWN; gpu1 is lost.
  std::string text = kTwoGpus;
  text.replace(text.find("gpu0.ecc.aggregate"), std::string("gpu0.ecc.aggregate = 7,2").size(), "");
  text += "fail.nvmlDeviceGetPowerUsage.gpu0 = 999\ngpu1.lost = 1\n";
  WriteScenario(text);
  auto source = Make("processes = false\n");
  const unsigned long long ecc_calls_before = FakeCalls(CUSTOS_FAKE_NVML, "nvmlDeviceGetTotalEccErrors");

  testing::internal::CaptureStderr();
  ASSERT_TRUE(source->SampleOnce().ok());
  std::string first = testing::internal::GetCapturedStderr();
  testing::internal::CaptureStderr();
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(10 * kNanosPerSecond);
    ASSERT_TRUE(source->SampleOnce().ok());
  }
  std::string later = testing::internal::GetCapturedStderr();

  Spooled s = Read();
  ASSERT_EQ(s.samples.size(), 5u);  // gpu0 only: every call about gpu1 failed
  for (const v1::GpuSample& g : s.samples) {
    EXPECT_EQ(g.gpu_index(), 0u);
    EXPECT_EQ(g.sm_utilization_pct(), 87);  // what succeeded is there
    EXPECT_EQ(g.temperature_celsius(), 61);
    EXPECT_EQ(g.power_watts(), 0);  // what failed is not
    EXPECT_EQ(g.ecc_corrected_total(), 0u);
  }
  // NOT_SUPPORTED: counted once per GPU, never asked again.
  EXPECT_EQ(Metric("custos_agent_gpu_nvml_unsupported_total", {{"function", "nvmlDeviceGetTotalEccErrors(CORRECTED)"}}),
            1);
  EXPECT_EQ(FakeCalls(CUSTOS_FAKE_NVML, "nvmlDeviceGetTotalEccErrors") - ecc_calls_before,
            2u + 5u * 2u);  // gpu0 once (CORRECTED, UNCORRECTED); the lost gpu1 every time
  // Other failures: counted every time.
  EXPECT_EQ(
      Metric("custos_agent_gpu_nvml_errors_total", {{"function", "nvmlDeviceGetPowerUsage"}, {"error", "UNKNOWN"}}), 5);
  EXPECT_EQ(
      Metric("custos_agent_gpu_nvml_errors_total", {{"function", "nvmlDeviceGetPowerUsage"}, {"error", "GPU_IS_LOST"}}),
      5);
  EXPECT_EQ(Metric("custos_agent_gpu_nvml_errors_total",
                   {{"function", "nvmlDeviceGetUtilizationRates"}, {"error", "GPU_IS_LOST"}}),
            5);
  // Logged once each, then only counted.
  EXPECT_EQ(CountLines(first, "NVML function not supported here"), 2) << first;  // CORRECTED, UNCORRECTED
  EXPECT_EQ(CountLines(first, "NVML call failed"), 1) << first;                  // power on gpu0
  EXPECT_EQ(CountLines(first, "GPU is lost;"), 1) << first;                      // gpu1, once
  EXPECT_EQ(CountLines(later, "gpu:"), 0) << later;
}

TEST_F(GpuSourceTest, AnOldLibraryWithoutNewerFunctionsStillWorks) {
  // The old stand-in has unversioned process functions (16-byte entries),
  // ...ThrottleReasons and no nvmlDeviceGetTotalEnergyConsumption.
  WriteScenario(std::string(kTwoGpus) + "gpu0.compute_processes = 900001:111 900002:222 900003:333\n");
  testing::internal::CaptureStderr();
  auto source = Make("", CUSTOS_FAKE_NVML_OLD);
  ASSERT_TRUE(source->SampleOnce().ok());
  ASSERT_TRUE(source->SampleOnce().ok());
  std::string log = testing::internal::GetCapturedStderr();
  Spooled s = Read();
  const v1::GpuSample* g0 = DeviceSample(s, 0);
  ASSERT_NE(g0, nullptr);
  EXPECT_EQ(g0->clock_event_reasons(), 0x4u);  // through the old name
  EXPECT_EQ(g0->energy_millijoules(), 0u);     // missing function: left out
  EXPECT_EQ(g0->temperature_celsius(), 61);
  std::vector<std::pair<int32_t, uint64_t>> processes;
  for (const v1::GpuSample& g : s.samples) {
    if (g.pid() != 0) processes.emplace_back(g.pid(), g.memory_used_bytes());
  }
  EXPECT_EQ(processes, (std::vector<std::pair<int32_t, uint64_t>>{
                           {900001, 111}, {900002, 222}, {900003, 333}, {900001, 111}, {900002, 222}, {900003, 333}}));
  EXPECT_EQ(Metric("custos_agent_gpu_nvml_unsupported_total", {{"function", "nvmlDeviceGetTotalEnergyConsumption"}}),
            2);  // once per GPU
  EXPECT_EQ(CountLines(log, "function=nvmlDeviceGetTotalEnergyConsumption"), 1) << log;
  EXPECT_EQ(CountLines(log, "missing_functions=device_get_total_energy_consumption"), 1) << log;
}

TEST_F(GpuSourceTest, Early535ProcessEntriesOf32BytesAreRead) {
  WriteScenario(std::string(kTwoGpus) + "gpu0.compute_processes = 900001:111 900002:222 900003:333\n" +
                "gpu1.graphics_processes = 900004:444 900005:555\n");
  auto source = Make("", CUSTOS_FAKE_NVML_CC535);
  ASSERT_TRUE(source->SampleOnce().ok());
  std::vector<std::tuple<uint32_t, int32_t, uint64_t>> processes;
  for (const v1::GpuSample& g : Read().samples) {
    if (g.pid() != 0) processes.emplace_back(g.gpu_index(), g.pid(), g.memory_used_bytes());
  }
  EXPECT_EQ(processes, (std::vector<std::tuple<uint32_t, int32_t, uint64_t>>{
                           {0, 900001, 111}, {0, 900002, 222}, {0, 900003, 333}, {1, 900004, 444}, {1, 900005, 555}}));
}

TEST_F(GpuSourceTest, GpusBeyondTheBoundAreLeftOutAndCounted) {
  WriteScenario(kTwoGpus);
  auto source = Make("max_gpus = 1\nprocesses = false\n");
  testing::internal::CaptureStderr();
  ASSERT_TRUE(source->SampleOnce().ok());
  std::string log = testing::internal::GetCapturedStderr();
  Spooled s = Read();
  ASSERT_EQ(s.samples.size(), 1u);
  EXPECT_EQ(s.samples[0].gpu_index(), 0u);
  EXPECT_EQ(Metric("custos_agent_gpu_devices"), 1);
  EXPECT_EQ(Metric("custos_agent_gpu_devices_ignored"), 1);
  EXPECT_EQ(CountLines(log, "more GPUs than max_gpus"), 1) << log;
}

TEST_F(GpuSourceTest, MissingLibraryIsReportedOnceAndRetriedRarely) {
  const std::string library = dir_ + "/lib/libnvidia-ml.so.1";
  WriteScenario(kTwoGpus);
  auto source = Make("retry_interval = \"5m\"\n", library);
  testing::internal::CaptureStderr();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(source->SampleOnce().ok());
  clock_.Advance(299 * kNanosPerSecond);
  ASSERT_TRUE(source->SampleOnce().ok());
  EXPECT_EQ(Metric("custos_agent_gpu_load_attempts_total"), 1);
  clock_.Advance(2 * kNanosPerSecond);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(source->SampleOnce().ok());
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(Metric("custos_agent_gpu_load_attempts_total"), 2);
  EXPECT_EQ(CountLines(log, "NVML not available"), 1) << log;
  EXPECT_EQ(CountLines(log, "gpu:"), 1) << log;
  EXPECT_FALSE(source->available());
  EXPECT_EQ(Metric("custos_agent_gpu_available"), 0);
  EXPECT_TRUE(Read().samples.empty());

  // The driver gets installed: the next attempt finds it.
  std::filesystem::create_directories(dir_ + "/lib");
  std::filesystem::copy_file(CUSTOS_FAKE_NVML, library);
  ASSERT_TRUE(source->SampleOnce().ok());
  EXPECT_FALSE(source->available());  // not before the retry interval
  clock_.Advance(300 * kNanosPerSecond);
  ASSERT_TRUE(source->SampleOnce().ok());
  EXPECT_TRUE(source->available());
  EXPECT_EQ(Metric("custos_agent_gpu_available"), 1);
  EXPECT_EQ(Read().samples.size(), 2u);
}

TEST_F(GpuSourceTest, DriverNotLoadedIsLikeAMissingLibrary) {
  WriteScenario(std::string(kTwoGpus) + "fail.nvmlInit = 9\n");
  auto source = Make("");
  testing::internal::CaptureStderr();
  ASSERT_TRUE(source->SampleOnce().ok());
  ASSERT_TRUE(source->SampleOnce().ok());
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(source->available());
  EXPECT_EQ(CountLines(log, "NVML not available"), 1) << log;
  EXPECT_EQ(CountLines(log, "Driver Not Loaded"), 1) << log;
  EXPECT_TRUE(Read().samples.empty());
}

TEST_F(GpuSourceTest, StartAndStopWithoutAGpuAreQuiet) {
  auto source = Make("", dir_ + "/absent/libnvidia-ml.so.1");
  ASSERT_TRUE(source->Start("").ok());
  EXPECT_EQ(source->Start("").code(), StatusCode::kFailedPrecondition);
  source->Stop();
  source->Stop();
  EXPECT_EQ(Metric("custos_agent_gpu_load_attempts_total"), 1);
  EXPECT_EQ(Metric("custos_agent_gpu_available"), 0);
}

TEST_F(GpuSourceTest, RefusedSamplesAndEventsAreReportedAsLoss) {
  BatcherOptions tight{.agent_id = "node-1"};
  tight.max_pending_records = 1;
  OpenBatcher(tight);
  std::vector<v1::Record> filler(1);
  filler[0].mutable_log()->set_message("filler");
  ASSERT_TRUE(batcher_->Add("other", std::move(filler)).ok());  // the buffer is now full

  WriteScenario(kTwoGpus);
  auto source = Make("processes = false\ninterval = \"1h\"\n");
  testing::internal::CaptureStderr();
  ASSERT_TRUE(source->Start("").ok());  // its first sample is refused
  WriteScenario(std::string(kTwoGpus) + "event.1 = 0:xid:48\n");
  for (int i = 0; i < 1000 && Metric("custos_agent_gpu_records_dropped_total", {{"kind", "event"}}) < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  source->Stop();
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(Metric("custos_agent_gpu_records_dropped_total", {{"kind", "sample"}}), 2);
  EXPECT_EQ(Metric("custos_agent_gpu_records_dropped_total", {{"kind", "event"}}), 1);
  EXPECT_EQ(CountLines(log, "dropping GPU records"), 2) << log;  // once per kind

  Spooled s = Read();
  EXPECT_TRUE(s.samples.empty());
  EXPECT_TRUE(s.events.empty());
  uint64_t lost = 0;
  for (const v1::Gap& g : s.gaps) {
    EXPECT_EQ(g.reason(), v1::Gap::REASON_SOURCE_OVERFLOW);
    EXPECT_EQ(g.source(), "gpu");
    lost += g.lost_records();
  }
  EXPECT_EQ(lost, 3u);
  EXPECT_EQ(Metric("custos_agent_records_dropped_total"), 3);
}

TEST_F(GpuSourceTest, ConfigIsChecked) {
  struct Case {
    const char* toml;
    const char* error;
  } cases[] = {
      {"ecc_counter = \"both\"\n", "ecc_counter"},
      {"interval = \"500ms\"\n", "interval"},
      {"retry_interval = \"0s\"\n", "retry_interval"},
  };
  for (const Case& c : cases) {
    auto file = ConfigFile::Parse(std::string("[sources.gpu]\n") + c.toml, "agent.toml");
    ASSERT_TRUE(file.ok());
    ConfigSection section = file->Section("sources").Section("gpu");
    auto src = CreateGpuSource(section, *context_);
    ASSERT_FALSE(src.ok()) << c.toml;
    EXPECT_EQ(src.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(src.status().message().find(c.error), std::string::npos) << src.status().ToString();
  }
  auto file = ConfigFile::Parse("[sources.gpu]\nmax_gpu = 4\n", "agent.toml");  // a typo
  ASSERT_TRUE(file.ok());
  ConfigSection section = file->Section("sources").Section("gpu");
  ASSERT_TRUE(CreateGpuSource(section, *context_).ok());
  EXPECT_FALSE(file->Finish().ok());
}

TEST(AttributeEventTest, MapsTheHandleToItsGpuOrToUnknown) {
  // Handles are opaque pointers: any distinct addresses will do.
  int slots[3] = {};
  const nvmlDevice_t devices[3] = {reinterpret_cast<nvmlDevice_t>(&slots[0]),
                                   reinterpret_cast<nvmlDevice_t>(&slots[1]),
                                   reinterpret_cast<nvmlDevice_t>(&slots[2])};
  const std::vector<GpuIdentity> gpus = {{.index = 0, .handle = devices[0], .uuid = "GPU-a", .name = ""},
                                         {.index = 5, .handle = devices[1], .uuid = "GPU-b", .name = ""}};
  struct Case {
    const char* name;
    nvmlDevice_t device;
    bool known;
    uint32_t index;
    std::string uuid;
  } cases[] = {
      {"first", devices[0], true, 0, "GPU-a"},
      {"second", devices[1], true, 5, "GPU-b"},
      {"unregistered", devices[2], false, kUnknownGpuIndex, "unknown"},
      {"null", nullptr, false, kUnknownGpuIndex, "unknown"},
  };
  for (const Case& c : cases) {
    v1::GpuEvent e;
    EXPECT_EQ(AttributeEvent(gpus, c.device, &e), c.known) << c.name;
    EXPECT_EQ(e.gpu_index(), c.index) << c.name;
    EXPECT_EQ(e.gpu_uuid(), c.uuid) << c.name;
  }
  v1::GpuEvent none;
  EXPECT_FALSE(AttributeEvent({}, devices[0], &none));
  EXPECT_EQ(none.gpu_index(), kUnknownGpuIndex);
}

TEST(XidDescriptionTest, WellKnownXidsAreNamed) {
  EXPECT_EQ(XidDescription(13), "Graphics Engine Exception");
  EXPECT_EQ(XidDescription(31), "GPU memory page fault");
  EXPECT_EQ(XidDescription(48), "Double Bit ECC Error");
  EXPECT_EQ(XidDescription(79), "GPU has fallen off the bus");
  EXPECT_EQ(XidDescription(94), "Contained ECC error");
  EXPECT_EQ(XidDescription(95), "Uncontained ECC error");
  EXPECT_EQ(XidDescription(119), "GSP RPC timeout");
  EXPECT_EQ(XidDescription(12345), "");
}

}  // namespace
}  // namespace custos::agent::gpu
