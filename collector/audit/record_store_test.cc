// The chunk codecs of record_store.h: round trips, and corrupt blobs (what an
// insider or a failing disk leaves) refused with an error naming the problem.
#include "collector/audit/record_store.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <string>
#include <vector>

namespace custos::audit {
namespace {

std::string Raw32(char c) { return std::string(32, c); }

TEST(RecordStoreCodec, LinesRoundTrip) {
  const std::vector<std::string> lines = {"{\"index\":0}", "", "{\"index\":2,\"x\":\"\\u000a\"}"};
  auto back = DecodeLines(EncodeLines(lines));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, lines);
  auto none = DecodeLines(EncodeLines(std::vector<std::string>{}));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(RecordStoreCodec, PayloadsRoundTrip) {
  const std::vector<StoredPayload> payloads = {{7, Raw32('s'), Raw32('a'), "{\"object\":\"/data/x\"}"},
                                               {9, Raw32('t'), Raw32('b'), std::string("\0bin\xff", 5)}};
  auto back = DecodePayloads(EncodePayloads(payloads));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].index, 7u);
  EXPECT_EQ((*back)[1].payload, payloads[1].payload);
  EXPECT_EQ((*back)[1].subject_hash, Raw32('t'));
  EXPECT_EQ((*back)[1].salt, Raw32('b'));
}

std::string Zstd(const std::string& raw) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1));
  return out;
}

TEST(RecordStoreCodec, CorruptBlobsAreRefusedWithAReason) {
  struct Case {
    const char* name;
    std::string blob;
    bool payloads;
    const char* expect;
  } cases[] = {
      {"not zstd", "garbage", false, "not a zstd frame"},
      {"empty blob", "", false, "not a zstd frame"},
      {"truncated frame", EncodeLines(std::vector<std::string>{std::string(1000, 'x')}).substr(0, 12), false, "zstd"},
      {"last line unterminated", Zstd("{\"index\":0}"), false, "the last line is not terminated"},
      {"payload header cut", Zstd(std::string(20, '\0')), true, "a payload entry is cut short"},
      {"payload body cut", Zstd(std::string(8 + 64, '\0') + std::string("\xff\x00\x00\x00", 4) + "abc"), true,
       "is cut short"},
  };
  for (const Case& c : cases) {
    Status s = c.payloads ? DecodePayloads(c.blob).status() : DecodeLines(c.blob).status();
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << c.name << ": " << s.ToString();
    EXPECT_NE(s.message().find(c.expect), std::string::npos) << c.name << ": " << s.ToString();
  }
}

}  // namespace
}  // namespace custos::audit
