#include "agent/sources/otlp/body_decoder.h"

#include <gtest/gtest.h>

#include "agent/sources/otlp/otlp_testing.h"

namespace custos::agent::otlp {
namespace {

// Feeds `wire` in pieces of `piece` bytes, as a socket delivers it.
BodyDecoder::State FeedAll(BodyDecoder& d, const std::string& wire, size_t piece) {
  for (size_t at = 0; at < wire.size(); at += piece) {
    if (d.Feed(wire.data() + at, std::min(piece, wire.size() - at)) != BodyDecoder::kOk) return d.state();
  }
  return d.Finish();
}

std::string Text(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; ++i) s += "span " + std::to_string(i * 7919 % 1000) + " ";
  s.resize(n);
  return s;
}

TEST(BodyDecoderTest, ContentEncodingNames) {
  EXPECT_EQ(BodyDecoder::ParseContentEncoding(""), BodyDecoder::kIdentity);
  EXPECT_EQ(BodyDecoder::ParseContentEncoding("Identity"), BodyDecoder::kIdentity);
  EXPECT_EQ(BodyDecoder::ParseContentEncoding("GZIP"), BodyDecoder::kGzip);
  EXPECT_EQ(BodyDecoder::ParseContentEncoding("x-gzip"), BodyDecoder::kGzip);
  EXPECT_EQ(BodyDecoder::ParseContentEncoding("deflate"), BodyDecoder::kDeflate);
  EXPECT_EQ(BodyDecoder::ParseContentEncoding("zstd"), std::nullopt);
  EXPECT_EQ(BodyDecoder::ParseContentEncoding("br"), std::nullopt);
}

TEST(BodyDecoderTest, IdentityGzipAndDeflateGiveTheSameBodyWhateverThePieces) {
  const std::string body = Text(200'000);
  for (size_t piece : {1ul, 7ul, 4096ul, 1ul << 20}) {
    BodyDecoder plain(BodyDecoder::kIdentity, 1 << 20);
    ASSERT_EQ(FeedAll(plain, body, piece), BodyDecoder::kOk) << piece;
    EXPECT_EQ(plain.body(), body);
    BodyDecoder gz(BodyDecoder::kGzip, 1 << 20);
    const std::string gz_wire = Gzip(body);
    ASSERT_EQ(FeedAll(gz, gz_wire, piece), BodyDecoder::kOk) << piece;
    EXPECT_EQ(gz.body(), body);
    EXPECT_EQ(gz.wire_bytes(), gz_wire.size());
    BodyDecoder zlib(BodyDecoder::kDeflate, 1 << 20);
    ASSERT_EQ(FeedAll(zlib, Gzip(body, /*zlib_format=*/true), piece), BodyDecoder::kOk) << piece;
    EXPECT_EQ(zlib.TakeBody(), body);
  }
}

TEST(BodyDecoderTest, TheBoundAppliesAfterDecompression) {
  const std::string body(1 << 20, 'a');  // compresses about 1000:1
  BodyDecoder exact(BodyDecoder::kGzip, body.size());
  EXPECT_EQ(FeedAll(exact, Gzip(body), 512), BodyDecoder::kOk);
  BodyDecoder over(BodyDecoder::kGzip, body.size() - 1);
  EXPECT_EQ(FeedAll(over, Gzip(body), 512), BodyDecoder::kTooLarge);
  EXPECT_TRUE(over.body().empty());  // released
  BodyDecoder plain(BodyDecoder::kIdentity, 10);
  EXPECT_EQ(plain.Feed("0123456789", 10), BodyDecoder::kOk);
  EXPECT_EQ(plain.Feed("x", 1), BodyDecoder::kTooLarge);
  EXPECT_EQ(plain.Feed("yz", 2), BodyDecoder::kTooLarge);  // still counted
  EXPECT_EQ(plain.wire_bytes(), 13u);
}

TEST(BodyDecoderTest, BadCompressedInputIsBadData) {
  const std::string wire = Gzip(Text(10'000));
  struct Case {
    const char* name;
    BodyDecoder::Coding coding;
    std::string bytes;
  } cases[] = {
      {"not gzip", BodyDecoder::kGzip, "\xff\xff\xff\xff garbage"},
      {"cut short", BodyDecoder::kGzip, wire.substr(0, wire.size() / 2)},
      {"no trailer", BodyDecoder::kGzip, wire.substr(0, wire.size() - 4)},
      {"bytes after the end", BodyDecoder::kGzip, wire + "tail"},
      {"zlib header sent as gzip", BodyDecoder::kGzip, Gzip("x", /*zlib_format=*/true)},
      {"empty", BodyDecoder::kDeflate, ""},
  };
  for (const Case& c : cases) {
    BodyDecoder d(c.coding, 1 << 20);
    EXPECT_EQ(FeedAll(d, c.bytes, 3), BodyDecoder::kBadData) << c.name;
  }
}

}  // namespace
}  // namespace custos::agent::otlp
