#include "common/json_text.h"

#include <bit>
#include <cstring>

#include "common/utf8.h"

namespace custos {

void AppendJsonString(std::string* out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    // The common case, a run of printable ASCII other than '"' and '\\', is
    // found 8 bytes at a time and copied in one append.
    size_t run = i;
    if constexpr (std::endian::native == std::endian::little) {
      while (s.size() - run >= 8) {
        uint64_t v;
        std::memcpy(&v, s.data() + run, 8);
        uint64_t mask = JsonNonPlainMask(v);
        if (mask != 0) {
          run += static_cast<size_t>(std::countr_zero(mask) / 8);
          break;
        }
        run += 8;
      }
    }
    while (run < s.size()) {
      unsigned char r = static_cast<unsigned char>(s[run]);
      if (r < 0x20 || r >= 0x80 || r == '"' || r == '\\') break;
      ++run;
    }
    if (run > i) {
      out->append(s.data() + i, run - i);
      i = run;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(c));
      } else if (c < 0x20) {
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
      } else {
        out->push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // Per byte (Utf8Repair::kPerByte): a byte that does not start a
    // well-formed sequence becomes one U+FFFD and the next byte is looked at
    // afresh. The audit's canonical form depends on exactly this.
    size_t len = Utf8SequenceLength(s.substr(i));
    if (len > 0) {
      out->append(s.substr(i, len));
      i += len;
    } else {
      out->append(kUtf8Replacement);
      ++i;
    }
  }
  out->push_back('"');
}

}  // namespace custos
