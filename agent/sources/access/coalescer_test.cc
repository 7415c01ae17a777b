#include "agent/sources/access/coalescer.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace custos::agent::access {
namespace {

v1::AccessEvent Event(int32_t pid, v1::AccessEvent::Action action, const std::string& object, int64_t time) {
  v1::AccessEvent e;
  e.mutable_principal()->set_pid(pid);
  e.set_action(action);
  e.set_object(object);
  e.set_time_unix_nano(static_cast<uint64_t>(time));
  e.set_count(1);
  return e;
}

TEST(CoalescerTest, RepeatsWithinTheWindowBecomeOneEventWithACount) {
  FakeClock clock;
  Coalescer c({.window_nanos = 5 * kNanosPerSecond, .max_entries = 100});
  const int64_t t0 = clock.NowUnixNanos();
  for (int i = 0; i < 1000; ++i) {
    c.Add(Event(7, v1::AccessEvent::ACTION_READ, "/data/a", clock.NowUnixNanos()), clock.MonotonicNanos());
    clock.Advance(kNanosPerMilli);  // 1000 reads over 1 s
  }
  c.Add(Event(7, v1::AccessEvent::ACTION_WRITE, "/data/a", clock.NowUnixNanos()), clock.MonotonicNanos());
  c.Add(Event(8, v1::AccessEvent::ACTION_READ, "/data/a", clock.NowUnixNanos()), clock.MonotonicNanos());
  EXPECT_TRUE(c.TakeDue(clock.MonotonicNanos()).empty());  // windows still open
  EXPECT_EQ(c.open_entries(), 3u);
  clock.Advance(4 * kNanosPerSecond);  // 5 s after the first read
  std::vector<v1::AccessEvent> due = c.TakeDue(clock.MonotonicNanos());
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].count(), 1000u);
  EXPECT_EQ(due[0].time_unix_nano(), static_cast<uint64_t>(t0));  // the first occurrence
  EXPECT_EQ(c.merged(), 999u);
  clock.Advance(kNanosPerSecond);
  due = c.TakeDue(clock.MonotonicNanos());
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].action(), v1::AccessEvent::ACTION_WRITE);
  EXPECT_EQ(due[1].principal().pid(), 8);
  EXPECT_EQ(c.open_entries(), 0u);
}

TEST(CoalescerTest, ARepeatAfterTheWindowStartsANewEvent) {
  FakeClock clock;
  Coalescer c({.window_nanos = kNanosPerSecond, .max_entries = 100});
  c.Add(Event(1, v1::AccessEvent::ACTION_READ, "/f", 0), clock.MonotonicNanos());
  clock.Advance(2 * kNanosPerSecond);
  // Not yet taken, but its window is over: the new one does not join it.
  c.Add(Event(1, v1::AccessEvent::ACTION_READ, "/f", 0), clock.MonotonicNanos());
  std::vector<v1::AccessEvent> due = c.TakeDue(clock.MonotonicNanos());
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].count(), 1u);
  EXPECT_EQ(c.open_entries(), 1u);
  EXPECT_EQ(c.TakeAll().size(), 1u);
}

TEST(CoalescerTest, BoundedStateFlushesTheOldestEarly) {
  FakeClock clock;
  Coalescer c({.window_nanos = 60 * kNanosPerSecond, .max_entries = 3});
  for (int i = 0; i < 5; ++i) {
    c.Add(Event(1, v1::AccessEvent::ACTION_READ, "/f" + std::to_string(i), 0), clock.MonotonicNanos());
    clock.Advance(kNanosPerMilli);
  }
  EXPECT_EQ(c.open_entries(), 3u);
  EXPECT_EQ(c.evicted_early(), 2u);
  EXPECT_EQ(c.NextDue(), INT64_MIN);  // evicted ones are due now
  std::vector<v1::AccessEvent> due = c.TakeDue(clock.MonotonicNanos());
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].object(), "/f0");
  EXPECT_EQ(due[1].object(), "/f1");
  std::vector<v1::AccessEvent> rest = c.TakeAll();
  ASSERT_EQ(rest.size(), 3u);  // nothing lost
  EXPECT_EQ(rest[2].object(), "/f4");
}

}  // namespace
}  // namespace custos::agent::access
