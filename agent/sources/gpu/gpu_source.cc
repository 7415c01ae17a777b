#include "agent/sources/gpu/gpu_source.h"

#include <chrono>
#include <vector>

#include "common/log.h"
#include "common/thread_name.h"

namespace custos::agent::gpu {
namespace {

constexpr char kComponent[] = "gpu";
// Distinct units given their own resource; beyond, records use the node's.
constexpr size_t kMaxUnitResources = 1024;
// Pause after a failed nvmlEventSetWait before waiting again.
constexpr auto kEventErrorPause = std::chrono::seconds(1);

std::string Seconds(int64_t nanos) { return std::to_string(nanos / kNanosPerSecond) + "s"; }

}  // namespace

GpuSource::GpuSource(GpuSourceOptions options, SourceContext& context)
    : options_(std::move(options)),
      context_(context),
      available_gauge_(context.metrics.GetGauge("custos_agent_gpu_available", "1 when NVML is loaded, else 0")),
      gpus_gauge_(context.metrics.GetGauge("custos_agent_gpu_devices", "GPUs sampled")),
      load_attempts_(context.metrics.GetCounter("custos_agent_gpu_load_attempts_total", "Attempts to load NVML")),
      samples_(context.metrics.GetCounter("custos_agent_gpu_samples_total", "GpuSample records handed to the batcher")),
      events_(context.metrics.GetCounter("custos_agent_gpu_events_total", "GpuEvent records handed to the batcher")),
      events_unknown_device_(context.metrics.GetCounter(
          "custos_agent_gpu_events_unknown_device_total",
          "GpuEvents whose device matched no registered GPU (sent with gpu_index 4294967295, gpu_uuid \"unknown\")")),
      processes_cut_(context.metrics.GetCounter("custos_agent_gpu_processes_cut_total",
                                                "Per-process samples left out by max_processes_per_gpu")),
      process_cache_(4096, options_.proc_root) {
  available_gauge_.Set(0);
}

GpuSource::~GpuSource() { Stop(); }

bool GpuSource::available() const { return available_.load(); }

Status GpuSource::Start(const std::string& /*position*/) {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return FailedPrecondition("gpu source already started");
  running_ = true;
  stop_ = false;
  thread_ = std::thread([this] {
    SetThreadName("gpu");
    Run();
  });
  return Status::Ok();
}

void GpuSource::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // No thread starts the event thread once stop_ is set.
  if (event_thread_.joinable()) event_thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  running_ = false;
}

bool GpuSource::stopping() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void GpuSource::Run() {
  const auto interval = std::chrono::nanoseconds(options_.interval_nanos);
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    // Failures are counted and reported inside.
    static_cast<void>(SampleOnce());
    next += interval;
    // After a sample slower than the interval, skip the missed ticks.
    auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + interval;
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_until(lock, next, [this] { return stop_; })) return;
  }
}

Status GpuSource::SampleOnce() {
  std::lock_guard<std::mutex> lock(sample_mu_);
  if (sampler_ == nullptr) {
    if (context_.clock.MonotonicNanos() < next_load_nanos_) return Status::Ok();
    TryLoad();
    if (sampler_ == nullptr) return Status::Ok();
  }
  std::vector<v1::Record> records;
  records.reserve(sampler_->gpus().size() * 4);
  sampler_->Sample(context_.clock.NowUnixNanos(), &records);
  const uint64_t cut = sampler_->processes_cut();
  processes_cut_.Increment(cut - processes_cut_seen_);
  processes_cut_seen_ = cut;
  return Hand(std::move(records), "sample");
}

