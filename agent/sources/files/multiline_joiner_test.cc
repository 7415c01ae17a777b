#include "agent/sources/files/multiline_joiner.h"

#include <gtest/gtest.h>

namespace custos::agent::files {
namespace {

Line L(const std::string& text, uint64_t start) {
  Line l;
  l.text = text;
  l.start = start;
  l.end = start + text.size() + 1;
  return l;
}

std::shared_ptr<const StartPattern> Pattern(const std::string& re) {
  auto p = StartPattern::Compile(re);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return *p;
}

TEST(MultilineJoinerTest, JoinsContinuationLines) {
  MultilineJoiner j(Pattern("^[0-9]{4}-"), {});
  std::vector<Line> out;
  j.Add(L("2024-01-01 boom", 0), 0, &out);
  j.Add(L("  at a()", 16), 0, &out);
  j.Add(L("  at b()", 25), 0, &out);
  EXPECT_TRUE(out.empty());
  j.Add(L("2024-01-02 next", 34), 0, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "2024-01-01 boom\n  at a()\n  at b()");
  EXPECT_EQ(out[0].lines, 3u);
  EXPECT_EQ(out[0].start, 0u);
  EXPECT_EQ(out[0].end, 34u);
  EXPECT_TRUE(j.holding());
}

TEST(MultilineJoinerTest, FlushTimeoutReleasesTheLastRecord) {
  MultilineJoiner j(Pattern("^S"), {.flush_timeout_nanos = 100});
  std::vector<Line> out;
  j.Add(L("S1", 0), 1000, &out);
  j.Add(L(" c", 3), 1050, &out);
  j.FlushIfDue(1149, &out);
  EXPECT_TRUE(out.empty());  // 99 ns since the last line
  j.FlushIfDue(1150, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "S1\n c");
  EXPECT_FALSE(j.holding());
}

TEST(MultilineJoinerTest, BoundsSplitARecord) {
  MultilineJoiner j(Pattern("^S"), {.max_lines = 3, .max_bytes = 1 << 20});
  std::vector<Line> out;
  uint64_t at = 0;
  for (const char* t : {"S", "a", "b", "c", "d"}) {
    j.Add(L(t, at), 0, &out);
    at += 2;
  }
  j.Flush(&out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].text, "S\na\nb");
  EXPECT_TRUE(out[0].multiline_split);
  EXPECT_EQ(out[1].text, "c\nd");
  EXPECT_FALSE(out[1].multiline_split);

  MultilineJoiner bytes(Pattern("^S"), {.max_lines = 100, .max_bytes = 8});
  out.clear();
  bytes.Add(L("S2345", 0), 0, &out);
  bytes.Add(L("678", 6), 0, &out);  // 5 + 1 + 3 = 9 > 8
  bytes.Flush(&out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].text, "S2345");
  EXPECT_TRUE(out[0].multiline_split);
}

TEST(MultilineJoinerTest, WithoutPatternEveryLineIsARecord) {
  MultilineJoiner j(Pattern(""), {});
  std::vector<Line> out;
  j.Add(L("a", 0), 0, &out);
  j.Add(L(" b", 2), 0, &out);
  EXPECT_EQ(out.size(), 2u);
  EXPECT_FALSE(j.holding());
}

TEST(MultilineJoinerTest, CutPiecesNeverStartARecord) {
  MultilineJoiner j(Pattern("^S"), {});
  std::vector<Line> out;
  Line first = L("Sxxx", 0);
  first.cut = true;
  Line second = L("Syy", 4);  // looks like a start, but continues the cut line
  second.continued = true;
  j.Add(std::move(first), 0, &out);
  j.Add(std::move(second), 0, &out);
  j.Flush(&out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "SxxxSyy");
}

TEST(MultilineJoinerTest, BadPatternIsAnError) {
  auto p = StartPattern::Compile("([");
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::agent::files
