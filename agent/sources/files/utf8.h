// UTF-8 repair for text read from files.
//
// Protobuf `string` fields must hold valid UTF-8: a Batch carrying an invalid
// one fails to parse at the collector. Log files hold whatever their writers
// put there (binary garbage, Latin-1, torn multi-byte characters), so every
// message is passed through SanitizeUtf8() before it enters a record.
//
//   std::string text = ...;
//   if (SanitizeUtf8(&text)) invalid_lines.Increment();
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace custos::agent::files {

// True when `s` is valid UTF-8 as protobuf checks it (no overlong forms, no
// surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Replaces each maximal invalid subsequence of `*s` by U+FFFD (the WHATWG /
// Unicode "substitution of maximal subparts" practice). Returns true when
// something was replaced. Valid input is left untouched (no copy).
bool SanitizeUtf8(std::string* s);

}  // namespace custos::agent::files
