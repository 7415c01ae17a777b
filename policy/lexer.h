// Tokens of the policy language (policy/README.md describes the language).
//
// Identifiers may contain letters, digits, '_' and '-' (so region names such
// as eu-central-1 and ids such as ml-team are single tokens; the language has
// no arithmetic). Dates (2027-06-30), timestamps (2027-06-30T12:00:00Z) and
// durations (90d, 5m, 30s, 2h) are tokens of their own. '#' starts a comment.
// Newlines are tokens: an attribute ends at the end of its line, except inside
// brackets or after a binary operator.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/diagnostics.h"

namespace custos::policy {

enum class Tok {
  kIdent,
  kString,
  kNumber,
  kDate,      // value: seconds since the epoch at 00:00:00 UTC
  kTime,      // value: seconds since the epoch
  kDuration,  // value: seconds
  kLBrace, kRBrace, kLBracket, kRBracket, kLParen, kRParen,
  kComma, kDot, kAssign,
  kEq, kNe, kLt, kLe, kGt, kGe,
  kNewline,
  kEnd,
};

struct Token {
  Tok kind = Tok::kEnd;
  Pos pos;
  std::string text;   // identifier name, string contents (unescaped), or the lexeme
  double number = 0;  // kNumber
  int64_t value = 0;  // kDate, kTime, kDuration
};

// Splits `text` into tokens; errors (an unterminated string, a stray
// character, a malformed date) go to `diags` and lexing goes on.
std::vector<Token> Lex(std::string_view text, uint32_t file, Diagnostics& diags);

std::string_view TokName(Tok t);

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);

}  // namespace custos::policy
