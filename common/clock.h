// Clocks, injectable so that tests never sleep to make time pass.
// RealClock is thread-safe; FakeClock is thread-safe (atomics).
#pragma once

#include <atomic>
#include <cstdint>

namespace custos {

class Clock {
 public:
  virtual ~Clock() = default;
  // Nanoseconds since the Unix epoch, UTC (CLOCK_REALTIME).
  virtual int64_t NowUnixNanos() const = 0;
  // Nanoseconds on a clock that never jumps (CLOCK_MONOTONIC).
  virtual int64_t MonotonicNanos() const = 0;

  // The process-wide real clock.
  static Clock& Real();
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t unix_nanos = 1'700'000'000'000'000'000) : now_(unix_nanos) {}
  int64_t NowUnixNanos() const override { return now_.load(); }
  int64_t MonotonicNanos() const override { return now_.load(); }
  void Advance(int64_t nanos) { now_.fetch_add(nanos); }
  void Set(int64_t unix_nanos) { now_.store(unix_nanos); }

 private:
  std::atomic<int64_t> now_;
};

constexpr int64_t kNanosPerMilli = 1'000'000;
constexpr int64_t kNanosPerSecond = 1'000'000'000;

}  // namespace custos
