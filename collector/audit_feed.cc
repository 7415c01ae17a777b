#include "collector/audit_feed.h"

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace custos::collector {

std::vector<audit::AuditEntry> AuditEntriesFor(const store::IngestedBatch& b, const std::vector<AccessVerdict>& verdicts,
                                               const std::string& policy_version) {
  std::vector<audit::AuditEntry> out;
  size_t access_index = 0;
  for (const v1::Record& r : b.batch.records()) {
    if (r.has_access()) {
      const v1::AccessEvent& a = r.access();
      const AccessVerdict* verdict = access_index < verdicts.size() ? &verdicts[access_index] : nullptr;
      ++access_index;
      audit::AuditEntry e;
      e.time_unix_nanos = static_cast<int64_t>(a.time_unix_nano());
      e.kind = "access";
      e.actor = "node:" + b.agent_id;
      e.action = v1::AccessEvent::Action_Name(a.action());
      std::string dataset = a.dataset_id().empty() && verdict ? verdict->dataset : a.dataset_id();
      e.object = dataset.empty() ? "dataset:unmapped" : "dataset:" + dataset;
      e.outcome = v1::AccessEvent::Outcome_Name(a.outcome());
      e.details = {{"bytes", std::to_string(a.bytes())},
                   {"count", std::to_string(a.count())},
                   {"classification", a.classification().empty() && verdict ? verdict->classification : a.classification()},
                   {"home_region", a.dataset_home_region()},
                   {"source", a.source()}};
      // The policy's verdict goes into the log with the event it judges.
      if (verdict) {
        e.details["verdict"] = verdict->decision;
        e.details["violations"] = JoinComma(verdict->violations);
        e.details["decided_by"] = JoinComma(verdict->rules);
        e.details["policy_version"] = policy_version;
        if (!verdict->error.empty()) e.details["verdict_error"] = verdict->error;
      }
      // Who and which path are personal data: they live in the erasable payload.
      const v1::Principal& p = a.principal();
      e.subject = AccessSubject(p);
      e.personal = nlohmann::json{{"object", a.object()},
                                  {"uid", p.uid()},
                                  {"user", p.user()},
                                  {"unit", p.systemd_unit()},
                                  {"service_identity", p.service_identity()},
                                  {"pid", p.pid()},
                                  {"executable", p.executable()}}
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out.push_back(std::move(e));
    } else if (r.has_gap()) {
      const v1::Gap& g = r.gap();
      audit::AuditEntry e;
      e.time_unix_nanos = static_cast<int64_t>(g.time_unix_nano());
      e.kind = "gap";
      e.actor = "node:" + b.agent_id;
      e.action = "report_loss";
      e.object = "source:" + g.source();
      e.outcome = v1::Gap::Reason_Name(g.reason());
      e.details = {{"lost_records", std::to_string(g.lost_records())},
                   {"lost_batches", std::to_string(g.lost_batches())},
                   {"first_lost_seq", std::to_string(g.first_lost_seq())},
                   {"last_lost_seq", std::to_string(g.last_lost_seq())},
                   {"detail", g.detail()}};
      out.push_back(std::move(e));
    }
  }
  return out;
}

audit::AuditEntry AuditEntryForAlert(const policy::Alert& alert, const std::string& node) {
  audit::AuditEntry e;
  e.time_unix_nanos = alert.time_unix_nano;
  e.kind = "alert";
  e.actor = "policy";
  e.action = "raise";
  e.object = "rule:" + alert.rule;
  e.outcome = alert.severity;
  e.details = {{"node", node},
               {"record_kind", alert.kind},
               {"count", std::to_string(alert.count)},
               {"policy_version", alert.policy_version}};
  for (const auto& [k, v] : alert.labels) e.details["label." + k] = v;
  // A message about an access names a person: it is erasable payload, not chain.
  if (!alert.subject.empty()) {
    e.subject = alert.subject;
    e.personal = alert.message;
  } else {
    e.details["message"] = alert.message;
  }
  return e;
}

audit::AuditEntry AuditEntryForDrift(const drift::DriftEvent& event) {
  audit::AuditEntry e;
  e.time_unix_nanos = event.window_end_unix_nanos;
  e.kind = "drift";
  e.actor = "collector";
  e.action = event.kind == drift::DriftEventKind::kRaised ? "raise" : "resolve";
  e.object = "stream:" + event.stream;
  e.outcome = "ok";
  const drift::DriftMeasures& m = event.measures;
  e.details = {{"message", event.message.substr(0, 500)},
               {"windows", std::to_string(event.windows)},
               {"psi", std::to_string(m.psi)},
               {"ks", std::to_string(m.ks_d)},
               {"js_bits", std::to_string(m.js_bits)}};
  return e;
}

audit::AuditEntry AuditEntryForIncident(const IncidentEvent& event, int64_t now) {
  audit::AuditEntry e;
  e.time_unix_nanos = now;
  e.kind = "incident";
  e.actor = "collector";
  e.object = "incident:" + std::to_string(event.id);
  e.outcome = "ok";
  e.details["title"] = event.title.substr(0, 300);
  switch (event.kind) {
    case IncidentEvent::Kind::kOpened:
      e.action = "open";
      break;
    case IncidentEvent::Kind::kResolved:
      e.action = "resolve";
      break;
    case IncidentEvent::Kind::kAnalysed: {
      e.action = "analyse";
      const auto& candidates = event.details.value("candidates", nlohmann::json::array());
      for (size_t i = 0; i < candidates.size() && i < 3; ++i) {
        e.details["candidate." + std::to_string(i + 1)] =
            candidates[i].value("entity", "") + " " + candidates[i].value("indicator", "");
      }
      e.details["entities_scored"] = std::to_string(event.details.value("entities_scored", 0));
      return e;
    }
  }
  for (auto it = event.details.begin(); it != event.details.end(); ++it)
    e.details[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
  return e;
}

Status AuditFeed::StoreVerdicts(size_t batch, const std::vector<AccessVerdict>& verdicts, const std::string& version) {
  if (verdicts.empty()) return Status::Ok();
  const std::vector<int64_t>& rowids = store_.access_rowids(batch);
  if (rowids.size() != verdicts.size()) {
    return Internal("batch " + std::to_string(batch) + " has " + std::to_string(rowids.size()) + " stored access rows but " +
                    std::to_string(verdicts.size()) + " verdicts");
  }
  if (!update_verdict_) {
    CUSTOS_ASSIGN_OR_RETURN(update_verdict_, db_.Prepare("UPDATE access_events SET verdict = ?1, violations = ?2, "
                                                         "policy_version = ?3 WHERE rowid = ?4"));
  }
  for (size_t k = 0; k < verdicts.size(); ++k) {
    const std::string violations = verdicts[k].error.empty() ? JoinComma(verdicts[k].violations) : verdicts[k].error;
    update_verdict_->Bind(1, verdicts[k].decision);
    update_verdict_->Bind(2, violations);
    update_verdict_->Bind(3, version);
    update_verdict_->Bind(4, rowids[k]);
    CUSTOS_RETURN_IF_ERROR(update_verdict_->Exec());
  }
  return Status::Ok();
}

AuditFeed::AuditFeed(audit::AuditLog& log, store::SqliteStore& store, PolicyEngine* policy, AlertOutbox* outbox,
                     MetricsRegistry& metrics)
    : log_(log),
      store_(store),
      db_(store.writer_db()),
      policy_(policy),
      outbox_(outbox),
      rolled_back_forgotten_(metrics.GetCounter(
          "custos_collector_rolled_back_batches_forgotten_total",
          "Batches seen in a rolled-back transaction and forgotten before their agent sent them again "
          "(bound reached): the detectors will count such a batch twice")) {}

void AuditFeed::PostAlert(policy::Alert alert) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_alerts_.push_back({std::move(alert), "collector"});
}

Status AuditFeed::StoreAlerts(const std::vector<policy::Alert>& alerts, const std::vector<std::string>& nodes,
                              std::vector<audit::AuditEntry>& entries) {
  if (alerts.empty()) return Status::Ok();
  if (!insert_alert_) {
    CUSTOS_ASSIGN_OR_RETURN(insert_alert_,
                            db_.Prepare("INSERT INTO alerts(ts, resource, rule, severity, message, labels, record_kind, "
                                        "count, policy_version, alert_node, suppressed_by, incident, subject) "
                                        "VALUES(?,0,?,?,?,?,?,?,?,?,?,?,?)"));
  }
  for (size_t i = 0; i < alerts.size(); ++i) {
    const policy::Alert& a = alerts[i];
    const std::string& node = i < nodes.size() ? nodes[i] : std::string();
    nlohmann::json labels = nlohmann::json::object();
    for (const auto& [k, v] : a.labels) labels[k] = v;
    std::string labels_text = labels.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    insert_alert_->Bind(1, a.time_unix_nano);
    insert_alert_->Bind(2, a.rule);
    insert_alert_->Bind(3, a.severity);
    insert_alert_->Bind(4, a.message);
    insert_alert_->Bind(5, labels_text);
    insert_alert_->Bind(6, a.kind);
    insert_alert_->Bind(7, static_cast<int64_t>(a.count));
    insert_alert_->Bind(8, a.policy_version);
    insert_alert_->Bind(9, node);
    std::string suppressed_by;
    if (outbox_) {
      CUSTOS_ASSIGN_OR_RETURN(suppressed_by, outbox_->Enqueue(db_, a, node));
    }
    if (!suppressed_by.empty()) {
      insert_alert_->Bind(10, suppressed_by);
    } else {
      insert_alert_->BindNull(10);
    }
    std::vector<IncidentEvent> opened;
    int64_t incident = 0;
    if (incidents_) {
      CUSTOS_ASSIGN_OR_RETURN(incident, incidents_->OnAlert(db_, a, opened));
      insert_alert_->Bind(11, incident);
    } else {
      insert_alert_->BindNull(11);
    }
    if (a.subject.empty()) {
      insert_alert_->BindNull(12);
    } else {
      insert_alert_->Bind(12, a.subject);  // the person its message names, for erasure
    }
    CUSTOS_RETURN_IF_ERROR(insert_alert_->Exec());
    entries.push_back(AuditEntryForAlert(a, node));
    if (!suppressed_by.empty()) entries.back().details["suppressed_by"] = suppressed_by;
    if (incident != 0) entries.back().details["incident"] = std::to_string(incident);
    for (const IncidentEvent& e : opened) entries.push_back(AuditEntryForIncident(e, a.time_unix_nano));
  }
  return Status::Ok();
}

void AuditFeed::Post(audit::AuditEntry entry) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.push_back(std::move(entry));
}

