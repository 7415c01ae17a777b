// JSON string literals for the canonical text custos writes (audit records,
// stored attribute maps): only '"', '\\' and control characters are escaped
// (as \u00XX, lowercase hex); invalid UTF-8 becomes U+FFFD, one per byte that
// does not start a well-formed sequence (common/utf8.h Utf8Repair::kPerByte,
// frozen: audit records are hashed in this form), so the output is always
// valid JSON and byte-for-byte predictable. Pure; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace custos {

// The high bit of each of the 8 bytes in `v` (little-endian) that a JSON
// string cannot hold as is: not printable ASCII, or '"', or '\\'. Carries and
// borrows of the byte-wise tests only ever raise false flags in bytes above
// a truly flagged one, so the lowest flag is exact (and zero means none).
inline uint64_t JsonNonPlainMask(uint64_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101, kHighs = 0x8080808080808080;
  uint64_t quote = v ^ (kOnes * '"'), backslash = v ^ (kOnes * '\\');
  uint64_t flags = v | ((v - kOnes * 0x20) & ~v) | ((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash);
  return flags & kHighs;
}

// Appends `s` to `out` as a quoted JSON string.
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace custos
