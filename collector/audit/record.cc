#include "collector/audit/record.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>

#include "common/json_text.h"
#include "common/utf8.h"

namespace custos::audit {
namespace {

void AppendField(std::string* out, const char* key, std::string_view value) {
  out->push_back('"');
  out->append(key);
  out->append("\":");
  AppendJsonString(out, value);
}

// Byte classes inside a canonical JSON string.
enum ByteClass : uint8_t {
  kPlain,      // printable ASCII other than '"' and '\\': written as is
  kQuote,      // '"': ends the string
  kBackslash,  // starts an escape
  kControl,    // < 0x20: must be escaped as \u00XX
  kHigh,       // >= 0x80: starts a UTF-8 sequence, which must be valid
};

constexpr std::array<uint8_t, 256> kByteClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = c < 0x20 ? kControl : c >= 0x80 ? kHigh : c == '"' ? kQuote : c == '\\' ? kBackslash : kPlain;
  }
  return t;
}();

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// True iff each of the 8 bytes in `v` is one of 0-9a-f. For bytes below
// 0x80, x + (0x80 - lo) has its high bit set iff x >= lo, with no carry into
// the next byte.
bool AllLowerHex(uint64_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101, kHighs = 0x8080808080808080;
  if (v & kHighs) return false;
  uint64_t digit = (v + kOnes * (0x80 - '0')) & ~(v + kOnes * (0x7F - '9'));
  uint64_t letter = (v + kOnes * (0x80 - 'a')) & ~(v + kOnes * (0x7F - 'f'));
  return ((digit | letter) & kHighs) == kHighs;
}

// 64 lower-case hex digits at p.
bool IsLowerHex64(const char* p) {
  bool ok = true;
  for (int k = 0; k < 8; ++k) {
    uint64_t v;
    std::memcpy(&v, p + 8 * k, 8);
    ok &= AllLowerHex(v);
  }
  return ok;
}

bool IsLowerHex(std::string_view s) { return s.size() == 64 && IsLowerHex64(s.data()); }

