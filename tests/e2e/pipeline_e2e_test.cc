// End-to-end: real agent and collector processes over CURVE on loopback,
// killed with SIGKILL at random moments. The store must end with every
// record exactly once, and any loss must arrive as a gap.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "common/files.h"
#include "tests/e2e/harness.h"

namespace custos::e2e {
namespace {

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

constexpr const char* kFastDelivery =
    "[batch]\nmax_records = 500\nflush_interval = \"50ms\"\n"
    "[sender]\nack_timeout = \"1s\"\nmax_backoff = \"2s\"\nheartbeat = \"1s\"\n"
    "[sources.host_metrics]\nenabled = false\n";

std::string Generator(int count, int rate, int message_bytes = 0) {
  return "[sources.generator]\nenabled = true\ncount = " + std::to_string(count) +
         "\nrate = " + std::to_string(rate) + "\nmessage_bytes = " + std::to_string(message_bytes) + "\n";
}

const char* kStored = "SELECT count(*) FROM logs WHERE source = 'generator'";
const char* kDistinct = "SELECT count(DISTINCT message) FROM logs WHERE source = 'generator'";

TEST(PipelineE2E, KillNineOfCollectorAndAgentLosesAndDuplicatesNothing) {
  constexpr int kRecords = 40'000;
  Cluster c(std::string(kFastDelivery) + Generator(kRecords, 5'000));
  c.StartCollector();
  c.StartAgent();
  std::mt19937 rng(std::random_device{}());
  auto between = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  for (int i = 0; i < 4; ++i) {  // the collector dies mid-commit, mid-ack, anywhere
    SleepMs(between(300, 1200));
    c.KillCollector(SIGKILL);
    SleepMs(between(50, 600));
    c.StartCollector();
  }
  SleepMs(between(200, 900));
  c.KillAgent(SIGKILL);  // mid-generation, mid-spool-write, mid-send
  SleepMs(between(50, 400));
  c.StartAgent();
  SleepMs(between(200, 800));
  c.KillCollector(SIGKILL);
  c.StartCollector();

  ASSERT_TRUE(c.WaitFor(kStored, kRecords, 120)) << "stored " << c.QueryInt(kStored) << " of " << kRecords
                                                 << "\nagent log:\n" << c.ReadLog("agent").substr(0, 4000);
  SleepMs(1500);  // anything still in flight would show up as a duplicate now
  EXPECT_EQ(c.QueryInt(kStored), kRecords);
  EXPECT_EQ(c.QueryInt(kDistinct), kRecords);
  EXPECT_EQ(c.QueryInt("SELECT min(CAST(json_extract(fields, '$.index') AS INTEGER)) FROM logs"), 1);
  EXPECT_EQ(c.QueryInt("SELECT max(CAST(json_extract(fields, '$.index') AS INTEGER)) FROM logs"), kRecords);
  EXPECT_EQ(c.QueryInt("SELECT count(*) FROM gaps"), 0);
  EXPECT_EQ(c.QueryInt("SELECT count(*) FROM (SELECT agent_id, epoch, seq FROM batches "
                       "GROUP BY 1, 2, 3 HAVING count(*) > 1)"),
            0);
  // Six SIGKILLs later the audit log still verifies, one start record per collector start.
  c.KillCollector(SIGTERM);
  std::string out;
  EXPECT_EQ(c.VerifyAudit(&out), 0) << out;
  EXPECT_EQ(c.CountAuditRecords("lifecycle", "\"action\":\"start\""),
            6);
}

TEST(PipelineE2E, UnenrolledAgentIsRefusedAndNothingIsStored) {
  Cluster c(std::string(kFastDelivery) + Generator(1000, 10'000), /*enroll=*/false);
  c.StartCollector();
  c.StartAgent();
  SleepMs(3000);
  EXPECT_LE(c.QueryInt("SELECT count(*) FROM logs"), 0);
  EXPECT_NE(c.ReadLog("collector").find("refused connection: agent key not enrolled"), std::string::npos)
      << c.ReadLog("collector");
  EXPECT_NE(c.ReadLog("agent").find("collector refused the handshake"), std::string::npos) << c.ReadLog("agent");
  // The refusal is audited (once a minute per key, not once per retry).
  EXPECT_EQ(c.CountAuditRecords("refusal"), 1);
}

TEST(PipelineE2E, CorruptSpoolEntryArrivesAsAGap) {
  constexpr int kRecords = 3000;
  Cluster c(std::string(kFastDelivery) + Generator(kRecords, 50'000));
  c.StartAgent();  // no collector yet: everything stays in the spool
  for (int i = 0; i < 100 && c.ReadLog("agent").find("all records handed") == std::string::npos; ++i) SleepMs(100);
  SleepMs(300);
  c.KillAgent(SIGTERM);  // clean stop: the batcher spools what it holds
  auto names = ListDir(c.spool_dir());
  ASSERT_TRUE(names.ok());
  ASSERT_FALSE(names->empty());
  std::string seg = c.spool_dir() + "/" + names->back();
  auto data = ReadFile(seg);
  ASSERT_TRUE(data.ok());
  size_t at = data->find("generator record 1500.");
  if (at == std::string::npos) at = data->find("generator record 1500");
  ASSERT_NE(at, std::string::npos);
  int fd = open(seg.c_str(), O_WRONLY);
  ASSERT_EQ(pwrite(fd, "#####", 5, static_cast<off_t>(at)), 5);
  close(fd);

  c.StartCollector();
  c.StartAgent();
  ASSERT_TRUE(c.WaitFor("SELECT count(*) FROM gaps", 1, 60)) << c.ReadLog("agent");
  ASSERT_TRUE(c.WaitFor("SELECT count(*) FROM batches", 2, 30));
  SleepMs(2000);
  int64_t stored = c.QueryInt(kStored);
  EXPECT_LT(stored, kRecords);
  EXPECT_GE(stored, kRecords - 500);  // exactly one batch (at most 500 records) lost
  EXPECT_EQ(c.QueryInt(kDistinct), stored);
  EXPECT_EQ(c.QueryInt("SELECT count(*) FROM logs WHERE message = 'generator record 1500'"), 0);
  EXPECT_EQ(c.QueryInt("SELECT reason FROM gaps"), 2);  // REASON_SPOOL_CORRUPT
  EXPECT_EQ(c.QueryInt("SELECT lost_batches FROM gaps"), 1);
  EXPECT_EQ(c.QueryInt("SELECT last_lost_seq - first_lost_seq FROM gaps"), 0);
  EXPECT_NE(c.ReadLog("agent").find("damaged spool entries skipped"), std::string::npos);
  // The loss is in the audit trail too, and the trail verifies.
  EXPECT_EQ(c.CountAuditRecords("gap"), 1);
  c.KillCollector(SIGTERM);
  std::string out;
  EXPECT_EQ(c.VerifyAudit(&out), 0) << out;
}

TEST(PipelineE2E, FullSpoolBacksPressureAndLosesNothing) {
  constexpr int kRecords = 20'000;
  Cluster c(std::string(kFastDelivery) + Generator(kRecords, 20'000, 100) +
            "[spool]\nquota = \"256KiB\"\nsegment_size = \"32KiB\"\n");
  c.StartAgent();
  SleepMs(2500);  // the spool fills while no collector answers
  EXPECT_NE(c.ReadLog("agent").find("spool quota reached"), std::string::npos) << c.ReadLog("agent");
  c.StartCollector();
  ASSERT_TRUE(c.WaitFor(kStored, kRecords, 90)) << "stored " << c.QueryInt(kStored);
  EXPECT_EQ(c.QueryInt(kDistinct), kRecords);
  EXPECT_EQ(c.QueryInt("SELECT count(*) FROM gaps"), 0);
}

}  // namespace
}  // namespace custos::e2e