bool AuditFeed::HasPending() {
  std::lock_guard<std::mutex> lock(mu_);
  return !pending_.empty() || !pending_alerts_.empty();
}

Status AuditFeed::AppendForCommit(const std::vector<const store::IngestedBatch*>& batches,
                                  const std::vector<store::CommitOutcome>& outcomes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_txn_ = std::move(pending_);
    pending_.clear();
    alerts_in_txn_ = std::move(pending_alerts_);
    pending_alerts_.clear();
  }
  // Reaching here, the previous transaction committed (else OnRollback ran).
  if (outbox_) outbox_->Committed();
  observed_in_txn_.clear();
  detector_alerts_in_txn_.clear();
  detector_entries_in_txn_.clear();
  std::vector<audit::AuditEntry> entries = in_txn_;
  {
    std::vector<policy::Alert> alerts;
    std::vector<std::string> nodes;
    for (const QueuedAlert& q : alerts_in_txn_) alerts.push_back(q.alert), nodes.push_back(q.node);
    CUSTOS_RETURN_IF_ERROR(StoreAlerts(alerts, nodes, entries));
  }
  for (size_t i = 0; i < batches.size(); ++i) {
    if (outcomes[i] != store::CommitOutcome::kStored || batches[i]->batch.seq() == 0) continue;
    BatchEvaluation evaluation;
    std::string version;
    if (policy_) {
      policy_->Evaluate(*batches[i], evaluation);
      if (auto p = policy_->current()) version = p->version;
    }
    CUSTOS_RETURN_IF_ERROR(StoreVerdicts(i, evaluation.access, version));
    std::vector<audit::AuditEntry> more = AuditEntriesFor(*batches[i], evaluation.access, version);
    entries.insert(entries.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    CUSTOS_RETURN_IF_ERROR(StoreAlerts(evaluation.alerts, evaluation.alert_nodes, entries));
    CUSTOS_RETURN_IF_ERROR(ObserveDetectors(*batches[i], entries));
  }
  if (entries.empty()) return Status::Ok();
  return log_.AppendInTransaction(entries);
}

