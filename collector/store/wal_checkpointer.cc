#include "collector/store/wal_checkpointer.h"

#include <sys/resource.h>
#include <unistd.h>

#include "common/log.h"
#include "common/thread_name.h"

namespace custos::store {

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Start(Db& writer, WalCheckpointOptions options) {
  if (options.checkpoint_pages < 1 || options.max_wal_pages < options.checkpoint_pages) {
    return InvalidArgument("WAL checkpoint: checkpoint_pages must be at least 1 and at most max_wal_pages");
  }
  std::unique_ptr<WalCheckpointer> c(new WalCheckpointer(writer, options));
  if (options.metrics != nullptr) {
    const char* help = "WAL checkpoints run beside the writer, by mode and outcome";
    c->passive_ok_ = &options.metrics->GetCounter("custos_store_wal_checkpoints_total", help,
                                                  {{"mode", "passive"}, {"outcome", "ok"}});
    c->restart_ok_ = &options.metrics->GetCounter("custos_store_wal_checkpoints_total", help,
                                                  {{"mode", "restart"}, {"outcome", "ok"}});
    c->failed_ = &options.metrics->GetCounter("custos_store_wal_checkpoints_total", help, {{"outcome", "failed"}});
    c->wal_pages_gauge_ = &options.metrics->GetGauge(
        "custos_store_wal_pages", "Pages in the WAL after the last checkpoint, 0 when it was copied in full");
  }
  CUSTOS_ASSIGN_OR_RETURN(auto mode, writer.Prepare("PRAGMA journal_mode"));
  CUSTOS_ASSIGN_OR_RETURN(bool row, mode->Step());
  if (!row || mode->Text(0) != "wal") {
    return FailedPrecondition("WAL checkpoint: " + writer.path() + " is not in WAL mode");
  }
  CUSTOS_ASSIGN_OR_RETURN(c->db_, Db::Open(writer.path(), /*create=*/false));
  CUSTOS_RETURN_IF_ERROR(
      c->db_->Exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  // A RESTART holds writers off while it waits for readers: give up well
  // before a writer's own busy timeout (5 s) would fail its commit.
  sqlite3_busy_timeout(c->db_->raw(), static_cast<int>(kRestartWaitMillis));
  // Replaces the writer's autocheckpoint (sqlite3_wal_autocheckpoint is a WAL hook too).
  sqlite3_wal_hook(writer.raw(), &WalCheckpointer::OnCommit, c.get());
  c->thread_ = std::thread([p = c.get()] { p->Run(); });
  return c;
}

WalCheckpointer::~WalCheckpointer() {
  sqlite3_wal_autocheckpoint(writer_.raw(), 1000);  // also removes OnCommit
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

WalCheckpointStats WalCheckpointer::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int WalCheckpointer::OnCommit(void* self, sqlite3*, const char*, int wal_pages) {
  auto* c = static_cast<WalCheckpointer*>(self);
  bool due = false;
  {
    std::lock_guard<std::mutex> lock(c->mu_);
    c->wal_pages_ = wal_pages;
    due = wal_pages >= c->options_.checkpoint_pages;
  }
  if (due) c->wake_.notify_one();
  return SQLITE_OK;
}

void WalCheckpointer::Run() {
  SetThreadName("wal-checkpoint");
  // Background work: on a busy machine the writer's commits go first (on
  // Linux a thread's nice value is its own). Lowering it cannot fail for
  // lack of privilege; were it refused, the thread would just run as is.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kNice);
  int64_t next_restart_nanos = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stop_ || wal_pages_ >= options_.checkpoint_pages; });
    if (stop_) return;
    wal_pages_ = 0;  // the next commit past the threshold wakes us again
    const int64_t now = Clock::Real().MonotonicNanos();
    // While a reader keeps a RESTART from finishing, retry it at most once a
    // second, so that the writer is not held off at every commit.
    const bool restart = stats_.last_wal_pages > options_.max_wal_pages && now >= next_restart_nanos;
    lock.unlock();
    const bool ok = Pass(restart);
    lock.lock();
    if (restart && !ok) next_restart_nanos = now + kNanosPerSecond;
  }
}

bool WalCheckpointer::Pass(bool restart) {
  int log_pages = 0, copied = 0;
  const int rc = sqlite3_wal_checkpoint_v2(
      db_->raw(), nullptr, restart ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE, &log_pages, &copied);
  bool failed = rc != SQLITE_OK;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.passes;
    if (restart) ++stats_.restarts;
    if (failed) ++stats_.failures;
    // A log copied in full is started over by the writer's next transaction:
    // it no longer counts against the bound.
    stats_.last_wal_pages = rc == SQLITE_OK && (restart || copied >= log_pages) ? 0 : log_pages;
    if (wal_pages_gauge_ != nullptr) {
      (failed ? failed_ : restart ? restart_ok_ : passive_ok_)->Increment();
      wal_pages_gauge_->Set(stats_.last_wal_pages);
    }
  }
  uint64_t suppressed = 0;
  if ((restart || failed) && log_limit_.Allow(Clock::Real().MonotonicNanos(), &suppressed)) {
    const char* what = failed ? "WAL checkpoint failed; the log grows until one succeeds"
                              : "the WAL outgrew its bound; the writer waited for a full checkpoint";
    log::Warn("store", what,
              {{"db", db_->path()},
               {"wal_pages", std::to_string(log_pages)},
               {"max_wal_pages", std::to_string(options_.max_wal_pages)},
               {"error", failed ? std::string(sqlite3_errmsg(db_->raw())) : std::string()},
               {"suppressed_since_last", std::to_string(suppressed)}});
  }
  return !failed;
}

}  // namespace custos::store
