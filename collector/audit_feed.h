// Feeds the audit log with what the collector sees: every access event and
// agent-reported gap of a stored batch (appended inside the batch's own store
// transaction, so data and audit commit together), plus entries posted from
// other threads (refused frames and handshakes, lifecycle, enrolment).
//
// Thread-safety: Post() from any thread; AppendForCommit() and OnRollback()
// from the store's writer thread only.
#pragma once

#include <mutex>
#include <vector>

#include "collector/audit/audit_log.h"
#include "collector/store/store.h"

namespace custos::collector {

class AuditFeed {
 public:
  explicit AuditFeed(audit::AuditLog& log) : log_(log) {}

  // Queues an entry; it is appended with the next commit (at most ~200 ms later).
  void Post(audit::AuditEntry entry);
  // The store's commit hook: appends the entries for `batches` and all posted ones.
  Status AppendForCommit(const std::vector<const store::IngestedBatch*>& batches,
                         const std::vector<store::CommitOutcome>& outcomes);
  // The store's rollback hook: posted entries go back to the queue, the log reloads.
  void OnRollback();
  // True when entries wait (the writer then commits even without batches).
  bool HasPending();

 private:
  audit::AuditLog& log_;
  std::mutex mu_;
  std::vector<audit::AuditEntry> pending_;  // guarded by mu_
  std::vector<audit::AuditEntry> in_txn_;   // writer thread only
};

// The audit entries a stored batch produces (access events and gaps).
std::vector<audit::AuditEntry> AuditEntriesFor(const store::IngestedBatch& batch);

}  // namespace custos::collector
