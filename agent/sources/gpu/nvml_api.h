// The subset of the NVML C API (libnvidia-ml.so.1) that the gpu source uses,
// declared here because no nvml.h is installed where custos is built: the
// library is opened with dlopen() at run time and each function looked up by
// name (see nvml_library.h).
//
// Every type, constant and struct layout below is copied from NVIDIA's nvml.h
// ("NVML VERSION: 12.2.140", as vendored in github.com/NVIDIA/go-nvml,
// gen/nvml/nvml.h) and must stay binary-identical to it: the library writes
// into these structs. Names keep NVML's spelling so that they can be searched
// in NVIDIA's documentation (docs.nvidia.com/deploy/nvml-api/).
//
// The stand-in library used by the tests (testing/fake_nvml.cc) includes this
// header too, so both sides of the ABI are declared once.
#pragma once

#include <cstdint>

// Plain C layouts; the function pointer types are called through with the C
// calling convention, which is the C++ one on every Linux ABI custos targets.

// nvml.h: "typedef struct nvmlDevice_st* nvmlDevice_t;" (opaque handle).
typedef struct nvmlDevice_st* nvmlDevice_t;
// nvml.h: "typedef struct nvmlEventSet_st *nvmlEventSet_t;"
typedef struct nvmlEventSet_st* nvmlEventSet_t;

// nvml.h enum nvmlReturn_enum. Only the codes the source names are listed;
// the library may return others (all are printed through nvmlErrorString).
typedef int nvmlReturn_t;
constexpr nvmlReturn_t NVML_SUCCESS = 0;
constexpr nvmlReturn_t NVML_ERROR_UNINITIALIZED = 1;
constexpr nvmlReturn_t NVML_ERROR_INVALID_ARGUMENT = 2;
constexpr nvmlReturn_t NVML_ERROR_NOT_SUPPORTED = 3;
constexpr nvmlReturn_t NVML_ERROR_NO_PERMISSION = 4;
constexpr nvmlReturn_t NVML_ERROR_NOT_FOUND = 6;
constexpr nvmlReturn_t NVML_ERROR_INSUFFICIENT_SIZE = 7;
constexpr nvmlReturn_t NVML_ERROR_DRIVER_NOT_LOADED = 9;
constexpr nvmlReturn_t NVML_ERROR_TIMEOUT = 10;
constexpr nvmlReturn_t NVML_ERROR_LIBRARY_NOT_FOUND = 12;
constexpr nvmlReturn_t NVML_ERROR_FUNCTION_NOT_FOUND = 13;
constexpr nvmlReturn_t NVML_ERROR_GPU_IS_LOST = 15;
constexpr nvmlReturn_t NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18;
constexpr nvmlReturn_t NVML_ERROR_NO_DATA = 21;
constexpr nvmlReturn_t NVML_ERROR_UNKNOWN = 999;

// nvml.h: NVML_VALUE_NOT_AVAILABLE (-1), e.g. in usedGpuMemory when the
// caller may not see it; read as an unsigned long long it is ULLONG_MAX.
constexpr unsigned long long kNvmlValueNotAvailable = ~0ULL;

// nvml.h: NVML_DEVICE_UUID_V2_BUFFER_SIZE, NVML_DEVICE_NAME_V2_BUFFER_SIZE.
constexpr unsigned int NVML_DEVICE_UUID_V2_BUFFER_SIZE = 96;
constexpr unsigned int NVML_DEVICE_NAME_V2_BUFFER_SIZE = 96;

// nvml.h struct nvmlUtilization_st: percent of the last sample period.
typedef struct nvmlUtilization_st {
  unsigned int gpu;
  unsigned int memory;
} nvmlUtilization_t;

// nvml.h struct nvmlMemory_st (v1, used by nvmlDeviceGetMemoryInfo), bytes.
typedef struct nvmlMemory_st {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
} nvmlMemory_t;

// nvml.h enum nvmlTemperatureSensors_enum.
typedef int nvmlTemperatureSensors_t;
constexpr nvmlTemperatureSensors_t NVML_TEMPERATURE_GPU = 0;

// nvml.h enum nvmlClockType_enum (MHz).
typedef int nvmlClockType_t;
constexpr nvmlClockType_t NVML_CLOCK_GRAPHICS = 0;
constexpr nvmlClockType_t NVML_CLOCK_SM = 1;
constexpr nvmlClockType_t NVML_CLOCK_MEM = 2;

// nvml.h enum nvmlMemoryErrorType_enum and nvmlEccCounterType_enum.
typedef int nvmlMemoryErrorType_t;
constexpr nvmlMemoryErrorType_t NVML_MEMORY_ERROR_TYPE_CORRECTED = 0;
constexpr nvmlMemoryErrorType_t NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1;
typedef int nvmlEccCounterType_t;
constexpr nvmlEccCounterType_t NVML_VOLATILE_ECC = 0;   // reset when the driver loads
constexpr nvmlEccCounterType_t NVML_AGGREGATE_ECC = 1;  // lifetime of the device

// nvml.h struct nvmlProcessInfo_v1_st: what the unversioned
// nvmlDeviceGet{Compute,Graphics}RunningProcesses fill (16 bytes).
typedef struct nvmlProcessInfo_v1_st {
  unsigned int pid;
  unsigned long long usedGpuMemory;
} nvmlProcessInfo_v1_t;

