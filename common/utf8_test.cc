#include "common/utf8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "custos/v1/records.pb.h"

namespace custos {
namespace {

const std::string kR(kUtf8Replacement);  // U+FFFD

std::string Hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char ch : s) {
    const auto b = static_cast<unsigned char>(ch);
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
    out += ' ';
  }
  return out;
}

// What protobuf needs: a record holding `s` in a string field survives a
// serialise / parse round trip (the parse checks UTF-8).
bool SurvivesProtobuf(const std::string& s) {
  v1::Record r;
  r.mutable_log()->set_message(s);
  (*r.mutable_log()->mutable_fields())[s] = s;
  v1::Record back;
  return back.ParseFromString(r.SerializeAsString()) && back.log().message() == s &&
         back.log().fields().at(s) == s;
}

struct RepairCase {
  const char* name;
  std::string in;
  std::string maximal_subpart;  // want under Utf8Repair::kMaximalSubpart
  std::string per_byte;         // want under Utf8Repair::kPerByte
};

std::vector<RepairCase> RepairCases() {
  const std::string valid_mix = "h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";  // é € 😀
  return {
      {"Empty", "", "", ""},
      {"Ascii", "hello, world", "hello, world", "hello, world"},
      {"Nul", std::string("a\0b", 3), std::string("a\0b", 3), std::string("a\0b", 3)},
      {"ValidTwoThreeFourBytes", valid_mix, valid_mix, valid_mix},
      {"Extremes", "\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
       "\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
       "\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"},
      {"AlreadyAReplacementCharacter", kR + "x", kR + "x", kR + "x"},
      {"Latin1", "caf\xE9!", "caf" + kR + "!", "caf" + kR + "!"},
      {"StrayContinuation", "a\x80z", "a" + kR + "z", "a" + kR + "z"},
      {"NeverValidBytes", "\xC0\xC1\xF5\xFF", kR + kR + kR + kR, kR + kR + kR + kR},
      {"OverlongTwoBytes", "\xC0\xAF", kR + kR, kR + kR},
      {"OverlongThreeBytes", "\xE0\x80\xAF", kR + kR + kR, kR + kR + kR},
      {"OverlongFourBytes", "\xF0\x8F\xBF\xBF", kR + kR + kR + kR, kR + kR + kR + kR},
      {"Surrogate", "\xED\xA0\x80", kR + kR + kR, kR + kR + kR},
      {"AboveMax", "\xF4\x90\x80\x80", kR + kR + kR + kR, kR + kR + kR + kR},
      // A truncated sequence is one maximal subpart: one U+FFFD, not one a byte.
      {"TruncatedAtEnd", "x\xE2\x82", "x" + kR, "x" + kR + kR},
      {"TruncatedFourBytes", "\xF0\x9F\x98", kR, kR + kR + kR},
      {"TruncatedThenAscii", "\xE2\x82z", kR + "z", kR + kR + "z"},
      {"TruncatedThenValid", "\xF0\x9F\xC3\xA9", kR + "\xC3\xA9", kR + kR + "\xC3\xA9"},
      {"LoneLeadAtEnd", "ab\xC3", "ab" + kR, "ab" + kR},
      // Unicode 15 §3.9, Table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
      {"UnicodeTable3_8", "a\xF1\x80\x80\xE1\x80\xC2" "b\x80" "c\x80\xBF" "d",
       "a" + kR + kR + kR + "b" + kR + "c" + kR + kR + "d",
       "a" + kR + kR + kR + kR + kR + kR + "b" + kR + "c" + kR + kR + "d"},
  };
}

class Utf8RepairTest : public ::testing::TestWithParam<RepairCase> {};

