// XidWatcher: NVML's critical-error events (XIDs, and double-bit ECC errors)
// as custos::v1::GpuEvent records.
//
//   XidWatcher watcher(nvml, on_error);
//   CUSTOS_RETURN_IF_ERROR(watcher.Register(sampler.gpus()));
//   for (;;) {
//     Result<std::optional<v1::GpuEvent>> e = watcher.Wait(500, clock.NowUnixNanos());
//     if (e.ok() && *e) Hand(**e);
//   }
//
// An XID is the driver's code for a GPU error (13 Graphics Engine Exception,
// 79 GPU fallen off the bus, ...; see XidDescription). The event carries
// kind "xid", the XID in `code` and a short description; a double-bit ECC
// event has kind "ecc_double_bit" and code 0. NVML keeps no history: an event
// not read while it is queued is gone, and there is no position to resume.
// An event whose device is none of the registered GPUs is still reported,
// with gpu_index kUnknownGpuIndex and gpu_uuid kUnknownGpuUuid (never as GPU
// 0); the source counts those (custos_agent_gpu_events_unknown_device_total).
//
// Thread-safety: Register() once, then Wait() from one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "agent/sources/gpu/gpu_sampler.h"
#include "agent/sources/gpu/nvml_library.h"
#include "common/status.h"
#include "custos/v1/records.pb.h"

namespace custos::agent::gpu {

// NVIDIA's short name for a well-known XID (docs.nvidia.com/deploy/xid-errors),
// or "" for others.
std::string_view XidDescription(uint64_t xid);

// GpuEvent.gpu_index / gpu_uuid of an event whose device matches no
// registered GPU (UINT32_MAX: never a real index).
inline constexpr uint32_t kUnknownGpuIndex = UINT32_MAX;
inline constexpr char kUnknownGpuUuid[] = "unknown";

// Sets e's gpu_index and gpu_uuid from the GPU in `gpus` whose handle is
// `device`. Returns false, with kUnknownGpuIndex / kUnknownGpuUuid set, when
// none is.
bool AttributeEvent(const std::vector<GpuIdentity>& gpus, nvmlDevice_t device, v1::GpuEvent* e);

class XidWatcher {
 public:
  // The event types asked for, where the GPU supports them.
  static constexpr unsigned long long kEventTypes = nvmlEventTypeXidCriticalError | nvmlEventTypeDoubleBitEccError;

  XidWatcher(const NvmlLibrary& nvml, NvmlErrorFn on_error) : nvml_(nvml), on_error_(std::move(on_error)) {}
  ~XidWatcher();  // nvmlEventSetFree
  XidWatcher(const XidWatcher&) = delete;
  XidWatcher& operator=(const XidWatcher&) = delete;

  // Creates the event set and registers every GPU for kEventTypes (those it
  // supports). Failures per GPU are reported to on_error; UNAVAILABLE when
  // the library lacks the event functions or no GPU could be registered.
  Status Register(const std::vector<GpuIdentity>& gpus);

  // Waits up to `timeout_ms` for one event: the event (stamped `now`), or
  // nullopt on timeout or for an event of no interest. UNAVAILABLE when NVML
  // fails to wait (the caller should pause before waiting again).
  Result<std::optional<v1::GpuEvent>> Wait(unsigned int timeout_ms, int64_t now_unix_nanos);

 private:
  // Constant after Register().
  const NvmlLibrary& nvml_;
  const NvmlErrorFn on_error_;
  nvmlEventSet_t set_ = nullptr;
  std::vector<GpuIdentity> registered_;
};

}  // namespace custos::agent::gpu
