#include "agent/core/batcher.h"

#include "agent/core/spool_testing.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/files.h"

namespace custos::agent {
namespace {

std::vector<v1::Record> Logs(int from, int n, uint32_t ref = 0) {
  std::vector<v1::Record> out;
  for (int i = from; i < from + n; ++i) {
    v1::Record r;
    r.mutable_log()->set_time_unix_nano(1);
    r.mutable_log()->set_message("line " + std::to_string(i));
    r.mutable_log()->set_resource_ref(ref);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<v1::Batch> ReadAll(Spool& spool) { return PendingBatches(spool); }

class BatcherTest : public ::testing::Test {
 protected:
  void Open(uint64_t quota, BatcherOptions opts) {
    char tmpl[] = "/tmp/custos_batcher_XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto s = Spool::Open(SpoolOptions{.dir = dir_, .quota_bytes = quota, .segment_bytes = 4096}, metrics_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    spool_ = std::move(*s);
    node_.set_node_id("node-1");
    node_.set_region("eu-west-1");
    opts.agent_id = "node-1";
    batcher_ = std::make_unique<Batcher>(opts, *spool_, node_, metrics_, clock_);
  }

  std::string dir_;
  MetricsRegistry metrics_;
  FakeClock clock_;
  v1::Resource node_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<Batcher> batcher_;
};

TEST_F(BatcherTest, SplitsIntoBoundedBatchesInOrderWithPositions) {
  Open(1 << 30, BatcherOptions{.max_records = 10});
  ASSERT_TRUE(batcher_->Add("files", Logs(0, 7), "pos-7").ok());
  ASSERT_TRUE(batcher_->Add("files", Logs(7, 18), "pos-25").ok());
  ASSERT_TRUE(batcher_->FlushNow().ok());
  std::vector<v1::Batch> batches = ReadAll(*spool_);
  ASSERT_EQ(batches.size(), 3u);
  int next = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    EXPECT_EQ(batches[i].seq(), i + 1);
    EXPECT_EQ(batches[i].agent_id(), "node-1");
    EXPECT_EQ(batches[i].spool_epoch(), spool_->epoch());
    ASSERT_EQ(batches[i].resources_size(), 1);
    EXPECT_EQ(batches[i].resources(0).region(), "eu-west-1");
    for (const v1::Record& r : batches[i].records()) EXPECT_EQ(r.log().message(), "line " + std::to_string(next++));
  }
  EXPECT_EQ(next, 25);
  EXPECT_EQ(metrics_.Value("custos_agent_records_accepted_total"), 25);
  // The position reached the spool with the batch holding the chunk's last record.
  spool_.reset();
  batcher_.reset();
  auto reopened = Spool::Open(SpoolOptions{.dir = dir_, .segment_bytes = 4096}, metrics_);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->RecoveredPositions().at("files"), "pos-25");
}

TEST_F(BatcherTest, UnitResourcesAreCarriedAndRemapped) {
  Open(1 << 30, BatcherOptions{});
  v1::Resource unit = node_;
  unit.set_systemd_unit("trainer.service");
  uint32_t ref = batcher_->InternResource(unit);
  EXPECT_EQ(ref, 1u);
  EXPECT_EQ(batcher_->InternResource(unit), 1u);  // interned once
  ASSERT_TRUE(batcher_->Add("m", Logs(0, 1, ref)).ok());
  ASSERT_TRUE(batcher_->FlushNow().ok());
  std::vector<v1::Batch> batches = ReadAll(*spool_);
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].resources_size(), 1);  // only what the records use
  EXPECT_EQ(batches[0].resources(0).systemd_unit(), "trainer.service");
  EXPECT_EQ(batches[0].records(0).log().resource_ref(), 0u);
}