TEST_P(Utf8RepairTest, RepairsUnderBothPolicies) {
  const RepairCase& c = GetParam();
  const bool valid = c.in == c.maximal_subpart;
  EXPECT_EQ(IsValidUtf8(c.in), valid) << Hex(c.in);
  for (Utf8Repair mode : {Utf8Repair::kMaximalSubpart, Utf8Repair::kPerByte}) {
    const std::string& want = mode == Utf8Repair::kPerByte ? c.per_byte : c.maximal_subpart;
    SCOPED_TRACE(mode == Utf8Repair::kPerByte ? "per byte" : "maximal subpart");
    EXPECT_EQ(Hex(ToValidUtf8(c.in, mode)), Hex(want));

    std::string s = c.in;
    EXPECT_EQ(SanitizeUtf8(&s, mode), !valid);
    EXPECT_EQ(Hex(s), Hex(want));

    bool replaced = false, truncated = false;
    EXPECT_EQ(Hex(ToValidUtf8(c.in, 1 << 20, &replaced, &truncated, mode)), Hex(want));
    EXPECT_EQ(replaced, !valid);
    EXPECT_FALSE(truncated);

    EXPECT_TRUE(IsValidUtf8(want));
    EXPECT_EQ(ValidUtf8PrefixLength(want), want.size());
    EXPECT_EQ(ToValidUtf8(want, mode), want);  // idempotent
    EXPECT_TRUE(SurvivesProtobuf(want));
  }
}

INSTANTIATE_TEST_SUITE_P(All, Utf8RepairTest, ::testing::ValuesIn(RepairCases()),
                         [](const ::testing::TestParamInfo<RepairCase>& p) { return p.param.name; });

TEST(Utf8Test, SanitizeDoesNotCopyValidInput) {
  std::string s(1000, 'a');
  s += "\xC3\xA9";
  const char* before = s.data();
  EXPECT_FALSE(SanitizeUtf8(&s));
  EXPECT_EQ(s.data(), before);
}

TEST(Utf8Test, ValidPrefixAndSequenceLength) {
  struct Case {
    const char* name;
    std::string in;
    size_t prefix;    // ValidUtf8PrefixLength
    size_t sequence;  // Utf8SequenceLength
  } cases[] = {
      {"empty", "", 0, 0},
      {"ascii", "abc", 3, 1},
      {"two", "\xC3\xA9x", 3, 2},
      {"three", "\xE2\x82\xAC", 3, 3},
      {"four", "\xF0\x9F\x98\x80", 4, 4},
      {"invalid_after_ascii_block", "0123456789\xFF", 10, 1},
      {"truncated", "\xE2\x82", 0, 0},
      {"surrogate", "\xED\xA0\x80", 0, 0},
      {"overlong", "\xC1\xBF", 0, 0},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ValidUtf8PrefixLength(c.in), c.prefix) << c.name;
    EXPECT_EQ(Utf8SequenceLength(c.in), c.sequence) << c.name;
  }
}

