#include "agent/sources/gpu/nvml_library.h"

#include <dlfcn.h>

namespace custos::agent::gpu {

std::string NvmlReturnName(nvmlReturn_t code) {
  // nvml.h enum nvmlReturn_enum.
  switch (code) {
    case 0:
      return "SUCCESS";
    case 1:
      return "UNINITIALIZED";
    case 2:
      return "INVALID_ARGUMENT";
    case 3:
      return "NOT_SUPPORTED";
    case 4:
      return "NO_PERMISSION";
    case 5:
      return "ALREADY_INITIALIZED";
    case 6:
      return "NOT_FOUND";
    case 7:
      return "INSUFFICIENT_SIZE";
    case 8:
      return "INSUFFICIENT_POWER";
    case 9:
      return "DRIVER_NOT_LOADED";
    case 10:
      return "TIMEOUT";
    case 11:
      return "IRQ_ISSUE";
    case 12:
      return "LIBRARY_NOT_FOUND";
    case 13:
      return "FUNCTION_NOT_FOUND";
    case 14:
      return "CORRUPTED_INFOROM";
    case 15:
      return "GPU_IS_LOST";
    case 16:
      return "RESET_REQUIRED";
    case 17:
      return "OPERATING_SYSTEM";
    case 18:
      return "LIB_RM_VERSION_MISMATCH";
    case 19:
      return "IN_USE";
    case 20:
      return "MEMORY";
    case 21:
      return "NO_DATA";
    case 22:
      return "VGPU_ECC_NOT_SUPPORTED";
    case 23:
      return "INSUFFICIENT_RESOURCES";
    case 24:
      return "FREQ_NOT_SUPPORTED";
    case 25:
      return "ARGUMENT_VERSION_MISMATCH";
    case 26:
      return "DEPRECATED";
    case 27:
      return "NOT_READY";
    case 999:
      return "UNKNOWN";
    default:
      return "CODE_" + std::to_string(code);
  }
}

template <typename F>
void NvmlLibrary::Resolve(F* out, std::string_view purpose, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (void* sym = ::dlsym(handle_, name)) {
      *out = reinterpret_cast<F>(sym);
      resolved_.emplace_back(std::string(purpose), name);
      return;
    }
  }
  *out = nullptr;
  resolved_.emplace_back(std::string(purpose), "");
}

size_t NvmlLibrary::ProcessInfoStride(const std::string& symbol) const {
  if (symbol.empty()) return sizeof(nvmlProcessInfo_v2_t);
  if (symbol.ends_with("_v2")) return sizeof(nvmlProcessInfo_v2_t);
  if (!symbol.ends_with("_v3")) return sizeof(nvmlProcessInfo_v1_t);
  // _v3: nvml.h 12.2.140 and later fill nvmlProcessInfo_v2_t, but the early
  // 535 drivers filled a 32-byte struct with usedGpuCcProtectedMemory. Those
  // are the libraries that have nvmlDeviceGetConfComputeMemSizeInfo but not
  // yet nvmlDeviceGetRunningProcessDetailList (the test nvitop uses:
  // github.com/XuehaiPan/nvitop, nvitop/api/libnvml.py).
  if (::dlsym(handle_, "nvmlDeviceGetConfComputeMemSizeInfo") != nullptr &&
      ::dlsym(handle_, "nvmlDeviceGetRunningProcessDetailList") == nullptr) {
    return sizeof(nvmlProcessInfo_v3cc_t);
  }
  return sizeof(nvmlProcessInfo_v2_t);
}

