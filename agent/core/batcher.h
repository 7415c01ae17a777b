// The batcher gathers records from every source into Batches, appends them to
// the spool and makes them durable (one fsync per flush, shared by all the
// batches of that flush: group commit).
//
//   Batcher batcher(options, spool, node_resource, metrics, clock);
//   batcher.Start();
//   Status s = batcher.Add("files", std::move(records), &offset_after_them);
//   if (s.code() == StatusCode::kResourceExhausted) { /* wait, or ReportLoss */ }
//
// A flush happens when max_records or max_bytes are pending, or the oldest
// pending record is flush_interval old. Positions handed to Add() reach the
// spool in the same entry as the records before them (see spool.h).
//
// Bounds: at most max_pending_records records and max_pending_bytes bytes
// (their encoded size) wait in memory; Add() refuses a chunk that would pass
// either bound, except when nothing is pending: a single chunk larger than a
// bound is then taken whole, so no chunk can be refused forever (memory is
// bounded by the bounds plus one chunk). When the spool is full, records stay
// pending (and are retried every spool_full_retry_nanos) rather than dropped;
// once pending is full too, Add() refuses. A source that cannot wait reports
// what it drops with ReportLoss(); the loss reaches the collector as a Gap
// record. A source whose clients retry (otlp) checks spool_blocked() before
// Add(), so that a refusal means "nothing taken" and retries do not pile up
// copies in memory.
//
// Resources: InternResource() keeps each distinct resource (compared by
// value, labels in any order) for the batcher's life, so the sources bound
// how many distinct ones they intern. A flush copies into each batch only the
// resources its records refer to.
//
// Thread-safe: any number of sources may call Add() concurrently.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/spool.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "custos/v1/transport.pb.h"

namespace custos::agent {

struct BatcherOptions {
  std::string agent_id;
  size_t max_records = 2000;
  size_t max_bytes = 1 << 20;
  int64_t flush_interval_nanos = 200 * 1'000'000LL;
  size_t max_pending_records = 100'000;
  size_t max_pending_bytes = 64 << 20;
  int64_t spool_full_retry_nanos = 500 * 1'000'000LL;
};

class Batcher {
 public:
  Batcher(BatcherOptions options, Spool& spool, const v1::Resource& node, MetricsRegistry& metrics, Clock& clock);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  void Start();
  // Flushes what is pending (best effort against a full spool) and joins.
  void Stop();

  // Queues records of `source`. Their resource_ref must come from
  // InternResource() (0 is the node). `position`, when given, is where the
  // source stands once these records are durable.
  Status Add(const std::string& source, std::vector<v1::Record>&& records,
             const std::optional<std::string>& position = std::nullopt);

  // Records a loss that a source could not avoid; sent as a Gap record.
  void ReportLoss(const std::string& source, v1::Gap::Reason reason, uint64_t records,
                  const std::string& detail);

  // Returns the ref of `resource` in the batches, adding it on first use.
  // Equal resources (DeterministicKey: map labels in any order) share a ref.
  uint32_t InternResource(const v1::Resource& resource);

  // False while the pending buffer is full (max_pending_records or
  // max_pending_bytes): sources that can wait should.
  bool accepting() const;

  // True while the last flush could not write what was pending (spool quota
  // reached, or an I/O error) and those records still wait for the retry.
  // Records added now would only wait in memory too: a source whose client
  // retries (otlp) refuses up front rather than take a copy it cannot make
  // durable. Clears on the first flush that writes everything.
  bool spool_blocked() const;

  // Builds, appends and syncs everything pending now (tests, shutdown).
  Status FlushNow();

  // Called after each sync that made new batches durable (wakes the sender).
  void SetOnDurable(std::function<void()> fn) { on_durable_ = std::move(fn); }
  // Fills AgentStats on every batch.
  void SetStatsProvider(std::function<void(v1::AgentStats*)> fn) { stats_provider_ = std::move(fn); }

 private:
  struct Chunk {
    std::string source;
    std::vector<v1::Record> records;
    size_t next = 0;  // first record not yet taken into a batch
    std::optional<std::string> position;
    size_t bytes = 0;
  };
  struct LossKey {
    std::string source;
    v1::Gap::Reason reason;
    bool operator<(const LossKey& o) const { return std::tie(source, reason) < std::tie(o.source, o.reason); }
  };
  struct Loss {
    uint64_t records = 0;
    uint64_t events = 0;
    std::string detail;
  };

  void Run();
  bool FlushDue(int64_t now) const;  // requires mu_
  bool BackingOff() const { return spool_full_ || flush_failing_; }  // requires mu_
  // The interned resource `ref` (the node for an unknown ref). Locks mu_; the
  // reference stays valid and unchanged for the batcher's life.
  const v1::Resource& ResourceAt(uint32_t ref) const;
  // Takes pending work and appends it; returns true when the spool was full.
  Status FlushLocked(std::unique_lock<std::mutex>& lock, bool* spool_full);

  const BatcherOptions options_;
  Spool& spool_;
  Clock& clock_;
  Counter& records_accepted_;
  Counter& records_dropped_;
  Counter& batches_spooled_;
  Counter& spool_full_events_;
  Counter& flush_errors_;
  Gauge& pending_gauge_;
  std::function<void()> on_durable_;
  std::function<void(v1::AgentStats*)> stats_provider_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> pending_;          // guarded by mu_
  size_t pending_records_ = 0;         // guarded by mu_
  size_t pending_bytes_ = 0;           // guarded by mu_
  size_t inflight_records_ = 0;        // guarded by mu_; taken by a running flush
  size_t inflight_bytes_ = 0;          // guarded by mu_
  int64_t oldest_pending_nanos_ = 0;   // guarded by mu_
  std::map<LossKey, Loss> losses_;     // guarded by mu_
  // Append-only: an element never moves or changes once added, so a flush
  // may read one outside mu_ after looking it up under mu_ (ResourceAt).
  std::deque<v1::Resource> resources_;            // guarded by mu_
  std::map<std::string, uint32_t> resource_ids_;  // guarded by mu_ (DeterministicKey -> ref)
  bool stop_ = false;                  // guarded by mu_
  bool spool_full_ = false;            // guarded by mu_: the last flush hit the quota
  bool flush_failing_ = false;         // guarded by mu_: the last flush hit an I/O error
  bool flushing_ = false;              // guarded by mu_: FlushLocked holds pending work
  std::mutex flush_mu_;                // serialises FlushNow with the flush thread
  std::thread thread_;
};

}  // namespace custos::agent