void GpuSource::TryLoad() {
  load_attempts_.Increment();
  auto on_error = [this](const NvmlCallError& e) { OnNvmlError(e); };
  Result<std::unique_ptr<NvmlLibrary>> lib = NvmlLibrary::Open(options_.library);
  Status status = lib.status();
  std::unique_ptr<GpuSampler> sampler;  // destroyed before the library it uses
  if (status.ok()) {
    sampler = std::make_unique<GpuSampler>(**lib, options_.sampler, process_cache_, on_error,
                                           [this](const std::string& unit) { return UnitResource(unit); });
    status = sampler->Enumerate();
  }
  if (!status.ok()) {
    next_load_nanos_ = context_.clock.MonotonicNanos() + options_.retry_interval_nanos;
    available_ = false;
    available_gauge_.Set(0);
    // Once per distinct reason: a machine without a GPU says so once.
    if (status.message() != logged_load_error_) {
      log::Info(kComponent, "NVML not available; no GPU metrics until it is",
                {{"library", options_.library},
                 {"error", status.message()},
                 {"retry_every", Seconds(options_.retry_interval_nanos)}});
      logged_load_error_ = status.message();
    }
    return;
  }
  nvml_ = std::move(*lib);
  sampler_ = std::move(sampler);
  available_ = true;
  available_gauge_.Set(1);
  gpus_gauge_.Set(static_cast<int64_t>(sampler_->gpus().size()));
  context_.metrics.GetGauge("custos_agent_gpu_devices_ignored", "GPUs beyond max_gpus, not sampled")
      .Set(static_cast<int64_t>(sampler_->gpus_ignored()));
  std::string missing;
  for (const auto& [purpose, symbol] : nvml_->resolved()) {
    if (symbol.empty()) missing += (missing.empty() ? "" : ",") + purpose;
  }
  log::Info(kComponent, "NVML loaded",
            {{"library", options_.library},
             {"gpus", std::to_string(sampler_->gpus().size())},
             {"gpus_ignored", std::to_string(sampler_->gpus_ignored())},
             {"missing_functions", missing.empty() ? "none" : missing}});
  if (sampler_->gpus_ignored() > 0) {
    log::Warn(kComponent, "more GPUs than max_gpus; the rest are not sampled",
              {{"max_gpus", std::to_string(options_.sampler.max_gpus)},
               {"ignored", std::to_string(sampler_->gpus_ignored())}});
  }
  if (options_.events) {
    auto watcher = std::make_unique<XidWatcher>(*nvml_, on_error);
    Status s = watcher->Register(sampler_->gpus());
    if (s.ok()) {
      watcher_ = std::move(watcher);
    } else {
      log::Info(kComponent, "XID events are not watched", {{"error", s.message()}});
    }
  }
  MaybeStartEvents();
}

void GpuSource::MaybeStartEvents() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!running_ || stop_ || watcher_ == nullptr || event_thread_.joinable()) return;
  event_thread_ = std::thread([this] {
    SetThreadName("gpu-events");
    RunEvents();
  });
}

void GpuSource::RunEvents() {
  while (!stopping()) {
    Result<std::optional<v1::GpuEvent>> e = watcher_->Wait(options_.event_wait_ms, context_.clock.NowUnixNanos());
    if (!e.ok()) {
      // Counted and logged in OnNvmlError; pause so that a broken event set
      // is not a busy loop.
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, kEventErrorPause, [this] { return stop_; });
      continue;
    }
    if (!e->has_value()) continue;
    if ((*e)->gpu_index() == kUnknownGpuIndex) {
      events_unknown_device_.Increment();
      std::lock_guard<std::mutex> lock(log_mu_);
      if (warned_.insert("unknown_device").second) {
        log::Warn(kComponent, "GPU event for a device that matches no registered GPU; sent with gpu_index "
                  "4294967295 and gpu_uuid \"unknown\" (further ones are counted only)",
                  {{"kind", (*e)->kind()}, {"code", std::to_string((*e)->code())}});
      }
    }
    std::vector<v1::Record> records(1);
    *records[0].mutable_gpu_event() = std::move(**e);
    static_cast<void>(Hand(std::move(records), "event"));
  }
}

Status GpuSource::Hand(std::vector<v1::Record>&& records, const std::string& kind) {
  const size_t n = records.size();
  if (n == 0) return Status::Ok();
  Status s = context_.batcher.Add(name_, std::move(records));
  if (s.code() == StatusCode::kResourceExhausted) {
    // Neither a sample nor an event can be read again: drop, never silently.
    context_.metrics
        .GetCounter("custos_agent_gpu_records_dropped_total", "GPU records dropped: agent buffer full",
                    {{"kind", kind}})
        .Increment(n);
    context_.batcher.ReportLoss(name_, v1::Gap::REASON_SOURCE_OVERFLOW, n,
                                "gpu " + kind + " dropped: agent buffer full");
    std::lock_guard<std::mutex> lock(log_mu_);
    if (!dropping_[kind]) {
      log::Warn(kComponent, "agent buffer full; dropping GPU records (reported as a loss)",
                {{"kind", kind}, {"error", s.ToString()}});
    }
    dropping_[kind] = true;
    return s;
  }
  {
    std::lock_guard<std::mutex> lock(log_mu_);
    dropping_[kind] = false;
  }
  (kind == "event" ? events_ : samples_).Increment(n);
  return s;
}

