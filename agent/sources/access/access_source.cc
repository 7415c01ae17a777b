#include "agent/sources/access/access_source.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "agent/core/process_info.h"
#include "agent/sources/access/access_socket_server.h"
#include "agent/sources/access/coalescer.h"
#include "agent/sources/access/dataset_map.h"
#include "agent/sources/access/fanotify_watcher.h"
#include "common/log.h"
#include "common/log_limiter.h"
#include "common/thread_name.h"

namespace custos::agent::access {
namespace {

constexpr char kLog[] = "access";
constexpr size_t kMaxReporterResources = 256;
constexpr int64_t kLogEveryNanos = 10 * kNanosPerSecond;
// Reads of the kernel queues at stop: enough for a full default queue
// (16384 events) of each group, bounded in count and in time so that a storm
// cannot hold Stop() (what is left in the queues is gone with the group, as
// anything the kernel sees while the agent is down).
constexpr int kStopDrainReads = 128;
constexpr auto kStopDrainTime = std::chrono::seconds(2);

struct AccessOptions {
  bool fanotify = true;
  FanotifyOptions watch;
  bool socket = true;
  SocketOptions socket_options;
  CoalescerOptions coalesce;
};

// Logs at most once per kLogEveryNanos, saying how many were suppressed.
class RateLimitedLog {
 public:
  void Warn(Clock& clock, std::string_view message, const std::string& detail) {
    uint64_t suppressed = 0;
    if (!limiter_.Allow(clock.MonotonicNanos(), &suppressed)) return;
    log::Warn(kLog, message, {{"detail", detail}, {"suppressed_since_last", std::to_string(suppressed)}});
  }

 private:
  LogLimiter limiter_{kLogEveryNanos};
};

class AccessSource final : public Source {
 public:
  AccessSource(SourceContext& context, AccessOptions options, DatasetMap map)
      : context_(context),
        options_(std::move(options)),
        map_(std::move(map)),
        fanotify_events_(context.metrics.GetCounter("custos_access_events_total", "Access events seen",
                                                    {{"input", "fanotify"}})),
        socket_events_(context.metrics.GetCounter("custos_access_events_total", "Access events seen",
                                                  {{"input", "socket"}})),
        coalesced_(context.metrics.GetCounter("custos_access_coalesced_total",
                                              "Kernel events folded into an earlier record's count")),
        coalesce_evicted_(context.metrics.GetCounter("custos_access_coalesce_evicted_total",
                                                     "Records flushed before their window ended (max_coalesce_entries)")),
        overflows_(context.metrics.GetCounter("custos_access_fanotify_overflows_total",
                                              "fanotify queue overflows (kernel events lost)")),
        dropped_(context.metrics.GetCounter("custos_access_dropped_total",
                                            "Kernel access records dropped because the batcher was full")),
        fanotify_enabled_(context.metrics.GetGauge("custos_access_fanotify_enabled",
                                                   "1 while the fanotify input runs")),
        coalescer_(options_.coalesce) {}

  ~AccessSource() override { Stop(); }

  // Source
  const std::string& name() const override { return name_; }

  Status Start(const std::string& position) override {
    (void)position;  // nothing to resume: see the header
    if (options_.socket) {
      auto server = AccessSocketServer::Listen(
          options_.socket_options,
          [this](const Peer& peer, std::vector<AccessRequest>&& requests) { return Submit(peer, std::move(requests)); },
          context_.metrics, context_.clock);
      if (!server.ok()) return server.status().WithContext("access socket");
      server_ = std::move(*server);
      server_->Start();
      log::Info(kLog, "access socket listening", {{"path", options_.socket_options.path}});
    }
    if (options_.fanotify) {
      auto watcher = FanotifyWatcher::Open(options_.watch, context_.metrics);
      if (!watcher.ok()) {
        // Degraded, not fatal: the socket input still works.
        log::Error(kLog,
                   watcher.status().code() == StatusCode::kPermissionDenied
                       ? "fanotify input disabled: the agent lacks CAP_SYS_ADMIN (socket input still works)"
                       : "fanotify input disabled (socket input still works)",
                   {{"error", watcher.status().ToString()}});
      } else {
        watcher_ = std::move(*watcher);
        if (!watcher_->unavailable().empty()) {
          log::Warn(kLog, "some file events are unavailable", {{"unavailable", watcher_->unavailable()}});
        }
        log::Info(kLog, "fanotify input watching",
                  {{"directories", std::to_string(watcher_->marked_directories())},
                   {"roots", std::to_string(options_.watch.roots.size())}});
        stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (stop_fd_ < 0) return ErrnoStatus("eventfd", errno);
        fanotify_enabled_.Set(1);
        thread_ = std::thread([this] {
          SetThreadName("fanotify");
          RunFanotify();
        });
      }
    }
    return Status::Ok();
  }

