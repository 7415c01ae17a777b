#include "agent/sources/files/line_splitter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace custos::agent::files {
namespace {

std::vector<std::string> Texts(const std::vector<Line>& lines) {
  std::vector<std::string> out;
  for (const Line& l : lines) out.push_back(l.text);
  return out;
}

struct SplitCase {
  const char* name;
  std::vector<std::string> chunks;
  std::vector<std::string> want;
  size_t want_held;
};

class LineSplitterCases : public ::testing::TestWithParam<SplitCase> {};

TEST_P(LineSplitterCases, SplitsAtNewlines) {
  const SplitCase& c = GetParam();
  LineSplitter s(1024);
  std::vector<Line> out;
  for (const std::string& chunk : c.chunks) s.Feed(chunk, &out);
  EXPECT_EQ(Texts(out), c.want);
  EXPECT_EQ(s.partial_bytes(), c.want_held);
  // Offsets tile the input: each line starts where the previous one ended.
  uint64_t at = 0;
  for (const Line& l : out) {
    EXPECT_EQ(l.start, at);
    at = l.end;
  }
  EXPECT_EQ(at + c.want_held, s.next_offset());
}

INSTANTIATE_TEST_SUITE_P(
    All, LineSplitterCases,
    ::testing::Values(SplitCase{"Empty", {""}, {}, 0}, SplitCase{"OneLine", {"a\n"}, {"a"}, 0},
                      SplitCase{"PartialHeld", {"a\nbc"}, {"a"}, 2},
                      SplitCase{"PartialCompletedLater", {"a\nb", "c", "d\ne"}, {"a", "bcd"}, 1},
                      SplitCase{"CrLfStripped", {"a\r\nb\r", "\n"}, {"a", "b"}, 0},
                      SplitCase{"LoneCrKept", {"a\rb\n"}, {"a\rb"}, 0},
                      SplitCase{"EmptyLines", {"\n\n", "\n"}, {"", "", ""}, 0},
                      SplitCase{"ByteAtATime", {"x", "y", "\n", "z", "\n"}, {"xy", "z"}, 0},
                      SplitCase{"NulBytes", {std::string("a\0b\n", 4)}, {std::string("a\0b", 3)}, 0}),
    [](const ::testing::TestParamInfo<SplitCase>& p) { return p.param.name; });

TEST(LineSplitterTest, LongLineIsCutIntoBoundedPieces) {
  LineSplitter s(4);
  std::vector<Line> out;
  s.Feed("abcdefghij", &out);  // 10 bytes, no newline: two pieces out, 2 held
  ASSERT_EQ(Texts(out), (std::vector<std::string>{"abcd", "efgh"}));
  EXPECT_LE(s.partial_bytes(), 4u);
  s.Feed("\nxy\n", &out);
  ASSERT_EQ(Texts(out), (std::vector<std::string>{"abcd", "efgh", "ij", "xy"}));
  EXPECT_TRUE(out[0].cut);
  EXPECT_FALSE(out[0].continued);
  EXPECT_TRUE(out[1].cut);
  EXPECT_TRUE(out[1].continued);
  EXPECT_FALSE(out[2].cut);
  EXPECT_TRUE(out[2].continued);
  EXPECT_FALSE(out[3].cut);
  EXPECT_FALSE(out[3].continued);
  EXPECT_EQ(out[1].start, 4u);
  EXPECT_EQ(out[1].end, 8u);
  EXPECT_EQ(out[2].end, 11u);  // past the '\n'
}

TEST(LineSplitterTest, LineOfExactlyTheBoundIsNotCut) {
  LineSplitter s(4);
  std::vector<Line> out;
  s.Feed("abcd", &out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(s.partial_bytes(), 4u);
  s.Feed("\n", &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "abcd");
  EXPECT_FALSE(out[0].cut);
}

TEST(LineSplitterTest, HugeLineWithoutNewlineUsesBoundedMemory) {
  LineSplitter s(64 * 1024);
  std::vector<Line> out;
  std::string chunk(64 * 1024 + 7, 'x');
  for (int i = 0; i < 64; ++i) {
    s.Feed(chunk, &out);
    EXPECT_LE(s.partial_bytes(), 64u * 1024);
  }
  size_t total = 0;
  for (const Line& l : out) {
    EXPECT_EQ(l.text.size(), 64u * 1024);
    EXPECT_TRUE(l.cut);
    total += l.text.size();
  }
  EXPECT_EQ(total + s.partial_bytes(), 64u * chunk.size());
}

TEST(LineSplitterTest, ResetResumesMidLine) {
  LineSplitter s(4);
  s.Reset(100, /*mid_line=*/true);
  std::vector<Line> out;
  s.Feed("ab\ncd\n", &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].continued);
  EXPECT_EQ(out[0].start, 100u);
  EXPECT_EQ(out[0].end, 103u);
  EXPECT_FALSE(out[1].continued);
}

TEST(LineSplitterTest, TakePartialMarksUnterminated) {
  LineSplitter s(64);
  std::vector<Line> out;
  s.Feed("a\ntail", &out);
  std::optional<Line> p = s.TakePartial();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->text, "tail");
  EXPECT_TRUE(p->unterminated);
  EXPECT_EQ(p->start, 2u);
  EXPECT_EQ(p->end, 6u);
  EXPECT_FALSE(s.TakePartial().has_value());
}

}  // namespace
}  // namespace custos::agent::files
