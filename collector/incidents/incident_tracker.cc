#include "collector/incidents/incident_tracker.h"

#include <algorithm>

#include "common/clock.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace custos::collector {
namespace {

int SeverityRank(const std::string& s) {
  if (s == "critical") return 4;
  if (s == "error") return 3;
  if (s == "warning") return 2;
  if (s == "info") return 1;
  return 0;
}

// Runs `fn` in one write transaction on the writer connection.
template <typename Fn>
Status InTransaction(store::Db& db, Fn fn) {
  CUSTOS_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  Status s = fn();
  if (s.ok()) s = db.Exec("COMMIT");
  if (!s.ok()) (void)db.Exec("ROLLBACK");
  return s;
}

}  // namespace

Status CreateIncidentTables(store::Db& db) {
  return db.Exec(
      "CREATE TABLE IF NOT EXISTS incidents(id INTEGER PRIMARY KEY, opened INTEGER NOT NULL, "
      "last_signal INTEGER NOT NULL, resolved INTEGER, title TEXT, severity TEXT, alerts INTEGER NOT NULL DEFAULT 0, "
      "rca TEXT, rca_summary TEXT, rca_at INTEGER);"
      "CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents(resolved);"
      "CREATE INDEX IF NOT EXISTS incidents_unanalysed ON incidents(opened) WHERE rca_at IS NULL;"
      "CREATE INDEX IF NOT EXISTS alerts_incident ON alerts(incident);");
}

IncidentTracker::IncidentTracker(IncidentOptions options, Analyzer analyzer, MetricsRegistry& m)
    : options_(options),
      analyzer_(std::move(analyzer)),
      opened_(m.GetCounter("custos_collector_incidents_opened_total", "Incidents opened")),
      resolved_(m.GetCounter("custos_collector_incidents_resolved_total", "Incidents resolved")),
      analysed_(m.GetCounter("custos_collector_incident_analyses_total", "Root-cause analyses of incidents")),
      analysis_failures_(m.GetCounter("custos_collector_incident_analysis_failures_total",
                                      "Root-cause analyses that failed (the incident says why)")),
      forced_resolves_(m.GetCounter("custos_collector_incidents_forced_resolves_total",
                                    "Incidents resolved early: more than max_open were open")),
      queue_full_(m.GetCounter("custos_collector_incident_analyses_deferred_total",
                               "Due analyses left for a later tick: max_queued_analyses were waiting")),
      open_gauge_(m.GetGauge("custos_collector_incidents_open", "Incidents open now")) {}

IncidentTracker::~IncidentTracker() { Stop(); }

void IncidentTracker::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] {
    SetThreadName("incidents");
    Run();
  });
}

void IncidentTracker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void IncidentTracker::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    auto [id, onset] = queue_.front();
    queue_.pop_front();
    in_progress_.push_back(id);
    lock.unlock();
    Result<rca::RcaReport> report = analyzer_(onset);
    lock.lock();
    std::erase(in_progress_, id);
    done_.emplace_back(id, std::move(report));
  }
}

