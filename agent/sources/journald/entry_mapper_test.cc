#include "agent/sources/journald/entry_mapper.h"

#include <gtest/gtest.h>

namespace custos::agent::journald {
namespace {

// The repair itself is common/utf8.h's (tested there); this checks that
// the mapper applies it, with its bounds, and counts what it did.
TEST(EntryMapperTest, RepairsUtf8AndCutsOnCharactersWithinTheBounds) {
  struct Case {
    const char* name;
    std::string message;
    std::string want;
    int invalid_utf8;
    int truncated;
  };
  const std::string r = "\xEF\xBF\xBD";
  const Case cases[] = {
      {"ascii", "hello", "hello", 0, 0},
      {"two-byte", "caf\xC3\xA9", "caf\xC3\xA9", 0, 0},
      {"lone continuation", "a\x80z", "a" + r + "z", 1, 0},
      {"surrogate", "\xED\xA0\x80", r + r, 1, 1},  // three U+FFFD, 9 bytes: the third does not fit in 8
      // One U+FFFD per maximal subpart: a torn character is one replacement.
      {"sequence cut by the end", "ab\xE2\x82", "ab" + r, 1, 0},
      {"NUL kept", std::string("a\0b", 3), std::string("a\0b", 3), 0, 0},
      {"cut exactly at the bound", "abcdefgh", "abcdefgh", 0, 0},
      {"cut inside ascii", "abcdefghij", "abcdefgh", 0, 1},
      {"cut before a character that does not fit", "abcdefg\xC3\xA9", "abcdefg", 0, 1},
      {"replacement counts toward the bound", "abcdef\xFF", "abcdef", 0, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EntryMapper mapper(MapperOptions{.extra_fields = {}, .max_message_bytes = 8, .max_field_bytes = 4});
    mapper.Begin(1);
    mapper.Consume("MESSAGE=" + c.message);
    mapper.Consume("_COMM=\xC3\xA9t\xC3\xA9");  // 6 bytes, bound 4: "é" + "t"
    MappedEntry e = mapper.Finish();
    EXPECT_EQ(e.record.log().message(), c.want);
    EXPECT_EQ(e.record.log().comm(), "\xC3\xA9t");
    EXPECT_EQ(e.issues.invalid_utf8, c.invalid_utf8);
    EXPECT_EQ(e.issues.truncated, c.truncated + 1);  // + _COMM
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
