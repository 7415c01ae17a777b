#include "agent/sources/gpu/gpu_sampler.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <optional>
#include <utility>

namespace custos::agent::gpu {
namespace {

// The most entries a process buffer grows to (NVML asks for more only with
// thousands of GPU contexts): 4096 * 32 bytes = 128 KiB per GPU at most.
constexpr size_t kProcessCeiling = 4096;

// A C string of at most `size` bytes from a fixed NVML buffer.
std::string FromBuffer(const char* buf, size_t size) { return std::string(buf, strnlen(buf, size)); }

}  // namespace

std::string_view GpuSampler::FnName(Fn fn) {
  switch (fn) {
    case kUuid:
      return "nvmlDeviceGetUUID";
    case kName:
      return "nvmlDeviceGetName";
    case kUtilization:
      return "nvmlDeviceGetUtilizationRates";
    case kMemory:
      return "nvmlDeviceGetMemoryInfo";
    case kPower:
      return "nvmlDeviceGetPowerUsage";
    case kEnergy:
      return "nvmlDeviceGetTotalEnergyConsumption";
    case kTemperature:
      return "nvmlDeviceGetTemperature";
    case kClockSm:
      return "nvmlDeviceGetClockInfo(SM)";
    case kClockMem:
      return "nvmlDeviceGetClockInfo(MEM)";
    case kClockReasons:
      return "nvmlDeviceGetCurrentClocksEventReasons";
    case kEccCorrected:
      return "nvmlDeviceGetTotalEccErrors(CORRECTED)";
    case kEccUncorrected:
      return "nvmlDeviceGetTotalEccErrors(UNCORRECTED)";
    case kComputeProcesses:
      return "nvmlDeviceGetComputeRunningProcesses";
    case kGraphicsProcesses:
      return "nvmlDeviceGetGraphicsRunningProcesses";
    case kProcessUtilization:
      return "nvmlDeviceGetProcessUtilization";
    case kFnCount:
      break;
  }
  return "?";
}

GpuSampler::GpuSampler(const NvmlLibrary& nvml, GpuSamplerOptions options, ProcessInfoCache& processes,
                       NvmlErrorFn on_error, UnitResourceFn unit_resource)
    : nvml_(nvml),
      options_(std::move(options)),
      process_cache_(processes),
      on_error_(std::move(on_error)),
      unit_resource_(std::move(unit_resource)) {}

bool GpuSampler::Fail(Device& d, Fn fn, nvmlReturn_t code) {
  const bool unsupported = code == NVML_ERROR_NOT_SUPPORTED || code == NVML_ERROR_FUNCTION_NOT_FOUND;
  if (unsupported) d.unsupported.set(fn);
  if (on_error_)
    on_error_(NvmlCallError{FnName(fn), static_cast<int>(d.id.index), code, unsupported, nvml_.ErrorString(code)});
  return false;
}

template <typename Call>
bool GpuSampler::Try(Device& d, Fn fn, bool present, Call&& call) {
  if (d.unsupported.test(fn)) return false;
  if (!present) return Fail(d, fn, NVML_ERROR_FUNCTION_NOT_FOUND);
  nvmlReturn_t r = call();
  return r == NVML_SUCCESS || Fail(d, fn, r);
}

Status GpuSampler::Enumerate() {
  const NvmlLibrary::Fns& f = nvml_.fn();
  devices_.clear();
  identities_.clear();
  unsigned int count = 0;
  nvmlReturn_t r = f.device_get_count(&count);
  if (r != NVML_SUCCESS) {
    if (on_error_) on_error_(NvmlCallError{"nvmlDeviceGetCount", -1, r, false, nvml_.ErrorString(r)});
    return Unavailable("nvmlDeviceGetCount failed: " + nvml_.ErrorString(r));
  }
  const size_t n = std::min<size_t>(count, options_.max_gpus);
  gpus_ignored_ = count - n;
  devices_.reserve(n);
  const size_t capacity = std::max<size_t>(options_.max_processes_per_gpu, 1);
  for (unsigned int i = 0; i < n; ++i) {
    Device d;
    d.id.index = i;
    r = f.device_get_handle_by_index(i, &d.id.handle);
    if (r != NVML_SUCCESS) {
      if (on_error_)
        on_error_(NvmlCallError{"nvmlDeviceGetHandleByIndex", static_cast<int>(i), r, false, nvml_.ErrorString(r)});
      continue;
    }
    char buf[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
    if (Try(d, kUuid, f.device_get_uuid != nullptr, [&] { return f.device_get_uuid(d.id.handle, buf, sizeof buf); })) {
      d.id.uuid = FromBuffer(buf, sizeof buf);
    }
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = {};
    if (Try(d, kName, f.device_get_name != nullptr,
            [&] { return f.device_get_name(d.id.handle, name, sizeof name); })) {
      d.id.name = FromBuffer(name, sizeof name);
    }
    if (options_.processes) {
      d.process_capacity = capacity;
      d.process_buffer.resize(capacity * NvmlLibrary::kMaxProcessInfoStride / sizeof(uint64_t));
      d.utilization_buffer.resize(std::max<size_t>(capacity, 64));
      d.entries.reserve(capacity);
    }
    identities_.push_back(d.id);
    devices_.push_back(std::move(d));
  }
  return Status::Ok();
}

void GpuSampler::Sample(int64_t now_unix_nanos, std::vector<v1::Record>* out) {
  resolved_.clear();
  for (Device& d : devices_) {
    SampleDevice(d, now_unix_nanos, out);
    if (options_.processes) SampleProcesses(d, now_unix_nanos, out);
  }
}

void GpuSampler::SampleDevice(Device& d, int64_t now, std::vector<v1::Record>* out) {
  const NvmlLibrary::Fns& f = nvml_.fn();
  const nvmlDevice_t h = d.id.handle;
  v1::GpuSample* s = out->emplace_back().mutable_gpu_sample();
  s->set_time_unix_nano(static_cast<uint64_t>(now));
  s->set_gpu_index(d.id.index);
  s->set_gpu_uuid(d.id.uuid);
  s->set_gpu_name(d.id.name);
  bool any = false;  // did any value call succeed?

  nvmlUtilization_t util{};
  if (Try(d, kUtilization, f.device_get_utilization_rates, [&] { return f.device_get_utilization_rates(h, &util); })) {
    s->set_sm_utilization_pct(util.gpu);
    s->set_memory_utilization_pct(util.memory);
    any = true;
  }
  nvmlMemory_t mem{};
  if (Try(d, kMemory, f.device_get_memory_info, [&] { return f.device_get_memory_info(h, &mem); })) {
    s->set_memory_used_bytes(mem.used);
    s->set_memory_total_bytes(mem.total);
    any = true;
  }
  unsigned int milliwatts = 0;
  if (Try(d, kPower, f.device_get_power_usage, [&] { return f.device_get_power_usage(h, &milliwatts); })) {
    s->set_power_watts(milliwatts / 1000.0);
    any = true;
  }
  unsigned long long millijoules = 0;
  if (Try(d, kEnergy, f.device_get_total_energy_consumption,
          [&] { return f.device_get_total_energy_consumption(h, &millijoules); })) {
    s->set_energy_millijoules(millijoules);
    any = true;
  }
  unsigned int celsius = 0;
  if (Try(d, kTemperature, f.device_get_temperature,
          [&] { return f.device_get_temperature(h, NVML_TEMPERATURE_GPU, &celsius); })) {
    s->set_temperature_celsius(celsius);
    any = true;
  }
  unsigned int mhz = 0;
  if (Try(d, kClockSm, f.device_get_clock_info, [&] { return f.device_get_clock_info(h, NVML_CLOCK_SM, &mhz); })) {
    s->set_sm_clock_mhz(mhz);
    any = true;
  }
  if (Try(d, kClockMem, f.device_get_clock_info, [&] { return f.device_get_clock_info(h, NVML_CLOCK_MEM, &mhz); })) {
    s->set_memory_clock_mhz(mhz);
    any = true;
  }
  unsigned long long reasons = 0;
  if (Try(d, kClockReasons, f.device_get_clocks_event_reasons,
          [&] { return f.device_get_clocks_event_reasons(h, &reasons); })) {
    s->set_clock_event_reasons(reasons);
    any = true;
  }
  unsigned long long ecc = 0;
  if (Try(d, kEccCorrected, f.device_get_total_ecc_errors, [&] {
        return f.device_get_total_ecc_errors(h, NVML_MEMORY_ERROR_TYPE_CORRECTED, options_.ecc_counter, &ecc);
      })) {
    s->set_ecc_corrected_total(ecc);
    any = true;
  }
  if (Try(d, kEccUncorrected, f.device_get_total_ecc_errors, [&] {
        return f.device_get_total_ecc_errors(h, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, options_.ecc_counter, &ecc);
      })) {
    s->set_ecc_uncorrected_total(ecc);
    any = true;
  }
  if (!any) out->pop_back();  // zeros would read as an idle GPU
}

void GpuSampler::ReadProcessList(Device& d, Fn fn, nvmlDeviceGetRunningProcesses_fn call, size_t stride) {
  if (d.unsupported.test(fn)) return;
  if (call == nullptr) {
    Fail(d, fn, NVML_ERROR_FUNCTION_NOT_FOUND);
    return;
  }
  for (int attempt = 0;; ++attempt) {
    // Passing the capacity in entries of the largest layout keeps NVML inside
    // the buffer whichever layout it really writes.
    unsigned int count = static_cast<unsigned int>(d.process_capacity);
    nvmlReturn_t r = call(d.id.handle, &count, d.process_buffer.data());
    if (r == NVML_ERROR_INSUFFICIENT_SIZE && attempt == 0 && count > d.process_capacity &&
        d.process_capacity < kProcessCeiling) {
      d.process_capacity = std::min<size_t>(static_cast<size_t>(count) + 16, kProcessCeiling);
      d.process_buffer.resize(d.process_capacity * NvmlLibrary::kMaxProcessInfoStride / sizeof(uint64_t));
      continue;
    }
    if (r != NVML_SUCCESS) {
      Fail(d, fn, r);
      return;
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(d.process_buffer.data());
    const size_t n = std::min<size_t>(count, d.process_capacity);
    for (size_t i = 0; i < n; ++i) {
      // Every nvmlProcessInfo version starts {unsigned int pid; unsigned long long usedGpuMemory;}.
      unsigned int pid = 0;
      unsigned long long used = 0;
      std::memcpy(&pid, bytes + i * stride, sizeof pid);
      std::memcpy(&used, bytes + i * stride + offsetof(nvmlProcessInfo_v1_t, usedGpuMemory), sizeof used);
      ProcessEntry& e = d.entries.emplace_back();
      e.pid = pid;
      e.memory = used == kNvmlValueNotAvailable ? 0 : used;
    }
    return;
  }
}

void GpuSampler::ReadProcessUtilization(Device& d) {
  const nvmlDeviceGetProcessUtilization_fn call = nvml_.fn().device_get_process_utilization;
  if (d.unsupported.test(kProcessUtilization)) return;
  if (call == nullptr) {
    Fail(d, kProcessUtilization, NVML_ERROR_FUNCTION_NOT_FOUND);
    return;
  }
  for (int attempt = 0;; ++attempt) {
    unsigned int count = static_cast<unsigned int>(d.utilization_buffer.size());
    nvmlReturn_t r = call(d.id.handle, d.utilization_buffer.data(), &count, d.last_seen_us);
    if (r == NVML_ERROR_NOT_FOUND) return;  // no sample newer than last_seen_us
    if (r == NVML_ERROR_INSUFFICIENT_SIZE && attempt == 0 && count > d.utilization_buffer.size() &&
        d.utilization_buffer.size() < kProcessCeiling) {
      d.utilization_buffer.resize(std::min<size_t>(static_cast<size_t>(count) + 16, kProcessCeiling));
      continue;
    }
    if (r != NVML_SUCCESS) {
      Fail(d, kProcessUtilization, r);
      return;
    }
    const size_t n = std::min<size_t>(count, d.utilization_buffer.size());
    for (size_t i = 0; i < n; ++i) {
      const nvmlProcessUtilizationSample_t& u = d.utilization_buffer[i];
      d.last_seen_us = std::max(d.last_seen_us, u.timeStamp);
      ProcessEntry& e = d.entries.emplace_back();
      e.pid = u.pid;
      e.has_utilization = true;
      e.sm = u.smUtil;
      e.mem = u.memUtil;
      e.timestamp = u.timeStamp;
    }
    return;
  }
}

const GpuSampler::ResolvedProcess& GpuSampler::Resolve(uint32_t pid) {
  for (const ResolvedProcess& p : resolved_) {
    if (p.pid == pid) return p;
  }
  ResolvedProcess& p = resolved_.emplace_back();
  p.pid = pid;
  std::optional<ProcessInfo> info = process_cache_.Lookup(static_cast<int32_t>(pid));
  std::string unit;
  if (info) {
    p.executable = std::move(info->executable);
    unit = std::move(info->systemd_unit);
  }
  p.resource_ref = unit_resource_ ? unit_resource_(unit) : 0;
  return p;
}

void GpuSampler::SampleProcesses(Device& d, int64_t now, std::vector<v1::Record>* out) {
  const NvmlLibrary::Fns& f = nvml_.fn();
  d.entries.clear();
  ReadProcessList(d, kComputeProcesses, f.device_get_compute_running_processes, nvml_.compute_processes_stride());
  if (options_.graphics_processes) {
    ReadProcessList(d, kGraphicsProcesses, f.device_get_graphics_running_processes, nvml_.graphics_processes_stride());
  }
  ReadProcessUtilization(d);
  if (d.entries.empty()) return;

  // One entry per pid: a process with compute and graphics contexts is
  // listed twice with the same memory, so take the larger rather than the
  // sum; keep the newest utilisation sample.
  std::sort(d.entries.begin(), d.entries.end(),
            [](const ProcessEntry& a, const ProcessEntry& b) { return a.pid < b.pid; });
  size_t kept = 0;
  for (size_t i = 0; i < d.entries.size(); ++i) {
    const ProcessEntry& e = d.entries[i];
    if (kept > 0 && d.entries[kept - 1].pid == e.pid) {
      ProcessEntry& m = d.entries[kept - 1];
      m.memory = std::max(m.memory, e.memory);
      if (e.has_utilization && (!m.has_utilization || e.timestamp >= m.timestamp)) {
        m.has_utilization = true;
        m.sm = e.sm;
        m.mem = e.mem;
        m.timestamp = e.timestamp;
      }
    } else {
      d.entries[kept++] = e;
    }
  }
  d.entries.resize(kept);
  if (d.entries.size() > options_.max_processes_per_gpu) {
    auto by_use = [](const ProcessEntry& a, const ProcessEntry& b) {
      return a.memory != b.memory ? a.memory > b.memory : a.sm > b.sm;
    };
    auto cut = d.entries.begin() + static_cast<std::ptrdiff_t>(options_.max_processes_per_gpu);
    std::nth_element(d.entries.begin(), cut, d.entries.end(), by_use);
    processes_cut_ += d.entries.size() - options_.max_processes_per_gpu;
    d.entries.erase(cut, d.entries.end());
    std::sort(d.entries.begin(), d.entries.end(),
              [](const ProcessEntry& a, const ProcessEntry& b) { return a.pid < b.pid; });
  }

  for (const ProcessEntry& e : d.entries) {
    const ResolvedProcess& p = Resolve(e.pid);
    v1::GpuSample* s = out->emplace_back().mutable_gpu_sample();
    s->set_time_unix_nano(static_cast<uint64_t>(now));
    s->set_resource_ref(p.resource_ref);
    s->set_gpu_index(d.id.index);
    s->set_gpu_uuid(d.id.uuid);
    s->set_gpu_name(d.id.name);
    s->set_pid(static_cast<int32_t>(e.pid));
    s->set_executable(p.executable);
    s->set_memory_used_bytes(e.memory);
    if (e.has_utilization) {
      s->set_sm_utilization_pct(e.sm);
      s->set_memory_utilization_pct(e.mem);
    }
  }
}

}  // namespace custos::agent::gpu
