// The WAL checkpointer on real SQLite files: it copies the log into the
// database from its own thread, enforces its bound against a reader that
// pins old frames, and gives the writer its autocheckpoint back when done.
#include "collector/store/wal_checkpointer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace custos::store {
namespace {

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

// Waits up to 10 s for `done`.
template <typename Pred>
bool WaitFor(Pred done) {
  for (int i = 0; i < 1000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}

class WalCheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custos_wal_XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/w.db";
    auto db = Db::Open(path_, /*create=*/true);
    ASSERT_TRUE(db.ok());
    writer_ = std::move(*db);
    ASSERT_TRUE(writer_->Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, blob BLOB NOT NULL)").ok());
    ASSERT_TRUE(writer_->Exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  }
  void TearDown() override { (void)std::system(("rm -rf " + dir_).c_str()); }

  // One transaction of a 64 KiB row: 16 or 17 pages of the log.
  void WriteRow() {
    auto st = writer_->Prepare("INSERT INTO t(blob) VALUES(zeroblob(65536))");
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE((*st)->Exec().ok());
  }

  // (frames in the log, frames copied) as another connection sees them.
  // A passive checkpoint never waits: it answers SQLITE_BUSY while the
  // checkpointer's thread runs one of its own, so ask again.
  std::pair<int, int> WalFrames() {
    auto db = Db::Open(path_, false);
    int log = -1, copied = -1;
    int rc = SQLITE_BUSY;
    for (int i = 0; i < 500 && rc == SQLITE_BUSY; ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      rc = sqlite3_wal_checkpoint_v2((*db)->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    }
    EXPECT_EQ(rc, SQLITE_OK) << sqlite3_errmsg((*db)->raw());
    return {log, copied};
  }

  int64_t AutoCheckpoint() {
    auto st = writer_->Prepare("PRAGMA wal_autocheckpoint");
    EXPECT_TRUE(st.ok() && *(*st)->Step());
    return (*st)->Int(0);
  }

  std::string dir_, path_;
  std::unique_ptr<Db> writer_;
};

TEST_F(WalCheckpointerTest, CopiesTheLogIntoTheDatabaseFromItsOwnThread) {
  ASSERT_TRUE(writer_->Exec("PRAGMA wal_autocheckpoint=0").ok());
  MetricsRegistry metrics;
  auto ckpt = WalCheckpointer::Start(*writer_, {.checkpoint_pages = 64, .max_wal_pages = 100'000, .metrics = &metrics});
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  const int64_t before = FileSize(path_);
  for (int i = 0; i < 40; ++i) WriteRow();
  // The writer never checkpoints (its autocheckpoint was off before Start,
  // and Start replaces it anyway): only the thread can have grown the file.
  // (The file grows inside a pass, before the pass is counted.)
  EXPECT_TRUE(WaitFor([&] { return FileSize(path_) >= before + 30 * 65536 && (*ckpt)->stats().passes >= 1; }))
      << "database file " << FileSize(path_) << " bytes, passes " << (*ckpt)->stats().passes;
  EXPECT_EQ((*ckpt)->stats().restarts, 0u);
  EXPECT_EQ((*ckpt)->stats().failures, 0u);
  ckpt->reset();
  // Exported as they are counted.
  EXPECT_GE(metrics.Value("custos_store_wal_checkpoints_total", {{"mode", "passive"}, {"outcome", "ok"}}), 1);
  EXPECT_EQ(metrics.Value("custos_store_wal_checkpoints_total", {{"outcome", "failed"}}), 0);
  EXPECT_EQ(AutoCheckpoint(), 1000);  // SQLite's own is back
}

TEST_F(WalCheckpointerTest, AReaderPinningTheLogForcesARestartOnceItLetsGo) {
  MetricsRegistry metrics;
  auto ckpt = WalCheckpointer::Start(*writer_, {.checkpoint_pages = 32, .max_wal_pages = 64, .metrics = &metrics});
  ASSERT_TRUE(ckpt.ok());
  WriteRow();
  // A read transaction on the first row's snapshot: later frames cannot be
  // copied, so the log grows past its bound.
  auto reader = Db::Open(path_, false);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)->Exec("BEGIN").ok());
  ASSERT_TRUE((*reader)->Exec("SELECT count(*) FROM t").ok());
  for (int i = 0; i < 8; ++i) WriteRow();
  ASSERT_TRUE(WaitFor([&] { return (*ckpt)->stats().last_wal_pages > 64; })) << (*ckpt)->stats().last_wal_pages;
  ASSERT_TRUE((*reader)->Exec("COMMIT").ok());
  // The next pass is a RESTART; it succeeds now that the reader is gone.
  // (One that ran while the reader held on waited for it and failed busy:
  // counted in failures, and tried again.)
  WriteRow();
  ASSERT_TRUE(WaitFor([&] { return (*ckpt)->stats().restarts >= 1 && (*ckpt)->stats().last_wal_pages == 0; }))
      << "passes " << (*ckpt)->stats().passes << ", restarts " << (*ckpt)->stats().restarts << ", failures "
      << (*ckpt)->stats().failures << ", log pages " << (*ckpt)->stats().last_wal_pages;
  // Exported as counted: every pass once, by mode and outcome. (The thread
  // may finish one more pass while this reads, so the count is bracketed.)
  const auto count = [&](const MetricLabels& labels) {
    return metrics.Value("custos_store_wal_checkpoints_total", labels);
  };
  const uint64_t passes_before = (*ckpt)->stats().passes;
  const double exported = count({{"mode", "passive"}, {"outcome", "ok"}}) +
                          count({{"mode", "restart"}, {"outcome", "ok"}}) + count({{"outcome", "failed"}});
  EXPECT_GE(exported, static_cast<double>(passes_before));
  EXPECT_LE(exported, static_cast<double>((*ckpt)->stats().passes));
  EXPECT_EQ(metrics.Value("custos_store_wal_pages"), 0);
  // The writer starts the log over. (A write that meets the thread between
  // passes goes on at the end instead, and wakes it again.)
  int frames = WalFrames().first;
  for (int i = 0; i < 20 && frames > 40; ++i) {
    WriteRow();
    frames = WalFrames().first;
  }
  EXPECT_LE(frames, 40);
}

TEST_F(WalCheckpointerTest, RefusesABadBoundOrADatabaseNotInWalMode) {
  EXPECT_EQ(WalCheckpointer::Start(*writer_, {.checkpoint_pages = 100, .max_wal_pages = 10}).status().code(),
            StatusCode::kInvalidArgument);
  auto mem = Db::Open(":memory:", true);
  ASSERT_TRUE(mem.ok());
  auto refused = WalCheckpointer::Start(**mem, {});
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("not in WAL mode"), std::string::npos);
}

}  // namespace
}  // namespace custos::store
