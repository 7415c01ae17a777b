// Self-metrics: counters and gauges that each daemon exposes through
// `custosctl status` and a Prometheus text endpoint.
//
//   auto& refused = registry.Counter("custos_ingest_refused_total",
//                                    "Batches refused", {{"reason", "malformed"}});
//   refused.Increment();
//
// Counters and gauges are lock-free and safe from any thread. Registration
// takes a lock and returns a reference that stays valid for the registry's
// lifetime; registering the same series twice returns the same object.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace custos {

class Counter {
 public:
  void Increment(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter& GetCounter(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const MetricLabels& labels = {});

  // Prometheus text exposition format 0.0.4.
  std::string RenderPrometheus() const;

  // Every series as ("name{labels}", value), sorted; for status output and tests.
  std::vector<std::pair<std::string, double>> Snapshot() const;

  // The value of one series (0 when it does not exist); for tests and status.
  double Value(const std::string& name, const MetricLabels& labels = {}) const;

 private:
  struct Family {
    std::string help;
    bool is_counter = true;
    std::map<std::string, size_t> series;  // rendered labels -> index into storage
  };

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;  // guarded by mu_
  std::deque<Counter> counters_;            // guarded by mu_ (elements are atomic)
  std::deque<Gauge> gauges_;                // guarded by mu_ (elements are atomic)
};

}  // namespace custos
