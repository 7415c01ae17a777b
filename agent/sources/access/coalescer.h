// Folds repeated file accesses into one record with a count, so a training
// job that opens the same shard a thousand times in a few seconds is one
// AccessEvent (count 1000), not a thousand.
//
//   Coalescer c({.window_nanos = 5 * kNanosPerSecond, .max_entries = 10000});
//   Emit(c.Add(std::move(event), clock.MonotonicNanos()));  // usually empty
//   Emit(c.TakeDue(clock.MonotonicNanos()));
//
// An event starts a window; repeats of its key (same pid, action and path)
// within the window add to its count and bytes; when the window ends the
// event is due, with the time of its first occurrence. Bounded: when
// max_entries keys are open, the oldest is made due early (evicted_early()
// counts those; no event is lost), and once max_entries events are due
// early, Add() hands them back to be emitted at once, so that at most
// max_entries open and max_entries due events are held however long the
// caller goes without TakeDue. Thread-compatible: one thread at a time.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "custos/v1/records.pb.h"

namespace custos::agent::access {

struct CoalescerOptions {
  int64_t window_nanos = 5'000'000'000;
  size_t max_entries = 10'000;
};

class Coalescer {
 public:
  explicit Coalescer(CoalescerOptions options) : options_(options) {}
  Coalescer(const Coalescer&) = delete;
  Coalescer& operator=(const Coalescer&) = delete;

  // The key of an event: pid, action, outcome and object.
  static std::string KeyOf(const v1::AccessEvent& event);

  // Adds an event (count >= 1) seen at monotonic time `now`. Returns the
  // events closed early (oldest first) once there are max_entries of them,
  // to be emitted now; otherwise nothing (they wait for TakeDue).
  [[nodiscard]] std::vector<v1::AccessEvent> Add(v1::AccessEvent&& event, int64_t now);
  // Events whose window has ended by `now`, and those evicted early; oldest first.
  std::vector<v1::AccessEvent> TakeDue(int64_t now);
  // Everything still open (at shutdown).
  std::vector<v1::AccessEvent> TakeAll();
  // Monotonic time at which the next open window ends; INT64_MAX when none.
  int64_t NextDue() const;

  size_t open_entries() const { return index_.size(); }
  // Events closed early and not yet taken (< max_entries after each Add).
  size_t due_early() const { return early_.size(); }
  uint64_t merged() const { return merged_; }
  uint64_t evicted_early() const { return evicted_early_; }

 private:
  struct Entry {
    std::string key;
    int64_t first_seen;
    v1::AccessEvent event;
  };

  // Constant after construction.
  const CoalescerOptions options_;

  std::list<Entry> open_;  // oldest first (monotonic time only grows)
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  std::vector<v1::AccessEvent> early_;
  uint64_t merged_ = 0;
  uint64_t evicted_early_ = 0;
};

}  // namespace custos::agent::access