Result<int64_t> IncidentTracker::OnAlert(store::Db& db, const policy::Alert& alert,
                                         std::vector<IncidentEvent>& events) {
  // A clock running ahead must not hold an incident open into the future.
  constexpr int64_t kMaxSkew = 5LL * 60 * 1'000'000'000;
  const int64_t t = std::min(alert.time_unix_nano, Clock::Real().NowUnixNanos() + kMaxSkew);
  CUSTOS_ASSIGN_OR_RETURN(auto open,
                          db.Prepare("SELECT id, opened, last_signal, severity FROM incidents "
                                     "WHERE resolved IS NULL AND ?1 BETWEEN opened - ?2 AND last_signal + ?2 "
                                     "ORDER BY last_signal DESC LIMIT 1"));
  open->Bind(1, t);
  open->Bind(2, options_.group_window_nanos);
  CUSTOS_ASSIGN_OR_RETURN(bool row, open->Step());
  if (row) {
    int64_t id = open->Int(0);
    std::string severity = SeverityRank(alert.severity) > SeverityRank(open->Text(3)) ? alert.severity : open->Text(3);
    CUSTOS_ASSIGN_OR_RETURN(auto join, db.Prepare("UPDATE incidents SET last_signal = max(last_signal, ?1), "
                                                  "alerts = alerts + 1, severity = ?2 WHERE id = ?3"));
    join->Bind(1, t);
    join->Bind(2, severity);
    join->Bind(3, id);
    CUSTOS_RETURN_IF_ERROR(join->Exec());
    return id;
  }
  // A message naming a person (an access alert) stays out of the title: the
  // title goes into the audit chain, which cannot erase it. Its labels
  // (verdict, violations, dataset) say what happened without who.
  std::string summary;
  if (alert.subject.empty()) {
    summary = alert.message.substr(0, 200);
  } else {
    for (const auto& [k, v] : alert.labels) summary += (summary.empty() ? "" : " ") + k + "=" + v;
  }
  std::string title = alert.rule + ": " + summary;
  CUSTOS_ASSIGN_OR_RETURN(auto insert, db.Prepare("INSERT INTO incidents(opened, last_signal, title, severity, alerts) "
                                                  "VALUES(?1, ?1, ?2, ?3, 1)"));
  insert->Bind(1, t);
  insert->Bind(2, title);
  insert->Bind(3, alert.severity);
  CUSTOS_RETURN_IF_ERROR(insert->Exec());
  int64_t id = sqlite3_last_insert_rowid(db.raw());
  opened_.Increment();
  events.push_back({.kind = IncidentEvent::Kind::kOpened,
                    .id = id,
                    .title = title,
                    .details = {{"opened", t}, {"severity", alert.severity}}});
  // Bounded: past max_open, the oldest open incident is resolved now.
  CUSTOS_ASSIGN_OR_RETURN(auto count, db.Prepare("SELECT count(*) FROM incidents WHERE resolved IS NULL"));
  CUSTOS_ASSIGN_OR_RETURN(bool counted, count->Step());
  if (counted && static_cast<size_t>(count->Int(0)) > options_.max_open) {
    CUSTOS_ASSIGN_OR_RETURN(auto oldest, db.Prepare("SELECT id, title FROM incidents WHERE resolved IS NULL "
                                                    "ORDER BY last_signal LIMIT 1"));
    CUSTOS_ASSIGN_OR_RETURN(bool found, oldest->Step());
    if (found) {
      int64_t old_id = oldest->Int(0);
      std::string old_title = oldest->Text(1);
      CUSTOS_ASSIGN_OR_RETURN(auto close, db.Prepare("UPDATE incidents SET resolved = last_signal WHERE id = ?1"));
      close->Bind(1, old_id);
      CUSTOS_RETURN_IF_ERROR(close->Exec());
      forced_resolves_.Increment();
      resolved_.Increment();
      log::Warn("incidents", "too many open incidents: resolved the oldest early",
                {{"incident", std::to_string(old_id)}, {"max_open", std::to_string(options_.max_open)}});
      events.push_back({.kind = IncidentEvent::Kind::kResolved,
                        .id = old_id,
                        .title = old_title,
                        .details = {{"reason", "max_open"}}});
    }
  }
  return id;
}

Status IncidentTracker::Tick(store::Db& db, int64_t now, std::vector<IncidentEvent>& events) {
  std::vector<std::pair<int64_t, Result<rca::RcaReport>>> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(done_);
  }
  // Events and counts are handed out only once the transaction commits.
  std::vector<IncidentEvent> staged;
  uint64_t resolved_count = 0, analysed_count = 0, failed_count = 0;
  Status s = InTransaction(db, [&, &events = staged]() -> Status {
    // Quiet incidents resolve.
    CUSTOS_ASSIGN_OR_RETURN(auto quiet, db.Prepare("SELECT id, title, alerts, last_signal FROM incidents "
                                                   "WHERE resolved IS NULL AND last_signal < ?1"));
    quiet->Bind(1, now - options_.resolve_after_nanos);
    std::vector<IncidentEvent> resolved;
    for (;;) {
      CUSTOS_ASSIGN_OR_RETURN(bool row, quiet->Step());
      if (!row) break;
      resolved.push_back({.kind = IncidentEvent::Kind::kResolved,
                          .id = quiet->Int(0),
                          .title = quiet->Text(1),
                          .details = {{"alerts", quiet->Int(2)}, {"last_signal", quiet->Int(3)}}});
    }
    CUSTOS_ASSIGN_OR_RETURN(auto resolve, db.Prepare("UPDATE incidents SET resolved = last_signal + ?1 WHERE id = ?2"));
    for (IncidentEvent& e : resolved) {
      resolve->Bind(1, options_.resolve_after_nanos);
      resolve->Bind(2, e.id);
      CUSTOS_RETURN_IF_ERROR(resolve->Exec());
      ++resolved_count;
      events.push_back(std::move(e));
    }
    // Finished analyses are stored.
    for (auto& [id, report] : done) {
      if (report.ok()) {
        CUSTOS_RETURN_IF_ERROR(StoreAnalysis(db, id, *report, now, events));
        ++analysed_count;
        continue;
      }
      ++failed_count;
      log::Warn("incidents", "root-cause analysis failed",
                {{"incident", std::to_string(id)}, {"error", report.status().ToString()}});
      CUSTOS_ASSIGN_OR_RETURN(auto failed,
                              db.Prepare("UPDATE incidents SET rca_at = ?1, rca_summary = ?2 WHERE id = ?3"));
      failed->Bind(1, now);
      std::string why = "analysis failed: " + report.status().ToString();
      failed->Bind(2, why);
      failed->Bind(3, id);
      CUSTOS_RETURN_IF_ERROR(failed->Exec());
    }
    // Due analyses go to the worker.
    CUSTOS_ASSIGN_OR_RETURN(auto due, db.Prepare("SELECT id, opened FROM incidents WHERE rca_at IS NULL "
                                                 "AND opened <= ?1 ORDER BY id LIMIT ?2"));
    due->Bind(1, now - options_.rca_delay_nanos);
    due->Bind(2, static_cast<int64_t>(options_.max_queued_analyses));
    std::vector<std::pair<int64_t, int64_t>> ready;
    for (;;) {
      CUSTOS_ASSIGN_OR_RETURN(bool row, due->Step());
      if (!row) break;
      ready.emplace_back(due->Int(0), due->Int(1));
    }
    CUSTOS_ASSIGN_OR_RETURN(auto open_count, db.Prepare("SELECT count(*) FROM incidents WHERE resolved IS NULL"));
    CUSTOS_ASSIGN_OR_RETURN(bool counted, open_count->Step());
    if (counted) open_gauge_.Set(open_count->Int(0));
    std::lock_guard<std::mutex> lock(mu_);
    bool added = false;
    auto has = [](const auto& list, int64_t id) {
      return std::any_of(list.begin(), list.end(), [&](const auto& x) { return x.first == id; });
    };
    for (const auto& [id, onset] : ready) {
      // Finished since the swap above (done_), or stored just now (done): not again.
      bool known = std::find(in_progress_.begin(), in_progress_.end(), id) != in_progress_.end() || has(queue_, id) ||
                   has(done_, id) || has(done, id);
      if (known) continue;
      if (queue_.size() >= options_.max_queued_analyses) {
        queue_full_.Increment();  // analysed at a later tick
        continue;
      }
      queue_.emplace_back(id, onset);
      added = true;
    }
    if (added) cv_.notify_one();
    return Status::Ok();
  });
  if (!s.ok()) {
    // Nothing of it happened: the finished analyses wait for the next tick.
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& d : done) done_.push_back(std::move(d));
    return s;
  }
  resolved_.Increment(resolved_count);
  analysed_.Increment(analysed_count);
  analysis_failures_.Increment(failed_count);
  for (IncidentEvent& e : staged) events.push_back(std::move(e));
  return Status::Ok();
}