TEST_F(BatcherTest, FullSpoolKeepsRecordsAndBoundsMemoryAndReportsLoss) {
  Open(/*quota=*/12 * 1024, BatcherOptions{.max_records = 20, .max_pending_records = 400});
  // Fill the spool.
  int added = 0;
  Status flush;
  while (flush.ok()) {
    ASSERT_TRUE(batcher_->Add("gen", Logs(added, 20)).ok());
    added += 20;
    flush = batcher_->FlushNow();
  }
  EXPECT_EQ(flush.code(), StatusCode::kResourceExhausted);
  EXPECT_GE(metrics_.Value("custos_agent_spool_full_total"), 1);
  // Pending memory is bounded: Add refuses once max_pending_records wait.
  Status add;
  int refused_at = added;
  while ((add = batcher_->Add("gen", Logs(refused_at, 20))).ok()) refused_at += 20;
  EXPECT_EQ(add.code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(batcher_->accepting());
  // A source that cannot wait reports its drop.
  batcher_->ReportLoss("host_metrics", v1::Gap::REASON_SOURCE_OVERFLOW, 20, "sample dropped");
  EXPECT_EQ(metrics_.Value("custos_agent_records_dropped_total"), 20);

  // The collector acks everything: space returns and every record still arrives, in order.
  size_t delivered = 0;
  int next = 0;
  bool saw_gap = false;
  for (int round = 0; round < 100 && delivered < static_cast<size_t>(refused_at); ++round) {
    for (const v1::Batch& b : ReadAll(*spool_)) {
      for (const v1::Record& r : b.records()) {
        if (r.has_gap()) {
          saw_gap = true;
          EXPECT_EQ(r.gap().lost_records(), 20u);
          EXPECT_EQ(r.gap().source(), "host_metrics");
          EXPECT_EQ(r.gap().reason(), v1::Gap::REASON_SOURCE_OVERFLOW);
          continue;
        }
        EXPECT_EQ(r.log().message(), "line " + std::to_string(next++));
        delivered++;
      }
      ASSERT_TRUE(spool_->Ack(b.seq()).ok());
    }
    Status s = batcher_->FlushNow();
    EXPECT_TRUE(s.ok() || s.code() == StatusCode::kResourceExhausted) << s.ToString();
  }
  EXPECT_EQ(delivered, static_cast<size_t>(refused_at));
  EXPECT_TRUE(saw_gap);
  EXPECT_TRUE(batcher_->accepting());
}

TEST(BatcherSpoolGapsTest, EveryLossFoundInTheSpoolIsReported) {
  char tmpl[] = "/tmp/custos_batcher_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  MetricsRegistry metrics;
  {
    auto spool = Spool::Open(SpoolOptions{.dir = dir}, metrics);
    ASSERT_TRUE(spool.ok());
    for (uint64_t seq = 1; seq <= 4; ++seq) {
      ASSERT_TRUE((*spool)->Append(seq, std::string(500, static_cast<char>('a' + seq)), {}).ok());
    }
    ASSERT_TRUE((*spool)->Sync().ok());
  }
  auto names = ListDir(dir);
  ASSERT_TRUE(names.ok());
  std::string seg = dir + "/" + names->front();
  auto data = ReadFile(seg);
  size_t third = data->find(std::string(500, 'd'));  // seq 3
  ASSERT_NE(third, std::string::npos);
  std::string damaged = *data;
  damaged.replace(0, 8, "JUNKJUNK");            // header: range unknown
  damaged.replace(third + 100, 4, "XXXX");      // seq 3: range known
  ASSERT_TRUE(WriteFileAtomic(seg, damaged, 0600).ok());

  auto spool = Spool::Open(SpoolOptions{.dir = dir}, metrics);
  ASSERT_TRUE(spool.ok());
  v1::Resource node;
  node.set_node_id("n1");
  FakeClock clock;
  Batcher batcher(BatcherOptions{.agent_id = "n1"}, **spool, node, metrics, clock);
  ASSERT_TRUE(batcher.FlushNow().ok());
  int with_range = 0, without_range = 0;
  for (uint64_t seq : (*spool)->Pending(5, 100)) {  // 1..4 hold raw test bytes, not batches
    v1::Batch b;
    ASSERT_TRUE(b.ParseFromString((*spool)->Read(seq)->batch));
    for (const v1::Record& r : b.records()) {
      if (!r.has_gap()) continue;
      EXPECT_EQ(r.gap().reason(), v1::Gap::REASON_SPOOL_CORRUPT);
      if (r.gap().first_lost_seq() == 3 && r.gap().last_lost_seq() == 3) {
        ++with_range;
      } else if (r.gap().first_lost_seq() == 0) {
        ++without_range;
      }
    }
  }
  EXPECT_EQ(with_range, 1);
  EXPECT_GE(without_range, 1);  // the damaged header is not folded into the other report
}

TEST_F(BatcherTest, FlushesOnTimerInBackground) {
  Open(1 << 30, BatcherOptions{.flush_interval_nanos = 50 * kNanosPerMilli});
  int durable_calls = 0;
  std::mutex mu;
  std::condition_variable cv;
  batcher_->SetOnDurable([&] {
    std::lock_guard<std::mutex> lock(mu);
    durable_calls++;
    cv.notify_all();
  });
  batcher_->Start();
  ASSERT_TRUE(batcher_->Add("gen", Logs(0, 3)).ok());
  clock_.Advance(100 * kNanosPerMilli);  // past the flush interval on the injected clock
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return durable_calls > 0; }));
  lock.unlock();
  batcher_->Stop();
  EXPECT_EQ(ReadAll(*spool_).size(), 1u);
}

}  // namespace
}  // namespace custos::agent
