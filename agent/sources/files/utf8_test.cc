#include "agent/sources/files/utf8.h"

#include <gtest/gtest.h>

#include "custos/v1/records.pb.h"

namespace custos::agent::files {
namespace {

struct Utf8Case {
  const char* name;
  std::string in;
  std::string want;
};

class SanitizeUtf8Cases : public ::testing::TestWithParam<Utf8Case> {};

TEST_P(SanitizeUtf8Cases, ReplacesInvalidBytes) {
  const Utf8Case& c = GetParam();
  std::string s = c.in;
  EXPECT_EQ(SanitizeUtf8(&s), c.in != c.want);
  EXPECT_EQ(s, c.want);
  EXPECT_TRUE(IsValidUtf8(s));
  // What protobuf needs: a record holding it survives a round trip.
  v1::LogRecord r;
  r.set_message(s);
  v1::LogRecord back;
  EXPECT_TRUE(back.ParseFromString(r.SerializeAsString()));
}

const std::string kFffd = "\xEF\xBF\xBD";

INSTANTIATE_TEST_SUITE_P(
    All, SanitizeUtf8Cases,
    ::testing::Values(Utf8Case{"Ascii", "hello", "hello"}, Utf8Case{"Valid", "h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
                      Utf8Case{"Latin1", "caf\xE9!", "caf" + kFffd + "!"},
                      Utf8Case{"TornAtEnd", "x\xE2\x82", "x" + kFffd},
                      Utf8Case{"Overlong", "\xC0\xAF", kFffd + kFffd},
                      Utf8Case{"Surrogate", "\xED\xA0\x80", kFffd + kFffd + kFffd},
                      Utf8Case{"AboveMax", "\xF4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd},
                      Utf8Case{"StrayContinuation", "a\x80z", "a" + kFffd + "z"},
                      Utf8Case{"Nul", std::string("a\0b", 3), std::string("a\0b", 3)}),
    [](const ::testing::TestParamInfo<Utf8Case>& p) { return p.param.name; });

TEST(Utf8Test, RandomBytesAlwaysComeOutValid) {
  uint32_t x = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    for (int i = 0; i < 40; ++i) {
      x = x * 1664525 + 1013904223;
      s.push_back(static_cast<char>(x >> 24));
    }
    SanitizeUtf8(&s);
    ASSERT_TRUE(IsValidUtf8(s));
    v1::LogRecord r;
    r.set_message(s);
    v1::LogRecord back;
    ASSERT_TRUE(back.ParseFromString(r.SerializeAsString()));
  }
}

}  // namespace
}  // namespace custos::agent::files
