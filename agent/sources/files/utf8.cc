#include "agent/sources/files/utf8.h"

#include <cstdint>
#include <cstring>

namespace custos::agent::files {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there do not
// start one. *consumed gets how many bytes form the maximal invalid prefix
// when 0 is returned (at least 1).
size_t ValidSequence(const unsigned char* s, size_t n, size_t i, size_t* consumed) {
  unsigned char c = s[i];
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // no overlong forms
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    *consumed = 1;
    return 0;
  }
  size_t k = 1;
  for (; k < len; ++k) {
    if (i + k >= n) break;
    unsigned char b = s[i + k];
    unsigned char blo = k == 1 ? lo : 0x80, bhi = k == 1 ? hi : 0xBF;
    if (b < blo || b > bhi) break;
  }
  if (k == len) return len;
  *consumed = k;  // the lead byte and the valid continuation bytes after it
  return 0;
}

// Index of the first byte that is not plain ASCII, or n.
size_t AsciiPrefix(const unsigned char* s, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, s + i, 8);
    if (w & 0x8080808080808080ULL) break;
  }
  while (i < n && s[i] < 0x80) ++i;
  return i;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  size_t i = AsciiPrefix(s, n);
  while (i < n) {
    size_t consumed = 0;
    size_t len = ValidSequence(s, n, i, &consumed);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

bool SanitizeUtf8(std::string* text) {
  if (IsValidUtf8(*text)) return false;
  const auto* s = reinterpret_cast<const unsigned char*>(text->data());
  size_t n = text->size();
  std::string out;
  out.reserve(n + 16);
  size_t i = 0;
  while (i < n) {
    size_t consumed = 0;
    size_t len = ValidSequence(s, n, i, &consumed);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      i += consumed;
    } else {
      out.append(reinterpret_cast<const char*>(s + i), len);
      i += len;
    }
  }
  *text = std::move(out);
  return true;
}

}  // namespace custos::agent::files
