// Alert delivery that survives a collector restart: an alert is written to a
// durable outbox in the same SQLite transaction that stores it, and a
// delivery thread posts it to every configured target — Alertmanager
// (POST /api/v2/alerts) or a generic webhook (Alertmanager's webhook JSON,
// version 4) — retrying with exponential back-off until the target answers
// 2xx. A row leaves the outbox only then, so an alert raised before a crash
// is delivered after the restart; a target that saw it already (a crash
// between its 2xx and our bookkeeping) receives it again with the same labels
// and start time, which Alertmanager merges into the one alert it has.
//
// Repeats of one alert (same rule and labels, its fingerprint) within
// `repeat_interval` are not queued again, nor are alerts an active silence
// matches (custos_collector_alerts_silenced_total). The outbox is bounded
// (`max_outbox`): an alert that finds it full is still stored and audited,
// and counted as not queued (custos_collector_alerts_outbox_full_total).
//
// Thread-safety: Enqueue() on the store's writer thread (inside its
// transaction); Start()/Stop() from one thread; the delivery thread uses its
// own connection.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "collector/alerting/silences.h"
#include "collector/store/sqlite_db.h"
#include "common/metrics.h"
#include "common/status.h"
#include "policy/rules.h"

namespace custos::collector {

struct AlertTarget {
  enum class Kind { kAlertmanager, kWebhook };
  Kind kind = Kind::kAlertmanager;
  std::string url;  // Alertmanager: its base URL; webhook: the full URL
};

// Inhibition, as Alertmanager's inhibit_rules: while an alert matching
// `source` is active (within resolve_after of it), alerts matching `target`
// with the same values of the `equal` labels are not sent (the cause is
// paged, its symptoms are not).
struct InhibitRule {
  std::vector<Matcher> source, target;
  std::vector<std::string> equal;
  std::string name;  // for the record: the source matchers as written
};

struct AlertingOptions {
  std::vector<AlertTarget> targets;
  std::vector<InhibitRule> inhibit;
  int64_t repeat_interval_nanos = 5LL * 60 * 1'000'000'000;  // a repeat within it is not queued again
  int64_t resolve_after_nanos = 5LL * 60 * 1'000'000'000;    // endsAt: resolved unless it recurs
  int64_t max_backoff_nanos = 5LL * 60 * 1'000'000'000;
  int64_t request_timeout_nanos = 5LL * 1'000'000'000;
  size_t max_outbox = 100'000;
  std::string external_url = "http://127.0.0.1:7080";  // generatorURL / externalURL
};

// Creates the outbox table (in the store's file).
Status CreateOutboxTable(store::Db& db);

// The alert's labels as Alertmanager sees them (and silences match them):
// alertname = the rule, severity, node, source = custos, and the rule's labels.
std::map<std::string, std::string> AlertLabels(const policy::Alert& alert, const std::string& node);

// The alert as Alertmanager sees it: labels and annotations (summary = the
// message, ...).
struct AlertPayload {
  std::string fingerprint;  // hex SHA-256 of the sorted labels
  std::string json;         // one Alertmanager v2 alert object
};
AlertPayload BuildAlertPayload(const policy::Alert& alert, const std::string& node, const AlertingOptions& options);

class AlertOutbox {
 public:
  AlertOutbox(std::string db_path, AlertingOptions options, MetricsRegistry& metrics);
  ~AlertOutbox();
  AlertOutbox(const AlertOutbox&) = delete;
  AlertOutbox& operator=(const AlertOutbox&) = delete;

  // Writer thread, inside the transaction that stores the alert. Returns
  // what kept it from being sent ("silence:ID", "inhibited:RULE"), or "".
  // An `update` (the same alert with new annotations: its incident's
  // analysis) is sent even within repeat_interval.
  Result<std::string> Enqueue(store::Db& db, const policy::Alert& alert, const std::string& node,
                              bool update = false);
  // Silences to honour (may be null); set before Start().
  void SetSilences(const Silences* silences) { silences_ = silences; }
  // After the transaction commits: wakes the delivery thread.
  void Notify();
  // The writer's transaction that called Enqueue() committed, or rolled
  // back: then what Enqueue() remembered in it is forgotten (an alert not
  // stored was not queued, so storing it again queues it).
  void Committed() { undo_.clear(); }
  void RolledBack();

  Status Start();
  void Stop();
  bool enabled() const { return !options_.targets.empty(); }

 private:
  void Run();
  // Delivers what is due; returns the time of the next due row (0: none).
  int64_t DeliverDue(store::Db& db);
  bool Post(const AlertTarget& target, const std::string& alerts_json, std::string& error);

  const std::string db_path_;
  const AlertingOptions options_;
  const Silences* silences_ = nullptr;
  // Writer thread only.
  std::unordered_map<std::string, int64_t> last_queued_;  // fingerprint -> time
  // fingerprint -> the annotations it was last sent with (its incident's analysis)
  std::unordered_map<std::string, std::vector<std::pair<std::string, std::string>>> annotations_;
  // Per inhibit rule: the values of its `equal` labels -> when a source alert last fired.
  std::vector<std::unordered_map<std::string, int64_t>> inhibiting_;
  std::unique_ptr<store::Statement> insert_, count_;
  int64_t queued_rows_ = -1;  // rows in the outbox as the writer last counted them
  // last_queued_ entries as they were before the running transaction.
  std::vector<std::pair<std::string, std::optional<int64_t>>> undo_;
  // Delivery thread.
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;     // guarded by mu_
  bool wake_ = false;     // guarded by mu_
  Counter& delivered_;
  Counter& failed_attempts_;
  Counter& outbox_full_;
  Counter& repeats_;
  Counter& silenced_;
  Counter& inhibited_;
  Gauge& pending_;
};

}  // namespace custos::collector
