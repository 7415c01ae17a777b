// custos-nvml-probe: loads NVML through the gpu source's own loader, takes
// one sample of every GPU and process, waits for XID events and prints what
// it got, one line per record, plus every NVML call that failed. One short
// run on a GPU machine shows whether the source's real path works:
//
//   custos-nvml-probe [--library libnvidia-ml.so.1] [--wait 10] [--repeat 20] [--processes 1]
//
// --repeat N takes N further samples (not printed) and reports how long a
// sample takes; --processes 0 leaves per-process sampling out (to tell the
// cost of the GPU queries from that of the process queries and /proc). Exit status: 0 when NVML loaded, 1 when it did
// not, 2 on a usage error.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/process_info.h"
#include "agent/sources/gpu/gpu_sampler.h"
#include "agent/sources/gpu/nvml_library.h"
#include "agent/sources/gpu/xid_watcher.h"
#include "common/clock.h"

namespace custos::agent::gpu {
namespace {

int Usage() {
  std::fprintf(stderr, "usage: custos-nvml-probe [--library PATH] [--wait SECONDS] [--repeat N] [--processes 0|1]\n");
  return 2;
}

void PrintSample(const v1::GpuSample& s, const std::vector<std::string>& units) {
  if (s.pid() == 0) {
    std::printf(
        "gpu_sample gpu=%u uuid=%s name=\"%s\" sm_util=%.0f%% mem_util=%.0f%% mem_used=%llu mem_total=%llu "
        "power=%.3fW energy=%llumJ temp=%.0fC sm_clock=%uMHz mem_clock=%uMHz clock_event_reasons=0x%llx "
        "ecc_corrected=%llu ecc_uncorrected=%llu\n",
        s.gpu_index(), s.gpu_uuid().c_str(), s.gpu_name().c_str(), s.sm_utilization_pct(), s.memory_utilization_pct(),
        static_cast<unsigned long long>(s.memory_used_bytes()), static_cast<unsigned long long>(s.memory_total_bytes()),
        s.power_watts(), static_cast<unsigned long long>(s.energy_millijoules()), s.temperature_celsius(),
        s.sm_clock_mhz(), s.memory_clock_mhz(), static_cast<unsigned long long>(s.clock_event_reasons()),
        static_cast<unsigned long long>(s.ecc_corrected_total()),
        static_cast<unsigned long long>(s.ecc_uncorrected_total()));
    return;
  }
  const std::string unit = s.resource_ref() == 0 ? "" : units.at(s.resource_ref() - 1);
  std::printf("gpu_process gpu=%u pid=%d executable=\"%s\" unit=\"%s\" mem_used=%llu sm_util=%.0f%% mem_util=%.0f%%\n",
              s.gpu_index(), s.pid(), s.executable().c_str(), unit.c_str(),
              static_cast<unsigned long long>(s.memory_used_bytes()), s.sm_utilization_pct(),
              s.memory_utilization_pct());
}

int Main(int argc, char** argv) {
  std::string library = "libnvidia-ml.so.1";
  long wait_seconds = 10;
  long repeat = 20;
  GpuSamplerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) return Usage();
    if (arg == "--library") {
      library = argv[++i];
    } else if (arg == "--wait") {
      wait_seconds = std::strtol(argv[++i], nullptr, 10);
    } else if (arg == "--repeat") {
      repeat = std::strtol(argv[++i], nullptr, 10);
    } else if (arg == "--processes") {
      options.processes = std::strtol(argv[++i], nullptr, 10) != 0;
    } else {
      return Usage();
    }
  }

  Result<std::unique_ptr<NvmlLibrary>> nvml = NvmlLibrary::Open(library);
  if (!nvml.ok()) {
    std::printf("nvml_unavailable library=%s error=\"%s\"\n", library.c_str(), nvml.status().message().c_str());
    return 1;
  }
  std::printf("nvml_loaded library=%s compute_stride=%zu graphics_stride=%zu\n", library.c_str(),
              (*nvml)->compute_processes_stride(), (*nvml)->graphics_processes_stride());
  for (const auto& [purpose, symbol] : (*nvml)->resolved()) {
    std::printf("nvml_symbol %s=%s\n", purpose.c_str(), symbol.empty() ? "MISSING" : symbol.c_str());
  }

  auto on_error = [](const NvmlCallError& e) {
    std::printf("nvml_call_failed function=%.*s gpu=%d error=%s (%d) message=\"%s\"%s\n",
                static_cast<int>(e.function.size()), e.function.data(), e.gpu_index, NvmlReturnName(e.code).c_str(),
                e.code, e.message.c_str(), e.unsupported ? " unsupported" : "");
  };
  std::vector<std::string> units;  // resource ref - 1 → unit
  auto unit_resource = [&units](const std::string& unit) -> uint32_t {
    if (unit.empty()) return 0;
    auto it = std::find(units.begin(), units.end(), unit);
    if (it == units.end()) it = units.insert(units.end(), unit);
    return static_cast<uint32_t>(it - units.begin()) + 1;
  };
  ProcessInfoCache cache;
  GpuSampler sampler(**nvml, options, cache, on_error, unit_resource);
  if (Status s = sampler.Enumerate(); !s.ok()) {
    std::printf("enumerate_failed error=\"%s\"\n", s.message().c_str());
    return 1;
  }
  std::printf("gpus count=%zu ignored=%zu\n", sampler.gpus().size(), sampler.gpus_ignored());

  std::vector<v1::Record> records;
  sampler.Sample(Clock::Real().NowUnixNanos(), &records);
  for (const v1::Record& r : records) PrintSample(r.gpu_sample(), units);

  if (repeat > 0) {
    std::vector<double> micros;
    for (long i = 0; i < repeat; ++i) {
      records.clear();
      auto start = std::chrono::steady_clock::now();
      sampler.Sample(Clock::Real().NowUnixNanos(), &records);
      micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(micros.begin(), micros.end());
    std::printf("sample_cost repeat=%ld records=%zu min_us=%.1f median_us=%.1f max_us=%.1f\n", repeat, records.size(),
                micros.front(), micros[micros.size() / 2], micros.back());
  }

  XidWatcher watcher(**nvml, on_error);
  if (Status s = watcher.Register(sampler.gpus()); !s.ok()) {
    std::printf("events_unavailable error=\"%s\"\n", s.message().c_str());
    return 0;
  }
  std::printf("waiting_for_events seconds=%ld\n", wait_seconds);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  int events = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    Result<std::optional<v1::GpuEvent>> e = watcher.Wait(500, Clock::Real().NowUnixNanos());
    if (!e.ok()) break;  // printed by on_error
    if (!e->has_value()) continue;
    const v1::GpuEvent& ev = **e;
    ++events;
    std::printf("gpu_event gpu=%u uuid=%s kind=%s code=%llu description=\"%s\"\n", ev.gpu_index(),
                ev.gpu_uuid().c_str(), ev.kind().c_str(), static_cast<unsigned long long>(ev.code()),
                ev.description().c_str());
  }
  std::printf("done events=%d\n", events);
  return 0;
}

}  // namespace
}  // namespace custos::agent::gpu

int main(int argc, char** argv) { return custos::agent::gpu::Main(argc, argv); }