Status IncidentTracker::StoreAnalysis(store::Db& db, int64_t id, const rca::RcaReport& report, int64_t now,
                                      std::vector<IncidentEvent>& events) {
  nlohmann::json j = rca::ReportJson(report);
  std::string summary = rca::ReportSummary(report, 3);
  std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  CUSTOS_ASSIGN_OR_RETURN(auto update,
                          db.Prepare("UPDATE incidents SET rca = ?1, rca_summary = ?2, rca_at = ?3 WHERE id = ?4"));
  update->Bind(1, text);
  update->Bind(2, summary);
  update->Bind(3, now);
  update->Bind(4, id);
  CUSTOS_RETURN_IF_ERROR(update->Exec());
  IncidentEvent e{.kind = IncidentEvent::Kind::kAnalysed, .id = id, .title = summary, .details = j};
  // The incident's alerts, sent again with the analysis in their annotations.
  CUSTOS_ASSIGN_OR_RETURN(auto alerts, db.Prepare("SELECT ts, rule, severity, message, labels, record_kind, count, "
                                                  "policy_version, alert_node, coalesce(subject, '') FROM alerts "
                                                  "WHERE incident = ?1 "
                                                  "AND suppressed_by IS NULL ORDER BY rowid LIMIT ?2"));
  alerts->Bind(1, id);
  alerts->Bind(2, static_cast<int64_t>(options_.annotate_max_alerts));
  for (;;) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, alerts->Step());
    if (!row) break;
    policy::Alert a;
    a.time_unix_nano = alerts->Int(0);
    a.rule = alerts->Text(1);
    a.severity = alerts->Text(2);
    a.message = alerts->Text(3);
    auto labels = nlohmann::json::parse(alerts->Text(4), nullptr, false);
    if (labels.is_object())
      for (auto it = labels.begin(); it != labels.end(); ++it)
        if (it.value().is_string()) a.labels.emplace_back(it.key(), it.value().get<std::string>());
    a.kind = alerts->Text(5);
    a.count = static_cast<uint64_t>(alerts->Int(6));
    a.policy_version = alerts->Text(7);
    a.subject = alerts->Text(9);  // its outbox row stays erasable
    a.annotations = {{"incident", std::to_string(id)}, {"rca", summary}};
    if (!report.candidates.empty()) {
      a.annotations.emplace_back("rca_top_entity", report.candidates[0].entity);
      a.annotations.emplace_back("rca_top_indicator", rca::DescribeSeries(report.candidates[0].indicator));
    }
    e.alerts.emplace_back(std::move(a), alerts->Text(8));
  }
  events.push_back(std::move(e));
  return Status::Ok();
}

}  // namespace custos::collector
