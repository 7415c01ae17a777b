// At most one log line per interval, counting the lines held back, so that a
// misbehaving peer (a client, a kernel queue overflowing) cannot flood the
// journal:
//
//   uint64_t suppressed;
//   if (limiter.Allow(clock.MonotonicNanos(), &suppressed))
//     log::Warn("otlp", "...", {{"suppressed_since_last", std::to_string(suppressed)}});
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>

#include "common/clock.h"

namespace custos {

class LogLimiter {
 public:
  explicit LogLimiter(int64_t interval_nanos = 10 * kNanosPerSecond) : interval_nanos_(interval_nanos) {}

  // True when a line may be written at `now_nanos` (monotonic); then
  // *suppressed is how many were held back since the last one written.
  bool Allow(int64_t now_nanos, uint64_t* suppressed) {
    std::lock_guard<std::mutex> lock(mu_);
    if (logged_ && now_nanos - last_nanos_ < interval_nanos_) {
      ++suppressed_;
      return false;
    }
    logged_ = true;
    last_nanos_ = now_nanos;
    *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  const int64_t interval_nanos_;
  std::mutex mu_;
  bool logged_ = false;      // guarded by mu_
  int64_t last_nanos_ = 0;   // guarded by mu_
  uint64_t suppressed_ = 0;  // guarded by mu_
};

}  // namespace custos
