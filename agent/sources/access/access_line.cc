#include "agent/sources/access/access_line.h"

#include <limits>
#include <set>

#include "common/utf8.h"

namespace custos::agent::access {
namespace {

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A JSON value of the flat objects this format allows.
struct Value {
  enum Kind { kString, kInteger, kOther } kind = kOther;
  std::string text;      // kString: decoded; kInteger/kOther: the raw token
  bool negative = false;  // kInteger
  uint64_t magnitude = 0;  // kInteger; overflowed when `overflow`
  bool overflow = false;
  const char* other_name = "";  // kOther: "a number with a fraction", "null", ...
};

// A single-pass reader of one JSON object with scalar members. Nested
// objects and arrays are refused (no recursion, so no depth to bound).
class FlatJsonReader {
 public:
  explicit FlatJsonReader(std::string_view s) : s_(s) {}

  // Calls member(name, value) for each member; stops at the first error.
  template <typename F>
  Status Read(F&& member) {
    SkipSpace();
    if (!Eat('{')) return Error("expected a JSON object '{'");
    SkipSpace();
    if (Eat('}')) return Trailing();
    for (;;) {
      SkipSpace();
      if (Peek() != '"') return Error("expected a field name in double quotes");
      std::string name;
      CUSTOS_RETURN_IF_ERROR(ReadString(&name));
      SkipSpace();
      if (!Eat(':')) return Error("expected ':' after field name");
      SkipSpace();
      Value v;
      CUSTOS_RETURN_IF_ERROR(ReadValue(name, &v));
      CUSTOS_RETURN_IF_ERROR(member(name, v));
      SkipSpace();
      if (Eat('}')) return Trailing();
      if (!Eat(',')) return Error("expected ',' or '}'");
    }
  }

 private:
  char Peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool Eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n')) ++i_;
  }
  Status Error(const std::string& what) const {
    if (i_ >= s_.size()) return InvalidArgument("invalid JSON at end of line: " + what);
    return InvalidArgument("invalid JSON at column " + std::to_string(i_ + 1) + ": " + what);
  }
  Status Trailing() {
    SkipSpace();
    if (i_ != s_.size()) return Error("unexpected text after the object");
    return Status::Ok();
  }

  bool Hex4(uint32_t* out) {
    if (i_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_ + k];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    i_ += 4;
    *out = v;
    return true;
  }

  Status ReadString(std::string* out) {
    ++i_;  // opening quote
    for (;;) {
      if (i_ >= s_.size()) return Error("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return Status::Ok();
      }
      if (c < 0x20) return Error("control character in string (escape it)");
      if (c == '\\') {
        ++i_;
        char e = Peek();
        ++i_;
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            uint32_t cp;
            if (!Hex4(&cp)) return Error("bad \\u escape");
            if (cp >= 0xDC00 && cp <= 0xDFFF) return Error("unpaired surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              uint32_t lo;
              if (!(Eat('\\') && Eat('u') && Hex4(&lo)) || lo < 0xDC00 || lo > 0xDFFF) {
                return Error("unpaired surrogate in \\u escape");
              }
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            AppendUtf8(out, cp);
            break;
          }
          default:
            --i_;
            return Error("bad escape in string");
        }
        continue;
      }
      size_t n = custos::Utf8SequenceLength(s_.substr(i_));
      if (n == 0) return Error("string is not valid UTF-8");
      out->append(s_.substr(i_, n));
      i_ += n;
    }
  }