// nvml.h struct nvmlProcessInfo_v2_st, also typedef'd nvmlProcessInfo_t: what
// the _v2 and _v3 functions fill (24 bytes). An early CUDA 12.2 nvml.h (R535
// drivers) had appended `unsigned long long usedGpuCcProtectedMemory` to
// nvmlProcessInfo_t, and those drivers' _v3 fill 32-byte entries; later
// headers moved the field to nvmlProcessDetail_v1_t. nvml_library.cc
// (ProcessInfoStride) says how such a library is recognised.
typedef struct nvmlProcessInfo_v2_st {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;      // 0xFFFFFFFF unless MIG
  unsigned int computeInstanceId;  // 0xFFFFFFFF unless MIG
} nvmlProcessInfo_v2_t;

// The 535-series layout described above (nvml.h 12.2 pre-release; the same
// fields as today's nvmlProcessDetail_v1_t).
typedef struct nvmlProcessInfo_v3cc_st {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
  unsigned long long usedGpuCcProtectedMemory;
} nvmlProcessInfo_v3cc_t;

// nvml.h struct nvmlProcessUtilizationSample_st.
typedef struct nvmlProcessUtilizationSample_st {
  unsigned int pid;
  unsigned long long timeStamp;  // CPU timestamp in microseconds
  unsigned int smUtil;
  unsigned int memUtil;
  unsigned int encUtil;
  unsigned int decUtil;
} nvmlProcessUtilizationSample_t;

// nvml.h event types (nvmlEventType*), a bitmask.
constexpr unsigned long long nvmlEventTypeSingleBitEccError = 0x0000000000000001ULL;
constexpr unsigned long long nvmlEventTypeDoubleBitEccError = 0x0000000000000002ULL;
constexpr unsigned long long nvmlEventTypePState = 0x0000000000000004ULL;
constexpr unsigned long long nvmlEventTypeXidCriticalError = 0x0000000000000008ULL;
constexpr unsigned long long nvmlEventTypeClock = 0x0000000000000010ULL;

// nvml.h struct nvmlEventData_st (as filled by nvmlEventSetWait_v2; the
// unversioned nvmlEventSetWait fills the first three fields only).
typedef struct nvmlEventData_st {
  nvmlDevice_t device;
  unsigned long long eventType;
  unsigned long long eventData;  // the XID for nvmlEventTypeXidCriticalError (999: unknown XID)
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
} nvmlEventData_t;

// Function signatures, as in nvml.h. The versioned names are the ones the
// library exports; nvml.h #defines the plain names to them.
typedef nvmlReturn_t (*nvmlInit_fn)(void);                                 // nvmlInit_v2
typedef nvmlReturn_t (*nvmlShutdown_fn)(void);                             // nvmlShutdown
typedef const char* (*nvmlErrorString_fn)(nvmlReturn_t result);            // nvmlErrorString
typedef nvmlReturn_t (*nvmlDeviceGetCount_fn)(unsigned int* deviceCount);  // nvmlDeviceGetCount_v2
typedef nvmlReturn_t (*nvmlDeviceGetHandleByIndex_fn)(unsigned int index, nvmlDevice_t* device);  // _v2
typedef nvmlReturn_t (*nvmlDeviceGetString_fn)(nvmlDevice_t device, char* out,
                                               unsigned int length);  // GetUUID, GetName
typedef nvmlReturn_t (*nvmlDeviceGetUtilizationRates_fn)(nvmlDevice_t device, nvmlUtilization_t* utilization);
typedef nvmlReturn_t (*nvmlDeviceGetMemoryInfo_fn)(nvmlDevice_t device, nvmlMemory_t* memory);
typedef nvmlReturn_t (*nvmlDeviceGetUint_fn)(nvmlDevice_t device, unsigned int* value);  // GetPowerUsage (mW)
typedef nvmlReturn_t (*nvmlDeviceGetUint64_fn)(nvmlDevice_t device, unsigned long long* value);
// ^ GetTotalEnergyConsumption (mJ), GetCurrentClocksEventReasons, GetSupportedEventTypes
typedef nvmlReturn_t (*nvmlDeviceGetTemperature_fn)(nvmlDevice_t device, nvmlTemperatureSensors_t sensor,
                                                    unsigned int* temp);
typedef nvmlReturn_t (*nvmlDeviceGetClockInfo_fn)(nvmlDevice_t device, nvmlClockType_t type, unsigned int* clock);
typedef nvmlReturn_t (*nvmlDeviceGetTotalEccErrors_fn)(nvmlDevice_t device, nvmlMemoryErrorType_t errorType,
                                                       nvmlEccCounterType_t counterType, unsigned long long* eccCounts);
// nvmlDeviceGet{Compute,Graphics}RunningProcesses{,_v2,_v3}: `infos` points to
// an array of the version's nvmlProcessInfo struct (void* here: the stride
// depends on the version resolved).
typedef nvmlReturn_t (*nvmlDeviceGetRunningProcesses_fn)(nvmlDevice_t device, unsigned int* infoCount, void* infos);
typedef nvmlReturn_t (*nvmlDeviceGetProcessUtilization_fn)(nvmlDevice_t device,
                                                           nvmlProcessUtilizationSample_t* utilization,
                                                           unsigned int* processSamplesCount,
                                                           unsigned long long lastSeenTimeStamp);
typedef nvmlReturn_t (*nvmlEventSetCreate_fn)(nvmlEventSet_t* set);
typedef nvmlReturn_t (*nvmlDeviceRegisterEvents_fn)(nvmlDevice_t device, unsigned long long eventTypes,
                                                    nvmlEventSet_t set);
typedef nvmlReturn_t (*nvmlEventSetWait_fn)(nvmlEventSet_t set, nvmlEventData_t* data, unsigned int timeoutms);
typedef nvmlReturn_t (*nvmlEventSetFree_fn)(nvmlEventSet_t set);
