#include "common/config.h"

#include <gtest/gtest.h>

namespace custos {
namespace {

TEST(ConfigTest, ReadsTypedValuesWithDefaults) {
  auto f = ConfigFile::Parse(R"(
[spool]
dir = "/var/spool"
quota = "64MiB"
flush = "250ms"
max_batches = 8
fsync = false
[node.labels]
rack = "r1"
)", "agent.toml");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ConfigSection spool = f->Section("spool");
  EXPECT_EQ(spool.String("dir", ""), "/var/spool");
  EXPECT_EQ(spool.Bytes("quota", 0), 64u << 20);
  EXPECT_EQ(spool.Duration("flush", 0), 250'000'000);
  EXPECT_EQ(spool.Int("max_batches", 1, 1, 100), 8);
  EXPECT_FALSE(spool.Bool("fsync", true));
  EXPECT_EQ(spool.Int("absent", 5, 0, 10), 5);
  auto labels = f->Section("node").StringMap("labels");
  EXPECT_EQ(labels["rack"], "r1");
  EXPECT_TRUE(f->Finish().ok());
}

TEST(ConfigTest, UnknownKeysAndBadValuesAreNamed) {
  auto f = ConfigFile::Parse("[spool]\nquota = \"64 parsecs\"\nmax_batches = 0\ntypo = 1\n", "agent.toml");
  ASSERT_TRUE(f.ok());
  ConfigSection spool = f->Section("spool");
  spool.Bytes("quota", 1);
  spool.Int("max_batches", 1, 1, 100);
  Status s = f->Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("agent.toml:2: spool.quota: '64 parsecs' has an unknown size unit"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("agent.toml:3: spool.max_batches: must be between 1 and 100, got 0"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("agent.toml:4: unknown key 'spool.typo'"), std::string::npos) << s.message();
}

TEST(ConfigTest, ArraysOfTablesAreSectionsWithStrictKeys) {
  auto f = ConfigFile::Parse(R"([a]
[[a.items]]
id = "x"
[[a.items]]
id = "y"
tpyo = 1
)", "agent.toml");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  std::vector<ConfigSection> items = f->Section("a").SectionList("items");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].String("id", ""), "x");
  EXPECT_EQ(items[1].String("id", ""), "y");
  EXPECT_TRUE(f->Section("a").SectionList("absent").empty());
  Status s = f->Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("agent.toml:6: unknown key 'a.items[1].tpyo'"), std::string::npos) << s.message();

  auto g = ConfigFile::Parse("[a]\nitems = [1, 2]\nempty = []\n", "agent.toml");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->Section("a").SectionList("items").empty());
  EXPECT_TRUE(g->Section("a").SectionList("empty").empty());
  s = g->Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("a.items: expected an array of tables [[a.items]]"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("a.empty"), std::string::npos) << s.message();
}

TEST(ConfigTest, CallersReportTheirOwnValueErrors) {
  auto f = ConfigFile::Parse("[a]\n[[a.items]]\nid = \"\"\n", "agent.toml");
  ASSERT_TRUE(f.ok());
  std::vector<ConfigSection> items = f->Section("a").SectionList("items");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].String("id", "x"), "");
  items[0].AddError("id", "must not be empty");
  Status s = f->Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("agent.toml:3: a.items[0].id: must not be empty"), std::string::npos) << s.message();
}

TEST(ConfigTest, SyntaxErrorHasLineAndColumn) {
  auto f = ConfigFile::Parse("a = 1\nb = [\n", "bad.toml");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message().rfind("bad.toml:", 0), 0u) << f.status().message();
}

TEST(ConfigTest, Durations) {
  struct Case {
    const char* text;
    int64_t nanos;
    bool ok;
  } cases[] = {{"10s", 10'000'000'000, true}, {"5m", 300'000'000'000, true},
               {"1.5s", 1'500'000'000, true}, {"7d", 604'800'000'000'000, true},
               {"10", 0, false},           {"fast", 0, false}};
  for (const Case& c : cases) {
    auto d = ParseDuration(c.text);
    EXPECT_EQ(d.ok(), c.ok) << c.text;
    if (c.ok) {
      EXPECT_EQ(*d, c.nanos) << c.text;
    }
  }
}

}  // namespace
}  // namespace custos
