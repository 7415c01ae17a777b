// JSON string literals for the canonical text custos writes (audit records,
// stored attribute maps): only '"', '\\' and control characters are escaped
// (as \u00XX, lowercase hex); invalid UTF-8 becomes U+FFFD, one per byte that
// does not start a well-formed sequence (common/utf8.h Utf8Repair::kPerByte,
// frozen: audit records are hashed in this form), so the output is always
// valid JSON and byte-for-byte predictable. Pure; thread-compatible.
#pragma once

#include <string>
#include <string_view>

namespace custos {

// Appends `s` to `out` as a quoted JSON string.
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace custos
