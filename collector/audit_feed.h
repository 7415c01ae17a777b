// Feeds the audit log with what the collector sees: every access event and
// agent-reported gap of a stored batch (appended inside the batch's own store
// transaction, so data and audit commit together), plus entries posted from
// other threads (refused frames and handshakes, lifecycle, enrolment).
//
// Thread-safety: Post() from any thread; AppendForCommit() and OnRollback()
// from the store's writer thread only.
#pragma once

#include <deque>
#include <mutex>
#include <set>
#include <tuple>
#include <vector>

#include "collector/audit/audit_log.h"
#include "collector/alerting/alert_outbox.h"
#include "collector/drift/drift_monitor.h"
#include "collector/incidents/incident_tracker.h"
#include "collector/incidents/new_error_templates.h"
#include "collector/slo/slo_tracker.h"
#include "collector/policy_engine.h"
#include "collector/store/sqlite_db.h"
#include "collector/store/sqlite_store.h"
#include "collector/store/store.h"

namespace custos::collector {

class AuditFeed {
 public:
  // `policy` may be null (no policy configured: accesses get no verdict).
  // Alerts are stored in `db`'s alerts table, and queued in `outbox` for
  // delivery (when not null), in the same transaction.
  AuditFeed(audit::AuditLog& log, store::SqliteStore& store, PolicyEngine* policy, AlertOutbox* outbox,
            MetricsRegistry& metrics);

  // Alerts join incidents (may be null: no incidents).
  void SetIncidents(IncidentTracker* incidents) { incidents_ = incidents; }
  // Stored metric points feed the drift streams (may be null).
  void SetDrift(drift::DriftMonitor* drift) { drift_ = drift; }
  // Stored spans count against the SLOs (may be null).
  void SetSlos(slo::SloTracker* slos) { slos_ = slos; }
  // Stored logs are checked for new error statements (may be null).
  void SetNewErrorTemplates(NewErrorTemplates* detector) { new_errors_ = detector; }

  // Queues an entry; it is appended with the next commit (at most ~200 ms later).
  void Post(audit::AuditEntry entry);
  // Queues an alert raised outside a batch (a refused policy reload).
  void PostAlert(policy::Alert alert);
  // The store's commit hook: appends the entries for `batches` and all posted ones.
  Status AppendForCommit(const std::vector<const store::IngestedBatch*>& batches,
                         const std::vector<store::CommitOutcome>& outcomes);
  // The store's rollback hook: posted entries go back to the queue, the log
  // reloads. The detectors (SLOs, new error statements, drift) keep their
  // state in memory, out of the transaction: what they raised in it goes
  // back to the queue too, and the batches they saw in it are not shown to
  // them again when their agents send them again, so each batch counts once.
  void OnRollback();
  // True when entries wait (the writer then commits even without batches).
  bool HasPending();

 private:
  struct QueuedAlert {
    policy::Alert alert;
    std::string node;  // alert_node: the agent whose batch raised it, or "collector"
  };
  using BatchKey = std::tuple<std::string, uint64_t, uint64_t>;  // agent, spool epoch, seq

  Status StoreAlerts(const std::vector<policy::Alert>& alerts, const std::vector<std::string>& nodes,
                     std::vector<audit::AuditEntry>& entries);
  // Shows a stored batch to the detectors, unless they saw it in a
  // transaction that rolled back; what they raise is stored and kept for a
  // rollback.
  Status ObserveDetectors(const store::IngestedBatch& batch, std::vector<audit::AuditEntry>& entries);

  Status StoreVerdicts(size_t batch, const std::vector<AccessVerdict>& verdicts, const std::string& version);

  audit::AuditLog& log_;
  store::SqliteStore& store_;
  store::Db& db_;
  PolicyEngine* policy_;
  AlertOutbox* outbox_;
  IncidentTracker* incidents_ = nullptr;
  drift::DriftMonitor* drift_ = nullptr;
  slo::SloTracker* slos_ = nullptr;
  NewErrorTemplates* new_errors_ = nullptr;
  std::mutex mu_;
  std::vector<audit::AuditEntry> pending_;  // guarded by mu_
  std::vector<QueuedAlert> pending_alerts_;  // guarded by mu_
  // Writer thread only.
  std::vector<audit::AuditEntry> in_txn_;
  std::vector<QueuedAlert> alerts_in_txn_;
  // What the detectors saw and raised in the running transaction.
  std::vector<BatchKey> observed_in_txn_;
  std::vector<QueuedAlert> detector_alerts_in_txn_;
  std::vector<audit::AuditEntry> detector_entries_in_txn_;
  // Batches the detectors saw in transactions that rolled back, until their
  // agents send them again (bounded: the oldest is forgotten, counted).
  static constexpr size_t kMaxRolledBack = 100'000;
  std::set<BatchKey> rolled_back_;
  std::deque<BatchKey> rolled_back_order_;
  Counter& rolled_back_forgotten_;
  std::unique_ptr<store::Statement> insert_alert_, update_verdict_;
};

// The audit entries a stored batch produces (access events with their
// verdicts, when `verdicts` has one per access event, and gaps).
std::vector<audit::AuditEntry> AuditEntriesFor(const store::IngestedBatch& batch,
                                               const std::vector<AccessVerdict>& verdicts = {},
                                               const std::string& policy_version = "");

// The audit entry of an alert.
audit::AuditEntry AuditEntryForAlert(const policy::Alert& alert, const std::string& node);

// The audit entry of a drift raised or cleared.
audit::AuditEntry AuditEntryForDrift(const drift::DriftEvent& event);

// The audit entry of an incident opened, resolved or analysed.
audit::AuditEntry AuditEntryForIncident(const IncidentEvent& event, int64_t now_unix_nanos);

}  // namespace custos::collector
