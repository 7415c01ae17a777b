#include "agent/sources/gpu/xid_watcher.h"

#include <utility>

namespace custos::agent::gpu {

std::string_view XidDescription(uint64_t xid) {
  // Short names from NVIDIA's Xid catalog (docs.nvidia.com/deploy/xid-errors).
  switch (xid) {
    case 8:
      return "GPU stopped processing";
    case 13:
      return "Graphics Engine Exception";
    case 31:
      return "GPU memory page fault";
    case 32:
      return "Invalid or corrupted push buffer stream";
    case 43:
      return "GPU stopped processing";
    case 45:
      return "Preemptive cleanup, due to previous errors";
    case 48:
      return "Double Bit ECC Error";
    case 61:
      return "Internal micro-controller breakpoint/warning";
    case 62:
      return "Internal micro-controller halt";
    case 63:
      return "ECC page retirement or row remapping recording event";
    case 64:
      return "ECC page retirement or row remapper recording failure";
    case 69:
      return "Graphics Engine class error";
    case 74:
      return "NVLink Error";
    case 79:
      return "GPU has fallen off the bus";
    case 92:
      return "High single-bit ECC error rate";
    case 94:
      return "Contained ECC error";
    case 95:
      return "Uncontained ECC error";
    case 119:
      return "GSP RPC timeout";
    case 120:
      return "GSP error";
    case 999:
      return "Unknown XID (reported by NVML as 999)";
    default:
      return "";
  }
}

bool AttributeEvent(const std::vector<GpuIdentity>& gpus, nvmlDevice_t device, v1::GpuEvent* e) {
  for (const GpuIdentity& gpu : gpus) {
    if (gpu.handle == device) {
      e->set_gpu_index(gpu.index);
      e->set_gpu_uuid(gpu.uuid);
      return true;
    }
  }
  e->set_gpu_index(kUnknownGpuIndex);
  e->set_gpu_uuid(kUnknownGpuUuid);
  return false;
}

XidWatcher::~XidWatcher() {
  if (set_ != nullptr && nvml_.fn().event_set_free != nullptr) nvml_.fn().event_set_free(set_);
}

Status XidWatcher::Register(const std::vector<GpuIdentity>& gpus) {
  const NvmlLibrary::Fns& f = nvml_.fn();
  if (f.event_set_create == nullptr || f.device_register_events == nullptr || f.event_set_wait == nullptr) {
    if (on_error_)
      on_error_(NvmlCallError{"nvmlEventSetCreate", -1, NVML_ERROR_FUNCTION_NOT_FOUND, true,
                              nvml_.ErrorString(NVML_ERROR_FUNCTION_NOT_FOUND)});
    return Unavailable("the NVML library has no event functions");
  }
  nvmlReturn_t r = f.event_set_create(&set_);
  if (r != NVML_SUCCESS) {
    set_ = nullptr;
    if (on_error_) on_error_(NvmlCallError{"nvmlEventSetCreate", -1, r, false, nvml_.ErrorString(r)});
    return Unavailable("nvmlEventSetCreate failed: " + nvml_.ErrorString(r));
  }
  for (const GpuIdentity& gpu : gpus) {
    unsigned long long types = kEventTypes;
    if (f.device_get_supported_event_types != nullptr) {
      unsigned long long supported = 0;
      r = f.device_get_supported_event_types(gpu.handle, &supported);
      if (r == NVML_SUCCESS) {
        types &= supported;
      } else if (on_error_) {
        on_error_(NvmlCallError{"nvmlDeviceGetSupportedEventTypes", static_cast<int>(gpu.index), r,
                                r == NVML_ERROR_NOT_SUPPORTED, nvml_.ErrorString(r)});
      }
    }
    if (types == 0) {
      if (on_error_) {
        on_error_(NvmlCallError{"nvmlDeviceRegisterEvents", static_cast<int>(gpu.index), NVML_ERROR_NOT_SUPPORTED, true,
                                nvml_.ErrorString(NVML_ERROR_NOT_SUPPORTED)});
      }
      continue;
    }
    r = f.device_register_events(gpu.handle, types, set_);
    if (r != NVML_SUCCESS) {
      if (on_error_) {
        on_error_(NvmlCallError{"nvmlDeviceRegisterEvents", static_cast<int>(gpu.index), r,
                                r == NVML_ERROR_NOT_SUPPORTED, nvml_.ErrorString(r)});
      }
      continue;
    }
    registered_.push_back(gpu);
  }
  if (registered_.empty()) return Unavailable("no GPU could be registered for XID events");
  return Status::Ok();
}

Result<std::optional<v1::GpuEvent>> XidWatcher::Wait(unsigned int timeout_ms, int64_t now_unix_nanos) {
  if (set_ == nullptr) return FailedPrecondition("XidWatcher::Wait before a successful Register");
  nvmlEventData_t data{};
  nvmlReturn_t r = nvml_.fn().event_set_wait(set_, &data, timeout_ms);
  if (r == NVML_ERROR_TIMEOUT) return std::optional<v1::GpuEvent>();
  if (r != NVML_SUCCESS) {
    if (on_error_) on_error_(NvmlCallError{"nvmlEventSetWait", -1, r, false, nvml_.ErrorString(r)});
    return Unavailable("nvmlEventSetWait failed: " + nvml_.ErrorString(r));
  }
  v1::GpuEvent e;
  e.set_time_unix_nano(static_cast<uint64_t>(now_unix_nanos));
  AttributeEvent(registered_, data.device, &e);
  if (data.eventType & nvmlEventTypeXidCriticalError) {
    e.set_kind("xid");
    e.set_code(data.eventData);
    e.set_description(std::string(XidDescription(data.eventData)));
  } else if (data.eventType & nvmlEventTypeDoubleBitEccError) {
    e.set_kind("ecc_double_bit");
    e.set_description("Double-bit (uncorrectable) ECC error");
  } else {
    return std::optional<v1::GpuEvent>();
  }
  return std::optional<v1::GpuEvent>(std::move(e));
}

}  // namespace custos::agent::gpu
