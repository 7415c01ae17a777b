#include "agent/sources/generator/generator_source.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include "agent/core/spool.h"
#include "agent/core/spool_testing.h"

namespace custos::agent::generator {
namespace {

// Reads every pending batch of the spool and returns the generator indexes.
std::vector<uint64_t> SpooledIndexes(Spool& spool) {
  std::vector<uint64_t> out;
  for (const v1::Batch& b : PendingBatches(spool)) {
    for (const v1::Record& r : b.records()) out.push_back(std::stoull(r.log().fields().at("index")));
  }
  return out;
}

// Waits (bounded) for the generator thread to hand `n` records to the batcher.
bool WaitForSpooled(Batcher& batcher, Spool& spool, size_t n) {
  for (int i = 0; i < 500; ++i) {
    EXPECT_TRUE(batcher.FlushNow().ok());
    if (SpooledIndexes(spool).size() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

struct Harness {
  explicit Harness(const std::string& dir) {
    auto s = Spool::Open(SpoolOptions{.dir = dir}, metrics);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    spool = std::move(*s);
    node.set_node_id("node-1");
    batcher = std::make_unique<Batcher>(BatcherOptions{.agent_id = "node-1"}, *spool, node, metrics, clock);
    context = std::make_unique<SourceContext>(SourceContext{*batcher, metrics, clock, node});
  }
  std::unique_ptr<Source> Make(const std::string& toml) {
    auto file = ConfigFile::Parse(toml, "agent.toml");
    EXPECT_TRUE(file.ok());
    ConfigSection section = file->Section("sources").Section("generator");
    auto src = CreateGeneratorSource(section, *context);
    EXPECT_TRUE(src.ok());
    EXPECT_TRUE(file->Finish().ok());
    return std::move(*src);
  }
  MetricsRegistry metrics;
  FakeClock clock;
  v1::Resource node;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<Batcher> batcher;
  std::unique_ptr<SourceContext> context;
};

TEST(GeneratorSourceTest, ResumesAfterTheLastSpooledRecord) {
  char tmpl[] = "/tmp/custos_gen_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    Harness h(dir);
    auto src = h.Make("[sources.generator]\ncount = 300\nrate = 1000\n");
    ASSERT_TRUE(src->Start("").ok());
    h.clock.Advance(kNanosPerSecond);  // the rate now allows all 300
    ASSERT_TRUE(WaitForSpooled(*h.batcher, *h.spool, 300));
    src->Stop();
  }
  // A new process: the spool knows where the generator stood.
  Harness h(dir);
  EXPECT_EQ(h.spool->RecoveredPositions().at("generator"), "300");
  auto src = h.Make("[sources.generator]\ncount = 500\nrate = 1000\n");
  ASSERT_TRUE(src->Start(h.spool->RecoveredPositions().at("generator")).ok());
  h.clock.Advance(kNanosPerSecond);
  ASSERT_TRUE(WaitForSpooled(*h.batcher, *h.spool, 500));
  src->Stop();
  std::vector<uint64_t> indexes = SpooledIndexes(*h.spool);
  std::set<uint64_t> unique(indexes.begin(), indexes.end());
  EXPECT_EQ(indexes.size(), 500u);  // nothing twice
  EXPECT_EQ(unique.size(), 500u);
  EXPECT_EQ(*unique.begin(), 1u);
  EXPECT_EQ(*unique.rbegin(), 500u);
}

TEST(GeneratorSourceTest, RateIsFollowed) {
  char tmpl[] = "/tmp/custos_gen_XXXXXX";
  Harness h(mkdtemp(tmpl));
  auto src = h.Make("[sources.generator]\nrate = 100\n");
  ASSERT_TRUE(src->Start("").ok());
  h.clock.Advance(kNanosPerSecond / 2);  // 50 records due
  ASSERT_TRUE(WaitForSpooled(*h.batcher, *h.spool, 50));
  src->Stop();
  EXPECT_EQ(SpooledIndexes(*h.spool).size(), 50u);
}

TEST(GeneratorSourceTest, CorruptPositionIsAnError) {
  char tmpl[] = "/tmp/custos_gen_XXXXXX";
  Harness h(mkdtemp(tmpl));
  auto src = h.Make("[sources.generator]\n");
  Status s = src->Start("12abc");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace custos::agent::generator
