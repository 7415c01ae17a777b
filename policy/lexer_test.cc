#include "policy/lexer.h"

#include <gtest/gtest.h>

namespace custos::policy {
namespace {

std::vector<Token> LexOk(std::string_view text) {
  Diagnostics d;
  auto tokens = Lex(text, 0, d);
  EXPECT_FALSE(d.has_errors()) << d.Format({{"t", std::string(text)}});
  return tokens;
}

TEST(Lexer, NamesKeepDashesAndDigits) {
  auto t = LexOk("regions eea = [eu-central-1, us-east-1]");
  ASSERT_EQ(t.size(), 9u);
  EXPECT_EQ(t[0].text, "regions");
  EXPECT_EQ(t[4].kind, Tok::kIdent);
  EXPECT_EQ(t[4].text, "eu-central-1");
  EXPECT_EQ(t[6].text, "us-east-1");
  EXPECT_EQ(t[4].pos.col, 16u);
}

TEST(Lexer, DatesTimesDurationsNumbers) {
  auto t = LexOk("2027-01-31 2027-02-01T00:00:30Z 90d 5m 30s 2h 42 -1 2.5");
  EXPECT_EQ(t[0].kind, Tok::kDate);
  EXPECT_EQ(t[0].value, 1801353600);  // 2027-01-31T00:00:00Z
  EXPECT_EQ(t[1].kind, Tok::kTime);
  EXPECT_EQ(t[1].value, 1801440030);
  EXPECT_EQ(t[2].kind, Tok::kDuration);
  EXPECT_EQ(t[2].value, 90 * 86400);
  EXPECT_EQ(t[3].value, 300);
  EXPECT_EQ(t[4].value, 30);
  EXPECT_EQ(t[5].value, 7200);
  EXPECT_EQ(t[6].kind, Tok::kNumber);
  EXPECT_EQ(t[6].number, 42);
  EXPECT_EQ(t[7].number, -1);
  EXPECT_EQ(t[8].number, 2.5);
}

TEST(Lexer, StringsCommentsAndNewlines) {
  auto t = LexOk("message = \"a \\\"b\\\"\\n\" # comment\n}");
  ASSERT_EQ(t.size(), 6u);
  EXPECT_EQ(t[2].kind, Tok::kString);
  EXPECT_EQ(t[2].text, "a \"b\"\n");
  EXPECT_EQ(t[3].kind, Tok::kNewline);
  EXPECT_EQ(t[4].kind, Tok::kRBrace);
  EXPECT_EQ(t[4].pos.line, 2u);
}

TEST(Lexer, OperatorsOfConditions) {
  auto t = LexOk("a == 1 != 2 < 3 <= 4 > 5 >= 6");
  std::vector<Tok> kinds;
  for (const auto& tok : t) kinds.push_back(tok.kind);
  EXPECT_EQ(kinds, (std::vector<Tok>{Tok::kIdent, Tok::kEq, Tok::kNumber, Tok::kNe, Tok::kNumber, Tok::kLt,
                                     Tok::kNumber, Tok::kLe, Tok::kNumber, Tok::kGt, Tok::kNumber, Tok::kGe,
                                     Tok::kNumber, Tok::kEnd}));
}

struct LexError {
  const char* name;
  const char* text;
  const char* message;
  uint32_t col;
};

TEST(Lexer, ErrorsNameWhatAndWhere) {
  const LexError cases[] = {
      {"no such date", "until = 2027-02-30", "no such date '2027-02-30'", 9},
      {"unterminated string", "owner = \"dpo", "unterminated string", 9},
      {"stray character", "a = $", "unexpected character '$'", 5},
      {"bang alone", "when = !x", "unexpected '!'", 8},
      {"malformed number", "x = 12ab", "malformed number, date or duration '12ab'", 5},
      {"unknown escape", "x = \"a\\qb\"", "unknown escape '\\q'", 7},
  };
  for (const auto& c : cases) {
    Diagnostics d;
    Lex(c.text, 0, d);
    ASSERT_EQ(d.all().size(), 1u) << c.name;
    EXPECT_EQ(d.all()[0].message, c.message) << c.name;
    EXPECT_EQ(d.all()[0].pos.col, c.col) << c.name;
  }
}

}  // namespace
}  // namespace custos::policy
