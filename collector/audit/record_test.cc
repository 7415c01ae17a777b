#include "collector/audit/record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "collector/audit/record_reference.h"

namespace custos::audit {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kHashA = std::string(32, 'a') + std::string(32, '0');
const std::string kHashB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

auto Fields(const AuditRecord& r) {
  return std::tie(r.index, r.time_unix_nanos, r.kind, r.actor, r.action, r.object, r.outcome, r.details,
                  r.payload_commitment, r.prev);
}

bool Same(const AuditRecord& a, const AuditRecord& b) { return Fields(a) == Fields(b); }

AuditRecord Sample() {
  AuditRecord r;
  r.index = 7;
  r.time_unix_nanos = 1'764'168'754'123'456'789;
  r.kind = "access";
  r.actor = "node:3d12";
  r.action = "read";
  r.object = "dataset:imagenet";
  r.outcome = "allow";
  r.details = {{"bytes", "4096"}, {"source", "ebpf"}};
  r.payload_commitment = kHashA;
  r.prev = kHashB;
  return r;
}

std::string SampleLine() { return EncodeRecord(Sample()); }

// Both parsers accept `line` and return `want`.
void ExpectParses(const std::string& line, const AuditRecord& want) {
  Result<AuditRecord> fast = ParseRecord(line);
  Result<AuditRecord> ref = ParseRecordReference(line);
  ASSERT_TRUE(fast.ok()) << fast.status().ToString() << "\n" << line;
  ASSERT_TRUE(ref.ok()) << ref.status().ToString() << "\n" << line;
  EXPECT_TRUE(Same(*fast, want)) << line;
  EXPECT_TRUE(Same(*ref, want)) << line;
}

TEST(RecordTest, SampleLineIsTheDocumentedForm) {
  EXPECT_EQ(
      SampleLine(),
      "{\"index\":7,\"time\":1764168754123456789,\"kind\":\"access\",\"actor\":\"node:3d12\",\"action\":\"read\","
      "\"object\":\"dataset:imagenet\",\"outcome\":\"allow\",\"details\":{\"bytes\":\"4096\",\"source\":\"ebpf\"},"
      "\"payload\":\"" +
          kHashA + "\",\"prev\":\"" + kHashB + "\"}");
  ExpectParses(SampleLine(), Sample());
}

TEST(RecordTest, RoundTripsTrickyStrings) {
  std::string all_controls;
  for (int c = 0; c < 0x20; ++c) all_controls.push_back(static_cast<char>(c));
  const std::vector<std::string> tricky = {
      "",
      "\"",
      "\\",
      "\\\"\\\\\"",
      "quote \" and backslash \\ inside",
      all_controls,
      std::string("nul\0inside", 10),
      "\x7f del is raw",
      "/ slash is raw",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92 \xed\x9f\xbf \xee\x80\x80 \xf4\x8f\xbf\xbf",  // 2, 3, 4 bytes, edges
      "\xef\xbf\xbd already a replacement character",
      "{\"looks\":\"like json\"}",
      "\\u0041 is text, not an escape",
  };
  for (const std::string& s : tricky) {
    AuditRecord r = Sample();
    r.kind = s;
    r.actor = s + "a";
    r.action = "b" + s;
    r.object = s + s;
    r.outcome = s;
    r.details = {{s, s}, {s + "z", ""}};
    SCOPED_TRACE(EncodeRecord(r));
    ExpectParses(EncodeRecord(r), r);
  }
}

TEST(RecordTest, InvalidUtf8IsReplacedThenRoundTrips) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a\xff"
       "b",
       "a\xef\xbf\xbd"
       "b"},
      {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                                  // overlong '/'
      {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},                  // surrogate
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // > U+10FFFF
      {"\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"},                                  // truncated
      {"\x80", "\xef\xbf\xbd"},                                                  // lone continuation
  };
  for (const auto& [bad, replaced] : cases) {
    AuditRecord r = Sample();
    r.object = bad;
    r.details = {{bad, bad}};
    std::string line = EncodeRecord(r);
    AuditRecord want = Sample();
    want.object = replaced;
    want.details = {{replaced, replaced}};
    EXPECT_EQ(line, EncodeRecord(want));
    ExpectParses(line, want);
  }
}

