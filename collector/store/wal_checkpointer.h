// Checkpoints a WAL database from a thread of its own, so that the writer's
// COMMIT never pays for copying the log back into the database file.
//
// SQLite's default (wal_autocheckpoint=1000) runs that copy, and its fsync of
// the database file, inside the COMMIT that took the log past 1,000 pages:
// on the audit append bench every third or fourth commit took 20-26 ms
// instead of 6 ms. Started here, the writer's WAL hook only wakes this
// thread, which runs a PASSIVE checkpoint on a connection of its own, at a
// lower priority, while the writer goes on; the writer starts the log over
// from its beginning once a checkpoint has caught up.
//
// Bounded: when the log still holds more than `max_wal_pages` after a passive
// pass (the writer outruns the checkpoints, or a long read keeps old frames
// needed), the next pass is a RESTART checkpoint, which makes the writer
// wait until the log is copied and can start over. It waits for readers at
// most 250 ms (a writer's own busy timeout is 5 s), and after a failed one
// the next comes a second later at the soonest. Each such pass is counted
// and logged.
//
//   CUSTOS_ASSIGN_OR_RETURN(auto ckpt, WalCheckpointer::Start(*writer_db, {}));
//   ... writes on writer_db ...
//   ckpt.reset();  // before writer_db is closed
//
// Thread-safety: Start() and the destructor on the writer's thread while it
// is not writing (they set the writer connection's WAL hook); stats() from
// any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "collector/store/sqlite_db.h"
#include "common/log_limiter.h"
#include "common/metrics.h"

namespace custos::store {

struct WalCheckpointOptions {
  // A checkpoint starts once the log holds this many pages (SQLite's default).
  int64_t checkpoint_pages = 1000;
  // After a passive pass leaves more than this, the next one is a RESTART.
  int64_t max_wal_pages = 64 * 1000;
  // The checkpoint fsyncs the database file; FULL also fsyncs the log first.
  bool synchronous_full = true;
  // When set, the counts of stats() are exported here too
  // (custos_store_wal_checkpoints_total{mode,outcome}, custos_store_wal_pages).
  MetricsRegistry* metrics = nullptr;
};

struct WalCheckpointStats {
  uint64_t passes = 0;    // checkpoints run
  uint64_t restarts = 0;  // of them, RESTART passes forced by max_wal_pages
  uint64_t failures = 0;  // passes that returned an error (logged)
  // The log's size after the last pass; 0 when that pass copied all of it
  // (the writer then starts it over).
  int64_t last_wal_pages = 0;
};

class WalCheckpointer {
 public:
  static Result<std::unique_ptr<WalCheckpointer>> Start(Db& writer, WalCheckpointOptions options);
  // Stops the thread and gives the writer back SQLite's own autocheckpoint.
  ~WalCheckpointer();
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  WalCheckpointStats stats();

 private:
  WalCheckpointer(Db& writer, WalCheckpointOptions options) : writer_(writer), options_(options) {}
  static int OnCommit(void* self, sqlite3* db, const char* schema, int wal_pages);
  void Run();
  // One checkpoint; false when it failed (a RESTART that a reader held up).
  bool Pass(bool restart);
  static constexpr int64_t kRestartWaitMillis = 250;
  // The thread's nice value: 10 measured 5-10 % more audit appends a second
  // on 2 cores than running it at the writer's priority.
  static constexpr int kNice = 10;

  Db& writer_;
  const WalCheckpointOptions options_;
  std::unique_ptr<Db> db_;  // the checkpoint thread's own connection
  LogLimiter log_limit_;

  std::mutex mu_;
  std::condition_variable wake_;
  int64_t wal_pages_ = 0;     // the log's size at the writer's last commit, guarded by mu_
  bool stop_ = false;         // guarded by mu_
  WalCheckpointStats stats_;  // guarded by mu_
  // Exported copies of stats_ (null without options.metrics).
  Counter* passive_ok_ = nullptr;
  Counter* restart_ok_ = nullptr;
  Counter* failed_ = nullptr;
  Gauge* wal_pages_gauge_ = nullptr;
  std::thread thread_;
};

}  // namespace custos::store
