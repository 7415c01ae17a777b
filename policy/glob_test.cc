#include <gtest/gtest.h>

#include "policy/policy.h"

namespace custos::policy {
namespace {

struct GlobCase {
  const char* name;
  const char* pattern;
  const char* text;
  bool match;
};

TEST(GlobMatch, Table) {
  const GlobCase cases[] = {
      {"literal", "/data/a", "/data/a", true},
      {"literal differs", "/data/a", "/data/b", false},
      {"star within a segment", "/data/*.jpg", "/data/x.jpg", true},
      {"star stops at slash", "/data/*.jpg", "/data/sub/x.jpg", false},
      {"double star crosses slashes", "/data/**", "/data/a/b/c", true},
      {"double star then single star", "/data/**/raw/*.csv", "/data/x/y/raw/z.csv", true},
      {"single star must not cross after deep star", "/data/**/raw/*.csv", "/data/x/raw/y/z.csv", false},
      {"question mark", "/d/?.txt", "/d/a.txt", true},
      {"question mark is not a slash", "/d?x", "/d/x", false},
      {"unit glob", "trainer@*.service", "trainer@resnet.service", true},
      {"unit glob other unit", "trainer@*.service", "sshd.service", false},
      {"empty pattern matches empty text", "", "", true},
      {"star matches empty", "a*", "a", true},
      {"uri deep", "s3://b/p/**", "s3://b/p/2026/x.parquet", true},
      {"trailing text after star", "*x", "abcx", true},
      {"backtracking", "*ab*ab", "abxabab", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(GlobMatch(c.pattern, c.text), c.match) << c.name << ": " << c.pattern << " vs " << c.text;
  }
}

}  // namespace
}  // namespace custos::policy