int LowerHexValue(char c) { return IsDigit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

// A strict parser of exactly the lines EncodeRecord writes: one pass, no
// intermediate JSON tree, allocating only the record's own strings. Any
// deviation from the canonical form (whitespace, key order, an escape
// EncodeRecord would not write, invalid UTF-8, a leading zero, ...) fails
// with the byte offset where it was found.
class CanonicalParser {
 public:
  explicit CanonicalParser(std::string_view line)
      : begin_(line.data()), p_(line.data()), end_(line.data() + line.size()) {}

  // Fills `r`; false when the line is not canonical (see Error()).
  bool Parse(AuditRecord& r) {
    return Literal("{\"index\":") && Index(&r.index) && Literal(",\"time\":") && Time(&r.time_unix_nanos) &&
           Literal(",\"kind\":") && String(&r.kind) && Literal(",\"actor\":") && String(&r.actor) &&
           Literal(",\"action\":") && String(&r.action) && Literal(",\"object\":") && String(&r.object) &&
           Literal(",\"outcome\":") && String(&r.outcome) && Literal(",\"details\":{") && Details(&r.details) &&
           Literal(",\"payload\":") && Payload(&r.payload_commitment) && Literal(",\"prev\":") && Prev(&r.prev) &&
           Literal("}") && End();
  }

  // Fills `v`: the view form of Parse, allocating nothing (see ScanRecord).
  bool Scan(RecordView& v) {
    return Literal("{\"index\":") && Index(&v.index) && Literal(",\"time\":") && Time(&v.time_unix_nanos) &&
           Literal(",\"kind\":") && RawString(&v.kind) && Literal(",\"actor\":") && RawString(nullptr) &&
           Literal(",\"action\":") && RawString(&v.action) && Literal(",\"object\":") && RawString(nullptr) &&
           Literal(",\"outcome\":") && RawString(nullptr) && Literal(",\"details\":{") && CheckedDetails() &&
           Literal(",\"payload\":") && PayloadView(&v.payload_commitment) && Literal(",\"prev\":") &&
           QuotedHashView(&v.prev) && Literal("}") && End();
  }

  Status Error() const {
    return InvalidArgument("not in canonical form at byte " + std::to_string(error_at_ - begin_) + ": " + error_);
  }

 private:
  bool Fail(const char* at, std::string what) {
    error_at_ = at;
    error_ = std::move(what);
    return false;
  }

  // The fixed text `lit` (N - 1 bytes, a constant the compiler can inline).
  template <size_t N>
  bool Literal(const char (&lit)[N]) {
    constexpr size_t kLen = N - 1;
    if (static_cast<size_t>(end_ - p_) >= kLen && std::memcmp(p_, lit, kLen) == 0) {
      p_ += kLen;
      return true;
    }
    return LiteralMismatch(std::string_view(lit, kLen));
  }

  bool LiteralMismatch(std::string_view lit) {
    size_t n = std::min(lit.size(), static_cast<size_t>(end_ - p_));
    size_t k = 0;
    while (k < n && p_[k] == lit[k]) ++k;
    return Fail(p_ + k, "expected '" + std::string(lit) + "'" + (p_ + k == end_ ? " (the line ends)" : ""));
  }

  bool End() { return p_ == end_ || Fail(p_, "trailing bytes after the record"); }

  // Decimal digits without a leading zero ("0" itself is fine), at most
  // `limit`. The first byte must be a digit.
  bool Digits(uint64_t limit, uint64_t* out, const char* what) {
    if (p_ == end_ || !IsDigit(*p_)) return Fail(p_, std::string("expected ") + what);
    if (*p_ == '0') {
      ++p_;
      if (p_ != end_ && IsDigit(*p_)) return Fail(p_ - 1, std::string(what) + " has a leading zero");
      *out = 0;
      return true;
    }
    const char* start = p_;
    uint64_t v = 0;
    const char* stop = p_ + std::min<std::ptrdiff_t>(end_ - p_, 19);  // 19 digits always fit in 64 bits
    for (; p_ != stop && IsDigit(*p_); ++p_) v = v * 10 + static_cast<uint64_t>(*p_ - '0');
    if (p_ != end_ && IsDigit(*p_)) {  // a 20th digit may overflow, a 21st always does
      uint64_t d = static_cast<uint64_t>(*p_ - '0');
      ++p_;
      if (v > (limit - d) / 10 || (p_ != end_ && IsDigit(*p_))) {
        return Fail(start, std::string(what) + " is out of range");
      }
      v = v * 10 + d;
    }
    if (v > limit) return Fail(start, std::string(what) + " is out of range");
    *out = v;
    return true;
  }

  bool Index(uint64_t* out) { return Digits(UINT64_MAX, out, "an unsigned decimal index"); }

  bool Time(int64_t* out) {
    uint64_t magnitude = 0;
    if (p_ != end_ && *p_ == '-') {
      ++p_;
      if (p_ != end_ && *p_ == '0') return Fail(p_ - 1, "time is -0 or has a leading zero");
      if (!Digits(uint64_t{1} << 63, &magnitude, "a decimal time")) return false;
      *out = static_cast<int64_t>(0 - magnitude);  // two's complement: exact for 2^63 too
      return true;
    }
    if (!Digits(INT64_MAX, &magnitude, "a decimal time")) return false;
    *out = static_cast<int64_t>(magnitude);
    return true;
  }

  // A JSON string as AppendString writes it, decoded into *out (a
  // std::string, or Discard to only check it).
  template <typename Out>
  bool String(Out* out) {
    if (p_ == end_ || *p_ != '"') return Fail(p_, "expected '\"' (a string)");
    ++p_;
    for (;;) {
      // The longest run written as is: printable ASCII and valid UTF-8.
      const char* run = p_;
      for (;;) {
        if constexpr (std::endian::native == std::endian::little) {
          if (end_ - p_ >= 8) {  // 8 bytes at a time up to the first that is not plain
            uint64_t v;
            std::memcpy(&v, p_, 8);
            uint64_t mask = JsonNonPlainMask(v);
            if (mask == 0) {
              p_ += 8;
              continue;
            }
            p_ += std::countr_zero(mask) / 8;
          }
        }
        while (p_ != end_ && kByteClass[static_cast<unsigned char>(*p_)] == kPlain) ++p_;
        if (p_ == end_ || kByteClass[static_cast<unsigned char>(*p_)] != kHigh) break;
        size_t len = Utf8SequenceLength(std::string_view(p_, static_cast<size_t>(end_ - p_)));
        if (len == 0) return Fail(p_, "invalid UTF-8 in a string");
        p_ += len;
      }
      out->append(run, static_cast<size_t>(p_ - run));
      if (p_ == end_) return Fail(p_, "unterminated string");
      switch (kByteClass[static_cast<unsigned char>(*p_)]) {
        case kQuote:
          ++p_;
          return true;
        case kControl:
          return Fail(p_, "raw control character in a string (canonical form escapes it as \\u00XX)");
        default:  // kBackslash
          if (!Escape(out)) return false;
      }
    }
  }

  // A checked string, *out (when given) viewing its text as written between
  // the quotes, escapes and all.
  bool RawString(std::string_view* out) {
    const char* start = p_ + 1;
    Discard discard;
    if (!String(&discard)) return false;
    if (out != nullptr) *out = std::string_view(start, static_cast<size_t>(p_ - 1 - start));
    return true;
  }

  // Details checked as Details() does, keeping only the last key (in a
  // buffer that is reused, so no allocation once it has grown).
  bool CheckedDetails() {
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    bool first = true;
    for (;;) {
      const char* key_at = p_;
      key_.clear();
      if (!String(&key_)) return false;
      if (!first && !(last_key_ < key_)) {
        return Fail(key_at, "details keys are not in strictly ascending order (unsorted or duplicate key)");
      }
      first = false;
      std::swap(key_, last_key_);
      Discard value;
      if (!Literal(":") || !String(&value)) return false;
      bool done = false;
      if (!DetailsSeparator(&done)) return false;
      if (done) return true;
    }
  }

  // After a details pair: ',' (another follows) or '}' (*done).
  bool DetailsSeparator(bool* done) {
    if (p_ != end_ && (*p_ == ',' || *p_ == '}')) {
      *done = *p_++ == '}';
      return true;
    }
    return Fail(p_, "expected ',' or '}' in details");
  }

  // A quoted hash without the general string scanner: exactly 64 lower-case
  // hex digits between quotes. False (and nothing consumed) otherwise.
  bool TakeQuotedHash(std::string_view* out) {
    if (end_ - p_ >= 66 && p_[0] == '"' && p_[65] == '"' && IsLowerHex64(p_ + 1)) {
      *out = std::string_view(p_ + 1, 64);
      p_ += 66;
      return true;
    }
    return false;
  }

  // A canonical hash string holds nothing to escape, so it is exactly what
  // TakeQuotedHash takes; and an empty payload is "".
  bool QuotedHashView(std::string_view* out) { return TakeQuotedHash(out) || Fail(p_, "not a quoted hash"); }

  bool PayloadView(std::string_view* out) {
    if (end_ - p_ >= 2 && p_[0] == '"' && p_[1] == '"') {
      *out = std::string_view();
      p_ += 2;
      return true;
    }
    return QuotedHashView(out);
  }

  // \" \\ or \u00XX for a control character with lower-case hex: the only
  // escapes AppendString writes.
  template <typename Out>
  bool Escape(Out* out) {
    const char* at = p_;
    if (end_ - p_ >= 2 && (p_[1] == '"' || p_[1] == '\\')) {
      out->push_back(p_[1]);
      p_ += 2;
      return true;
    }
    if (end_ - p_ >= 6 && p_[1] == 'u' && p_[2] == '0' && p_[3] == '0' && (p_[4] == '0' || p_[4] == '1')) {
      int low = LowerHexValue(p_[5]);
      if (low >= 0) {
        out->push_back(static_cast<char>((p_[4] - '0') * 16 + low));
        p_ += 6;
        return true;
      }
    }
    return Fail(at, "escape other than \\\", \\\\ or \\u00XX (a control character, lower-case hex)");
  }

  // After '{': "key":"value" pairs, keys strictly ascending, then '}'.
  bool Details(std::map<std::string, std::string>* details) {
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      const char* key_at = p_;
      std::string key, value;
      if (!String(&key)) return false;
      if (!details->empty() && !(std::prev(details->end())->first < key)) {
        return Fail(key_at, "details keys are not in strictly ascending order (unsorted or duplicate key)");
      }
      if (!Literal(":") || !String(&value)) return false;
      details->emplace_hint(details->end(), std::move(key), std::move(value));
      bool done = false;
      if (!DetailsSeparator(&done)) return false;
      if (done) return true;
    }
  }

  // A quoted hash: the common case without the general string scanner.
  bool QuotedHash(std::string* out) {
    std::string_view hash;
    if (!TakeQuotedHash(&hash)) return false;
    *out = std::string(hash);
    return true;
  }

  bool Payload(std::string* out) {
    if (QuotedHash(out)) return true;
    const char* at = p_;
    if (!String(out)) return false;
    if (out->empty() || IsLowerHex(*out)) return true;
    return Fail(at, "payload is neither empty nor 64 lower-case hex digits");
  }

  bool Prev(std::string* out) {
    if (QuotedHash(out)) return true;
    const char* at = p_;
    if (!String(out)) return false;
    if (IsLowerHex(*out)) return true;
    return Fail(at, "prev is not 64 lower-case hex digits");
  }

  // Where Scan's strings go: checked, not kept.
  struct Discard {
    void append(const char*, size_t) {}
    void push_back(char) {}
  };

  const char* const begin_;
  const char* p_;
  const char* const end_;
  const char* error_at_ = nullptr;
  std::string error_;
  std::string key_, last_key_;  // CheckedDetails's buffers
};

}  // namespace

