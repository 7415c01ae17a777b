// UTC timestamps as text, the one way the project writes them:
// "2026-11-26T14:00:00Z" or, with fraction digits, "2026-11-26T14:00:00.123Z".
// Thread-safe (gmtime_r).
#pragma once

#include <cstdint>
#include <string>

namespace custos {

// `fraction_digits` is 0 (seconds), 3 (milliseconds), 6 or 9.
std::string FormatUtc(int64_t unix_nanos, int fraction_digits = 0);

}  // namespace custos
