#include "common/time_format.h"

#include <cstdio>
#include <ctime>

namespace custos {

std::string FormatUtc(int64_t unix_nanos, int fraction_digits) {
  int64_t seconds = unix_nanos / 1'000'000'000;
  int64_t nanos = unix_nanos % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --seconds;
  }
  time_t t = static_cast<time_t>(seconds);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", utc.tm_year + 1900, utc.tm_mon + 1,
                        utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  std::string out(buf, static_cast<size_t>(n));
  if (fraction_digits > 0) {
    char frac[16];
    std::snprintf(frac, sizeof frac, "%09lld", static_cast<long long>(nanos));
    out += "." + std::string(frac, static_cast<size_t>(fraction_digits > 9 ? 9 : fraction_digits));
  }
  return out + "Z";
}

}  // namespace custos
