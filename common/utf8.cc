#include "common/utf8.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>

namespace custos {
namespace {

// What a byte allows as the start of a sequence (Unicode Table 3-7): the
// sequence length (0: cannot start one) and the range of the second byte,
// which is where overlong forms, surrogates and > U+10FFFF are excluded.
// Later bytes are always 80..BF.
struct Lead {
  uint8_t length;
  uint8_t second_lo;
  uint8_t second_hi;
};

constexpr std::array<Lead, 256> kLeads = [] {
  std::array<Lead, 256> t{};
  for (int c = 0; c < 0x80; ++c) t[c] = {1, 0, 0};
  for (int c = 0xC2; c <= 0xDF; ++c) t[c] = {2, 0x80, 0xBF};
  for (int c = 0xE0; c <= 0xEF; ++c) t[c] = {3, 0x80, 0xBF};
  t[0xE0].second_lo = 0xA0;  // below: overlong
  t[0xED].second_hi = 0x9F;  // above: surrogates D800..DFFF
  for (int c = 0xF0; c <= 0xF4; ++c) t[c] = {4, 0x80, 0xBF};
  t[0xF0].second_lo = 0x90;  // below: overlong
  t[0xF4].second_hi = 0x8F;  // above: beyond U+10FFFF
  return t;  // 80..C1 and F5..FF stay {0, 0, 0}
}();

// At s[i] (i < n): the length of the well-formed sequence there, or 0; then
// *subpart is the length of the maximal subpart there (1..3): the lead byte
// and the bytes after it that could still continue a well-formed sequence.
inline size_t Sequence(const unsigned char* s, size_t n, size_t i, size_t* subpart) {
  const Lead& lead = kLeads[s[i]];
  if (lead.length <= 1) {
    *subpart = 1;
    return lead.length;
  }
  size_t k = 1;
  for (; k < lead.length && i + k < n; ++k) {
    const unsigned char b = s[i + k];
    const unsigned char lo = k == 1 ? lead.second_lo : 0x80, hi = k == 1 ? lead.second_hi : 0xBF;
    if (b < lo || b > hi) break;
  }
  if (k == lead.length) return k;
  *subpart = k;
  return 0;
}

// From `i`: the end of the run of well-formed sequences (n when it reaches
// the end). ASCII is skipped 8 bytes at a time.
size_t ValidRunEnd(const unsigned char* s, size_t n, size_t i) {
  while (i < n) {
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    while (i < n && s[i] < 0x80) ++i;
    if (i == n) break;
    size_t subpart = 0;
    const size_t len = Sequence(s, n, i, &subpart);
    if (len == 0) break;
    i += len;
  }
  return i;
}

// Appends `in` from `i` on to *out, repaired under `mode`, while *out stays
// within `max_bytes`.
void AppendRepaired(std::string_view in, size_t i, Utf8Repair mode, size_t max_bytes, std::string* out,
                    bool* replaced, bool* truncated) {
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  while (i < n) {
    const size_t end = ValidRunEnd(s, n, i);
    const size_t room = max_bytes - out->size();  // out->size() <= max_bytes throughout
    if (end - i > room) {
      // Cut on a character boundary: back off over continuation bytes to
      // the start of the character holding the first byte that does not fit
      // (the run is well-formed, so that start is inside it).
      size_t cut = i + room;
      while (cut > i && (s[cut] & 0xC0) == 0x80) --cut;
      out->append(in.data() + i, cut - i);
      if (truncated != nullptr) *truncated = true;
      return;
    }
    out->append(in.data() + i, end - i);
    i = end;
    if (i == n) return;
    // s[i] starts an ill-formed sequence.
    size_t subpart = 1;
    Sequence(s, n, i, &subpart);
    if (max_bytes - out->size() < kUtf8Replacement.size()) {
      if (truncated != nullptr) *truncated = true;
      return;
    }
    out->append(kUtf8Replacement);
    if (replaced != nullptr) *replaced = true;
    i += mode == Utf8Repair::kPerByte ? 1 : subpart;
  }
}

}  // namespace

size_t ValidUtf8PrefixLength(std::string_view s) {
  return ValidRunEnd(reinterpret_cast<const unsigned char*>(s.data()), s.size(), 0);
}

bool IsValidUtf8(std::string_view s) { return ValidUtf8PrefixLength(s) == s.size(); }

size_t Utf8SequenceLength(std::string_view s) {
  if (s.empty()) return 0;
  size_t subpart = 0;
  return Sequence(reinterpret_cast<const unsigned char*>(s.data()), s.size(), 0, &subpart);
}

bool SanitizeUtf8(std::string* s, Utf8Repair mode) {
  const size_t valid = ValidUtf8PrefixLength(*s);
  if (valid == s->size()) return false;
  std::string out;
  out.reserve(s->size() + 16);
  out.append(s->data(), valid);
  bool replaced = false;
  AppendRepaired(*s, valid, mode, std::numeric_limits<size_t>::max(), &out, &replaced, nullptr);
  *s = std::move(out);
  return replaced;
}

std::string ToValidUtf8(std::string_view in, Utf8Repair mode) {
  std::string out;
  out.reserve(in.size());
  AppendRepaired(in, 0, mode, std::numeric_limits<size_t>::max(), &out, nullptr, nullptr);
  return out;
}

std::string ToValidUtf8(std::string_view in, size_t max_bytes, bool* replaced, bool* truncated, Utf8Repair mode) {
  std::string out;
  out.reserve(std::min(in.size(), max_bytes));
  AppendRepaired(in, 0, mode, max_bytes, &out, replaced, truncated);
  return out;
}

}  // namespace custos