void GpuSource::OnNvmlError(const NvmlCallError& e) {
  const std::string function(e.function);
  const std::string gpu = e.gpu_index < 0 ? "-" : std::to_string(e.gpu_index);
  const std::string error = NvmlReturnName(e.code);
  if (e.unsupported) {
    context_.metrics
        .GetCounter("custos_agent_gpu_nvml_unsupported_total",
                    "NVML functions a GPU or the library does not support (counted once per GPU)",
                    {{"function", function}})
        .Increment();
  } else {
    context_.metrics
        .GetCounter("custos_agent_gpu_nvml_errors_total", "Failed NVML calls",
                    {{"function", function}, {"error", error}})
        .Increment();
  }
  std::lock_guard<std::mutex> lock(log_mu_);
  if (e.unsupported) {
    if (!warned_.insert("unsupported:" + function).second) return;
    log::Info(kComponent, "NVML function not supported here; its values are left out",
              {{"function", function}, {"gpu", gpu}, {"error", error}, {"detail", e.message}});
  } else if (e.code == NVML_ERROR_GPU_IS_LOST) {
    // Every call about a lost GPU fails: one line for the GPU, not one per function.
    if (!warned_.insert("lost:" + gpu).second) return;
    log::Warn(kComponent, "GPU is lost; its values are left out while it is (failures are counted)",
              {{"gpu", gpu}, {"function", function}, {"error", error}, {"detail", e.message}});
  } else {
    if (!warned_.insert("error:" + function + ":" + gpu).second) return;
    log::Warn(kComponent, "NVML call failed; its values are left out (further failures are only counted)",
              {{"function", function}, {"gpu", gpu}, {"error", error}, {"detail", e.message}});
  }
}

uint32_t GpuSource::UnitResource(const std::string& unit) {
  if (unit.empty()) return 0;
  std::lock_guard<std::mutex> lock(resources_mu_);
  auto it = unit_resources_.find(unit);
  if (it != unit_resources_.end()) return it->second;
  if (unit_resources_.size() >= kMaxUnitResources) return 0;
  v1::Resource r = context_.node;
  r.set_systemd_unit(unit);
  uint32_t ref = context_.batcher.InternResource(r);
  unit_resources_.emplace(unit, ref);
  return ref;
}

Result<std::unique_ptr<Source>> CreateGpuSource(ConfigSection& config, SourceContext& context) {
  GpuSourceOptions o;
  o.library = config.String("library", o.library);
  o.interval_nanos = config.Duration("interval", o.interval_nanos);
  o.retry_interval_nanos = config.Duration("retry_interval", o.retry_interval_nanos);
  o.events = config.Bool("events", o.events);
  o.proc_root = config.String("proc_root", o.proc_root);
  o.sampler.max_gpus = static_cast<size_t>(config.Int("max_gpus", 16, 1, 1024));
  o.sampler.max_processes_per_gpu = static_cast<size_t>(config.Int("max_processes_per_gpu", 64, 1, 4096));
  o.sampler.processes = config.Bool("processes", o.sampler.processes);
  o.sampler.graphics_processes = config.Bool("graphics_processes", o.sampler.graphics_processes);
  const std::string ecc = config.String("ecc_counter", "aggregate");
  if (ecc == "aggregate") {
    o.sampler.ecc_counter = NVML_AGGREGATE_ECC;
  } else if (ecc == "volatile") {
    o.sampler.ecc_counter = NVML_VOLATILE_ECC;
  } else {
    return InvalidArgument("sources.gpu.ecc_counter must be \"aggregate\" or \"volatile\", not \"" + ecc + "\"");
  }
  if (o.interval_nanos < kNanosPerSecond) return InvalidArgument("sources.gpu.interval must be at least 1s");
  if (o.retry_interval_nanos < kNanosPerSecond) {
    return InvalidArgument("sources.gpu.retry_interval must be at least 1s");
  }
  return std::unique_ptr<Source>(std::make_unique<GpuSource>(std::move(o), context));
}

}  // namespace custos::agent::gpu