Status AuditFeed::ObserveDetectors(const store::IngestedBatch& b, std::vector<audit::AuditEntry>& entries) {
  BatchKey key{b.agent_id, b.batch.spool_epoch(), b.batch.seq()};
  const bool seen = rolled_back_.erase(key) != 0;
  observed_in_txn_.push_back(std::move(key));  // seen again if this transaction rolls back too
  if (seen) return Status::Ok();               // what it raised is queued already
  // Every detector sees the batch before anything is stored, and what they
  // raise is kept first: a failure while storing rolls the transaction back,
  // and the batch must then count as seen by all of them.
  if (slos_) slos_->Observe(b.batch);
  std::vector<policy::Alert> fresh;
  if (new_errors_) fresh = new_errors_->Observe(b.batch);
  drift::DriftOutput drifted;
  if (drift_) drift_->Observe(b.batch, drifted);
  for (const policy::Alert& a : fresh) detector_alerts_in_txn_.push_back({a, b.agent_id});
  for (const policy::Alert& a : drifted.alerts) detector_alerts_in_txn_.push_back({a, "collector"});
  for (const drift::DriftEvent& e : drifted.events) {
    entries.push_back(AuditEntryForDrift(e));
    detector_entries_in_txn_.push_back(entries.back());
  }
  CUSTOS_RETURN_IF_ERROR(StoreAlerts(fresh, std::vector<std::string>(fresh.size(), b.agent_id), entries));
  // Drift's: the collector computed them, node "collector", as when raised on a tick.
  CUSTOS_RETURN_IF_ERROR(
      StoreAlerts(drifted.alerts, std::vector<std::string>(drifted.alerts.size(), "collector"), entries));
  // Refreshes of held alerts are not kept: the next one follows within a minute.
  for (const policy::Alert& a : drifted.refresh) {
    if (outbox_) CUSTOS_RETURN_IF_ERROR(outbox_->Enqueue(db_, a, "collector", /*update=*/true).status());
  }
  return Status::Ok();
}

