#include "agent/core/spool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "common/files.h"

namespace custos::agent {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/custos_spool_XXXXXX";
  return mkdtemp(tmpl);
}

std::unique_ptr<Spool> OpenSpool(const std::string& dir, MetricsRegistry& m, uint64_t quota = 1 << 30,
                                 uint64_t segment = 8 << 20) {
  auto s = Spool::Open(SpoolOptions{.dir = dir, .quota_bytes = quota, .segment_bytes = segment}, m);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

void AppendN(Spool& spool, int n, const std::string& source = "", size_t size = 100) {
  for (int i = 0; i < n; ++i) {
    uint64_t seq = spool.next_seq();
    Positions p;
    if (!source.empty()) p[source] = std::to_string(seq);
    ASSERT_TRUE(spool.Append(seq, std::string(size, static_cast<char>('a' + seq % 26)), p).ok());
  }
  ASSERT_TRUE(spool.Sync().ok());
}

std::string OnlySegment(const std::string& dir) {
  auto names = ListDir(dir);
  EXPECT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 1u);
  return dir + "/" + names->front();
}

TEST(SpoolTest, AppendSyncReadAck) {
  MetricsRegistry m;
  std::string dir = TempDir();
  auto spool = OpenSpool(dir, m);
  EXPECT_EQ(spool->next_seq(), 1u);
  ASSERT_TRUE(spool->Append(1, "batch-one", {{"files", "42"}}).ok());
  // Not visible to the sender until synced.
  EXPECT_TRUE(spool->Pending(0, 10).empty());
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_EQ(spool->Pending(0, 10), std::vector<uint64_t>{1});
  EXPECT_EQ(spool->Read(1)->batch, "batch-one");
  ASSERT_TRUE(spool->Ack(1).ok());
  EXPECT_TRUE(spool->Pending(0, 10).empty());
  EXPECT_EQ(spool->Read(1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(spool->Append(5, "x", {}).code(), StatusCode::kFailedPrecondition);  // out of order
}

TEST(SpoolTest, ReopenRecoversPendingPositionsAndEpoch) {
  MetricsRegistry m;
  std::string dir = TempDir();
  uint64_t epoch;
  {
    auto spool = OpenSpool(dir, m);
    epoch = spool->epoch();
    AppendN(*spool, 5, "gen");
    ASSERT_TRUE(spool->Ack(1).ok());
    ASSERT_TRUE(spool->Ack(2).ok());
    ASSERT_TRUE(spool->Ack(4).ok());  // not a prefix: 3 is still pending
    spool->FlushAcks();
  }
  auto spool = OpenSpool(dir, m);
  EXPECT_EQ(spool->epoch(), epoch);
  EXPECT_EQ(spool->next_seq(), 6u);
  EXPECT_EQ(spool->RecoveredPositions().at("gen"), "5");
  // The acked prefix (1, 2) is not resent; 4 is (the collector drops it as a duplicate).
  EXPECT_EQ(spool->Pending(0, 10), (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_TRUE(spool->TakeGaps().empty());
}

TEST(SpoolTest, UnreadableAckFileOnlyCostsResends) {
  MetricsRegistry m;
  std::string dir = TempDir();
  {
    auto spool = OpenSpool(dir, m);
    AppendN(*spool, 3);
  }
  ASSERT_TRUE(WriteFileAtomic(dir + "/acked", "garbage").ok());
  auto spool = OpenSpool(dir, m);
  EXPECT_EQ(spool->Pending(0, 10).size(), 3u);
  ASSERT_TRUE(WriteFileAtomic(dir + "/acked", "99").ok());  // beyond anything written: ignored
  spool.reset();
  spool = OpenSpool(dir, m);
  EXPECT_EQ(spool->Pending(0, 10).size(), 3u);
}

TEST(SpoolTest, TornTailIsTruncatedWithoutLoss) {
  MetricsRegistry m;
  std::string dir = TempDir();
  {
    auto spool = OpenSpool(dir, m);
    AppendN(*spool, 3, "gen");
  }
  std::string seg = OnlySegment(dir);
  struct stat st{};
  ASSERT_EQ(stat(seg.c_str(), &st), 0);
  // A partial write of a fourth entry, as a crash mid-write leaves it.
  int fd = open(seg.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  std::string partial = "\x43\x53\x50\x31\x01\x00\x00\x00garbage";
  ASSERT_EQ(write(fd, partial.data(), partial.size()), static_cast<ssize_t>(partial.size()));
  close(fd);

  auto spool = OpenSpool(dir, m);
  EXPECT_EQ(spool->Pending(0, 10).size(), 3u);
  EXPECT_EQ(spool->next_seq(), 4u);
  EXPECT_EQ(spool->RecoveredPositions().at("gen"), "3");
  EXPECT_TRUE(spool->TakeGaps().empty());  // an unsynced tail loses nothing accepted
  EXPECT_EQ(m.Value("custos_agent_spool_torn_tails_total"), 1);
  ASSERT_EQ(stat(seg.c_str(), &st), 0);
  AppendN(*spool, 1);  // appends continue after the cut
  EXPECT_EQ(spool->Pending(0, 10).size(), 4u);
}

TEST(SpoolTest, CorruptEntryInTheMiddleIsSkippedAndReported) {
  MetricsRegistry m;
  std::string dir = TempDir();
  {
    auto spool = OpenSpool(dir, m);
    AppendN(*spool, 5, "gen", 1000);
  }
  std::string seg = OnlySegment(dir);
  // Flip bytes inside the second batch's payload (24-byte header, then a
  // checkpoint entry, then entries of 28 + positions + 1000 bytes).
  auto data = ReadFile(seg);
  ASSERT_TRUE(data.ok());
  size_t second = data->find(std::string(1000, 'c'));  // seq 2 is all 'c'
  ASSERT_NE(second, std::string::npos);
  int fd = open(seg.c_str(), O_WRONLY);
  ASSERT_EQ(pwrite(fd, "XXXX", 4, static_cast<off_t>(second + 500)), 4);
  close(fd);

  auto spool = OpenSpool(dir, m);
  EXPECT_EQ(spool->Pending(0, 10), (std::vector<uint64_t>{1, 3, 4, 5}));
  std::vector<SpoolGap> gaps = spool->TakeGaps();
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].first_seq, 2u);
  EXPECT_EQ(gaps[0].last_seq, 2u);
  EXPECT_EQ(gaps[0].batches, 1u);
  EXPECT_NE(gaps[0].detail.find(seg), std::string::npos);
  EXPECT_EQ(m.Value("custos_agent_spool_corrupt_entries_total"), 1);
  EXPECT_EQ(spool->next_seq(), 6u);
  EXPECT_EQ(spool->RecoveredPositions().at("gen"), "5");
}

TEST(SpoolTest, QuotaRefusesAndLeavesSpoolIntact) {
  MetricsRegistry m;
  std::string dir = TempDir();
  auto spool = OpenSpool(dir, m, /*quota=*/8192, /*segment=*/4096);
  int appended = 0;
  Status s;
  while ((s = spool->Append(spool->next_seq(), std::string(1000, 'x'), {})).ok()) ++appended;
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_GT(appended, 3);
  EXPECT_LE(spool->bytes(), 8192u);
  EXPECT_EQ(m.Value("custos_agent_spool_quota_refusals_total"), 1);
  ASSERT_TRUE(spool->Sync().ok());
  // Acks free whole segments, and appends succeed again.
  for (uint64_t seq : spool->Pending(0, 100)) ASSERT_TRUE(spool->Ack(seq).ok());
  EXPECT_TRUE(spool->Append(spool->next_seq(), std::string(1000, 'y'), {}).ok());
}

TEST(SpoolTest, SegmentsRotateAndAckedOnesAreDeleted) {
  MetricsRegistry m;
  std::string dir = TempDir();
  {
    auto spool = OpenSpool(dir, m, 1 << 30, /*segment=*/4096);
    AppendN(*spool, 40, "gen", 500);  // ~5 entries a segment
    EXPECT_GT(ListDir(dir)->size(), 4u);
    for (uint64_t seq = 1; seq <= 30; ++seq) ASSERT_TRUE(spool->Ack(seq).ok());
  }
  auto spool = OpenSpool(dir, m, 1 << 30, 4096);
  std::vector<uint64_t> pending = spool->Pending(0, 100);
  ASSERT_FALSE(pending.empty());
  EXPECT_LE(pending.front(), 31u);  // only whole acked segments went away
  EXPECT_EQ(pending.back(), 40u);
  EXPECT_EQ(spool->RecoveredPositions().at("gen"), "40");
  EXPECT_TRUE(spool->TakeGaps().empty());
}

TEST(SpoolTest, DamagedSegmentHeaderStillYieldsIntactEntries) {
  MetricsRegistry m;
  std::string dir = TempDir();
  uint64_t epoch;
  {
    auto spool = OpenSpool(dir, m);
    epoch = spool->epoch();
    AppendN(*spool, 2);
  }
  std::string seg = OnlySegment(dir);
  int fd = open(seg.c_str(), O_WRONLY);
  ASSERT_EQ(pwrite(fd, "JUNKJUNK", 8, 0), 8);
  close(fd);
  auto spool = OpenSpool(dir, m);
  EXPECT_NE(spool->epoch(), epoch);  // a new epoch: no seq can collide with the old ones
  EXPECT_EQ(spool->Pending(0, 10).size(), 2u);
  EXPECT_EQ(spool->TakeGaps().size(), 1u);
}

}  // namespace
}  // namespace custos::agent
