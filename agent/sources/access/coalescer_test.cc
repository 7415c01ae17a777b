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
    EXPECT_TRUE(c.Add(Event(7, v1::AccessEvent::ACTION_READ, "/data/a", clock.NowUnixNanos()), clock.MonotonicNanos())
                    .empty());
    clock.Advance(kNanosPerMilli);  // 1000 reads over 1 s
  }
  EXPECT_TRUE(c.Add(Event(7, v1::AccessEvent::ACTION_WRITE, "/data/a", clock.NowUnixNanos()), clock.MonotonicNanos())
                  .empty());
  EXPECT_TRUE(c.Add(Event(8, v1::AccessEvent::ACTION_READ, "/data/a", clock.NowUnixNanos()), clock.MonotonicNanos())
                  .empty());
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
  EXPECT_TRUE(c.Add(Event(1, v1::AccessEvent::ACTION_READ, "/f", 0), clock.MonotonicNanos()).empty());
  clock.Advance(2 * kNanosPerSecond);
  // Not yet taken, but its window is over: the new one does not join it.
  EXPECT_TRUE(c.Add(Event(1, v1::AccessEvent::ACTION_READ, "/f", 0), clock.MonotonicNanos()).empty());
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
    EXPECT_TRUE(c.Add(Event(1, v1::AccessEvent::ACTION_READ, "/f" + std::to_string(i), 0), clock.MonotonicNanos())
                    .empty());
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

// A caller that never gets to TakeDue (a storm of distinct events) still
// holds at most max_entries open and max_entries due events: Add hands the
// due ones back in order, and nothing is lost.
TEST(CoalescerTest, EarlyFlushedEventsAreBoundedWithoutTakeDue) {
  FakeClock clock;
  Coalescer c({.window_nanos = 60 * kNanosPerSecond, .max_entries = 3});
  std::vector<std::string> emitted;
  for (int i = 0; i < 100; ++i) {
    for (v1::AccessEvent& e : c.Add(Event(1, v1::AccessEvent::ACTION_READ, "/f" + std::to_string(i), 0),
                                    clock.MonotonicNanos())) {
      emitted.push_back(e.object());
    }
    EXPECT_LE(c.open_entries(), 3u);
    EXPECT_LT(c.due_early(), 3u) << "after event " << i;
    clock.Advance(kNanosPerMilli);
  }
  EXPECT_EQ(c.evicted_early(), 97u);
  ASSERT_EQ(emitted.size(), 96u);  // 32 hand-backs of 3
  for (const v1::AccessEvent& e : c.TakeAll()) emitted.push_back(e.object());
  ASSERT_EQ(emitted.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(emitted[static_cast<size_t>(i)], "/f" + std::to_string(i));

  // Repeats of one key after its window ended also close early: bounded too.
  Coalescer one({.window_nanos = kNanosPerSecond, .max_entries = 2});
  size_t handed_back = 0;
  for (int i = 0; i < 10; ++i) {
    handed_back += one.Add(Event(1, v1::AccessEvent::ACTION_READ, "/g", 0), clock.MonotonicNanos()).size();
    EXPECT_LT(one.due_early(), 2u);
    clock.Advance(2 * kNanosPerSecond);
  }
  EXPECT_EQ(handed_back + one.TakeAll().size(), 10u);
}

}  // namespace
}  // namespace custos::agent::access
