#include "policy/lexer.h"

#include <cctype>
#include <cstdlib>

namespace custos::policy {

std::string_view TokName(Tok t) {
  switch (t) {
    case Tok::kIdent: return "a name";
    case Tok::kString: return "a string";
    case Tok::kNumber: return "a number";
    case Tok::kDate: return "a date";
    case Tok::kTime: return "a timestamp";
    case Tok::kDuration: return "a duration";
    case Tok::kLBrace: return "'{'";
    case Tok::kRBrace: return "'}'";
    case Tok::kLBracket: return "'['";
    case Tok::kRBracket: return "']'";
    case Tok::kLParen: return "'('";
    case Tok::kRParen: return "')'";
    case Tok::kComma: return "','";
    case Tok::kDot: return "'.'";
    case Tok::kAssign: return "'='";
    case Tok::kEq: return "'=='";
    case Tok::kNe: return "'!='";
    case Tok::kLt: return "'<'";
    case Tok::kLe: return "'<='";
    case Tok::kGt: return "'>'";
    case Tok::kGe: return "'>='";
    case Tok::kNewline: return "the end of the line";
    case Tok::kEnd: return "the end of the file";
  }
  return "?";
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

namespace {

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(std::string_view text, uint32_t file, Diagnostics& diags)
      : text_(text), file_(file), diags_(diags) {}

  std::vector<Token> Run() {
    while (true) {
      SkipSpaceAndComments();
      Token t;
      t.pos = {file_, line_, col()};
      if (i_ >= text_.size()) {
        t.kind = Tok::kEnd;
        out_.push_back(t);
        return std::move(out_);
      }
      char c = text_[i_];
      if (c == '\n') {
        ++i_;
        t.kind = Tok::kNewline;
        out_.push_back(t);
        ++line_;
        line_start_ = i_;
        continue;
      }
      if (IsIdentStart(c)) {
        size_t start = i_;
        while (i_ < text_.size() && IsIdentChar(text_[i_])) ++i_;
        // A trailing '-' is never part of a name ("a-" is a typo, not a name).
        while (i_ > start + 1 && text_[i_ - 1] == '-') --i_;
        t.kind = Tok::kIdent;
        t.text = std::string(text_.substr(start, i_ - start));
        out_.push_back(std::move(t));
        continue;
      }
      if (IsDigit(c) || (c == '-' && i_ + 1 < text_.size() && IsDigit(text_[i_ + 1]))) {
        LexNumberLike(t);
        continue;
      }
      if (c == '"') {
        LexString(t);
        continue;
      }
      ++i_;
      switch (c) {
        case '{': t.kind = Tok::kLBrace; break;
        case '}': t.kind = Tok::kRBrace; break;
        case '[': t.kind = Tok::kLBracket; break;
        case ']': t.kind = Tok::kRBracket; break;
        case '(': t.kind = Tok::kLParen; break;
        case ')': t.kind = Tok::kRParen; break;
        case ',': t.kind = Tok::kComma; break;
        case '.': t.kind = Tok::kDot; break;
        case '=': t.kind = Match('=') ? Tok::kEq : Tok::kAssign; break;
        case '!':
          if (Match('=')) {
            t.kind = Tok::kNe;
            break;
          }
          diags_.Error(t.pos, "unexpected '!'", "write 'not' for negation and '!=' for inequality");
          continue;
        case '<': t.kind = Match('=') ? Tok::kLe : Tok::kLt; break;
        case '>': t.kind = Match('=') ? Tok::kGe : Tok::kGt; break;
        default:
          diags_.Error(t.pos, std::string("unexpected character '") + c + "'");
          continue;
      }
      out_.push_back(std::move(t));
    }
  }

 private:
  uint32_t col() const { return static_cast<uint32_t>(i_ - line_start_ + 1); }

  bool Match(char c) {
    if (i_ < text_.size() && text_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  void SkipSpaceAndComments() {
    while (i_ < text_.size()) {
      char c = text_[i_];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++i_;
      } else if (c == '#') {
        while (i_ < text_.size() && text_[i_] != '\n') ++i_;
      } else {
        return;
      }
    }
  }

  // Numbers, dates (YYYY-MM-DD), timestamps (YYYY-MM-DDTHH:MM:SSZ) and durations (90d).
  void LexNumberLike(Token& t) {
    size_t start = i_;
    if (text_[i_] == '-') ++i_;
    while (i_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[i_])) ||
                                 text_[i_] == '.' || text_[i_] == '-' || text_[i_] == ':')) {
      // A '.' only belongs to a number when a digit follows (so "1." is not swallowed).
      if (text_[i_] == '.' && !(i_ + 1 < text_.size() && IsDigit(text_[i_ + 1]))) break;
      ++i_;
    }
    std::string lexeme(text_.substr(start, i_ - start));
    t.text = lexeme;
    if (ParseDateOrTime(lexeme, t) || ParseDuration(lexeme, t) || ParseNumber(lexeme, t)) {
      out_.push_back(std::move(t));
      return;
    }
    diags_.Error(t.pos, "malformed number, date or duration '" + lexeme + "'",
                 "dates are written 2027-06-30, timestamps 2027-06-30T12:00:00Z, durations 90d, 12h, 5m or 30s");
  }