void AuditFeed::OnRollback() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.insert(pending_.begin(), std::make_move_iterator(in_txn_.begin()),
                    std::make_move_iterator(in_txn_.end()));
    pending_alerts_.insert(pending_alerts_.begin(), std::make_move_iterator(alerts_in_txn_.begin()),
                           std::make_move_iterator(alerts_in_txn_.end()));
    pending_.insert(pending_.end(), std::make_move_iterator(detector_entries_in_txn_.begin()),
                    std::make_move_iterator(detector_entries_in_txn_.end()));
    pending_alerts_.insert(pending_alerts_.end(), std::make_move_iterator(detector_alerts_in_txn_.begin()),
                           std::make_move_iterator(detector_alerts_in_txn_.end()));
  }
  if (outbox_) outbox_->RolledBack();
  in_txn_.clear();
  alerts_in_txn_.clear();
  detector_entries_in_txn_.clear();
  detector_alerts_in_txn_.clear();
  for (BatchKey& key : observed_in_txn_) {
    if (!rolled_back_.insert(key).second) continue;
    rolled_back_order_.push_back(std::move(key));
  }
  observed_in_txn_.clear();
  while (rolled_back_.size() > kMaxRolledBack) {
    // Keys already erased (their batch came back) are skipped over.
    if (rolled_back_.erase(rolled_back_order_.front()) != 0) {
      rolled_back_forgotten_.Increment();
      log::Warn("audit", "forgot a rolled-back batch its agent has not sent again; the detectors will count it twice",
                {{"agent", std::get<0>(rolled_back_order_.front())}});
    }
    rolled_back_order_.pop_front();
  }
  if (rolled_back_order_.size() > 2 * kMaxRolledBack) {
    std::erase_if(rolled_back_order_, [&](const BatchKey& k) { return rolled_back_.count(k) == 0; });
  }
  Status s = log_.Reload();
  if (!s.ok()) log::Error("audit", "reloading the audit log after a rollback failed", {{"error", s.ToString()}});
}

}  // namespace custos::collector
