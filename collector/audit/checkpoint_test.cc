#include "collector/audit/checkpoint.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace custos::audit {
namespace {

// The example checkpoint of c2sp.org/tlog-checkpoint.
constexpr char kSpecExample[] =
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

TEST(CheckpointTest, ParsesAndFormatsTheSpecExample) {
  Result<Checkpoint> cp = ParseCheckpoint(kSpecExample);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->origin, "example.com/behind-the-sofa");
  EXPECT_EQ(cp->size, 20852163u);
  EXPECT_EQ(Base64Encode(cp->root), "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
  EXPECT_EQ(*FormatCheckpoint(*cp), kSpecExample);
}

TEST(CheckpointTest, RoundTrips) {
  const Checkpoint cases[] = {
      {"audit.example/tenant-1/v1", 0, EmptyRoot()},
      {"audit.example/tenant-1/v1", 1, LeafHash("")},
      {"unicode.example/café", std::numeric_limits<uint64_t>::max(), LeafHash("x")},
  };
  for (const Checkpoint& want : cases) {
    Result<std::string> text = FormatCheckpoint(want);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    Result<Checkpoint> got = ParseCheckpoint(*text);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, want);
  }
}

TEST(CheckpointTest, FormatRejectsBadOrigins) {
  for (const char* origin : {"", "has space", "has+plus", "tab\there", "nbsp\u00a0here", "line\nbreak"}) {
    SCOPED_TRACE(origin);
    EXPECT_EQ(FormatCheckpoint({origin, 1, EmptyRoot()}).status().code(), StatusCode::kInvalidArgument);
  }
}

struct BadCase {
  const char* name;
  std::string text;
  const char* reason;
};

TEST(CheckpointTest, ParseIsStrict) {
  const std::string root = "\n" + Base64Encode(EmptyRoot()) + "\n";
  const BadCase cases[] = {
      {"empty", "", "end in a newline"},
      {"no_final_newline", "log\n1" + root.substr(0, root.size() - 1), "end in a newline"},
      {"two_lines", "log\n1\n", "2 lines"},
      {"extension_line", "log\n1" + root + "ext\n", "extension lines"},
      {"empty_origin", "\n1" + root, "origin"},
      {"space_in_origin", "a log\n1" + root, "origin"},
      {"plus_in_origin", "a+log\n1" + root, "origin"},
      {"unicode_space_in_origin", "a\u2003log\n1" + root, "origin"},
      {"invalid_utf8_origin", "a\xc3log\n1" + root, "origin"},
      {"leading_zero", "log\n01" + root, "leading zero"},
      {"zero_zero", "log\n00" + root, "leading zero"},
      {"negative", "log\n-1" + root, "not a decimal"},
      {"plus_sign", "log\n+1" + root, "not a decimal"},
      {"trailing_space", "log\n1 " + root, "not a decimal"},
      {"empty_size", "log\n" + root, "not a decimal"},
      {"hex_size", "log\n0x10" + root, "not a decimal"},
      {"overflow", "log\n18446744073709551616" + root, "64 bits"},
      {"root_not_base64", "log\n1\nnot base64!\n", "root hash"},
      {"root_31_bytes", "log\n1\n" + Base64Encode(ByteView(EmptyRoot()).first(31)) + "\n", "32 bytes"},
      {"root_without_padding", "log\n1\n" + Base64Encode(EmptyRoot()).substr(0, 43) + "\n", "root hash"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    Result<Checkpoint> cp = ParseCheckpoint(c.text);
    ASSERT_FALSE(cp.ok());
    EXPECT_EQ(cp.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(cp.status().message().find(c.reason), std::string::npos) << cp.status().message();
  }
}

}  // namespace
}  // namespace custos::audit