  Status ReadValue(const std::string& name, Value* v) {
    char c = Peek();
    if (c == '"') {
      v->kind = Value::kString;
      return ReadString(&v->text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber(v);
    for (const char* word : {"true", "false", "null"}) {
      std::string_view w(word);
      if (s_.substr(i_, w.size()) == w) {
        i_ += w.size();
        v->kind = Value::kOther;
        v->other_name = w == "null" ? "null" : "a boolean";
        return Status::Ok();
      }
    }
    if (c == '{' || c == '[') {
      return InvalidArgument("field '" + name + "': nested " + (c == '{' ? "objects" : "arrays") +
                             " are not allowed");
    }
    return Error("expected a value");
  }

  Status ReadNumber(Value* v) {
    size_t start = i_;
    v->negative = Eat('-');
    if (Peek() == '0') {
      ++i_;
    } else if (Peek() >= '1' && Peek() <= '9') {
      while (Peek() >= '0' && Peek() <= '9') {
        uint64_t d = static_cast<uint64_t>(Peek() - '0');
        if (v->magnitude > (std::numeric_limits<uint64_t>::max() - d) / 10) v->overflow = true;
        v->magnitude = v->magnitude * 10 + d;
        ++i_;
      }
    } else {
      return Error("bad number");
    }
    v->kind = Value::kInteger;
    if (Eat('.')) {
      if (!(Peek() >= '0' && Peek() <= '9')) return Error("bad number");
      while (Peek() >= '0' && Peek() <= '9') ++i_;
      v->kind = Value::kOther;
      v->other_name = "a number with a fraction";
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++i_;
      if (Peek() == '+' || Peek() == '-') ++i_;
      if (!(Peek() >= '0' && Peek() <= '9')) return Error("bad number");
      while (Peek() >= '0' && Peek() <= '9') ++i_;
      v->kind = Value::kOther;
      v->other_name = "a number with an exponent";
    }
    v->text = std::string(s_.substr(start, i_ - start));
    return Status::Ok();
  }

  std::string_view s_;
  size_t i_ = 0;
};

std::string Describe(const Value& v) {
  switch (v.kind) {
    case Value::kString: return "a string";
    case Value::kInteger: return "a number";
    case Value::kOther: return v.other_name;
  }
  return "?";
}

Status WrongType(const std::string& name, const char* expected, const Value& v) {
  return InvalidArgument("field '" + name + "': expected " + expected + ", got " + Describe(v));
}

Result<std::string> StringField(const std::string& name, const Value& v, size_t max_bytes) {
  if (v.kind != Value::kString) return WrongType(name, "a string", v);
  if (v.text.size() > max_bytes) {
    return InvalidArgument("field '" + name + "': longer than " + std::to_string(max_bytes) + " bytes");
  }
  return v.text;
}

Result<uint64_t> UnsignedField(const std::string& name, const Value& v, uint64_t max) {
  if (v.kind != Value::kInteger) return WrongType(name, "a non-negative integer", v);
  if (v.negative && v.magnitude != 0) return InvalidArgument("field '" + name + "': must not be negative, got " + v.text);
  if (v.overflow || v.magnitude > max) {
    return InvalidArgument("field '" + name + "': " + v.text + " is out of range (at most " + std::to_string(max) + ")");
  }
  return v.magnitude;
}

template <typename Enum, size_t N>
Result<Enum> EnumField(const std::string& name, const Value& v, const std::pair<const char*, Enum> (&names)[N]) {
  std::string expected;
  for (const auto& [text, value] : names) expected += std::string(expected.empty() ? "" : ", ") + text;
  if (v.kind != Value::kString) return WrongType(name, ("one of " + expected).c_str(), v);
  for (const auto& [text, value] : names) {
    if (v.text == text) return value;
  }
  std::string shown = v.text.size() > 64 ? v.text.substr(0, 64) + "..." : v.text;
  return InvalidArgument("field '" + name + "': unknown value '" + shown + "' (expected " + expected + ")");
}

constexpr std::pair<const char*, v1::AccessEvent::Action> kActions[] = {
    {"read", v1::AccessEvent::ACTION_READ},     {"write", v1::AccessEvent::ACTION_WRITE},
    {"create", v1::AccessEvent::ACTION_CREATE}, {"delete", v1::AccessEvent::ACTION_DELETE},
    {"rename", v1::AccessEvent::ACTION_RENAME}, {"list", v1::AccessEvent::ACTION_LIST},
};
constexpr std::pair<const char*, v1::AccessEvent::Outcome> kOutcomes[] = {
    {"success", v1::AccessEvent::OUTCOME_SUCCESS},
    {"denied", v1::AccessEvent::OUTCOME_DENIED},
    {"error", v1::AccessEvent::OUTCOME_ERROR},
};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

Result<int64_t> ParseRfc3339(std::string_view t) {
  auto bad = [&] {
    return InvalidArgument("'" + std::string(t.substr(0, 64)) +
                           "' is not an RFC 3339 time (expected e.g. 2026-11-26T14:52:34.123Z)");
  };
  auto digits = [&](size_t at, size_t n, int64_t* out) {
    if (at + n > t.size()) return false;
    int64_t v = 0;
    for (size_t k = at; k < at + n; ++k) {
      if (t[k] < '0' || t[k] > '9') return false;
      v = v * 10 + (t[k] - '0');
    }
    *out = v;
    return true;
  };
  int64_t year, month, day, hour, minute, second;
  if (!digits(0, 4, &year) || t.size() < 20 || t[4] != '-' || !digits(5, 2, &month) || t[7] != '-' ||
      !digits(8, 2, &day) || (t[10] != 'T' && t[10] != 't') || !digits(11, 2, &hour) || t[13] != ':' ||
      !digits(14, 2, &minute) || t[16] != ':' || !digits(17, 2, &second)) {
    return bad();
  }
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return bad();
  }
  size_t i = 19;
  int64_t nanos = 0;
  if (i < t.size() && t[i] == '.') {
    ++i;
    size_t start = i;
    int64_t scale = 100'000'000;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      nanos += (t[i] - '0') * scale;  // digits past the ninth are truncated
      scale /= 10;
      ++i;
    }
    if (i == start) return bad();
  }
  int64_t offset_seconds = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    int64_t oh, om;
    if (!digits(i + 1, 2, &oh) || i + 3 >= t.size() || t[i + 3] != ':' || !digits(i + 4, 2, &om) || oh > 23 ||
        om > 59) {
      return bad();
    }
    offset_seconds = (oh * 3600 + om * 60) * (t[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return bad();
  }
  if (i != t.size()) return bad();
  int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  if (secs < 0) return bad();
  return secs * 1'000'000'000 + nanos;  // year <= 9999 keeps this within int64
}

Result<AccessRequest> ParseAccessLine(std::string_view line) {
  AccessRequest r;
  std::set<std::string> seen;
  FlatJsonReader reader(line);
  Status s = reader.Read([&](const std::string& name, const Value& v) -> Status {
    if (!IsValidUtf8(name)) return InvalidArgument("a field name is not valid UTF-8");
    if (!seen.insert(name).second) return InvalidArgument("field '" + name + "' appears twice");
    if (name == "action") {
      CUSTOS_ASSIGN_OR_RETURN(r.action, EnumField(name, v, kActions));
    } else if (name == "outcome") {
      CUSTOS_ASSIGN_OR_RETURN(r.outcome, EnumField(name, v, kOutcomes));
    } else if (name == "object") {
      CUSTOS_ASSIGN_OR_RETURN(r.object, StringField(name, v, kMaxObjectBytes));
      if (r.object.empty()) return InvalidArgument("field 'object': must not be empty");
    } else if (name == "dataset") {
      CUSTOS_ASSIGN_OR_RETURN(r.dataset, StringField(name, v, kMaxFieldBytes));
    } else if (name == "service_identity") {
      CUSTOS_ASSIGN_OR_RETURN(r.service_identity, StringField(name, v, kMaxFieldBytes));
    } else if (name == "user") {
      CUSTOS_ASSIGN_OR_RETURN(r.user, StringField(name, v, kMaxFieldBytes));
    } else if (name == "uid") {
      CUSTOS_ASSIGN_OR_RETURN(uint64_t uid, UnsignedField(name, v, UINT32_MAX));
      r.uid = static_cast<int64_t>(uid);
    } else if (name == "bytes") {
      CUSTOS_ASSIGN_OR_RETURN(r.bytes, UnsignedField(name, v, static_cast<uint64_t>(INT64_MAX)));
    } else if (name == "count") {
      CUSTOS_ASSIGN_OR_RETURN(uint64_t count, UnsignedField(name, v, UINT32_MAX));
      if (count == 0) return InvalidArgument("field 'count': must be at least 1");
      r.count = static_cast<uint32_t>(count);
    } else if (name == "time") {
      if (v.kind == Value::kString) {
        auto t = ParseRfc3339(v.text);
        if (!t.ok()) return InvalidArgument("field 'time': " + t.status().message());
        r.time_unix_nano = *t;
      } else if (v.kind == Value::kInteger) {
        CUSTOS_ASSIGN_OR_RETURN(uint64_t t, UnsignedField(name, v, static_cast<uint64_t>(INT64_MAX)));
        r.time_unix_nano = static_cast<int64_t>(t);
      } else {
        return WrongType(name, "Unix nanoseconds or an RFC 3339 string", v);
      }
    } else {
      std::string shown = name.size() > 64 ? name.substr(0, 64) + "..." : name;
      return InvalidArgument("unknown field '" + shown +
                             "' (known: action, object, dataset, outcome, bytes, count, service_identity, user, "
                             "uid, time)");
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (r.action == v1::AccessEvent::ACTION_UNSPECIFIED) return InvalidArgument("missing field 'action'");
  if (r.object.empty()) return InvalidArgument("missing field 'object'");
  return r;
}

}  // namespace custos::agent::access
