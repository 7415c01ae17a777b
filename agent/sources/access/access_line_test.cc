#include "agent/sources/access/access_line.h"

#include <gtest/gtest.h>

namespace custos::agent::access {
namespace {

TEST(AccessLineTest, ParsesEveryField) {
  auto r = ParseAccessLine(
      R"({"action":"read","object":"s3://ml-datasets/imagenet/train/a.jpeg","dataset":"imagenet",)"
      R"("outcome":"denied","bytes":1048576,"count":3,"service_identity":"spiffe://prod/trainer",)"
      R"("user":"alice","uid":1001,"time":"2026-11-26T14:52:34.5+01:00"})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->action, v1::AccessEvent::ACTION_READ);
  EXPECT_EQ(r->outcome, v1::AccessEvent::OUTCOME_DENIED);
  EXPECT_EQ(r->object, "s3://ml-datasets/imagenet/train/a.jpeg");
  EXPECT_EQ(r->dataset, "imagenet");
  EXPECT_EQ(r->bytes, 1048576u);
  EXPECT_EQ(r->count, 3u);
  EXPECT_EQ(r->service_identity, "spiffe://prod/trainer");
  EXPECT_EQ(r->user, "alice");
  EXPECT_EQ(r->uid, 1001);
  // 2026-11-26T13:52:34.5Z
  EXPECT_EQ(r->time_unix_nano, 1795701154'500'000'000LL);
}

TEST(AccessLineTest, DefaultsAndEscapes) {
  auto r = ParseAccessLine(R"(  {"object":"/d/caf\u00e9 \ud83d\ude00\n","action":"list","time":12}  )");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->object, "/d/caf\xC3\xA9 \xF0\x9F\x98\x80\n");
  EXPECT_EQ(r->outcome, v1::AccessEvent::OUTCOME_SUCCESS);
  EXPECT_EQ(r->uid, -1);
  EXPECT_EQ(r->count, 1u);
  EXPECT_EQ(r->time_unix_nano, 12);
}

TEST(AccessLineTest, ErrorsNameTheFieldAndWhatWasExpected) {
  struct Case {
    const char* name;
    std::string line;
    const char* error;  // a substring of the message
  } cases[] = {
      {"unknown action", R"({"action":"raed","object":"x"})",
       "field 'action': unknown value 'raed' (expected read, write, create, delete, rename, list)"},
      {"unknown outcome", R"({"action":"read","object":"x","outcome":"ok"})",
       "field 'outcome': unknown value 'ok' (expected success, denied, error)"},
      {"wrong type", R"({"action":"read","object":"x","bytes":"12"})",
       "field 'bytes': expected a non-negative integer, got a string"},
      {"negative", R"({"action":"read","object":"x","uid":-5})", "field 'uid': must not be negative"},
      {"fraction", R"({"action":"read","object":"x","bytes":1.5})", "got a number with a fraction"},
      {"overflow", R"({"action":"read","object":"x","bytes":99999999999999999999999})", "out of range"},
      {"uid range", R"({"action":"read","object":"x","uid":4294967296})", "field 'uid': 4294967296 is out of range"},
      {"zero count", R"({"action":"read","object":"x","count":0})", "field 'count': must be at least 1"},
      {"null", R"({"action":null,"object":"x"})", "field 'action': expected one of read, write"},
      {"nested", R"({"action":"read","object":{"a":1}})", "field 'object': nested objects are not allowed"},
      {"array", R"({"action":["read"],"object":"x"})", "field 'action': nested arrays are not allowed"},
      {"unknown field", R"({"action":"read","object":"x","acton":"read"})", "unknown field 'acton'"},
      {"duplicate", R"({"action":"read","action":"write","object":"x"})", "field 'action' appears twice"},
      {"missing action", R"({"object":"x"})", "missing field 'action'"},
      {"missing object", R"({"action":"read"})", "missing field 'object'"},
      {"empty object", R"({"action":"read","object":""})", "field 'object': must not be empty"},
      {"bad time", R"({"action":"read","object":"x","time":"yesterday"})", "field 'time': 'yesterday' is not an RFC 3339"},
      {"time type", R"({"action":"read","object":"x","time":true})", "expected Unix nanoseconds or an RFC 3339 string"},
      {"not json", "hello", "invalid JSON at column 1: expected a JSON object"},
      {"truncated", R"({"action":"read","object":"x)", "invalid JSON at end of line: unterminated string"},
      {"missing comma", R"({"action":"read" "object":"x"})", "invalid JSON at column 18: expected ',' or '}'"},
      {"trailing", R"({"action":"read","object":"x"} {})", "unexpected text after the object"},
      {"bad escape", R"({"action":"read","object":"\q"})", "bad escape in string"},
      {"lone surrogate", R"({"action":"read","object":"\ud800"})", "unpaired surrogate"},
      {"invalid utf8", std::string("{\"action\":\"read\",\"object\":\"\xC3\x28\"}"), "string is not valid UTF-8"},
      {"control char", std::string("{\"action\":\"read\",\"object\":\"a\tb\"}"), "control character"},
      {"too long", R"({"action":"read","object":")" + std::string(5000, 'a') + R"("})",
       "field 'object': longer than 4096 bytes"},
      {"empty", "", "invalid JSON at end of line"},
  };
  for (const Case& c : cases) {
    auto r = ParseAccessLine(c.line);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos) << c.name << ": " << r.status().message();
  }
}

TEST(AccessLineTest, Rfc3339) {
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339("2000-02-29T12:00:00.000000001Z"), 951825600'000'000'001LL);
  EXPECT_EQ(*ParseRfc3339("2000-02-29T13:30:00+01:30"), 951825600'000'000'000LL);
  EXPECT_FALSE(ParseRfc3339("2000-02-29 12:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2000-13-01T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2000-01-01T00:00:00").ok());
  EXPECT_FALSE(ParseRfc3339("1969-12-31T23:59:59Z").ok());
  EXPECT_FALSE(ParseRfc3339("2000-01-01T00:00:00.Z").ok());
}

TEST(AccessLineTest, StringsMustBeWellFormedUtf8) {
  auto ok = ParseAccessLine("{\"action\":\"read\",\"object\":\"/data/caf\xC3\xA9.csv\"}");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->object, "/data/caf\xC3\xA9.csv");
  for (const char* bad : {"\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82"}) {
    auto r = ParseAccessLine(std::string("{\"action\":\"read\",\"object\":\"x") + bad + "\"}");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("not valid UTF-8"), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace custos::agent::access
