#include "common/json_text.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "common/utf8.h"

namespace custos {
namespace {

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

TEST(JsonTextTest, EscapesOnlyWhatJsonRequires) {
  struct Case {
    const char* name;
    std::string in;
    std::string want;
  } cases[] = {
      {"plain", "a/b c", "\"a/b c\""},
      {"quote_backslash", "\"\\", "\"\\\"\\\\\""},
      {"controls", std::string("\0\n\x1f\x7f", 4), "\"\\u0000\\u000a\\u001f\x7f\""},
      {"utf8_kept", "\xC3\xA9\xF0\x9F\x98\x80", "\"\xC3\xA9\xF0\x9F\x98\x80\""},
      // Per byte, as the audit's canonical form is defined: a truncated
      // sequence gives one U+FFFD per byte.
      {"truncated_per_byte", "\xE2\x82", "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},
      {"surrogate", "\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
  };
  for (const Case& c : cases) EXPECT_EQ(Json(c.in), c.want) << c.name;
}

TEST(JsonTextTest, RepairsExactlyAsUtf8PerByte) {
  uint32_t x = 777;
  for (int round = 0; round < 3000; ++round) {
    std::string s;
    for (int i = 0; i < 24; ++i) {
      x = x * 1664525 + 1013904223;
      unsigned char b = static_cast<unsigned char>(x >> 24);
      s.push_back(static_cast<char>(b < 0x80 ? 'a' : b));  // no escapes: compare the repair alone
    }
    ASSERT_EQ(Json(s), "\"" + ToValidUtf8(s, Utf8Repair::kPerByte) + "\"");
  }
}

}  // namespace
}  // namespace custos
