// Splitting a loop over the cores, for CPU-bound work on large batches.
//
//   uint64_t threads = ThreadsFor(items.size(), /*min_per_thread=*/2'000);
//   ParallelFor(items.size(), threads, [&](uint64_t begin, uint64_t end, uint64_t k) { ... });
//
// Threads are started per call (tens of microseconds), so give each one
// enough work; ThreadsFor says one thread when a batch is small.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace custos {

// One thread per core, at most `max`, and fewer when there are fewer than
// `min_per_thread` items for each; at least one, never more than items.
inline uint64_t ThreadsFor(uint64_t items, uint64_t min_per_thread, uint64_t max = 8) {
  uint64_t t = std::clamp<uint64_t>(std::thread::hardware_concurrency(), 1, max);
  t = std::min(t, std::max<uint64_t>(items / std::max<uint64_t>(min_per_thread, 1), 1));
  return std::clamp<uint64_t>(t, 1, std::max<uint64_t>(items, 1));
}

// Runs fn(begin, end, k) over `threads` consecutive ranges k of [0, n), the
// first on the calling thread, and returns when all are done.
template <typename Fn>
void ParallelFor(uint64_t n, uint64_t threads, Fn fn) {
  std::vector<std::thread> workers;
  for (uint64_t k = 1; k < threads; ++k) {
    workers.emplace_back([&fn, n, threads, k] { fn(n * k / threads, n * (k + 1) / threads, k); });
  }
  fn(0, n / threads, 0);
  for (std::thread& t : workers) t.join();
}

}  // namespace custos