  void Stop() override {
    if (server_) server_->Stop();
    if (thread_.joinable()) {
      uint64_t one = 1;
      if (write(stop_fd_, &one, sizeof(one)) < 0) log::Error(kLog, "cannot wake the fanotify thread");
      thread_.join();
      fanotify_enabled_.Set(0);
    }
    if (stop_fd_ >= 0) {
      close(stop_fd_);
      stop_fd_ = -1;
    }
  }

 private:
  // The fanotify thread: events → coalescer → batcher. Each turn reads a
  // bounded amount (one buffer per group), so under an event storm the
  // thread still emits due records and sees Stop().
  void RunFanotify() {
    std::vector<pollfd> fds{{stop_fd_, POLLIN, 0}};
    for (int fd : watcher_->fds()) fds.push_back({fd, POLLIN, 0});
    for (;;) {
      // Wake at least every 100 ms so that windows end on time under any clock.
      int n = poll(fds.data(), fds.size(), 100);
      if (n < 0 && errno != EINTR) {
        log::Error(kLog, "fanotify poll failed", {{"error", std::strerror(errno)}});
        break;
      }
      if (fds[0].revents & POLLIN) break;
      ReadEvents();
      Emit(coalescer_.TakeDue(context_.clock.MonotonicNanos()));
    }
    // What was queued before Stop(), bounded: a storm that goes on is cut off.
    const auto drain_until = std::chrono::steady_clock::now() + kStopDrainTime;
    for (int i = 0; i < kStopDrainReads && std::chrono::steady_clock::now() < drain_until; ++i) {
      if (ReadEvents() == 0) break;
    }
    Emit(coalescer_.TakeAll());
  }

  // One bounded read; returns how many kernel events it took.
  size_t ReadEvents() {
    FanotifyWatcher::ReadResult r = watcher_->ReadEvents([this](FileEvent&& e) { OnFileEvent(std::move(e)); });
    if (r.overflows > 0) {
      overflows_.Increment(r.overflows);
      context_.batcher.ReportLoss(name_, v1::Gap::REASON_SOURCE_OVERFLOW, 0,
                                  "fanotify queue overflow: kernel file events lost");
      overflow_log_.Warn(context_.clock, "fanotify queue overflowed: file events lost",
                         std::to_string(r.overflows) + " overflow(s)");
    }
    return r.events;
  }

  void OnFileEvent(FileEvent&& e) {
    v1::AccessEvent a;
    a.set_time_unix_nano(static_cast<uint64_t>(context_.clock.NowUnixNanos()));
    v1::Principal* p = a.mutable_principal();
    p->set_pid(e.pid);
    p->set_uid(-1);
    if (std::optional<ProcessInfo> info = processes_.Lookup(e.pid)) {
      p->set_uid(info->uid);
      p->set_user(info->user);
      p->set_systemd_unit(info->systemd_unit);
      p->set_executable(info->executable);
    }
    p->set_service_identity(map_.PrincipalName(p->uid(), p->user(), p->systemd_unit()));
    a.set_action(e.action);
    a.set_outcome(v1::AccessEvent::OUTCOME_SUCCESS);
    a.set_object(std::move(e.path));
    SetDataset(a, "");
    a.set_count(1);
    a.set_source("fanotify");
    uint64_t merged = coalescer_.merged(), evicted = coalescer_.evicted_early();
    std::vector<v1::AccessEvent> full = coalescer_.Add(std::move(a), context_.clock.MonotonicNanos());
    coalesced_.Increment(coalescer_.merged() - merged);
    coalesce_evicted_.Increment(coalescer_.evicted_early() - evicted);
    fanotify_events_.Increment();  // before Emit: once counted, the identity has been looked up
    Emit(std::move(full));         // max_coalesce_entries closed early: out now, not held
  }

