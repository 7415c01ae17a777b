#include "agent/core/batcher.h"

#include <chrono>

#include "agent/core/deterministic_key.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "schemas/record_refs.h"

namespace custos::agent {

Batcher::Batcher(BatcherOptions options, Spool& spool, const v1::Resource& node, MetricsRegistry& metrics,
                 Clock& clock)
    : options_(std::move(options)),
      spool_(spool),
      clock_(clock),
      records_accepted_(metrics.GetCounter("custos_agent_records_accepted_total", "Records made durable in the spool")),
      records_dropped_(metrics.GetCounter("custos_agent_records_dropped_total",
                                          "Records a bound forced the agent to drop (each reported as a gap)")),
      batches_spooled_(metrics.GetCounter("custos_agent_batches_spooled_total", "Batches appended to the spool")),
      spool_full_events_(metrics.GetCounter("custos_agent_spool_full_total",
                                            "Flushes that found the spool quota reached")),
      flush_errors_(metrics.GetCounter("custos_agent_flush_errors_total", "Flushes that failed with an I/O error")),
      pending_gauge_(metrics.GetGauge("custos_agent_pending_records", "Records waiting in memory for the spool")) {
  resources_.push_back(node);
  resource_ids_[DeterministicKey(node)] = 0;
  for (const SpoolGap& g : spool_.TakeGaps()) {
    if (g.first_seq == 0) {
      // Range unknown (a damaged segment header): reported as a counted loss.
      Loss& l = losses_[{"spool", v1::Gap::REASON_SPOOL_CORRUPT}];
      l.events++;
      l.detail = g.detail;
      continue;
    }
    // A known range travels as its own Gap record so the collector can match
    // it against the sequence numbers it never received.
    v1::Record r;
    v1::Gap* gap = r.mutable_gap();
    gap->set_time_unix_nano(static_cast<uint64_t>(clock_.NowUnixNanos()));
    gap->set_reason(v1::Gap::REASON_SPOOL_CORRUPT);
    gap->set_lost_batches(g.batches);
    gap->set_first_lost_seq(g.first_seq);
    gap->set_last_lost_seq(g.last_seq);
    gap->set_source("spool");
    gap->set_detail(g.detail);
    Chunk c;
    c.source = "spool";
    c.bytes = r.ByteSizeLong();
    c.records.push_back(std::move(r));
    pending_records_++;
    pending_bytes_ += c.bytes;
    pending_.push_back(std::move(c));
  }
  if (!pending_.empty() || !losses_.empty()) oldest_pending_nanos_ = clock_.MonotonicNanos();
}

Batcher::~Batcher() { Stop(); }

void Batcher::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    SetThreadName("batcher");
    Run();
  });
}

void Batcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint32_t Batcher::InternResource(const v1::Resource& resource) {
  std::string key = DeterministicKey(resource);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = resource_ids_.find(key);
  if (it != resource_ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(resources_.size());
  resources_.push_back(resource);
  resource_ids_.emplace(std::move(key), id);
  return id;
}

const v1::Resource& Batcher::ResourceAt(uint32_t ref) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ref < resources_.size() ? resources_[ref] : resources_[0];
}

bool Batcher::accepting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_records_ + inflight_records_ < options_.max_pending_records &&
         pending_bytes_ + inflight_bytes_ < options_.max_pending_bytes;
}

bool Batcher::spool_blocked() const {
  std::lock_guard<std::mutex> lock(mu_);
  // While a flush runs, pending_ is empty because the flush holds the work.
  return BackingOff() && (!pending_.empty() || !losses_.empty() || flushing_);
}

Status Batcher::Add(const std::string& source, std::vector<v1::Record>&& records,
                    const std::optional<std::string>& position) {
  if (records.empty() && !position) return Status::Ok();
  Chunk c;
  c.source = source;
  for (const v1::Record& r : records) c.bytes += r.ByteSizeLong();
  c.records = std::move(records);
  c.position = position;
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Records a flush holds right now still count: they come back when the
    // spool refuses them, and memory must stay within the bounds meanwhile.
    const size_t held_records = pending_records_ + inflight_records_, held_bytes = pending_bytes_ + inflight_bytes_;
    const bool over = held_records + c.records.size() > options_.max_pending_records ||
                      held_bytes + c.bytes > options_.max_pending_bytes;
    // An oversized chunk is taken when nothing is held, so none waits forever.
    if (over && held_records > 0) {
      // Give the records back untouched: the caller decides to wait or drop.
      records = std::move(c.records);
      const char* why = spool_full_ ? ", spool quota reached)" : flush_failing_ ? ", spool write failing)" : ")";
      return ResourceExhausted("agent buffer full (" + std::to_string(held_records) + " records, " +
                               std::to_string(held_bytes) + " bytes pending" + why);
    }
    if (pending_.empty() && losses_.empty()) oldest_pending_nanos_ = clock_.MonotonicNanos();
    pending_records_ += c.records.size();
    pending_bytes_ += c.bytes;
    pending_.push_back(std::move(c));
    pending_gauge_.Set(static_cast<int64_t>(pending_records_));
    wake = pending_records_ >= options_.max_records || pending_bytes_ >= options_.max_bytes;
  }
  if (wake) cv_.notify_all();
  return Status::Ok();
}

