// A stand-in for libnvidia-ml.so.1, for the gpu source's tests: exactly the
// NVML functions the source resolves, with NVML's names, signatures and
// struct layouts (nvml_api.h), answering from a scenario file.
//
// The file is named by $CUSTOS_FAKE_NVML_SCENARIO and re-read whenever it
// changes (tests replace it with rename(), so a running source sees new
// values and queued events). Without the variable nvmlInit fails with
// DRIVER_NOT_LOADED. One "key = value" per line, '#' starts a comment:
//
//   gpus = 2
//   gpu0.uuid = GPU-0000...            gpu0.name = NVIDIA H100 80GB HBM3
//   gpu0.utilization = 87,40           # gpu%, memory%
//   gpu0.memory = 85899345920,1000,2000   # total, free, used (bytes)
//   gpu0.power_mw = 312500             gpu0.energy_mj = 123456789
//   gpu0.temperature = 61              gpu0.clock.sm = 1980    gpu0.clock.mem = 2619
//   gpu0.clock_event_reasons = 0x4
//   gpu0.ecc.aggregate = 3,1           # corrected, uncorrected (also ecc.volatile)
//   gpu0.compute_processes = 1234:1048576 5678:2097152   # pid:bytes ...
//   gpu0.graphics_processes = 1234:1048576
//   gpu0.process_utilization = 1234:50:20                # pid:sm%:mem% ...
//   gpu0.supported_events = 0xb        # default: SBE|DBE|PState|XID
//   gpu0.lost = 1                      # every call about gpu0: GPU_IS_LOST
//   fail.nvmlDeviceGetPowerUsage = 999        # every GPU: this nvmlReturn_t
//   fail.nvmlDeviceGetPowerUsage.gpu1 = 15    # one GPU
//   event.1 = 0:xid:79                 # queued once: gpu:xid|dbe:data
//   deliver_unregistered_events = 1    # also events of GPUs not registered in the set
//                                      # (a device the caller has no handle for)
//
// A value that is absent makes its function answer NOT_SUPPORTED; absent
// process lists are empty (and process utilisation answers NOT_FOUND).
//
// Built three times: as today's library; with CUSTOS_FAKE_NVML_OLD as a
// pre-R450 one (unversioned process functions with the 16-byte v1 layout,
// ...ThrottleReasons, nvmlEventSetWait, no nvmlDeviceGetTotalEnergyConsumption);
// and with CUSTOS_FAKE_NVML_CC535 as an early R535 one whose _v3 process
// functions fill 32-byte entries (see nvml_api.h).
// With $CUSTOS_FAKE_NVML_FROZEN set the scenario is read once (benchmarks).
// custos_fake_nvml_calls(name) tells a test how often a function was called
// (since the library was first loaded: compare differences).
#include <sys/stat.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/sources/gpu/nvml_api.h"

struct nvmlDevice_st {
  int index;
};
struct nvmlEventSet_st {
  bool used;
  unsigned long long mask[16];
};