  void Emit(std::vector<v1::AccessEvent>&& events) {
    if (events.empty()) return;
    std::vector<v1::Record> records(events.size());
    for (size_t i = 0; i < events.size(); ++i) *records[i].mutable_access() = std::move(events[i]);
    size_t n = records.size();
    Status s = context_.batcher.Add(name_, std::move(records));
    if (!s.ok()) {
      // The kernel cannot replay: count, report the loss, say so.
      dropped_.Increment(n);
      context_.batcher.ReportLoss(name_, v1::Gap::REASON_SOURCE_OVERFLOW, n, "batcher refused kernel access records");
      drop_log_.Warn(context_.clock, "kernel access records dropped: the batcher is full", s.ToString());
    }
  }

  void SetDataset(v1::AccessEvent& a, const std::string& explicit_id) {
    const Dataset* d = explicit_id.empty() ? map_.ForObject(a.object()) : map_.ById(explicit_id);
    if (d != nullptr) {
      a.set_dataset_id(d->id);
      a.set_classification(d->classification);
      a.set_dataset_home_region(d->home_region);
    } else {
      a.set_dataset_id(explicit_id);  // an id the map does not know is kept as given
    }
  }

  // The socket thread: a batch of valid lines from one reporter.
  Status Submit(const Peer& peer, std::vector<AccessRequest>&& requests) {
    const uint32_t resource = ReporterResource(peer);
    const int64_t now = context_.clock.NowUnixNanos();
    std::vector<v1::Record> records(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      AccessRequest& r = requests[i];
      v1::AccessEvent* a = records[i].mutable_access();
      a->set_time_unix_nano(static_cast<uint64_t>(r.time_unix_nano.value_or(now)));
      a->set_resource_ref(resource);
      v1::Principal* p = a->mutable_principal();
      p->set_uid(r.uid);
      p->set_user(std::move(r.user));
      p->set_service_identity(r.service_identity.empty() ? map_.PrincipalName(r.uid, p->user(), "")
                                                         : std::move(r.service_identity));
      a->set_action(r.action);
      a->set_outcome(r.outcome);
      a->set_object(std::move(r.object));
      SetDataset(*a, r.dataset);
      a->set_bytes(r.bytes);
      a->set_count(r.count);
      a->set_source("socket");
    }
    size_t n = records.size();
    Status s = context_.batcher.Add(name_, std::move(records));
    if (s.ok()) socket_events_.Increment(n);
    return s;
  }

  // The reporter as a resource: the node plus the reporting process's unit,
  // executable and uid (not its pid, so the resource table stays small).
  uint32_t ReporterResource(const Peer& peer) {
    std::optional<ProcessInfo> info = processes_.Lookup(peer.pid);
    std::string exe = info ? info->executable : "";
    std::string unit = info ? info->systemd_unit : "";
    std::string key = exe + '\0' + unit + '\0' + std::to_string(peer.uid);
    auto it = reporter_refs_.find(key);
    if (it != reporter_refs_.end()) return it->second;
    if (reporter_refs_.size() >= kMaxReporterResources) {
      reporter_log_.Warn(context_.clock, "too many distinct access reporters: recording the node as reporter", key);
      return 0;
    }
    v1::Resource r = context_.node;
    r.set_systemd_unit(unit);
    (*r.mutable_labels())["access.reporter_exe"] = exe;
    (*r.mutable_labels())["access.reporter_uid"] = std::to_string(peer.uid);
    uint32_t ref = context_.batcher.InternResource(r);
    reporter_refs_.emplace(std::move(key), ref);
    return ref;
  }

