#include "collector/audit_feed.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

namespace custos::collector {
namespace {

constexpr int64_t kSecond = 1'000'000'000LL;

// A real store, audit log and detectors; the store's commit hook is the
// feed's, with a COMMIT failure injected on demand after the feed has done
// its part (as a full disk at COMMIT would).
class AuditFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custos_feed_XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto store = store::SqliteStore::Open({.path = dir_ + "/custos.db"});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    auto key = audit::SignerKey::Generate("custos.audit/test", audit::KeyType::kEd25519);
    ASSERT_TRUE(key.ok());
    auto log = audit::AuditLog::Open(store_->writer_db(), *key, {.origin = "custos.audit/test"});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
    ASSERT_TRUE(CreateOutboxTable(store_->writer_db()).ok());
    // Not started: what is queued stays in the outbox table.
    outbox_ = std::make_unique<AlertOutbox>(
        dir_ + "/custos.db", AlertingOptions{.targets = {{.url = "http://127.0.0.1:9"}}}, metrics_);
    feed_ = std::make_unique<AuditFeed>(*log_, *store_, nullptr, outbox_.get(), metrics_);
    feed_->SetNewErrorTemplates(&new_errors_);
    feed_->SetSlos(&slos_);
    store_->SetCommitHook(
        [this](const auto& batches, const auto& outcomes) {
          Status s = feed_->AppendForCommit(batches, outcomes);
          if (s.ok() && fail_next_commit_) {
            fail_next_commit_ = false;
            return Internal("injected COMMIT failure");
          }
          return s;
        },
        [this] {
          ++rollbacks_;
          feed_->OnRollback();
        });
  }

  void TearDown() override {
    feed_.reset();
    outbox_.reset();
    log_.reset();
    store_.reset();
    (void)std::system(("rm -rf " + dir_).c_str());
  }

  // Three requests of checkout, one of them failed, and an error statement
  // checkout never wrote before.
  store::IngestedBatch Batch(uint64_t seq) {
    store::IngestedBatch b;
    b.agent_id = "n1";
    b.batch.set_agent_id("n1");
    b.batch.set_spool_epoch(1);
    b.batch.set_seq(seq);
    b.batch.add_resources()->set_node_id("n1");
    v1::Resource* r = b.batch.add_resources();
    r->set_node_id("n1");
    r->set_service_name("checkout");
    for (int i = 0; i < 3; ++i) {
      v1::Span* s = b.batch.add_records()->mutable_span();
      s->set_resource_ref(1);
      s->set_kind(v1::Span::KIND_SERVER);
      s->set_start_time_unix_nano(static_cast<uint64_t>(now_ - 10 * kSecond));
      s->set_end_time_unix_nano(static_cast<uint64_t>(now_ - 9 * kSecond));
      if (i == 0) s->set_status_code(v1::Span::STATUS_ERROR);
    }
    v1::LogRecord* l = b.batch.add_records()->mutable_log();
    l->set_resource_ref(1);
    l->set_time_unix_nano(static_cast<uint64_t>(now_ - 9 * kSecond));
    l->set_message("ERROR c.s.Cart#61 price service timed out after " + std::to_string(seq) + " ms");
    return b;
  }

  int64_t Count(const std::string& sql) {
    auto st = store_->writer_db().Prepare(sql);
    EXPECT_TRUE(st.ok());
    auto row = (*st)->Step();
    EXPECT_TRUE(row.ok() && *row);
    return (*st)->Int(0);
  }

  uint64_t SloRequests() {
    uint64_t requests = 0;
    slos_.BurnRate(0, now_ + 120 * kSecond, 3600 * kSecond, &requests);  // whole minutes that ended
    return requests;
  }

  const int64_t now_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  std::string dir_;
  MetricsRegistry metrics_;
  NewErrorTemplates new_errors_{{.warmup_nanos = 0}, metrics_};
  slo::SloTracker slos_{{{.name = "checkout-availability", .service = "checkout"}}, metrics_};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<audit::AuditLog> log_;
  std::unique_ptr<AlertOutbox> outbox_;
  std::unique_ptr<AuditFeed> feed_;
  bool fail_next_commit_ = false;
  int rollbacks_ = 0;
};

TEST_F(AuditFeedTest, ABatchSentAgainAfterARollbackCountsOnceAndKeepsItsAlert) {
  const uint64_t audit_before = log_->size();
  store::IngestedBatch b = Batch(1);
  fail_next_commit_ = true;
  ASSERT_FALSE(store_->Commit({&b}).ok());
  EXPECT_EQ(rollbacks_, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM alerts"), 0);
  EXPECT_EQ(log_->size(), audit_before);

  // The agent, not acknowledged, sends the batch again, and again after a
  // second failure.
  fail_next_commit_ = true;
  ASSERT_FALSE(store_->Commit({&b}).ok());
  EXPECT_EQ(rollbacks_, 2);
  auto out = store_->Commit({&b});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0], store::CommitOutcome::kStored);
  // The new error statement's alert, raised in the rolled-back transaction,
  // is stored and audited once; the detector saw the statement once.
  EXPECT_EQ(Count("SELECT count(*) FROM alerts WHERE rule = 'log.new-error-template'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM alerts WHERE alert_node = 'n1'"), 1);
  // And it is queued for delivery: the rolled-back queueing does not count
  // as a repeat.
  EXPECT_EQ(Count("SELECT count(*) FROM alert_outbox"), 1);
  EXPECT_EQ(metrics_.Value("custos_collector_alerts_repeats_total"), 0);
  EXPECT_EQ(log_->size(), audit_before + 1);
  EXPECT_EQ(metrics_.Value("custos_collector_new_error_template_alerts_total"), 1);
  // The SLO counted its three requests once, not six.
  EXPECT_EQ(SloRequests(), 3u);

  // Later batches are seen as usual.
  store::IngestedBatch next = Batch(2);
  ASSERT_TRUE(store_->Commit({&next}).ok());
  EXPECT_EQ(SloRequests(), 6u);
  EXPECT_EQ(Count("SELECT count(*) FROM alerts"), 1);  // the same statement: known now
  EXPECT_EQ(metrics_.Value("custos_collector_rolled_back_batches_forgotten_total"), 0);
}

TEST_F(AuditFeedTest, AFailureBeforeTheHookDoesNotReplayTheLastCommit) {
  feed_->Post({.time_unix_nanos = now_, .kind = "lifecycle", .actor = "collector", .action = "start",
               .object = "collector", .outcome = "ok"});
  store::IngestedBatch b = Batch(1);
  ASSERT_TRUE(store_->Commit({&b}).ok());  // the posted entry, the batch's alert
  const uint64_t audit_after_first = log_->size();
  // The next transaction fails while the store writes its rows, before the
  // hook runs (a table gone stands in for an I/O error).
  ASSERT_TRUE(store_->writer_db().Exec("DROP TABLE logs").ok());
  store::IngestedBatch c = Batch(2);
  ASSERT_FALSE(store_->Commit({&c}).ok());
  EXPECT_EQ(rollbacks_, 0);  // the hook never ran: nothing of the feed's to undo
  // The first commit's entry and alert are not queued again.
  EXPECT_FALSE(feed_->HasPending());
  EXPECT_EQ(log_->size(), audit_after_first);
}

}  // namespace
}  // namespace custos::collector
