#include "agent/sources/access/dataset_map.h"

#include <gtest/gtest.h>

namespace custos::agent::access {
namespace {

TEST(GlobMatchTest, Table) {
  struct Case {
    const char* pattern;
    const char* text;
    bool match;
  } cases[] = {
      {"/data/imagenet/**", "/data/imagenet", true},
      {"/data/imagenet/**", "/data/imagenet/train/n01/x.jpeg", true},
      {"/data/imagenet/**", "/data/imagenet-v2/x", false},
      {"/data/*/train/*", "/data/imagenet/train/x", true},
      {"/data/*/train/*", "/data/imagenet/train/a/x", false},
      {"/data/**/labels.csv", "/data/labels.csv", true},
      {"/data/**/labels.csv", "/data/a/b/c/labels.csv", true},
      {"/data/**/labels.csv", "/data/a/b/c/labels.csvx", false},
      {"/data/shard-??.tar", "/data/shard-07.tar", true},
      {"/data/shard-??.tar", "/data/shard-7.tar", false},
      {"/data/*.parquet", "/data/.parquet", true},
      {"s3://ml-datasets/imagenet/**", "s3://ml-datasets/imagenet/train/a.jpeg", true},
      {"s3://ml-datasets/imagenet/*", "s3://ml-datasets/imagenet/train/a.jpeg", false},
      {"s3://ml-datasets/imagenet/*", "s3://ml-datasets/imagenet/a.jpeg", true},
      {"s3://*/imagenet/**", "s3://other/imagenet/x", true},
      {"/a/**/**/b", "/a/b", true},
      {"/a/*x*y*z*", "/a/xxyyzz", true},
      {"/a/*x*y*z*", "/a/zzyyxx", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(GlobMatch(c.pattern, c.text), c.match) << c.pattern << " vs " << c.text;
  }
  // Adversarial input stays cheap (quadratic in names, not exponential).
  std::string deep(4000, '/');
  EXPECT_FALSE(GlobMatch("/**/**/**/**/**/x", deep));
}

TEST(DatasetMapTest, MapsPathsUrisAndPrincipals) {
  auto f = ConfigFile::Parse(R"([a]
principal_names = { "uid:1001" = "ml-training", "user:bob" = "analytics", "unit:train.service" = "trainer" }
[[a.datasets]]
id = "imagenet"
classification = "internal"
home_region = "eu-central-1"
paths = ["/data/imagenet/**"]
uris = ["s3://ml-datasets/imagenet/**"]
[[a.datasets]]
id = "everything"
classification = "public"
paths = ["/data/**"]
)", "agent.toml");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ConfigSection section = f->Section("a");
  DatasetMap map = DatasetMap::FromConfig(section);
  ASSERT_TRUE(f->Finish().ok());
  ASSERT_EQ(map.dataset_count(), 2u);
  const Dataset* d = map.ForObject("/data/imagenet/train/x.jpeg");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->id, "imagenet");
  EXPECT_EQ(d->classification, "internal");
  EXPECT_EQ(d->home_region, "eu-central-1");
  ASSERT_NE(map.ForObject("/data/other/x"), nullptr);  // the first match wins, so order matters
  EXPECT_EQ(map.ForObject("/data/other/x")->id, "everything");
  ASSERT_NE(map.ForObject("s3://ml-datasets/imagenet/a"), nullptr);
  EXPECT_EQ(map.ForObject("s3://ml-datasets/imagenet/a")->id, "imagenet");
  EXPECT_EQ(map.ForObject("s3://ml-datasets/coco/a"), nullptr);
  EXPECT_EQ(map.ForObject("/srv/x"), nullptr);
  EXPECT_EQ(map.ById("everything")->classification, "public");
  EXPECT_EQ(map.ById("nope"), nullptr);
  EXPECT_EQ(map.PrincipalName(1001, "alice", "train.service"), "trainer");  // unit first
  EXPECT_EQ(map.PrincipalName(1001, "bob", ""), "analytics");               // then user
  EXPECT_EQ(map.PrincipalName(1001, "alice", "x.service"), "ml-training");  // then uid
  EXPECT_EQ(map.PrincipalName(5, "carol", ""), "");
}

TEST(DatasetMapTest, BadEntriesAreStartupErrorsNamingTheKey) {
  auto f = ConfigFile::Parse(R"([a]
principal_names = { "gid:5" = "x", "uid:abc" = "y" }
[[a.datasets]]
id = "d"
paths = ["data/relative/**"]
[[a.datasets]]
id = "d"
uris = ["no-scheme/**"]
[[a.datasets]]
classification = "internal"
paths = ["/x/**"]
colour = "blue"
)", "agent.toml");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ConfigSection section = f->Section("a");
  DatasetMap::FromConfig(section);
  Status s = f->Finish();
  ASSERT_FALSE(s.ok());
  for (const char* want : {"agent.toml:5: a.datasets[0].paths: 'data/relative/**' is not an absolute path glob",
                           "agent.toml:7: a.datasets[1].id: dataset 'd' is defined twice",
                           "a.datasets[1].uris: 'no-scheme/**' is not a URI glob",
                           "a.datasets[2].id: every dataset needs a non-empty id",
                           "unknown key 'a.datasets[2].colour'",
                           "a.principal_names: key 'gid:5' must be",
                           "a.principal_names: key 'uid:abc' must be"}) {
    EXPECT_NE(s.message().find(want), std::string::npos) << want << "\n" << s.message();
  }
}

}  // namespace
}  // namespace custos::agent::access
