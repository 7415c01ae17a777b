#include "collector/audit/note_text.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>

namespace custos::audit {
namespace {

// Calls `visit` with each code point of `s`; false if `s` is not valid UTF-8
// (overlong forms, surrogates and values above U+10FFFF included) or if
// `visit` returns false.
template <typename Visit>
bool ForEachCodePoint(std::string_view s, Visit visit) {
  size_t i = 0;
  while (i < s.size()) {
    auto b0 = static_cast<uint8_t>(s[i]);
    char32_t cp = 0;
    char32_t min = 0;
    size_t len = 0;
    if (b0 < 0x80) {
      cp = b0;
      len = 1;
    } else if ((b0 & 0xE0) == 0xC0) {
      cp = b0 & 0x1F;
      min = 0x80;
      len = 2;
    } else if ((b0 & 0xF0) == 0xE0) {
      cp = b0 & 0x0F;
      min = 0x800;
      len = 3;
    } else if ((b0 & 0xF8) == 0xF0) {
      cp = b0 & 0x07;
      min = 0x10000;
      len = 4;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (size_t j = 1; j < len; ++j) {
      auto b = static_cast<uint8_t>(s[i + j]);
      if ((b & 0xC0) != 0x80) return false;
      cp = cp << 6 | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (!visit(cp)) return false;
    i += len;
  }
  return true;
}

// Go's unicode.IsSpace: the Latin-1 spaces and the White_Space property.
bool IsUnicodeSpace(char32_t c) {
  static constexpr char32_t kSpaces[] = {U'\t', U'\n',  U'\v',  U'\f',  U'\r',  U' ',   0x85,
                                         0xA0,  0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
  return (c >= 0x2000 && c <= 0x200A) || std::find(std::begin(kSpaces), std::end(kSpaces), c) != std::end(kSpaces);
}

}  // namespace

bool IsValidKeyName(std::string_view name) {
  return !name.empty() &&
         ForEachCodePoint(name, [](char32_t c) { return c >= 0x20 && c != U'+' && !IsUnicodeSpace(c); });
}

bool IsValidNoteText(std::string_view text) {
  return ForEachCodePoint(text, [](char32_t c) { return c >= 0x20 || c == U'\n'; });
}

}  // namespace custos::audit