// Found by record_fuzzer: keys that hold invalid UTF-8 are written with
// U+FFFD, which can reorder them or make two equal; EncodeRecord must still
// write a canonical line (else the log could never verify again).
TEST(RecordTest, DetailsKeysWithInvalidUtf8StayCanonical) {
  AuditRecord r = Sample();
  r.details = {{"\x80", "first"},
               {"\xff", "second"},
               {"\x80"
                "a",
                "x"},
               {"\xc3\xa9", "e"},
               {"b", "plain"}};
  AuditRecord want = Sample();
  want.details = {{"\xef\xbf\xbd", "first"},
                  {"\xef\xbf\xbd"
                   "a",
                   "x"},
                  {"\xc3\xa9", "e"},
                  {"b", "plain"}};
  EXPECT_EQ(EncodeRecord(r), EncodeRecord(want));
  ExpectParses(EncodeRecord(r), want);
}

TEST(RecordTest, RoundTripsDetailsAndNumbers) {
  AuditRecord r = Sample();
  r.details.clear();
  ExpectParses(EncodeRecord(r), r);
  for (int i = 0; i < 300; ++i) r.details["k" + std::to_string(i)] = std::to_string(i * i);
  r.details[""] = "empty key";
  r.details["\x01"] = "control key";
  r.details["\""] = "sorts before '#' decoded, after it encoded";
  r.details["#"] = "hash";
  r.details["\xc3\xa9"] = "sorts after ASCII";
  ExpectParses(EncodeRecord(r), r);

  for (uint64_t index : {uint64_t{0}, uint64_t{1}, uint64_t{10}, std::numeric_limits<uint64_t>::max()}) {
    for (int64_t time : {std::numeric_limits<int64_t>::min(), int64_t{-1}, int64_t{0}, int64_t{1}, int64_t{-10},
                         std::numeric_limits<int64_t>::max()}) {
      r.index = index;
      r.time_unix_nanos = time;
      ExpectParses(EncodeRecord(r), r);
    }
  }
  r.payload_commitment = "";
  ExpectParses(EncodeRecord(r), r);
}

