#include "collector/audit/hash.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace custos::audit {
namespace {

Hash MustHex(std::string_view hex) {
  Result<Hash> h = HashFromHex(hex);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? *h : Hash{};
}

TEST(HashTest, KnownVectors) {
  EXPECT_EQ(HexEncode(EmptyRoot()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(LeafHash("")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  // The two-leaf tree of the RFC 6962 test data (entries "" and 0x00).
  EXPECT_EQ(HexEncode(NodeHash(LeafHash(""), LeafHash(std::string(1, '\0')))),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125");
}

TEST(HashTest, Sha256OfPartsIsSha256OfTheirConcatenation) {
  const std::string a = "audit", b = "", c = "log";
  EXPECT_EQ(Sha256({AsBytes(a), AsBytes(b), AsBytes(c)}), Sha256({AsBytes("auditlog")}));
  const uint8_t prefix[] = {0x00};
  EXPECT_EQ(Sha256({prefix, AsBytes("entry")}), LeafHash("entry"));
}

TEST(HashTest, SameResultsOnEveryThread) {
  const Hash want = LeafHash("same on every thread");
  std::vector<Hash> got(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&got, i] {
      for (int j = 0; j < 1000; ++j) got[i] = LeafHash("same on every thread");
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Hash& h : got) EXPECT_EQ(h, want);
}

TEST(HashTest, HexRoundTripAndRejects) {
  const std::string hex = "00ff10a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8";
  EXPECT_EQ(HexEncode(MustHex(hex)), hex);
  EXPECT_EQ(MustHex("00FF10A0B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D7E8"), MustHex(hex));
  EXPECT_FALSE(HashFromHex(hex.substr(2)).ok());
  EXPECT_FALSE(HashFromHex(hex + "00").ok());
  EXPECT_FALSE(HashFromHex("g" + hex.substr(1)).ok());
}

struct Base64Case {
  std::string name;
  std::string bytes;
  std::string text;
};

TEST(HashTest, Base64Rfc4648Vectors) {
  const Base64Case cases[] = {
      {"empty", "", ""},        {"one", "f", "Zg=="},          {"two", "fo", "Zm8="},
      {"three", "foo", "Zm9v"}, {"six", "foobar", "Zm9vYmFy"}, {"high_bytes", "\xfb\xff", "+/8="},
  };
  for (const Base64Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Base64Encode(AsBytes(c.bytes)), c.text);
    Result<std::vector<uint8_t>> decoded = Base64Decode(c.text);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(std::string(decoded->begin(), decoded->end()), c.bytes);
  }
}

TEST(HashTest, Base64DecodeIsStrict) {
  const std::pair<std::string, std::string> cases[] = {
      {"missing_padding", "Zg"},
      {"short_padding", "Zg="},
      {"nonzero_trailing_bits", "Zh=="},
      {"extra_padding", "Zm9v="},
      {"trailing_newline", "Zm9v\n"},
      {"leading_space", " Zm9v"},
      {"inner_space", "Zm 9v"},
      {"url_safe_alphabet", "-_8="},
      {"padding_only", "===="},
      {"padding_inside", "Zg==Zg=="},
      // libsodium 1.0.18 alone reads these bytes as '/' and other digits.
      {"non_ascii", "\x85\x85\x85\x85"},
      {"utf8_letter", "Zm\xc5\x85"},
  };
  for (const auto& [name, text] : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(Base64Decode(text).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(HashTest, HashFromBase64WantsExactly32Bytes) {
  const Hash h = LeafHash("x");
  Result<Hash> back = HashFromBase64(Base64Encode(h));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, h);
  Result<Hash> short_hash = HashFromBase64(Base64Encode(ByteView(h).first(31)));
  EXPECT_EQ(short_hash.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(short_hash.status().message().find("32 bytes"), std::string::npos);
  EXPECT_FALSE(HashFromBase64("not base64!").ok());
}

}  // namespace
}  // namespace custos::audit