  const std::string name_ = "access";
  SourceContext& context_;
  // Constant after construction.
  const AccessOptions options_;
  const DatasetMap map_;
  Counter& fanotify_events_;
  Counter& socket_events_;
  Counter& coalesced_;
  Counter& coalesce_evicted_;
  Counter& overflows_;
  Counter& dropped_;
  Gauge& fanotify_enabled_;

  ProcessInfoCache processes_;  // thread-safe
  RateLimitedLog overflow_log_, drop_log_, reporter_log_;
  // Fanotify thread only.
  Coalescer coalescer_;
  // Socket thread only.
  std::map<std::string, uint32_t> reporter_refs_;

  std::unique_ptr<FanotifyWatcher> watcher_;
  std::unique_ptr<AccessSocketServer> server_;
  int stop_fd_ = -1;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Source>> CreateAccessSource(ConfigSection& config, SourceContext& context) {
  AccessOptions o;
  o.fanotify = config.Bool("fanotify", true);
  o.watch.roots = config.StringList("roots");
  o.watch.max_directories = static_cast<size_t>(config.Int("max_directories", 16384, 1, 1'000'000));
  o.coalesce.window_nanos = config.Duration("coalesce_window", 5 * kNanosPerSecond);
  o.coalesce.max_entries = static_cast<size_t>(config.Int("max_coalesce_entries", 10'000, 1, 10'000'000));
  SocketOptions& so = o.socket_options;
  so.path = config.String("socket", so.path);
  o.socket = !so.path.empty();
  so.mode = static_cast<mode_t>(config.Int("socket_mode", 0660, 0, 0777));
  so.group = config.String("socket_group", "");
  so.max_line_bytes = config.Bytes("max_line_bytes", 64 * 1024);
  so.max_connections = static_cast<size_t>(config.Int("max_connections", 64, 1, 10'000));
  so.read_timeout_nanos = config.Duration("read_timeout", 10 * kNanosPerSecond);
  so.idle_timeout_nanos = config.Duration("idle_timeout", 300 * kNanosPerSecond);
  so.retry_after_ms = config.Duration("busy_retry_after", 200 * kNanosPerMilli) / kNanosPerMilli;
  DatasetMap map = DatasetMap::FromConfig(config);

  if (o.fanotify && o.watch.roots.empty()) {
    config.AddError("roots", "fanotify = true needs at least one root directory (or set fanotify = false)");
  }
  for (const std::string& root : o.watch.roots) {
    if (root.empty() || root[0] != '/') config.AddError("roots", "'" + root + "' is not an absolute path");
  }
  for (std::string& root : o.watch.roots) {
    while (root.size() > 1 && root.back() == '/') root.pop_back();
  }
  if (!o.socket && !o.fanotify) config.AddError("socket", "both inputs are disabled (socket = \"\" and fanotify = false)");
  if (o.socket && so.path[0] != '/') config.AddError("socket", "'" + so.path + "' is not an absolute path");
  if (so.max_line_bytes < 256 || so.max_line_bytes > (16u << 20)) {
    config.AddError("max_line_bytes", "must be between 256 B and 16 MiB");
  }
  if (o.coalesce.window_nanos < 0) config.AddError("coalesce_window", "must not be negative");
  if (so.read_timeout_nanos <= 0) config.AddError("read_timeout", "must be positive");
  if (so.idle_timeout_nanos <= 0) config.AddError("idle_timeout", "must be positive");
  if (so.retry_after_ms < 1) config.AddError("busy_retry_after", "must be at least 1ms");
  return std::unique_ptr<Source>(new AccessSource(context, std::move(o), std::move(map)));
}

}  // namespace custos::agent::access