std::string Replaced(std::string s, std::string_view from, std::string_view to) {
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

struct BadLine {
  const char* name;
  std::string line;
  const char* error;  // a substring of ParseRecord's error
};

std::vector<BadLine> BadLines() {
  const std::string good = SampleLine();
  auto with_object = [](std::string object_json) {
    std::string line = SampleLine();
    return Replaced(line, "\"dataset:imagenet\"", object_json);
  };
  AuditRecord huge = Sample();
  huge.index = std::numeric_limits<uint64_t>::max();
  huge.time_unix_nanos = std::numeric_limits<int64_t>::max();
  const std::string huge_line = EncodeRecord(huge);
  huge.time_unix_nanos = std::numeric_limits<int64_t>::min();
  const std::string min_line = EncodeRecord(huge);
  return {
      {"Empty", "", "at byte 0: expected '{\"index\":' (the line ends)"},
      {"NotJson", "hello", "at byte 0: expected '{\"index\":'"},
      {"SpaceAfterComma", Replaced(good, ",\"kind\"", ", \"kind\""), "at byte 38: expected ',\"kind\":'"},
      {"SpaceAfterColon", Replaced(good, "\"index\":", "\"index\": "), "at byte 9: expected an unsigned"},
      {"LeadingSpace", " " + good, "at byte 0"},
      {"TrailingNewline", good + "\n", "trailing bytes"},
      {"TrailingGarbage", good + "x", "trailing bytes"},
      {"TwoRecords", good + good, "trailing bytes"},
      {"ReorderedKeys",
       Replaced(Replaced(good, "\"kind\":\"access\"", "\"actor\":\"node:3d12\""), ",\"actor\":\"node:3d12\",\"action\"",
                ",\"kind\":\"access\",\"action\""),
       "expected ',\"kind\":'"},
      {"DuplicateKey", Replaced(good, ",\"kind\":\"access\"", ",\"kind\":\"access\",\"kind\":\"access\""),
       "expected ',\"actor\":'"},
      {"ExtraKey", Replaced(good, ",\"prev\"", ",\"extra\":\"x\",\"prev\""), "expected ',\"prev\":'"},
      {"MissingField", Replaced(good, ",\"outcome\":\"allow\"", ""), "expected ',\"outcome\":'"},
      {"MissingDetails", Replaced(good, ",\"details\":{\"bytes\":\"4096\",\"source\":\"ebpf\"}", ""),
       "expected ',\"details\":{'"},
      {"UnsortedDetails",
       Replaced(good, "{\"bytes\":\"4096\",\"source\":\"ebpf\"}", "{\"source\":\"ebpf\",\"bytes\":\"4096\"}"),
       "not in strictly ascending order"},
      {"DuplicateDetailsKey",
       Replaced(good, "{\"bytes\":\"4096\",\"source\":\"ebpf\"}", "{\"bytes\":\"4096\",\"bytes\":\"4096\"}"),
       "not in strictly ascending order"},
      {"DetailsTrailingComma", Replaced(good, "\"ebpf\"}", "\"ebpf\",}"), "expected '\"' (a string)"},
      {"DetailsValueNumber", Replaced(good, "\"4096\"", "4096"), "expected '\"' (a string)"},
      {"DetailsNested", Replaced(good, "\"ebpf\"", "{}"), "expected '\"' (a string)"},
      {"DetailsNotObject", Replaced(good, "{\"bytes\":\"4096\",\"source\":\"ebpf\"}", "[]"),
       "expected ',\"details\":{'"},
      {"NewlineEscape", with_object("\"a\\nb\""), "escape other than"},
      {"SlashEscape", with_object("\"a\\/b\""), "escape other than"},
      {"TabEscape", with_object("\"a\\tb\""), "escape other than"},
      {"UnicodeEscapeOfPrintable", with_object("\"\\u0041\""), "escape other than"},
      {"UnicodeEscapeOfDel", with_object("\"\\u007f\""), "escape other than"},
      {"UnicodeEscapeOfNonAscii", with_object("\"\\u00e9\""), "escape other than"},
      {"UppercaseHexEscape", with_object("\"\\u001F\""), "escape other than"},
      {"UppercaseU", with_object("\"\\U001f\""), "escape other than"},
      {"ShortEscape", with_object("\"\\u01\""), "escape other than"},
      {"RawControlCharacter", with_object("\"a\tb\""), "raw control character"},
      {"RawNul", with_object(std::string("\"a\0b\"", 5)), "raw control character"},
      {"InvalidUtf8", with_object("\"a\xff\""), "invalid UTF-8"},
      {"OverlongUtf8", with_object("\"\xc0\xaf\""), "invalid UTF-8"},
      {"SurrogateUtf8", with_object("\"\xed\xa0\x80\""), "invalid UTF-8"},
      {"TruncatedUtf8", with_object("\"\xe2\x82\""), "invalid UTF-8"},
      {"Unterminated", good.substr(0, good.find("imagenet")), "unterminated string"},
      {"Truncated", good.substr(0, good.size() - 1), "expected '}' (the line ends)"},
      {"StringNotNumber", Replaced(good, "\"index\":7", "\"index\":\"7\""), "expected an unsigned decimal index"},
      {"NumberNotString", Replaced(good, "\"access\"", "1"), "expected '\"' (a string)"},
      {"NullNotString", Replaced(good, "\"access\"", "null"), "expected '\"' (a string)"},
      {"LeadingZeroIndex", Replaced(good, "\"index\":7", "\"index\":07"), "leading zero"},
      {"LeadingZeroTime", Replaced(good, "\"time\":1", "\"time\":01"), "leading zero"},
      {"NegativeIndex", Replaced(good, "\"index\":7", "\"index\":-7"), "expected an unsigned decimal index"},
      {"FractionIndex", Replaced(good, "\"index\":7", "\"index\":7.0"), "expected ',\"time\":'"},
      {"ExponentIndex", Replaced(good, "\"index\":7", "\"index\":7e0"), "expected ',\"time\":'"},
      {"IndexOverflow", Replaced(huge_line, "18446744073709551615", "18446744073709551616"), "out of range"},
      {"TimeOverflow", Replaced(huge_line, "9223372036854775807", "9223372036854775808"), "out of range"},
      {"TimeUnderflow", Replaced(min_line, "-9223372036854775808", "-9223372036854775809"), "out of range"},
      {"PlusTime", Replaced(good, "\"time\":1", "\"time\":+1"), "expected a decimal time"},
      {"MinusZeroTime", Replaced(Replaced(good, "1764168754123456789", "0"), "\"time\":0", "\"time\":-0"), "-0"},
      {"LeadingZeroNegativeTime", Replaced(good, "\"time\":1", "\"time\":-01"), "leading zero"},
      {"ShortPrev", Replaced(good, kHashB, kHashB.substr(1)), "prev is not 64 lower-case hex digits"},
      {"LongPrev", Replaced(good, kHashB, kHashB + "0"), "prev is not 64 lower-case hex digits"},
      {"EmptyPrev", Replaced(good, kHashB, ""), "prev is not 64 lower-case hex digits"},
      {"UppercasePrev", Replaced(good, kHashB, "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
       "prev is not"},
      {"NonHexPrev", Replaced(good, kHashB, std::string(63, '0') + "g"), "prev is not"},
      {"ShortPayload", Replaced(good, kHashA, kHashA.substr(2)), "payload is neither empty nor 64"},
      {"UppercasePayload", Replaced(good, kHashA, std::string(32, 'A') + std::string(32, '0')), "payload is neither"},
      {"Bom", "\xef\xbb\xbf" + good, "at byte 0"},
  };
}

TEST(RecordTest, RejectsNonCanonicalLines) {
  for (const BadLine& bad : BadLines()) {
    SCOPED_TRACE(std::string(bad.name) + ": " + bad.line);
    Result<AuditRecord> fast = ParseRecord(bad.line);
    Result<AuditRecord> ref = ParseRecordReference(bad.line);
    ASSERT_FALSE(fast.ok());
    EXPECT_FALSE(ref.ok());
    EXPECT_EQ(fast.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(fast.status().message(), StartsWith("not in canonical form at byte "));
    EXPECT_THAT(fast.status().message(), HasSubstr(bad.error));
  }
}

// Both parsers agree on whether `line` is canonical and on what it says.
::testing::AssertionResult Agree(const std::string& line) {
  Result<AuditRecord> fast = ParseRecord(line);
  Result<AuditRecord> ref = ParseRecordReference(line);
  if (fast.ok() != ref.ok()) {
    return ::testing::AssertionFailure() << "ParseRecord " << (fast.ok() ? "accepts" : "rejects") << ", the reference "
                                         << (ref.ok() ? "accepts" : "rejects") << ": " << line << "\n  "
                                         << fast.status().message() << "\n  " << ref.status().message();
  }
  if (fast.ok() && !Same(*fast, *ref)) return ::testing::AssertionFailure() << "records differ: " << line;
  RecordView view;
  if (ScanRecord(line, &view) != fast.ok()) {
    return ::testing::AssertionFailure() << "ScanRecord " << (fast.ok() ? "rejects" : "accepts") << ": " << line;
  }
  if (fast.ok() && (view.index != fast->index || view.time_unix_nanos != fast->time_unix_nanos ||
                    view.payload_commitment != fast->payload_commitment || view.prev != fast->prev ||
                    (view.kind == "key") != (fast->kind == "key") || (view.action == "rotate") != (fast->action == "rotate"))) {
    return ::testing::AssertionFailure() << "ScanRecord's view differs: " << line;
  }
  if (fast.ok() && EncodeRecord(*fast) != line) return ::testing::AssertionFailure() << "not canonical: " << line;
  return ::testing::AssertionSuccess();
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds = {SampleLine()};
  AuditRecord r = Sample();
  r.index = 0;
  r.time_unix_nanos = -5;
  r.payload_commitment = "";
  r.details.clear();
  seeds.push_back(EncodeRecord(r));
  r.index = 1234567890123;
  r.kind = "erasure";
  r.actor = "user:\"bob\" \\ \x01\x1f";
  r.object = "caf\xc3\xa9 \xf0\x9f\x94\x92 \xe2\x82\xac";
  r.details = {{"a", "1"}, {"b", "\n"}, {"c\xc3\xa9", "x"}, {"indexes", "3,17,42"}};
  seeds.push_back(EncodeRecord(r));
  return seeds;
}

// Bytes that make mutations interesting for a JSON parser.
constexpr char kSpice[] =
    "\"\\{}[],:0123456789-+.eEu abcdefABCDEF/\n\t\x01\x1f\x7f\x80\xbf\xc2\xc3\xe0\xed\xef\xf0\xf4\xff";

std::string Mutate(std::string s, std::mt19937_64& rng) {
  int edits = 1 + static_cast<int>(rng() % 3);
  auto byte = [&] { return rng() % 2 ? kSpice[rng() % (sizeof kSpice - 1)] : static_cast<char>(rng() % 256); };
  for (int e = 0; e < edits; ++e) {
    size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 6) {
      case 0:  // replace a byte
        if (at < s.size()) s[at] = byte();
        break;
      case 1:  // flip a bit
        if (at < s.size()) s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
        break;
      case 2:  // insert a byte
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), byte());
        break;
      case 3:  // delete a few bytes
        s.erase(std::min(at, s.size()), 1 + rng() % 3);
        break;
      case 4: {  // duplicate a range
        size_t len = 1 + rng() % 12;
        std::string piece = s.substr(std::min(at, s.size()), len);
        s.insert(std::min(at + piece.size(), s.size()), piece);
        break;
      }
      default:  // replace a byte of a string value by an escape of a control character or a quote
        if (at < s.size()) {
          static const char* const kEscapes[] = {"\\u0000", "\\u001f", "\\u0010", "\\\"", "\\\\", "\\u0020", "\\n"};
          s.replace(at, 1, kEscapes[rng() % 7]);
        }
    }
  }
  return s;
}