namespace {

constexpr int kMaxGpus = 16;
nvmlDevice_st g_devices[kMaxGpus] = {{0}, {1}, {2},  {3},  {4},  {5},  {6},  {7},
                                     {8}, {9}, {10}, {11}, {12}, {13}, {14}, {15}};
nvmlEventSet_st g_sets[4];

struct State {
  std::mutex mu;
  std::map<std::string, std::string> kv;  // the scenario
  std::string path;                       // of the scenario last read
  struct timespec mtime = {};
  ino_t ino = 0;
  off_t size = -1;
  int initialized = 0;
  std::set<std::string> delivered;  // event ids already handed out
  std::map<std::string, unsigned long long> calls;
};

State& S() {
  static State s;
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Re-reads the scenario when the file changed. Requires st.mu.
void Reload(State& st) {
  const char* path = std::getenv("CUSTOS_FAKE_NVML_SCENARIO");
  if (path == nullptr) {
    st.kv.clear();
    st.path.clear();
    return;
  }
  // Frozen: read once, so that a benchmark measures its caller, not the fake.
  if (st.path == path && std::getenv("CUSTOS_FAKE_NVML_FROZEN") != nullptr) return;
  struct stat sb {};
  if (::stat(path, &sb) != 0) {
    st.kv.clear();
    st.size = -1;
    return;
  }
  if (st.path == path && sb.st_ino == st.ino && sb.st_size == st.size && sb.st_mtim.tv_sec == st.mtime.tv_sec &&
      sb.st_mtim.tv_nsec == st.mtime.tv_nsec) {
    return;
  }
  st.path = path;
  st.ino = sb.st_ino;
  st.size = sb.st_size;
  st.mtime = sb.st_mtim;
  st.kv.clear();
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    st.kv[Trim(line.substr(0, eq))] = Trim(line.substr(eq + 1));
  }
}

const std::string* Get(State& st, const std::string& key) {
  auto it = st.kv.find(key);
  return it == st.kv.end() ? nullptr : &it->second;
}

unsigned long long Num(const std::string& s) { return std::strtoull(s.c_str(), nullptr, 0); }

// Numbers separated by `sep` (and spaces).
std::vector<unsigned long long> Nums(const std::string& s, char sep) {
  std::vector<unsigned long long> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(Num(Trim(item)));
  return out;
}

std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

int IndexOf(nvmlDevice_t d) {
  if (d < g_devices || d >= g_devices + kMaxGpus) return -1;
  return d->index;
}

std::string GpuKey(int gpu, const char* field) { return "gpu" + std::to_string(gpu) + "." + field; }

// The common start of every device function: counts the call, checks
// initialisation and the handle, applies scenario failures. Requires st.mu.
nvmlReturn_t Enter(State& st, const char* name, nvmlDevice_t device, int* gpu) {
  Reload(st);
  st.calls[name]++;
  if (st.initialized == 0) return NVML_ERROR_UNINITIALIZED;
  *gpu = IndexOf(device);
  const std::string* n = Get(st, "gpus");
  if (*gpu < 0 || n == nullptr || *gpu >= static_cast<int>(Num(*n))) return NVML_ERROR_INVALID_ARGUMENT;
  if (const std::string* lost = Get(st, GpuKey(*gpu, "lost")); lost != nullptr && Num(*lost) != 0) {
    return NVML_ERROR_GPU_IS_LOST;
  }
  std::string fail = std::string("fail.") + name;
  if (const std::string* v = Get(st, fail + ".gpu" + std::to_string(*gpu))) return static_cast<nvmlReturn_t>(Num(*v));
  if (const std::string* v = Get(st, fail)) return static_cast<nvmlReturn_t>(Num(*v));
  return NVML_SUCCESS;
}

#define ENTER(name, device)                \
  State& st = S();                         \
  std::lock_guard<std::mutex> lock(st.mu); \
  int gpu = -1;                            \
  if (nvmlReturn_t r_ = Enter(st, name, device, &gpu); r_ != NVML_SUCCESS) return r_

// Answers with one numeric scenario value, NOT_SUPPORTED when absent.
template <typename T>
nvmlReturn_t Value(State& st, int gpu, const char* field, T* out) {
  if (out == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const std::string* v = Get(st, GpuKey(gpu, field));
  if (v == nullptr) return NVML_ERROR_NOT_SUPPORTED;
  *out = static_cast<T>(Num(*v));
  return NVML_SUCCESS;
}

nvmlReturn_t String(State& st, int gpu, const char* field, char* out, unsigned int length) {
  const std::string* v = Get(st, GpuKey(gpu, field));
  if (v == nullptr) return NVML_ERROR_NOT_SUPPORTED;
  if (out == nullptr || length <= v->size()) return NVML_ERROR_INSUFFICIENT_SIZE;
  std::memcpy(out, v->c_str(), v->size() + 1);
  return NVML_SUCCESS;
}

// Fills a process list with entries of `Info` (v1 or v2 layout).
template <typename Info>
nvmlReturn_t Processes(State& st, int gpu, const char* field, unsigned int* count, Info* infos) {
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const std::string* v = Get(st, GpuKey(gpu, field));
  std::vector<std::string> words = v == nullptr ? std::vector<std::string>() : Words(*v);
  if (words.size() > *count || (infos == nullptr && !words.empty())) {
    *count = static_cast<unsigned int>(words.size());
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  for (size_t i = 0; i < words.size(); ++i) {
    std::vector<unsigned long long> pm = Nums(words[i], ':');
    Info info{};
    std::memset(&info, 0xAB, sizeof info);  // garbage in what NVML would not set, as in real life
    info.pid = static_cast<unsigned int>(pm.at(0));
    info.usedGpuMemory = pm.size() > 1 ? pm[1] : 0;
    if constexpr (sizeof(Info) > sizeof(nvmlProcessInfo_v1_t)) {
      info.gpuInstanceId = 0xFFFFFFFF;
      info.computeInstanceId = 0xFFFFFFFF;
    }
    infos[i] = info;
  }
  *count = static_cast<unsigned int>(words.size());
  return NVML_SUCCESS;
}

unsigned long long NowMicros() {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL + static_cast<unsigned long long>(ts.tv_nsec) / 1000;
}

unsigned long long SupportedEvents(State& st, int gpu) {
  const std::string* v = Get(st, GpuKey(gpu, "supported_events"));
  return v == nullptr ? 0xF : Num(*v);
}

// Waits for the first queued event of `set` not yet handed out.
nvmlReturn_t WaitEvent(nvmlEventSet_t set, nvmlEventData_t* data, unsigned int timeoutms, bool v2) {
  State& st = S();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutms);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(st.mu);
      Reload(st);
      st.calls["nvmlEventSetWait"]++;
      if (st.initialized == 0) return NVML_ERROR_UNINITIALIZED;
      if (set == nullptr || data == nullptr || !set->used) return NVML_ERROR_INVALID_ARGUMENT;
      if (const std::string* v = Get(st, "fail.nvmlEventSetWait")) return static_cast<nvmlReturn_t>(Num(*v));
      for (const auto& [key, value] : st.kv) {
        if (key.rfind("event.", 0) != 0 || st.delivered.count(key) != 0) continue;
        std::vector<std::string> parts;
        std::istringstream in(value);
        for (std::string p; std::getline(in, p, ':');) parts.push_back(Trim(p));
        if (parts.size() != 3) continue;
        const int gpu = static_cast<int>(Num(parts[0]));
        if (gpu < 0 || gpu >= kMaxGpus) continue;
        const unsigned long long type = parts[1] == "xid"   ? nvmlEventTypeXidCriticalError
                                        : parts[1] == "dbe" ? nvmlEventTypeDoubleBitEccError
                                                            : 0;
        const bool any_device = Get(st, "deliver_unregistered_events") != nullptr;
        if (type == 0 || ((set->mask[gpu] & type) == 0 && !any_device)) continue;  // not registered: not delivered
        st.delivered.insert(key);
        data->device = &g_devices[gpu];
        data->eventType = type;
        data->eventData = type == nvmlEventTypeXidCriticalError ? Num(parts[2]) : 0;
        if (v2) {
          data->gpuInstanceId = 0xFFFFFFFF;
          data->computeInstanceId = 0xFFFFFFFF;
        }
        return NVML_SUCCESS;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return NVML_ERROR_TIMEOUT;
    // The real NVML blocks in the driver; the stand-in polls its scenario,
    // rarely enough not to dominate the agent's CPU in benchmarks (at 2 ms it
    // was a tenth of the agent's time under the mixed load). A frozen
    // scenario never gains events, so it blocks like the driver would.
    if (std::getenv("CUSTOS_FAKE_NVML_FROZEN") != nullptr) {
      std::this_thread::sleep_until(deadline);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
}

}  // namespace

extern "C" {

unsigned long long custos_fake_nvml_calls(const char* name) {
  State& st = S();
  std::lock_guard<std::mutex> lock(st.mu);
  auto it = st.calls.find(name);
  return it == st.calls.end() ? 0 : it->second;
}

nvmlReturn_t nvmlInit_v2(void) {
  State& st = S();
  std::lock_guard<std::mutex> lock(st.mu);
  Reload(st);
  st.calls["nvmlInit"]++;
  if (std::getenv("CUSTOS_FAKE_NVML_SCENARIO") == nullptr) return NVML_ERROR_DRIVER_NOT_LOADED;
  if (const std::string* v = Get(st, "fail.nvmlInit")) return static_cast<nvmlReturn_t>(Num(*v));
  // The library may stay mapped after dlclose (libstdc++'s unique symbols
  // make it NODELETE): a first initialisation starts a fresh event queue.
  if (st.initialized == 0) st.delivered.clear();
  st.initialized++;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void) {
  State& st = S();
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.initialized == 0) return NVML_ERROR_UNINITIALIZED;
  st.initialized--;
  return NVML_SUCCESS;
}

const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case NVML_SUCCESS:
      return "Success";
    case NVML_ERROR_UNINITIALIZED:
      return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT:
      return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED:
      return "Not Supported";
    case NVML_ERROR_NO_PERMISSION:
      return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND:
      return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE:
      return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED:
      return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT:
      return "Timeout";
    case NVML_ERROR_FUNCTION_NOT_FOUND:
      return "Function Not Found";
    case NVML_ERROR_GPU_IS_LOST:
      return "GPU is lost";
    default:
      return "Unknown Error";
  }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  State& st = S();
  std::lock_guard<std::mutex> lock(st.mu);
  Reload(st);
  st.calls["nvmlDeviceGetCount"]++;
  if (st.initialized == 0) return NVML_ERROR_UNINITIALIZED;
  if (const std::string* v = Get(st, "fail.nvmlDeviceGetCount")) return static_cast<nvmlReturn_t>(Num(*v));
  const std::string* n = Get(st, "gpus");
  *count = n == nullptr ? 0 : static_cast<unsigned int>(Num(*n));
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  State& st = S();
  std::lock_guard<std::mutex> lock(st.mu);
  Reload(st);
  st.calls["nvmlDeviceGetHandleByIndex"]++;
  if (st.initialized == 0) return NVML_ERROR_UNINITIALIZED;
  const std::string* n = Get(st, "gpus");
  if (n == nullptr || index >= Num(*n) || index >= static_cast<unsigned int>(kMaxGpus)) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  *device = &g_devices[index];
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length) {
  ENTER("nvmlDeviceGetUUID", device);
  return String(st, gpu, "uuid", uuid, length);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length) {
  ENTER("nvmlDeviceGetName", device);
  return String(st, gpu, "name", name, length);
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t* utilization) {
  ENTER("nvmlDeviceGetUtilizationRates", device);
  const std::string* v = Get(st, GpuKey(gpu, "utilization"));
  if (v == nullptr) return NVML_ERROR_NOT_SUPPORTED;
  std::vector<unsigned long long> n = Nums(*v, ',');
  utilization->gpu = static_cast<unsigned int>(n.at(0));
  utilization->memory = static_cast<unsigned int>(n.at(1));
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  ENTER("nvmlDeviceGetMemoryInfo", device);
  const std::string* v = Get(st, GpuKey(gpu, "memory"));
  if (v == nullptr) return NVML_ERROR_NOT_SUPPORTED;
  std::vector<unsigned long long> n = Nums(*v, ',');
  memory->total = n.at(0);
  memory->free = n.at(1);
  memory->used = n.at(2);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int* power) {
  ENTER("nvmlDeviceGetPowerUsage", device);
  return Value(st, gpu, "power_mw", power);
}

#ifndef CUSTOS_FAKE_NVML_OLD
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long* energy) {
  ENTER("nvmlDeviceGetTotalEnergyConsumption", device);
  return Value(st, gpu, "energy_mj", energy);
}
#endif

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensor, unsigned int* temp) {
  ENTER("nvmlDeviceGetTemperature", device);
  if (sensor != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  return Value(st, gpu, "temperature", temp);
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int* clock) {
  ENTER("nvmlDeviceGetClockInfo", device);
  if (type == NVML_CLOCK_SM) return Value(st, gpu, "clock.sm", clock);
  if (type == NVML_CLOCK_MEM) return Value(st, gpu, "clock.mem", clock);
  return NVML_ERROR_INVALID_ARGUMENT;
}

#ifndef CUSTOS_FAKE_NVML_OLD
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long* reasons) {
  ENTER("nvmlDeviceGetCurrentClocksEventReasons", device);
  return Value(st, gpu, "clock_event_reasons", reasons);
}
#else
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long* reasons) {
  ENTER("nvmlDeviceGetCurrentClocksThrottleReasons", device);
  return Value(st, gpu, "clock_event_reasons", reasons);
}
#endif

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, nvmlMemoryErrorType_t errorType,
                                         nvmlEccCounterType_t counterType, unsigned long long* eccCounts) {
  ENTER("nvmlDeviceGetTotalEccErrors", device);
  const char* field = counterType == NVML_AGGREGATE_ECC ? "ecc.aggregate" : "ecc.volatile";
  const std::string* v = Get(st, GpuKey(gpu, field));
  if (v == nullptr) return NVML_ERROR_NOT_SUPPORTED;
  std::vector<unsigned long long> n = Nums(*v, ',');
  *eccCounts = errorType == NVML_MEMORY_ERROR_TYPE_CORRECTED ? n.at(0) : n.at(1);
  return NVML_SUCCESS;
}

