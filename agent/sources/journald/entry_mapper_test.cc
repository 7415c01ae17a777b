#include "agent/sources/journald/entry_mapper.h"

#include <gtest/gtest.h>

namespace custos::agent::journald {
namespace {

TEST(SanitizeUtf8Test, ReplacesEachInvalidByteAndCutsOnCharacters) {
  struct Case {
    const char* name;
    std::string in;
    size_t max;
    std::string want;
    bool replaced;
    bool truncated;
  };
  const std::string r = "\xEF\xBF\xBD";
  const Case cases[] = {
      {"ascii", "hello", 100, "hello", false, false},
      {"two-byte", "caf\xC3\xA9", 100, "caf\xC3\xA9", false, false},
      {"four-byte", "\xF0\x9F\x98\x80", 100, "\xF0\x9F\x98\x80", false, false},
      {"lone continuation", "a\x80z", 100, "a" + r + "z", true, false},
      {"invalid lead bytes", "\xFF\xFE", 100, r + r, true, false},
      {"overlong slash", "\xC0\xAF", 100, r + r, true, false},
      {"surrogate", "\xED\xA0\x80", 100, r + r + r, true, false},
      {"above U+10FFFF", "\xF4\x90\x80\x80", 100, r + r + r + r, true, false},
      {"sequence cut by the end", "ab\xE2\x82", 100, "ab" + r + r, true, false},
      {"NUL kept", std::string("a\0b", 3), 100, std::string("a\0b", 3), false, false},
      {"cut before a character that does not fit", "ab\xC3\xA9", 3, "ab", false, true},
      {"cut exactly at the bound", "abcd", 4, "abcd", false, false},
      {"cut inside ascii", "abcdef", 4, "abcd", false, true},
      {"replacement counts toward the bound", "a\xFF", 3, "a", false, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    bool replaced = false, truncated = false;
    EXPECT_EQ(SanitizeUtf8(c.in, c.max, &replaced, &truncated), c.want);
    EXPECT_EQ(replaced, c.replaced);
    EXPECT_EQ(truncated, c.truncated);
  }
}

TEST(SeverityFromPriorityTest, MapsSyslogPriorities) {
  const v1::Severity want[] = {v1::SEVERITY_EMERGENCY, v1::SEVERITY_ALERT,  v1::SEVERITY_CRITICAL,
                               v1::SEVERITY_ERROR,     v1::SEVERITY_WARNING, v1::SEVERITY_NOTICE,
                               v1::SEVERITY_INFO,      v1::SEVERITY_DEBUG};
  for (int p = 0; p <= 7; ++p) EXPECT_EQ(SeverityFromPriority(std::to_string(p)), want[p]) << p;
  for (const char* bad : {"", "8", "-1", "03", "info", " 3"}) {
    EXPECT_EQ(SeverityFromPriority(bad), v1::SEVERITY_UNSPECIFIED) << bad;
  }
}

TEST(DecodeHexIdTest, AcceptsExactLengthHexOnly) {
  std::string out;
  EXPECT_TRUE(DecodeHexId("00f067aa0BA902b7", 8, &out));
  EXPECT_EQ(out, std::string("\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8));
  for (const char* bad : {"00f067aa0ba902b", "00f067aa0ba902b7a", "00f067aa0ba902bg", "+0f067aa0ba902b7", ""}) {
    EXPECT_FALSE(DecodeHexId(bad, 8, &out)) << bad;
  }
}

TEST(EntryMapperTest, FirstValueWinsAndExtrasAreCopied) {
  EntryMapper mapper(MapperOptions{.extra_fields = {"_EXE", "MESSAGE"}, .max_field_bytes = 16});
  mapper.Begin(1'700'000'000'123'456);
  for (const char* item : {"MESSAGE=first", "MESSAGE=second", "PRIORITY=4", "PRIORITY=1", "_SYSTEMD_UNIT=a.service",
                           "_SYSTEMD_UNIT=b.service", "_EXE=/usr/bin/a-very-long-executable-name", "NO_EQUALS_SIGN",
                           "SPAN_ID=0102030405060708", "_PID=0", "OTHER=ignored"}) {
    mapper.Consume(item);
  }
  MappedEntry e = mapper.Finish();
  const v1::LogRecord& log = e.record.log();
  EXPECT_EQ(log.time_unix_nano(), 1'700'000'000'123'456'000u);
  EXPECT_EQ(log.source(), "journald");
  EXPECT_EQ(log.message(), "first");
  EXPECT_EQ(log.severity(), v1::SEVERITY_WARNING);
  EXPECT_EQ(e.unit, "a.service");
  EXPECT_EQ(log.fields().at("_EXE"), "/usr/bin/a-very-");  // 16 bytes
  EXPECT_EQ(log.fields().at("MESSAGE"), "first");
  EXPECT_EQ(log.span_id(), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_EQ(log.pid(), 0);
  EXPECT_EQ(log.fields().at("_PID"), "0");
  EXPECT_FALSE(log.fields().contains("OTHER"));
  EXPECT_EQ(e.issues.truncated, 1);
  EXPECT_EQ(e.issues.malformed, 2);  // the item without '=' and _PID=0

  // Begin() starts afresh.
  mapper.Begin(1);
  mapper.Consume("MESSAGE=next");
  MappedEntry f = mapper.Finish();
  EXPECT_EQ(f.record.log().message(), "next");
  EXPECT_EQ(f.unit, "");
  EXPECT_EQ(f.record.log().severity(), v1::SEVERITY_UNSPECIFIED);
  EXPECT_EQ(f.record.log().fields_size(), 1);  // only the MESSAGE extra
  EXPECT_EQ(f.record.log().fields().at("MESSAGE"), "next");
  EXPECT_EQ(f.issues.malformed, 0);
}

}  // namespace
}  // namespace custos::agent::journald
