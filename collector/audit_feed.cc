#include "collector/audit_feed.h"

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace custos::collector {

std::vector<audit::AuditEntry> AuditEntriesFor(const store::IngestedBatch& b) {
  std::vector<audit::AuditEntry> out;
  for (const v1::Record& r : b.batch.records()) {
    if (r.has_access()) {
      const v1::AccessEvent& a = r.access();
      audit::AuditEntry e;
      e.time_unix_nanos = static_cast<int64_t>(a.time_unix_nano());
      e.kind = "access";
      e.actor = "node:" + b.agent_id;
      e.action = v1::AccessEvent::Action_Name(a.action());
      e.object = a.dataset_id().empty() ? "dataset:unmapped" : "dataset:" + a.dataset_id();
      e.outcome = v1::AccessEvent::Outcome_Name(a.outcome());
      e.details = {{"bytes", std::to_string(a.bytes())},
                   {"count", std::to_string(a.count())},
                   {"classification", a.classification()},
                   {"home_region", a.dataset_home_region()},
                   {"source", a.source()}};
      // Who and which path are personal data: they live in the erasable payload.
      const v1::Principal& p = a.principal();
      e.subject = !p.user().empty()               ? "user:" + p.user()
                  : !p.service_identity().empty() ? "service:" + p.service_identity()
                                                  : "uid:" + std::to_string(p.uid());
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

void AuditFeed::Post(audit::AuditEntry entry) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.push_back(std::move(entry));
}

bool AuditFeed::HasPending() {
  std::lock_guard<std::mutex> lock(mu_);
  return !pending_.empty();
}

Status AuditFeed::AppendForCommit(const std::vector<const store::IngestedBatch*>& batches,
                                  const std::vector<store::CommitOutcome>& outcomes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_txn_ = std::move(pending_);
    pending_.clear();
  }
  std::vector<audit::AuditEntry> entries = in_txn_;
  for (size_t i = 0; i < batches.size(); ++i) {
    if (outcomes[i] != store::CommitOutcome::kStored || batches[i]->batch.seq() == 0) continue;
    std::vector<audit::AuditEntry> more = AuditEntriesFor(*batches[i]);
    entries.insert(entries.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  if (entries.empty()) return Status::Ok();
  return log_.AppendInTransaction(entries);
}

void AuditFeed::OnRollback() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.insert(pending_.begin(), std::make_move_iterator(in_txn_.begin()),
                    std::make_move_iterator(in_txn_.end()));
  }
  in_txn_.clear();
  Status s = log_.Reload();
  if (!s.ok()) log::Error("audit", "reloading the audit log after a rollback failed", {{"error", s.ToString()}});
}

}  // namespace custos::collector
