// UTF-8 validation and repair: the one implementation every custos component
// uses before bytes from outside (log files, the journal, sockets, OTLP)
// become a protobuf `string` or canonical JSON text.
//
// "Valid" is well-formed UTF-8 as Unicode defines it (Table 3-7) and as
// protobuf checks it: no overlong forms (C0 AF), no surrogates (ED A0 80),
// nothing above U+10FFFF (F4 90 80 80), no truncated sequence.
//
// Repair replaces ill-formed bytes by U+FFFD (EF BF BD) under one of two
// policies (Utf8Repair):
//   - kMaximalSubpart (the default): Unicode's recommended practice, "U+FFFD
//     substitution of maximal subparts" (Unicode 15, §3.9 and §5.22), which the
//     WHATWG Encoding Standard's decoder (so browsers) and W3C follow. A maximal
//     subpart is the longest prefix of a well-formed sequence found at an
//     offset, or one byte when that byte can start none. One U+FFFD per maximal
//     subpart: a torn "€" (E2 82) gives one U+FFFD, a surrogate (ED A0 80)
//     three (ED cannot be followed by A0), a stray 80 one.
//   - kPerByte: one U+FFFD per byte that does not start a well-formed
//     sequence (E2 82 gives two). Frozen: the audit record's canonical
//     encoding (collector/audit/record.h, common/json_text.h) is defined with
//     it, and changing it would change the bytes of committed records.
// Both agree on valid input (returned unchanged) and on every byte kept.
//
//   std::string line = ...;
//   if (SanitizeUtf8(&line)) invalid_lines.Increment();       // in place
//   bool replaced = false, truncated = false;
//   std::string msg = ToValidUtf8(value, 64 * 1024, &replaced, &truncated);
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace custos {

enum class Utf8Repair {
  kMaximalSubpart,  // one U+FFFD per maximal subpart (Unicode / WHATWG); the default
  kPerByte,         // one U+FFFD per byte not starting a well-formed sequence (the audit's canonical form)
};

// U+FFFD REPLACEMENT CHARACTER in UTF-8.
inline constexpr std::string_view kUtf8Replacement = "\xEF\xBF\xBD";

// True when `s` is entirely well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

// The length of the longest well-formed prefix of `s` (s.size() when valid);
// it always ends on a character boundary.
size_t ValidUtf8PrefixLength(std::string_view s);

// The length (1..4) of the well-formed sequence that `s` starts with, or 0
// when `s` is empty or does not start with one.
size_t Utf8SequenceLength(std::string_view s);

// Repairs `*s` in place under `mode`. Returns true when something was
// replaced. Valid input is neither copied nor touched (one scan, 8 bytes at a
// time over ASCII).
bool SanitizeUtf8(std::string* s, Utf8Repair mode = Utf8Repair::kMaximalSubpart);

// `in` repaired under `mode`.
std::string ToValidUtf8(std::string_view in, Utf8Repair mode = Utf8Repair::kMaximalSubpart);

// `in` repaired under `mode` and cut to at most `max_bytes` bytes on a
// character boundary (a U+FFFD counts its 3 bytes; one that does not fit is
// cut too). Sets *replaced when a U+FFFD was written and *truncated when
// input was left out; either pointer may be null. Never clears them.
std::string ToValidUtf8(std::string_view in, size_t max_bytes, bool* replaced, bool* truncated,
                        Utf8Repair mode = Utf8Repair::kMaximalSubpart);

}  // namespace custos
