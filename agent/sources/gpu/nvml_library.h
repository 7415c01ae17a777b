// NvmlLibrary: NVIDIA's management library (libnvidia-ml.so.1) opened at run
// time with dlopen(), so that the agent has no link-time dependency on the
// driver and runs unchanged on machines without a GPU.
//
//   CUSTOS_ASSIGN_OR_RETURN(std::unique_ptr<NvmlLibrary> nvml, NvmlLibrary::Open("libnvidia-ml.so.1"));
//   unsigned int n = 0;
//   nvmlReturn_t r = nvml->fn().device_get_count(&n);
//   if (r != NVML_SUCCESS) Log(nvml->ErrorString(r));
//
// Each function is looked up by the versioned name the library exports first
// (nvmlInit_v2, nvmlDeviceGetComputeRunningProcesses_v3, ...) and falls back
// to older names where they do the same job. A few functions are required
// (init, shutdown, device count and handles); every other pointer in Fns is
// null when the library lacks it, and callers treat that like
// NVML_ERROR_FUNCTION_NOT_FOUND.
//
// Thread-safety: immutable after Open(); NVML itself is thread-safe ("it is
// safe to make simultaneous NVML calls from multiple threads", nvml.h).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/sources/gpu/nvml_api.h"
#include "common/status.h"

namespace custos::agent::gpu {

class NvmlLibrary {
 public:
  // The functions the gpu source calls; null when the library lacks them.
  struct Fns {
    nvmlInit_fn init = nullptr;                                          // required
    nvmlShutdown_fn shutdown = nullptr;                                  // required
    nvmlDeviceGetCount_fn device_get_count = nullptr;                    // required
    nvmlDeviceGetHandleByIndex_fn device_get_handle_by_index = nullptr;  // required
    nvmlErrorString_fn error_string = nullptr;
    nvmlDeviceGetString_fn device_get_uuid = nullptr;
    nvmlDeviceGetString_fn device_get_name = nullptr;
    nvmlDeviceGetUtilizationRates_fn device_get_utilization_rates = nullptr;
    nvmlDeviceGetMemoryInfo_fn device_get_memory_info = nullptr;
    nvmlDeviceGetUint_fn device_get_power_usage = nullptr;                 // mW
    nvmlDeviceGetUint64_fn device_get_total_energy_consumption = nullptr;  // mJ
    nvmlDeviceGetTemperature_fn device_get_temperature = nullptr;
    nvmlDeviceGetClockInfo_fn device_get_clock_info = nullptr;
    nvmlDeviceGetUint64_fn device_get_clocks_event_reasons = nullptr;  // or ...ThrottleReasons
    nvmlDeviceGetTotalEccErrors_fn device_get_total_ecc_errors = nullptr;
    nvmlDeviceGetRunningProcesses_fn device_get_compute_running_processes = nullptr;
    nvmlDeviceGetRunningProcesses_fn device_get_graphics_running_processes = nullptr;
    nvmlDeviceGetProcessUtilization_fn device_get_process_utilization = nullptr;
    nvmlEventSetCreate_fn event_set_create = nullptr;
    nvmlDeviceRegisterEvents_fn device_register_events = nullptr;
    nvmlDeviceGetUint64_fn device_get_supported_event_types = nullptr;
    nvmlEventSetWait_fn event_set_wait = nullptr;
    nvmlEventSetFree_fn event_set_free = nullptr;
  };

  // The largest nvmlProcessInfo layout any version fills: process buffers
  // are sized with it, so a wrong guess of the stride can never overrun them.
  static constexpr size_t kMaxProcessInfoStride = sizeof(nvmlProcessInfo_v3cc_t);

  // dlopen()s `path` (a bare name is searched like any shared library),
  // resolves the functions and calls nvmlInit. UNAVAILABLE, naming the cause,
  // when the library cannot be opened, lacks a required function, or
  // nvmlInit fails (e.g. "Driver Not Loaded").
  static Result<std::unique_ptr<NvmlLibrary>> Open(const std::string& path);

  // nvmlShutdown and dlclose.
  ~NvmlLibrary();
  NvmlLibrary(const NvmlLibrary&) = delete;
  NvmlLibrary& operator=(const NvmlLibrary&) = delete;

  const Fns& fn() const { return fns_; }
  const std::string& path() const { return path_; }

  // Bytes between entries of the arrays that the resolved
  // device_get_{compute,graphics}_running_processes fill: 16 (unversioned,
  // nvmlProcessInfo_v1_t), 24 (_v2 and _v3, nvmlProcessInfo_v2_t) or 32 (_v3
  // of the 535 drivers that use the usedGpuCcProtectedMemory layout). Every
  // layout starts {pid at 0, usedGpuMemory at 8}.
  size_t compute_processes_stride() const { return compute_stride_; }
  size_t graphics_processes_stride() const { return graphics_stride_; }

  // nvmlErrorString(code), e.g. "Not Supported"; "NVML error <code>" without it.
  std::string ErrorString(nvmlReturn_t code) const;

  // Each function the source wants → the symbol it was resolved to, or ""
  // when the library lacks it (for the probe and the start-up log).
  const std::vector<std::pair<std::string, std::string>>& resolved() const { return resolved_; }

 private:
  NvmlLibrary(std::string path, void* handle) : path_(std::move(path)), handle_(handle) {}
  // Points *out at the first of `names` the library exports; records it.
  template <typename F>
  void Resolve(F* out, std::string_view purpose, std::initializer_list<const char*> names);
  // The stride of nvmlDevice*RunningProcesses resolved as `symbol`.
  size_t ProcessInfoStride(const std::string& symbol) const;

  // Constant after Open().
  const std::string path_;
  void* const handle_;
  Fns fns_;
  size_t compute_stride_ = sizeof(nvmlProcessInfo_v2_t);
  size_t graphics_stride_ = sizeof(nvmlProcessInfo_v2_t);
  std::vector<std::pair<std::string, std::string>> resolved_;
  bool initialized_ = false;
};

// The nvmlReturn_t name without its prefix ("NOT_SUPPORTED", "GPU_IS_LOST",
// ...; "CODE_<n>" for codes this file does not name): stable metric labels.
std::string NvmlReturnName(nvmlReturn_t code);

}  // namespace custos::agent::gpu