Result<std::unique_ptr<NvmlLibrary>> NvmlLibrary::Open(const std::string& path) {
  ::dlerror();
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return Unavailable("cannot load NVML: " + std::string(why != nullptr ? why : path));
  }
  std::unique_ptr<NvmlLibrary> lib(new NvmlLibrary(path, handle));
  Fns& f = lib->fns_;
  lib->Resolve(&f.init, "init", {"nvmlInit_v2", "nvmlInit"});
  lib->Resolve(&f.shutdown, "shutdown", {"nvmlShutdown"});
  lib->Resolve(&f.device_get_count, "device_get_count", {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"});
  lib->Resolve(&f.device_get_handle_by_index, "device_get_handle_by_index",
               {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"});
  lib->Resolve(&f.error_string, "error_string", {"nvmlErrorString"});
  lib->Resolve(&f.device_get_uuid, "device_get_uuid", {"nvmlDeviceGetUUID"});
  lib->Resolve(&f.device_get_name, "device_get_name", {"nvmlDeviceGetName"});
  lib->Resolve(&f.device_get_utilization_rates, "device_get_utilization_rates", {"nvmlDeviceGetUtilizationRates"});
  lib->Resolve(&f.device_get_memory_info, "device_get_memory_info", {"nvmlDeviceGetMemoryInfo"});
  lib->Resolve(&f.device_get_power_usage, "device_get_power_usage", {"nvmlDeviceGetPowerUsage"});
  lib->Resolve(&f.device_get_total_energy_consumption, "device_get_total_energy_consumption",
               {"nvmlDeviceGetTotalEnergyConsumption"});
  lib->Resolve(&f.device_get_temperature, "device_get_temperature", {"nvmlDeviceGetTemperature"});
  lib->Resolve(&f.device_get_clock_info, "device_get_clock_info", {"nvmlDeviceGetClockInfo"});
  // Renamed in CUDA 12.2 (R535); the old name stays exported for older drivers.
  lib->Resolve(&f.device_get_clocks_event_reasons, "device_get_clocks_event_reasons",
               {"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"});
  lib->Resolve(&f.device_get_total_ecc_errors, "device_get_total_ecc_errors", {"nvmlDeviceGetTotalEccErrors"});
  lib->Resolve(&f.device_get_compute_running_processes, "device_get_compute_running_processes",
               {"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2",
                "nvmlDeviceGetComputeRunningProcesses"});
  lib->compute_stride_ = lib->ProcessInfoStride(lib->resolved_.back().second);
  lib->Resolve(&f.device_get_graphics_running_processes, "device_get_graphics_running_processes",
               {"nvmlDeviceGetGraphicsRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v2",
                "nvmlDeviceGetGraphicsRunningProcesses"});
  lib->graphics_stride_ = lib->ProcessInfoStride(lib->resolved_.back().second);
  lib->Resolve(&f.device_get_process_utilization, "device_get_process_utilization",
               {"nvmlDeviceGetProcessUtilization"});
  lib->Resolve(&f.event_set_create, "event_set_create", {"nvmlEventSetCreate"});
  lib->Resolve(&f.device_register_events, "device_register_events", {"nvmlDeviceRegisterEvents"});
  lib->Resolve(&f.device_get_supported_event_types, "device_get_supported_event_types",
               {"nvmlDeviceGetSupportedEventTypes"});
  // The unversioned nvmlEventSetWait fills nvmlEventData_t without the MIG
  // instance ids; the buffer is the larger v2 struct either way.
  lib->Resolve(&f.event_set_wait, "event_set_wait", {"nvmlEventSetWait_v2", "nvmlEventSetWait"});
  lib->Resolve(&f.event_set_free, "event_set_free", {"nvmlEventSetFree"});

  for (const char* required : {"init", "shutdown", "device_get_count", "device_get_handle_by_index"}) {
    for (const auto& [purpose, symbol] : lib->resolved_) {
      if (purpose == required && symbol.empty()) {
        return Unavailable("NVML library " + path + " lacks a required function (" + purpose + ")");
      }
    }
  }
  nvmlReturn_t r = f.init();
  if (r != NVML_SUCCESS) {
    return Unavailable("nvmlInit failed: " + lib->ErrorString(r) + " (" + NvmlReturnName(r) + ")");
  }
  lib->initialized_ = true;
  return lib;
}

NvmlLibrary::~NvmlLibrary() {
  if (initialized_) fns_.shutdown();
  ::dlclose(handle_);
}

std::string NvmlLibrary::ErrorString(nvmlReturn_t code) const {
  if (fns_.error_string != nullptr) {
    if (const char* s = fns_.error_string(code); s != nullptr) return s;
  }
  return "NVML error " + std::to_string(code);
}

}  // namespace custos::agent::gpu