void Batcher::ReportLoss(const std::string& source, v1::Gap::Reason reason, uint64_t records,
                         const std::string& detail) {
  records_dropped_.Increment(records);
  std::lock_guard<std::mutex> lock(mu_);
  if (pending_.empty() && losses_.empty()) oldest_pending_nanos_ = clock_.MonotonicNanos();
  Loss& l = losses_[{source, reason}];
  l.records += records;
  l.events++;
  l.detail = detail;
}

bool Batcher::FlushDue(int64_t now) const {
  if (pending_.empty() && losses_.empty()) return false;
  if (BackingOff()) return now - oldest_pending_nanos_ >= options_.spool_full_retry_nanos;
  return pending_records_ >= options_.max_records || pending_bytes_ >= options_.max_bytes ||
         now - oldest_pending_nanos_ >= options_.flush_interval_nanos;
}

void Batcher::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    int64_t now = clock_.MonotonicNanos();
    if (stop_) break;
    if (!FlushDue(now)) {
      int64_t wait = (pending_.empty() && losses_.empty())
                         ? options_.flush_interval_nanos
                         : oldest_pending_nanos_ + (BackingOff() ? options_.spool_full_retry_nanos
                                                                 : options_.flush_interval_nanos) - now;
      cv_.wait_for(lock, std::chrono::nanoseconds(std::max<int64_t>(wait, 1'000'000)));
      continue;
    }
    lock.unlock();
    bool full = false;
    Status s;
    {
      std::lock_guard<std::mutex> flush_lock(flush_mu_);
      std::unique_lock<std::mutex> relock(mu_);
      s = FlushLocked(relock, &full);
    }
    if (!s.ok()) {
      flush_errors_.Increment();
      log::Error("batcher", "flush to spool failed; records stay pending", {{"error", s.ToString()}});
    }
    // After an I/O error FlushLocked set flush_failing_: FlushDue backs off
    // like for a full spool rather than spinning.
    lock.lock();
  }
  lock.unlock();
  // Final flush on stop: whatever fits goes to disk.
  bool full = false;
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  std::unique_lock<std::mutex> relock(mu_);
  Status s = FlushLocked(relock, &full);
  if (!s.ok() || full || !pending_.empty()) {
    log::Warn("batcher", "records left unspooled at shutdown; sources resume from their saved positions",
              {{"records", std::to_string(pending_records_)}, {"error", s.ToString()}});
  }
}

Status Batcher::FlushNow() {
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  std::unique_lock<std::mutex> lock(mu_);
  bool full = false;
  Status s = FlushLocked(lock, &full);
  if (s.ok() && full) return ResourceExhausted("spool quota reached; records remain pending");
  return s;
}

