// gpu: NVIDIA GPU metrics, per-process GPU use and XID errors from NVML, as
// custos::v1::GpuSample and custos::v1::GpuEvent records.
//
//   [sources.gpu]
//   interval = "10s"                  # see README.md for every key
//   library = "libnvidia-ml.so.1"
//
// NVML is loaded at run time (nvml_library.h). Where it is missing or cannot
// start (no GPU, no driver) the source says so once in the log, sets the
// gauge custos_agent_gpu_available to 0 and tries again every
// retry_interval; that is never an error of the agent. Once loaded, every
// interval it samples each GPU and the processes using it (gpu_sampler.h),
// and a second thread waits for XID events (xid_watcher.h).
//
// A failing NVML call leaves its fields out of that sample, is counted in
// custos_agent_gpu_nvml_errors_total{function,error} and logged once per
// function and GPU (a lost GPU: once); NOT_SUPPORTED (or a function the library lacks) is
// counted in custos_agent_gpu_nvml_unsupported_total{function} once per GPU,
// logged once per function and not asked again.
//
// Neither samples nor events can be read again later, so there is no
// position (Start() ignores it) and nothing is retried: a sample or event
// the batcher refuses (agent buffer full) is dropped, counted in
// custos_agent_gpu_records_dropped_total{kind} and reported with
// Batcher::ReportLoss (REASON_SOURCE_OVERFLOW), which reaches the collector
// as a Gap record.
//
// Thread-safety: Start() and Stop() from one controlling thread.
// SampleOnce() may be called from any thread (samples are serialised); tests
// call it directly instead of starting the thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "agent/core/process_info.h"
#include "agent/core/source.h"
#include "agent/sources/gpu/gpu_sampler.h"
#include "agent/sources/gpu/nvml_library.h"
#include "agent/sources/gpu/xid_watcher.h"
#include "common/status.h"

namespace custos::agent::gpu {

inline constexpr char kSourceName[] = "gpu";

struct GpuSourceOptions {
  std::string library = "libnvidia-ml.so.1";
  int64_t interval_nanos = 10 * 1'000'000'000LL;
  int64_t retry_interval_nanos = 300 * 1'000'000'000LL;  // between attempts to load NVML
  bool events = true;                                    // watch XID events
  unsigned int event_wait_ms = 500;                      // one nvmlEventSetWait; bounds Stop()'s wait
  std::string proc_root = "/proc";                       // where pids are looked up
  GpuSamplerOptions sampler;
};

class GpuSource final : public Source {
 public:
  GpuSource(GpuSourceOptions options, SourceContext& context);
  ~GpuSource() override;
  GpuSource(const GpuSource&) = delete;
  GpuSource& operator=(const GpuSource&) = delete;

  // Source
  const std::string& name() const override { return name_; }
  Status Start(const std::string& position) override;  // position is ignored
  void Stop() override;

  // One tick of the sampling thread: loads NVML when it is not loaded and an
  // attempt is due (by context.clock), then takes a sample and hands it to
  // the batcher. OK also when NVML is unavailable; RESOURCE_EXHAUSTED when
  // the batcher refused the sample, which has then been reported as a loss.
  Status SampleOnce();

  // Whether NVML is loaded.
  bool available() const;

 private:
  // Loads NVML, enumerates the GPUs and registers for events; on failure
  // schedules the next attempt. Requires sample_mu_.
  void TryLoad();
  // Counts and logs (once) a failed NVML call; from either thread.
  void OnNvmlError(const NvmlCallError& e);
  // The batcher's ref for the node's resource with systemd_unit = unit.
  uint32_t UnitResource(const std::string& unit);
  // Starts the event thread when NVML is loaded, events are wanted and the
  // source runs. Requires sample_mu_.
  void MaybeStartEvents();
  void Run();
  void RunEvents();
  // Hands `records` of `kind` ("sample", "event") to the batcher; a refusal
  // drops, counts, reports and logs them.
  Status Hand(std::vector<v1::Record>&& records, const std::string& kind);
  bool stopping();

  // Constant after construction.
  const std::string name_ = kSourceName;
  const GpuSourceOptions options_;
  SourceContext& context_;
  Gauge& available_gauge_;
  Gauge& gpus_gauge_;
  Counter& load_attempts_;
  Counter& samples_;
  Counter& events_;
  Counter& events_unknown_device_;
  Counter& processes_cut_;
  ProcessInfoCache process_cache_;
  std::atomic<bool> available_{false};  // mirrors available_gauge_ for this instance

  // The sampling thread's state: written under sample_mu_. nvml_ and
  // watcher_ are set once (when NVML loads) before the event thread starts,
  // which then uses watcher_ alone; both live until the destructor.
  std::mutex sample_mu_;
  std::unique_ptr<NvmlLibrary> nvml_;    // guarded by sample_mu_
  std::unique_ptr<GpuSampler> sampler_;  // guarded by sample_mu_
  std::unique_ptr<XidWatcher> watcher_;  // see above
  int64_t next_load_nanos_ = 0;          // guarded by sample_mu_; monotonic
  std::string logged_load_error_;        // guarded by sample_mu_
  uint64_t processes_cut_seen_ = 0;      // guarded by sample_mu_

  std::mutex log_mu_;                     // OnNvmlError and Hand, from both threads
  std::set<std::string> warned_;          // guarded by log_mu_
  std::map<std::string, bool> dropping_;  // guarded by log_mu_; per kind
  std::mutex resources_mu_;
  std::map<std::string, uint32_t> unit_resources_;  // guarded by resources_mu_

  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;  // guarded by mu_: Start() called, Stop() not yet
  bool stop_ = false;     // guarded by mu_
  std::thread thread_;
  std::thread event_thread_;  // started under sample_mu_ and mu_
};

// Reads [sources.gpu]; see README.md for the keys.
Result<std::unique_ptr<Source>> CreateGpuSource(ConfigSection& config, SourceContext& context);

}  // namespace custos::agent::gpu