  static bool Digits(std::string_view s, size_t from, size_t n, int& out) {
    if (from + n > s.size()) return false;
    out = 0;
    for (size_t k = from; k < from + n; ++k) {
      if (!IsDigit(s[k])) return false;
      out = out * 10 + (s[k] - '0');
    }
    return true;
  }

  bool ParseDateOrTime(const std::string& s, Token& t) {
    int y, m, d;
    if (s.size() < 10 || s[4] != '-' || s[7] != '-' || !Digits(s, 0, 4, y) || !Digits(s, 5, 2, m) ||
        !Digits(s, 8, 2, d)) {
      return false;
    }
    static const int kDaysIn[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m < 1 || m > 12 || d < 1 || d > kDaysIn[m - 1] || (m == 2 && d == 29 && !leap)) {
      diags_.Error(t.pos, "no such date '" + s.substr(0, 10) + "'");
      t.kind = Tok::kDate;
      return true;
    }
    int64_t days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
    if (s.size() == 10) {
      t.kind = Tok::kDate;
      t.value = days * 86400;
      return true;
    }
    int hh, mm, ss;
    if (s.size() == 20 && s[10] == 'T' && s[13] == ':' && s[16] == ':' && s[19] == 'Z' &&
        Digits(s, 11, 2, hh) && Digits(s, 14, 2, mm) && Digits(s, 17, 2, ss) && hh < 24 && mm < 60 &&
        ss < 60) {
      t.kind = Tok::kTime;
      t.value = days * 86400 + hh * 3600 + mm * 60 + ss;
      return true;
    }
    return false;
  }

  static bool ParseDuration(const std::string& s, Token& t) {
    if (s.size() < 2) return false;
    int64_t unit = 0;
    switch (s.back()) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: return false;
    }
    int64_t n = 0;
    for (size_t k = 0; k + 1 < s.size(); ++k) {
      if (!IsDigit(s[k]) || n > 1'000'000'000) return false;
      n = n * 10 + (s[k] - '0');
    }
    t.kind = Tok::kDuration;
    t.value = n * unit;
    return true;
  }

  static bool ParseNumber(const std::string& s, Token& t) {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || s.find_first_of("eExXnNiI") != std::string::npos) return false;
    t.kind = Tok::kNumber;
    t.number = v;
    return true;
  }

  void LexString(Token& t) {
    ++i_;  // opening quote
    std::string value;
    while (true) {
      if (i_ >= text_.size() || text_[i_] == '\n') {
        diags_.Error(t.pos, "unterminated string", "close it with '\"' on the same line");
        t.kind = Tok::kString;
        t.text = std::move(value);
        out_.push_back(std::move(t));
        return;
      }
      char c = text_[i_++];
      if (c == '"') break;
      if (c == '\\' && i_ < text_.size()) {
        char e = text_[i_++];
        switch (e) {
          case 'n': value += '\n'; break;
          case 't': value += '\t'; break;
          case '\\': value += '\\'; break;
          case '"': value += '"'; break;
          default:
            diags_.Error({file_, line_, col() - 2}, std::string("unknown escape '\\") + e + "'",
                         "strings know \\n, \\t, \\\\ and \\\"");
        }
        continue;
      }
      value += c;
    }
    t.kind = Tok::kString;
    t.text = std::move(value);
    out_.push_back(std::move(t));
  }

  std::string_view text_;
  uint32_t file_;
  Diagnostics& diags_;
  size_t i_ = 0;
  uint32_t line_ = 1;
  size_t line_start_ = 0;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> Lex(std::string_view text, uint32_t file, Diagnostics& diags) {
  return Lexer(text, file, diags).Run();
}

}  // namespace custos::policy