TEST(RecordTest, AgreesWithReferenceOnRandomMutations) {
  std::mt19937_64 rng(20251126);
  std::vector<std::string> seeds = Seeds();
  for (const std::string& seed : seeds) ASSERT_TRUE(ParseRecord(seed).ok()) << seed;
  int accepted = 0;
  constexpr int kMutations = 20'000;
  for (int i = 0; i < kMutations; ++i) {
    std::string line = Mutate(seeds[static_cast<size_t>(i) % seeds.size()], rng);
    ASSERT_TRUE(Agree(line)) << "mutation " << i;
    accepted += ParseRecord(line).ok();
  }
  // Many mutations land inside string values and stay canonical: both sides
  // of the comparison get exercised.
  EXPECT_GT(accepted, kMutations / 20);
  EXPECT_LT(accepted, kMutations / 2);
}

TEST(RecordTest, AgreesWithReferenceOnEveryTruncationAndSingleByteChange) {
  const std::string line = Seeds()[2];
  for (size_t n = 0; n <= line.size(); ++n) ASSERT_TRUE(Agree(line.substr(0, n)));
  for (size_t at = 0; at < line.size(); at += 3) {
    for (int b = 0; b < 256; ++b) {
      std::string mutated = line;
      mutated[at] = static_cast<char>(b);
      ASSERT_TRUE(Agree(mutated));
    }
  }
}

}  // namespace
}  // namespace custos::audit