Status Batcher::FlushLocked(std::unique_lock<std::mutex>& lock, bool* spool_full) {
  // Take the work out so that sources can keep adding while we write.
  std::deque<Chunk> work = std::move(pending_);
  pending_.clear();
  std::map<LossKey, Loss> losses = std::move(losses_);
  losses_.clear();
  flushing_ = true;
  inflight_records_ = pending_records_;
  inflight_bytes_ = pending_bytes_;
  pending_records_ = 0;
  pending_bytes_ = 0;
  lock.unlock();

  Status status;
  bool appended = false;
  uint64_t accepted = 0;
  *spool_full = false;
  while (!work.empty() || !losses.empty()) {
    v1::Batch batch;
    std::map<uint32_t, uint32_t> ref_map;
    auto map_ref = [&](uint32_t ref) {
      auto [it, inserted] = ref_map.try_emplace(ref, static_cast<uint32_t>(batch.resources_size()));
      // Only the resources this batch's records refer to are copied.
      if (inserted) *batch.add_resources() = ResourceAt(ref);
      return it->second;
    };
    // Losses ride first, so a loss report never waits behind a full batch.
    int64_t now_unix = clock_.NowUnixNanos();
    for (const auto& [key, loss] : losses) {
      v1::Gap* gap = batch.add_records()->mutable_gap();
      gap->set_time_unix_nano(static_cast<uint64_t>(now_unix));
      gap->set_resource_ref(map_ref(0));
      gap->set_reason(key.reason);
      gap->set_lost_records(loss.records);
      gap->set_source(key.source);
      gap->set_detail(loss.detail + " (" + std::to_string(loss.events) + " events)");
    }
    const int gap_records = batch.records_size();
    struct Taken {
      size_t chunk;
      size_t index;
      uint32_t original_ref;
    };
    std::vector<Taken> taken;
    Positions positions;
    size_t bytes = 0;
    size_t chunk_idx = 0;
    for (; chunk_idx < work.size(); ++chunk_idx) {
      Chunk& c = work[chunk_idx];
      while (c.next < c.records.size() && taken.size() < options_.max_records && bytes < options_.max_bytes) {
        v1::Record& r = c.records[c.next];
        uint32_t ref = ResourceRefOf(r);
        SetResourceRef(&r, map_ref(ref));
        bytes += r.ByteSizeLong();
        taken.push_back({chunk_idx, c.next, ref});
        *batch.add_records() = std::move(r);
        c.next++;
      }
      if (c.next < c.records.size()) break;  // batch full inside this chunk
      if (c.position) positions[c.source] = *c.position;
    }
    uint64_t seq = spool_.next_seq();
    batch.set_agent_id(options_.agent_id);
    batch.set_spool_epoch(spool_.epoch());
    batch.set_seq(seq);
    batch.set_created_unix_nano(static_cast<uint64_t>(now_unix));
    if (stats_provider_) stats_provider_(batch.mutable_stats());
    std::string bytes_out = batch.SerializeAsString();
    Status s = spool_.Append(seq, bytes_out, positions);
    if (!s.ok()) {
      // Put the records back exactly as they were.
      for (size_t i = 0; i < taken.size(); ++i) {
        Chunk& c = work[taken[i].chunk];
        c.records[taken[i].index] = std::move(*batch.mutable_records(gap_records + static_cast<int>(i)));
        SetResourceRef(&c.records[taken[i].index], taken[i].original_ref);
        c.next = std::min(c.next, taken[i].index);
      }
      if (s.code() == StatusCode::kResourceExhausted) {
        *spool_full = true;
      } else {
        status = s.WithContext("appending batch " + std::to_string(seq));
      }
      break;
    }
    appended = true;
    batches_spooled_.Increment();
    accepted += taken.size();
    losses.clear();
    // Drop fully consumed chunks.
    size_t done = chunk_idx;
    work.erase(work.begin(), work.begin() + static_cast<std::ptrdiff_t>(done));
  }
  if (appended) {
    Status s = spool_.Sync();
    if (!s.ok()) {
      // The batches are in the spool file but not known durable; the sender
      // cannot see them until a later Sync succeeds. Nothing is lost here.
      if (status.ok()) status = s.WithContext("syncing spool");
    } else {
      records_accepted_.Increment(accepted);
      if (on_durable_) on_durable_();
    }
  }

  // Whatever was not appended goes back to the front, before newer records
  // (sized before taking the lock: sources keep adding meanwhile).
  size_t left = 0, left_bytes = 0;
  for (Chunk& c : work) {
    left += c.records.size() - c.next;
    for (size_t i = c.next; i < c.records.size(); ++i) left_bytes += c.records[i].ByteSizeLong();
  }
  lock.lock();
  inflight_records_ = 0;
  inflight_bytes_ = 0;
  for (auto it = work.rbegin(); it != work.rend(); ++it) {
    if (it->next > 0) {
      it->records.erase(it->records.begin(), it->records.begin() + static_cast<std::ptrdiff_t>(it->next));
      it->next = 0;
    }
    pending_.push_front(std::move(*it));
  }
  for (auto& [key, loss] : losses) {
    Loss& l = losses_[key];
    l.records += loss.records;
    l.events += loss.events;
    if (l.detail.empty()) l.detail = loss.detail;
  }
  pending_records_ += left;
  pending_bytes_ += left_bytes;
  if (*spool_full && !spool_full_) {
    spool_full_events_.Increment();
    log::Warn("batcher", "spool quota reached; holding records in memory until the collector acks",
              {{"pending_records", std::to_string(pending_records_)}, {"spool_bytes", std::to_string(spool_.bytes())}});
  }
  spool_full_ = *spool_full;
  flush_failing_ = !status.ok();
  flushing_ = false;
  if (!pending_.empty() || !losses_.empty()) oldest_pending_nanos_ = clock_.MonotonicNanos();
  pending_gauge_.Set(static_cast<int64_t>(pending_records_));
  return status;
}

}  // namespace custos::agent
