// Incidents: related alerts grouped, explained and resolved.
//
// Every stored alert joins the open incident whose last signal is less than
// `group_window` older than it, or opens a new one (so a burst of symptoms
// is one incident, not fifty pages). An incident resolves when no signal has
// joined it for `resolve_after`. Once its onset is `rca_delay` old (the
// metrics of the minutes after the onset have arrived), a worker thread runs
// the root-cause analysis (collector/rca) on the store; the result is kept
// with the incident (custosctl rca ID, custosctl incidents), and the
// incident's alerts are sent again with the top candidates in their
// annotations (Alertmanager merges them into the alerts it has).
//
// Bounded: at most `max_open` open incidents (the oldest is resolved early,
// counted) and `max_queued_analyses` waiting analyses (more are counted and
// analysed later, at the next tick).
//
// Thread-safety: OnAlert() and Tick() on the store's writer thread; the
// analysis runs on the tracker's own thread with its own read-only
// connection. Start()/Stop() from one thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collector/rca/analyzer.h"
#include "collector/store/sqlite_db.h"
#include "common/metrics.h"
#include "common/status.h"
#include "policy/rules.h"

namespace custos::collector {

struct IncidentOptions {
  int64_t group_window_nanos = 5LL * 60 * 1'000'000'000;
  int64_t resolve_after_nanos = 15LL * 60 * 1'000'000'000;
  int64_t rca_delay_nanos = 5LL * 60 * 1'000'000'000;
  size_t max_open = 1000;
  size_t max_queued_analyses = 64;
  size_t annotate_max_alerts = 20;  // alerts of one incident re-sent with the analysis
};

// Creates the incidents table and the alerts.incident column.
Status CreateIncidentTables(store::Db& db);

// What happened to incidents, for the audit log and the alert outbox.
struct IncidentEvent {
  enum class Kind { kOpened, kResolved, kAnalysed };
  Kind kind;
  int64_t id = 0;
  std::string title;
  nlohmann::json details;                                     // kAnalysed: the report; others: counts and times
  std::vector<std::pair<policy::Alert, std::string>> alerts;  // kAnalysed: (annotated alert, node) to re-send
};

class IncidentTracker {
 public:
  using Analyzer = std::function<Result<rca::RcaReport>(int64_t onset_unix_nanos)>;

  // `analyzer` runs on the tracker's thread (rca::Analyze on the store by default, see collector.cc).
  IncidentTracker(IncidentOptions options, Analyzer analyzer, MetricsRegistry& metrics);
  ~IncidentTracker();
  IncidentTracker(const IncidentTracker&) = delete;
  IncidentTracker& operator=(const IncidentTracker&) = delete;

  void Start();
  void Stop();

  // Writer thread, inside the transaction that stores the alert: returns the
  // incident the alert joins; `events` gets kOpened for a new one.
  Result<int64_t> OnAlert(store::Db& db, const policy::Alert& alert, std::vector<IncidentEvent>& events);

  // Writer thread, outside a transaction: resolves quiet incidents, hands
  // due analyses to the worker, and stores finished ones.
  Status Tick(store::Db& db, int64_t now_unix_nanos, std::vector<IncidentEvent>& events);

 private:
  void Run();
  Status StoreAnalysis(store::Db& db, int64_t id, const rca::RcaReport& report, int64_t now,
                       std::vector<IncidentEvent>& events);

  const IncidentOptions options_;
  const Analyzer analyzer_;
  Counter& opened_;
  Counter& resolved_;
  Counter& analysed_;
  Counter& analysis_failures_;
  Counter& forced_resolves_;
  Counter& queue_full_;
  Gauge& open_gauge_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int64_t, int64_t>> queue_;                 // (incident, onset); guarded by mu_
  std::vector<std::pair<int64_t, Result<rca::RcaReport>>> done_;  // guarded by mu_
  std::vector<int64_t> in_progress_;                              // guarded by mu_
  bool stop_ = false;                                             // guarded by mu_
  std::thread thread_;
};

}  // namespace custos::collector
