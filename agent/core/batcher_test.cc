#include "agent/core/batcher.h"

#include "agent/core/spool_testing.h"

#include <google/protobuf/util/message_differencer.h>
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

TEST_F(BatcherTest, EqualResourcesInternOnceWhateverTheLabelOrder) {
  Open(1 << 30, BatcherOptions{});
  // Map fields serialize in each instance's own hash order: many labels make
  // two equal resources very likely to give different SerializeAsString().
  v1::Resource forward = node_, backward = node_;
  constexpr int kLabels = 64;
  for (int i = 0; i < kLabels; ++i) (*forward.mutable_labels())["k" + std::to_string(i)] = "v" + std::to_string(i);
  for (int i = kLabels - 1; i >= 0; --i) (*backward.mutable_labels())["k" + std::to_string(i)] = "v" + std::to_string(i);
  ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(forward, backward));
  const uint32_t ref = batcher_->InternResource(forward);
  EXPECT_EQ(ref, 1u);
  EXPECT_EQ(batcher_->InternResource(backward), ref);
  for (int round = 0; round < 20; ++round) {
    v1::Resource copy;
    for (int i = (round * 7) % kLabels, n = 0; n < kLabels; ++n, i = (i + 7) % kLabels) {
      (*copy.mutable_labels())["k" + std::to_string(i)] = "v" + std::to_string(i);
    }
    copy.set_node_id(node_.node_id());
    copy.set_region(node_.region());
    EXPECT_EQ(batcher_->InternResource(copy), ref) << "round " << round;
  }
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

// `n` log records whose message is `size` bytes long.
std::vector<v1::Record> SizedLogs(int from, int n, size_t size) {
  std::vector<v1::Record> out = Logs(from, n);
  for (v1::Record& r : out) r.mutable_log()->set_message(r.log().message() + std::string(size, '.'));
  return out;
}

TEST_F(BatcherTest, PendingBytesAreBoundedAndAnOversizedChunkIsTakenAlone) {
  Open(1 << 30, BatcherOptions{.max_pending_bytes = 4096});
  ASSERT_TRUE(batcher_->Add("gen", SizedLogs(0, 3, 1000)).ok());
  EXPECT_TRUE(batcher_->accepting());
  // 3 + 2 records of ~1KB would pass 4096 bytes: refused, handed back untouched.
  std::vector<v1::Record> more = SizedLogs(3, 2, 1000);
  Status s = batcher_->Add("gen", std::move(more));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.message().find("bytes pending"), std::string::npos) << s.ToString();
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(more[0].log().message(), "line 3" + std::string(1000, '.'));
  ASSERT_TRUE(batcher_->FlushNow().ok());
  EXPECT_TRUE(batcher_->accepting());
  ASSERT_TRUE(batcher_->Add("gen", std::move(more)).ok());
  ASSERT_TRUE(batcher_->FlushNow().ok());

  // A chunk larger than the bound is taken when nothing is pending (else a
  // source could never hand it over), and then nothing more until a flush.
  ASSERT_TRUE(batcher_->Add("gen", SizedLogs(5, 1, 10000)).ok());
  EXPECT_FALSE(batcher_->accepting());
  EXPECT_EQ(batcher_->Add("gen", SizedLogs(6, 1, 10)).code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(batcher_->FlushNow().ok());
  EXPECT_TRUE(batcher_->accepting());
  ASSERT_TRUE(batcher_->Add("gen", SizedLogs(6, 1, 10)).ok());
  ASSERT_TRUE(batcher_->FlushNow().ok());

  int next = 0;
  for (const v1::Batch& b : ReadAll(*spool_)) {
    for (const v1::Record& r : b.records()) {
      EXPECT_EQ(r.log().message().rfind("line " + std::to_string(next++) + ".", 0), 0u) << r.log().message();
    }
  }
  EXPECT_EQ(next, 7);
}

TEST_F(BatcherTest, SpoolBlockedWhileTheLastFlushCouldNotWriteEverything) {
  Open(/*quota=*/12 * 1024, BatcherOptions{.max_records = 20});
  EXPECT_FALSE(batcher_->spool_blocked());
  int added = 0;
  Status flush;
  while (flush.ok()) {
    ASSERT_TRUE(batcher_->Add("gen", Logs(added, 20)).ok());
    added += 20;
    EXPECT_FALSE(batcher_->spool_blocked());  // until a flush finds the quota reached
    flush = batcher_->FlushNow();
  }
  ASSERT_EQ(flush.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(batcher_->spool_blocked());
  EXPECT_TRUE(batcher_->accepting());  // memory is not full: sources that can wait still add
  // The collector acks everything: the next flush writes what waited.
  for (const v1::Batch& b : ReadAll(*spool_)) ASSERT_TRUE(spool_->Ack(b.seq()).ok());
  ASSERT_TRUE(batcher_->FlushNow().ok());
  EXPECT_FALSE(batcher_->spool_blocked());
}

TEST_F(BatcherTest, EachBatchCarriesOnlyTheResourcesItsRecordsUse) {
  Open(1 << 30, BatcherOptions{.max_records = 2});
  std::vector<uint32_t> refs = {0};
  for (int i = 1; i < 50; ++i) {
    v1::Resource r = node_;
    r.set_service_name("svc-" + std::to_string(i));
    (*r.mutable_labels())["padding"] = std::string(1000, 'p');
    refs.push_back(batcher_->InternResource(r));
    ASSERT_EQ(refs.back(), static_cast<uint32_t>(i));
  }
  // Records of services 7, 3 | 3, 0 | 49: three batches of max 2 records.
  std::vector<v1::Record> records = Logs(0, 5);
  const std::vector<uint32_t> uses = {7, 3, 3, 0, 49};
  for (size_t i = 0; i < uses.size(); ++i) records[i].mutable_log()->set_resource_ref(uses[i]);
  ASSERT_TRUE(batcher_->Add("m", std::move(records)).ok());
  ASSERT_TRUE(batcher_->FlushNow().ok());
  std::vector<v1::Batch> batches = ReadAll(*spool_);
  ASSERT_EQ(batches.size(), 3u);
  const std::vector<int> resources_per_batch = {2, 2, 1};
  size_t next = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    EXPECT_EQ(batches[b].resources_size(), resources_per_batch[b]) << "batch " << b;
    for (const v1::Record& r : batches[b].records()) {
      ASSERT_LT(r.log().resource_ref(), static_cast<uint32_t>(batches[b].resources_size()));
      const v1::Resource& res = batches[b].resources(static_cast<int>(r.log().resource_ref()));
      const std::string want = uses[next] == 0 ? "" : "svc-" + std::to_string(uses[next]);
      EXPECT_EQ(res.service_name(), want) << "record " << next;
      ++next;
    }
  }
  EXPECT_EQ(next, uses.size());
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