const std::string& GenesisPrev() {
  static const std::string kZeros(64, '0');
  return kZeros;
}

std::string EncodeRecord(const AuditRecord& r) {
  std::string out = EncodeRecordStart({.index = r.index, .time_unix_nanos = r.time_unix_nanos, .kind = r.kind,
                                       .actor = r.actor, .action = r.action, .object = r.object,
                                       .outcome = r.outcome, .details = &r.details,
                                       .payload_commitment = r.payload_commitment});
  out.pop_back();  // the opening quote of prev: a prev of any form is written as a JSON string below
  AppendJsonString(&out, r.prev);
  out += '}';
  return out;
}

std::string EncodeRecordEnd(std::string_view prev_hex) {
  std::string out;
  out.reserve(prev_hex.size() + 2);
  out += prev_hex;
  out += "\"}";
  return out;
}

std::string EncodeRecordStart(const RecordFields& r) {
  std::string out;
  out.reserve(512);
  out += "{\"index\":";
  out += std::to_string(r.index);
  out += ",\"time\":";
  out += std::to_string(r.time_unix_nanos);
  out += ',';
  AppendField(&out, "kind", r.kind);
  out += ',';
  AppendField(&out, "actor", r.actor);
  out += ',';
  AppendField(&out, "action", r.action);
  out += ',';
  AppendField(&out, "object", r.object);
  out += ',';
  AppendField(&out, "outcome", r.outcome);
  out += ",\"details\":{";
  // Keys are written in std::map order, which is the order of the written
  // keys too unless one holds invalid UTF-8: then sort (and deduplicate) the
  // keys as written, or the line would not be canonical and no verifier
  // could accept it. Of keys that become equal, the first in map order wins.
  static const std::map<std::string, std::string> kNone;
  const std::map<std::string, std::string>* details = r.details != nullptr ? r.details : &kNone;
  std::map<std::string, std::string> replaced;
  if (!std::all_of(details->begin(), details->end(), [](const auto& kv) { return IsValidUtf8(kv.first); })) {
    for (const auto& [k, v] : *details) replaced.emplace(ToValidUtf8(k, Utf8Repair::kPerByte), v);
    details = &replaced;
  }
  bool first = true;
  for (const auto& [k, v] : *details) {  // std::map: sorted by key
    if (!first) out += ',';
    first = false;
    AppendJsonString(&out, k);
    out += ':';
    AppendJsonString(&out, v);
  }
  out += "},";
  AppendField(&out, "payload", r.payload_commitment);
  out += ",\"prev\":\"";
  return out;
}

Result<AuditRecord> ParseRecord(std::string_view line) {
  // Parsed in place and returned by NRVO: the record is never moved.
  Result<AuditRecord> result(AuditRecord{});
  CanonicalParser parser(line);
  if (!parser.Parse(*result)) result = parser.Error();
  return result;
}

bool ScanRecord(std::string_view line, RecordView* view) {
  // Details keys are short enough for std::string's inline buffer, so
  // nothing is allocated for a typical record.
  CanonicalParser parser(line);
  return parser.Scan(*view);
}

std::string PayloadCommitment(ByteView salt, std::string_view payload) {
  static const uint8_t kDomain = 0x02;
  return HexEncode(Sha256({ByteView(&kDomain, 1), salt, AsBytes(payload)}));
}

}  // namespace custos::audit