// Compares validity against a decoder written differently: assemble the code
// point, then reject overlongs, surrogates and > U+10FFFF by value.
size_t ReferenceSequenceLength(const std::string& s) {
  if (s.empty()) return 0;
  const auto c = static_cast<unsigned char>(s[0]);
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp, min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

TEST(Utf8Test, SequenceLengthAgreesWithAReferenceDecoder) {
  // Every 1- and 2-byte string, every lead byte with every second byte and
  // boundary values after it (where all the special cases live).
  const unsigned char tails[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xFF};
  size_t checked = 0;
  for (int a = 0; a < 256; ++a) {
    for (int b = -1; b < 256; ++b) {
      std::string two(1, static_cast<char>(a));
      if (b >= 0) two.push_back(static_cast<char>(b));
      ASSERT_EQ(Utf8SequenceLength(two), ReferenceSequenceLength(two)) << Hex(two);
      ++checked;
      if (b < 0) continue;
      for (unsigned char c : tails) {
        std::string three = two + static_cast<char>(c);
        ASSERT_EQ(Utf8SequenceLength(three), ReferenceSequenceLength(three)) << Hex(three);
        for (unsigned char d : tails) {
          std::string four = three + static_cast<char>(d);
          ASSERT_EQ(Utf8SequenceLength(four), ReferenceSequenceLength(four)) << Hex(four);
          checked += 1;
        }
      }
    }
  }
  EXPECT_GT(checked, 9'000'000u);
}

struct CutCase {
  const char* name;
  std::string in;
  size_t max_bytes;
  std::string want;
  bool replaced;
  bool truncated;
};

TEST(Utf8Test, CutsOnACharacterBoundary) {
  const std::string euro = "\xE2\x82\xAC";  // 3 bytes
  const CutCase cases[] = {
      {"fits_exactly", "ab" + euro, 5, "ab" + euro, false, false},
      {"inside_a_character", "ab" + euro, 4, "ab", false, true},
      {"right_after_the_lead", "ab" + euro, 3, "ab", false, true},
      {"before_the_character", "ab" + euro + "c", 2, "ab", false, true},
      {"ascii", "abcdef", 4, "abcd", false, true},
      {"zero", "abc", 0, "", false, true},
      {"four_byte_character", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 7, "\xF0\x9F\x98\x80", false, true},
      {"replacement_fits", "a\xFF", 4, "a" + kR, true, false},
      {"replacement_does_not_fit", "a\xFF", 3, "a", false, true},
      {"replacement_then_cut", "\xFF" "abc", 4, kR + "a", true, true},
      {"cut_in_a_long_ascii_run", std::string(20, 'x') + euro, 21, std::string(20, 'x'), false, true},
  };
  for (const CutCase& c : cases) {
    bool replaced = false, truncated = false;
    std::string got = ToValidUtf8(c.in, c.max_bytes, &replaced, &truncated);
    EXPECT_EQ(Hex(got), Hex(c.want)) << c.name;
    EXPECT_EQ(replaced, c.replaced) << c.name;
    EXPECT_EQ(truncated, c.truncated) << c.name;
    EXPECT_LE(got.size(), c.max_bytes) << c.name;
    EXPECT_TRUE(IsValidUtf8(got)) << c.name;
  }
  // Null flags are fine.
  EXPECT_EQ(ToValidUtf8("a\xFF" "bc", 4, nullptr, nullptr), "a" + kR);
}

TEST(Utf8Test, RandomBytesAlwaysComeOutValidUnderBothPolicies) {
  uint32_t x = 12345;
  for (int round = 0; round < 5000; ++round) {
    std::string s;
    const int n = static_cast<int>(x % 48);
    for (int i = 0; i < n; ++i) {
      x = x * 1664525 + 1013904223;
      // Bias towards bytes that make sequences (and near-misses) likely.
      const unsigned char pool[] = {'a', 0x80, 0x9F, 0xA0, 0xBF, 0xC2, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xFF};
      s.push_back(static_cast<char>((x >> 28) < 12 ? pool[x >> 28] : (x >> 16) & 0xFF));
    }
    x = x * 1664525 + 1013904223;
    for (Utf8Repair mode : {Utf8Repair::kMaximalSubpart, Utf8Repair::kPerByte}) {
      std::string out = ToValidUtf8(s, mode);
      ASSERT_TRUE(IsValidUtf8(out)) << Hex(s);
      ASSERT_TRUE(SurvivesProtobuf(out)) << Hex(s);
      std::string in_place = s;
      SanitizeUtf8(&in_place, mode);
      ASSERT_EQ(in_place, out) << Hex(s);
      // Any bound: a prefix of the unbounded repair, cut on a boundary.
      const size_t max = x % (out.size() + 2);
      std::string cut = ToValidUtf8(s, max, nullptr, nullptr, mode);
      ASSERT_LE(cut.size(), max);
      ASSERT_EQ(out.compare(0, cut.size(), cut), 0) << Hex(s);
      ASSERT_TRUE(IsValidUtf8(cut)) << Hex(s);
    }
    // Per byte never writes fewer U+FFFD than maximal subpart.
    ASSERT_GE(ToValidUtf8(s, Utf8Repair::kPerByte).size(), ToValidUtf8(s).size());
  }
}

}  // namespace
}  // namespace custos