#if defined(CUSTOS_FAKE_NVML_CC535)
// An early R535 library: _v3 fills the 32-byte layout with
// usedGpuCcProtectedMemory, and the library has
// nvmlDeviceGetConfComputeMemSizeInfo but not
// nvmlDeviceGetRunningProcessDetailList (how the loader recognises it; only
// the symbol's presence matters, the source never calls it).
nvmlReturn_t nvmlDeviceGetConfComputeMemSizeInfo(nvmlDevice_t, void*) { return NVML_ERROR_NOT_SUPPORTED; }
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int* infoCount,
                                                     nvmlProcessInfo_v3cc_t* infos) {
  ENTER("nvmlDeviceGetComputeRunningProcesses", device);
  return Processes(st, gpu, "compute_processes", infoCount, infos);
}
nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int* infoCount,
                                                      nvmlProcessInfo_v3cc_t* infos) {
  ENTER("nvmlDeviceGetGraphicsRunningProcesses", device);
  return Processes(st, gpu, "graphics_processes", infoCount, infos);
}
#elif !defined(CUSTOS_FAKE_NVML_OLD)
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int* infoCount,
                                                     nvmlProcessInfo_v2_t* infos) {
  ENTER("nvmlDeviceGetComputeRunningProcesses", device);
  return Processes(st, gpu, "compute_processes", infoCount, infos);
}
nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int* infoCount,
                                                      nvmlProcessInfo_v2_t* infos) {
  ENTER("nvmlDeviceGetGraphicsRunningProcesses", device);
  return Processes(st, gpu, "graphics_processes", infoCount, infos);
}
#else
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int* infoCount,
                                                  nvmlProcessInfo_v1_t* infos) {
  ENTER("nvmlDeviceGetComputeRunningProcesses", device);
  return Processes(st, gpu, "compute_processes", infoCount, infos);
}
nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t device, unsigned int* infoCount,
                                                   nvmlProcessInfo_v1_t* infos) {
  ENTER("nvmlDeviceGetGraphicsRunningProcesses", device);
  return Processes(st, gpu, "graphics_processes", infoCount, infos);
}
#endif

nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device, nvmlProcessUtilizationSample_t* utilization,
                                             unsigned int* processSamplesCount, unsigned long long lastSeenTimeStamp) {
  ENTER("nvmlDeviceGetProcessUtilization", device);
  if (processSamplesCount == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const std::string* v = Get(st, GpuKey(gpu, "process_utilization"));
  std::vector<std::string> words = v == nullptr ? std::vector<std::string>() : Words(*v);
  const unsigned long long now = NowMicros();
  if (now <= lastSeenTimeStamp || words.empty()) return NVML_ERROR_NOT_FOUND;
  if (utilization == nullptr || words.size() > *processSamplesCount) {
    *processSamplesCount = static_cast<unsigned int>(words.size());
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  for (size_t i = 0; i < words.size(); ++i) {
    std::vector<unsigned long long> n = Nums(words[i], ':');
    utilization[i] =
        nvmlProcessUtilizationSample_t{static_cast<unsigned int>(n.at(0)), now, static_cast<unsigned int>(n.at(1)),
                                       static_cast<unsigned int>(n.at(2)), 0,   0};
  }
  *processSamplesCount = static_cast<unsigned int>(words.size());
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long* eventTypes) {
  ENTER("nvmlDeviceGetSupportedEventTypes", device);
  *eventTypes = SupportedEvents(st, gpu);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t* set) {
  State& st = S();
  std::lock_guard<std::mutex> lock(st.mu);
  st.calls["nvmlEventSetCreate"]++;
  if (st.initialized == 0) return NVML_ERROR_UNINITIALIZED;
  for (nvmlEventSet_st& s : g_sets) {
    if (!s.used) {
      s = nvmlEventSet_st{};
      s.used = true;
      *set = &s;
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_UNKNOWN;
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes, nvmlEventSet_t set) {
  ENTER("nvmlDeviceRegisterEvents", device);
  if (set == nullptr || !set->used) return NVML_ERROR_INVALID_ARGUMENT;
  if ((eventTypes & ~SupportedEvents(st, gpu)) != 0) return NVML_ERROR_NOT_SUPPORTED;
  set->mask[gpu] |= eventTypes;
  return NVML_SUCCESS;
}

#ifndef CUSTOS_FAKE_NVML_OLD
nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t* data, unsigned int timeoutms) {
  return WaitEvent(set, data, timeoutms, /*v2=*/true);
}
#else
nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t* data, unsigned int timeoutms) {
  return WaitEvent(set, data, timeoutms, /*v2=*/false);
}
#endif

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
  State& st = S();
  std::lock_guard<std::mutex> lock(st.mu);
  st.calls["nvmlEventSetFree"]++;
  if (set == nullptr || !set->used) return NVML_ERROR_INVALID_ARGUMENT;
  set->used = false;
  return NVML_SUCCESS;
}

}  // extern "C"
