// The embedded store: one SQLite file in WAL mode.
//
// One table per record kind (logs, metrics, spans, gpu_samples, gpu_events,
// access_events, gaps) with a timestamp index, a resources table interning
// each distinct Resource, a batches table that is the dedup set
// (agent_id, epoch, seq) and an agents table with each agent's latest stats.
//
// synchronous=FULL by default: a commit (and so an ack) survives power loss,
// not just a process crash; batched transactions keep the fsync cost small.
// The WAL is copied into the file by a thread of its own (wal_checkpointer.h),
// not inside the commit that fills it.
//
// Thread-safety: see store.h. Writes use one connection (writer thread);
// queries use a second connection guarded by a mutex.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "collector/store/sqlite_db.h"
#include "collector/store/store.h"
#include "collector/store/wal_checkpointer.h"

namespace custos::store {

struct SqliteOptions {
  std::string path;
  bool synchronous_full = true;
  MetricsRegistry* metrics = nullptr;  // where the store's own counters go, if anywhere
};

class SqliteStore final : public Store {
 public:
  static Result<std::unique_ptr<SqliteStore>> Open(const SqliteOptions& options);

  // Runs inside every Commit() transaction after the rows are written, on the
  // writer connection (the audit log appends there, so data and audit commit
  // together). An error rolls the whole transaction back; `on_rollback` then
  // runs, if the hook ran in it. Set before the writer thread starts.
  using CommitHook = std::function<Status(const std::vector<const IngestedBatch*>&, const std::vector<CommitOutcome>&)>;
  void SetCommitHook(CommitHook hook, std::function<void()> on_rollback) {
    commit_hook_ = std::move(hook);
    on_rollback_ = std::move(on_rollback);
  }
  // The writer connection, for components that must share its transactions.
  Db& writer_db() { return *db_; }
  // Inside the commit hook: the rowids of batch `i`'s access events, in
  // record order (so a later stage can annotate them in the same transaction).
  const std::vector<int64_t>& access_rowids(size_t i) const { return access_rowids_by_batch_.at(i); }

  // Store
  Result<std::vector<CommitOutcome>> Commit(const std::vector<const IngestedBatch*>& batches) override;
  Result<uint64_t> DeleteOlderThan(int64_t cutoff_unix_nanos) override;
  Result<nlohmann::json> Agents() override;
  Result<nlohmann::json> Query(const RecordQuery& query) override;
  Result<nlohmann::json> Counts() override;

 private:
  explicit SqliteStore(SqliteOptions options) : options_(std::move(options)) {}
  Status Init();
  Status CommitOne(const IngestedBatch& b, CommitOutcome* outcome);
  Result<int64_t> ResourceId(const v1::Resource& r);
  Status InsertRecord(const v1::Record& r, int64_t resource, const IngestedBatch& b);
  Status UpsertAgent(const IngestedBatch& b, int64_t records, bool data);

  const SqliteOptions options_;
  CommitHook commit_hook_;
  std::function<void()> on_rollback_;
  // Writer connection and its statements (writer thread only).
  std::unique_ptr<Db> db_;
  std::map<std::string, std::unique_ptr<Statement>> stmts_;
  std::map<std::string, int64_t> resource_ids_;  // fingerprint -> id
  std::vector<std::vector<int64_t>> access_rowids_by_batch_;  // of the running Commit()
  std::vector<int64_t>* access_rowids_ = nullptr;             // the batch being written
  std::unique_ptr<WalCheckpointer> checkpointer_;             // of db_, stopped before db_ closes

  std::mutex read_mu_;
  std::unique_ptr<Db> read_db_;  // guarded by read_mu_
};

}  // namespace custos::store
