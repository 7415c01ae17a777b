// GpuSampler: one sample of every GPU NVML sees, and of the processes using
// them, as custos::v1::GpuSample records.
//
//   GpuSampler sampler(nvml, options, process_cache, on_error, unit_resource);
//   CUSTOS_RETURN_IF_ERROR(sampler.Enumerate());
//   std::vector<v1::Record> records;
//   sampler.Sample(clock.NowUnixNanos(), &records);
//
// Per GPU: utilisation, memory, power, energy, temperature, clocks, clock
// event reasons and ECC totals. A call that fails leaves its fields at 0 and
// is reported to `on_error`; the rest of the sample is still recorded. A
// function that answers NOT_SUPPORTED (or that the library lacks) is reported
// once per GPU and never called on that GPU again: consumer GPUs have no ECC,
// and asking every interval would only cost time. A GPU for which every call
// failed (e.g. GPU_IS_LOST) yields no sample rather than one of zeros.
//
// Per process (pid in the union of the compute and graphics process lists and
// the utilisation samples since the previous sample): GPU memory, SM and
// memory utilisation, the executable, and a resource carrying the process's
// systemd unit. NVML reports pids of the host's pid namespace: the agent must
// run there (it does as a systemd service; in a container, share the host's
// pid namespace and /proc) or executables and units are wrong or missing.
//
// Bounds: at most max_gpus GPUs (the rest counted in gpus_ignored()) and
// max_processes_per_gpu processes per GPU, those using the most memory first
// (the rest counted in processes_cut()). NVML's buffers are allocated once and
// grow only when NVML says they are too small, up to a fixed ceiling.
//
// Thread-safety: thread-compatible; one thread calls Enumerate() and Sample().
#pragma once

#include <bitset>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/process_info.h"
#include "agent/sources/gpu/nvml_library.h"
#include "common/status.h"
#include "custos/v1/records.pb.h"

namespace custos::agent::gpu {

struct GpuSamplerOptions {
  size_t max_gpus = 16;
  size_t max_processes_per_gpu = 64;
  bool processes = true;           // per-process samples
  bool graphics_processes = true;  // also list graphics contexts (besides compute)
  nvmlEccCounterType_t ecc_counter = NVML_AGGREGATE_ECC;
};

// A failed NVML call, as reported to the error callback.
struct NvmlCallError {
  std::string_view function;  // e.g. "nvmlDeviceGetPowerUsage", "nvmlDeviceGetClockInfo(SM)"
  int gpu_index = -1;         // -1 when the call was about no one GPU
  nvmlReturn_t code = NVML_SUCCESS;
  bool unsupported = false;  // NOT_SUPPORTED or FUNCTION_NOT_FOUND: reported once per GPU
  std::string message;       // nvmlErrorString(code)
};
using NvmlErrorFn = std::function<void(const NvmlCallError&)>;

// The batcher's resource ref for records about a process in systemd unit
// `unit` ("" when unknown: the node's resource).
using UnitResourceFn = std::function<uint32_t(const std::string& unit)>;

// What identifies a GPU in records.
struct GpuIdentity {
  uint32_t index = 0;
  nvmlDevice_t handle = nullptr;
  std::string uuid;
  std::string name;
};

class GpuSampler {
 public:
  // All references must outlive the sampler.
  GpuSampler(const NvmlLibrary& nvml, GpuSamplerOptions options, ProcessInfoCache& processes, NvmlErrorFn on_error,
             UnitResourceFn unit_resource);
  GpuSampler(const GpuSampler&) = delete;
  GpuSampler& operator=(const GpuSampler&) = delete;

  // Finds the GPUs (handles, UUIDs, names). UNAVAILABLE when NVML cannot
  // count them; a GPU whose handle cannot be had is reported and skipped.
  Status Enumerate();

  // Appends one sample of every GPU and process to `out`.
  void Sample(int64_t now_unix_nanos, std::vector<v1::Record>* out);

  const std::vector<GpuIdentity>& gpus() const { return identities_; }
  // GPUs beyond max_gpus, left out.
  size_t gpus_ignored() const { return gpus_ignored_; }
  // Process entries left out by max_processes_per_gpu, since construction.
  uint64_t processes_cut() const { return processes_cut_; }

 private:
  // The NVML functions a sample calls, for the once-per-GPU NOT_SUPPORTED
  // bookkeeping and the names in error reports.
  enum Fn : uint8_t {
    kUuid,
    kName,
    kUtilization,
    kMemory,
    kPower,
    kEnergy,
    kTemperature,
    kClockSm,
    kClockMem,
    kClockReasons,
    kEccCorrected,
    kEccUncorrected,
    kComputeProcesses,
    kGraphicsProcesses,
    kProcessUtilization,
    kFnCount
  };
  static std::string_view FnName(Fn fn);

  // One process seen on a GPU in this sample.
  struct ProcessEntry {
    uint32_t pid = 0;
    uint64_t memory = 0;
    bool has_utilization = false;
    uint32_t sm = 0;
    uint32_t mem = 0;
    uint64_t timestamp = 0;
  };

  // A pid looked up in this sample (a job on 8 GPUs is looked up once).
  struct ResolvedProcess {
    uint32_t pid = 0;
    std::string executable;
    uint32_t resource_ref = 0;
  };

  struct Device {
    GpuIdentity id;
    std::bitset<kFnCount> unsupported;    // reported once, never called again
    unsigned long long last_seen_us = 0;  // newest process utilisation sample read
    // Reused between samples (no allocation once sized).
    std::vector<uint64_t> process_buffer;  // raw nvmlProcessInfo entries, 8-byte aligned
    size_t process_capacity = 0;           // entries of kMaxProcessInfoStride that fit
    std::vector<nvmlProcessUtilizationSample_t> utilization_buffer;
    std::vector<ProcessEntry> entries;
  };

  // Reports a failed call; returns false so callers can `return Fail(...)`.
  bool Fail(Device& d, Fn fn, nvmlReturn_t code);
  // Runs `call` unless the function is missing or known unsupported on `d`.
  template <typename Call>
  bool Try(Device& d, Fn fn, bool present, Call&& call);
  void SampleDevice(Device& d, int64_t now, std::vector<v1::Record>* out);
  void SampleProcesses(Device& d, int64_t now, std::vector<v1::Record>* out);
  // Appends the processes of one list (compute or graphics) to d.entries.
  void ReadProcessList(Device& d, Fn fn, nvmlDeviceGetRunningProcesses_fn call, size_t stride);
  void ReadProcessUtilization(Device& d);
  // The executable and resource of `pid`, from resolved_ or /proc.
  const ResolvedProcess& Resolve(uint32_t pid);

  // Constant after construction.
  const NvmlLibrary& nvml_;
  const GpuSamplerOptions options_;
  ProcessInfoCache& process_cache_;
  const NvmlErrorFn on_error_;
  const UnitResourceFn unit_resource_;

  // Owned by the sampling thread.
  std::vector<Device> devices_;
  std::vector<GpuIdentity> identities_;
  std::vector<ResolvedProcess> resolved_;  // this sample's lookups
  size_t gpus_ignored_ = 0;
  uint64_t processes_cut_ = 0;
};

}  // namespace custos::agent::gpu
