#include "collector/audit/append_pipeline.h"

#include <sys/random.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include "collector/audit/hash.h"

namespace custos::audit {
namespace {

// One append in flight. Blocks are claimed under mu_; a claimed block's
// data (its lines, hashes, payloads, chunks) is touched by one thread at a
// time, and handed on through the flags below.
class Pipeline {
 public:
  Pipeline(const std::vector<AuditEntry>& entries, AppendTarget target, Clock& clock)
      : entries_(entries),
        target_(target),
        first_(target.tree.size()),
        n_(entries.size()),
        blocks_((n_ + kChunkRecords - 1) / kChunkRecords),
        lines_(n_),
        hashes_(n_),
        times_(n_),
        slot_(n_, SIZE_MAX),
        payload_begin_(blocks_ + 1, 0),
        encoded_(blocks_, false),
        chunks_(blocks_) {
    size_t personal = 0;
    for (size_t i = 0; i < n_; ++i) {
      if (i % kChunkRecords == 0) payload_begin_[i / kChunkRecords] = personal;
      times_[i] = entries_[i].time_unix_nanos != 0 ? entries_[i].time_unix_nanos : clock.NowUnixNanos();
      if (entries_[i].personal) slot_[i] = personal++;
    }
    payload_begin_[blocks_] = personal;
    payloads_.resize(personal);
  }

  Status Run(unsigned max_threads) {
    // One getrandom() for every salt of the append, not one per record.
    salts_.resize(payloads_.size() * 32);
    for (size_t done = 0; done < salts_.size();) {
      ssize_t got = getrandom(salts_.data() + done, salts_.size() - done, 0);
      if (got <= 0) return Internal("getrandom failed for audit payload salts");
      done += static_cast<size_t>(got);
    }
    unsigned threads = max_threads != 0 ? max_threads : std::max(1u, std::thread::hardware_concurrency());
    threads = std::min<unsigned>(
        {threads, static_cast<unsigned>(target_.records.compress_workers()), static_cast<unsigned>(blocks_)});
    std::vector<std::thread> helpers;
    for (unsigned w = 1; w < threads; ++w) helpers.emplace_back([this, w] { Help(w); });
    Status s = Drive();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!s.ok()) abort_ = true;
    }
    changed_.notify_all();
    for (std::thread& t : helpers) t.join();
    return s;
  }

 private:
  // The caller's thread: chains and inserts every block in order, and
  // encodes or compresses while it would otherwise wait.
  Status Drive() {
    size_t inserted = 0;
    for (size_t b = 0; b < blocks_; ++b) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        while (!encoded_[b]) {
          if (!RunOneTask(lock, 0)) changed_.wait(lock);
        }
      }
      CUSTOS_RETURN_IF_ERROR(Chain(b));
      {
        std::lock_guard<std::mutex> lock(mu_);
        chained_ = b + 1;
      }
      changed_.notify_all();
      CUSTOS_RETURN_IF_ERROR(InsertReady(&inserted, /*wait=*/false));
    }
    CUSTOS_RETURN_IF_ERROR(InsertReady(&inserted, /*wait=*/true));
    return target_.records.InsertSubjects(subjects_);
  }

  // Inserts compressed blocks from *inserted on, in order; with `wait`,
  // until all are in (compressing meanwhile).
  Status InsertReady(size_t* inserted, bool wait) {
    while (*inserted < blocks_) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        while (!chunks_[*inserted]) {
          if (!wait) return Status::Ok();
          if (!RunOneTask(lock, 0)) changed_.wait(lock);
        }
      }
      const Result<std::vector<CompressedChunk>>& chunks = *chunks_[*inserted];
      if (!chunks.ok()) return chunks.status();
      CUSTOS_RETURN_IF_ERROR(target_.records.Insert(*chunks, &subjects_));
      chunks_[*inserted].reset();  // frees the blobs
      ++*inserted;
    }
    return Status::Ok();
  }

  void Help(unsigned worker) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!abort_ && next_compress_ < blocks_) {
      if (!RunOneTask(lock, worker)) changed_.wait(lock);
    }
  }

  // Under `lock`: claims and runs (unlocked) one compression of a chained
  // block, else one encoding; false when neither is available now.
  bool RunOneTask(std::unique_lock<std::mutex>& lock, unsigned worker) {
    if (abort_) return false;
    if (next_compress_ < chained_) {
      const size_t b = next_compress_++;
      lock.unlock();
      auto chunks = Compress(b, worker);
      lock.lock();
      chunks_[b].emplace(std::move(chunks));
    } else if (next_encode_ < blocks_) {
      const size_t b = next_encode_++;
      lock.unlock();
      Encode(b);
      lock.lock();
      encoded_[b] = true;
    } else {
      return false;
    }
    changed_.notify_all();
    return true;
  }

  size_t Begin(size_t b) const { return b * kChunkRecords; }
  size_t End(size_t b) const { return std::min(n_, (b + 1) * kChunkRecords); }

  void Encode(size_t b) {
    size_t last = SIZE_MAX;  // the last entry with a payload in this block
    for (size_t i = Begin(b); i < End(b); ++i) {
      const AuditEntry& e = entries_[i];
      std::string commitment;
      if (e.personal) {
        ByteView salt(salts_.data() + 32 * slot_[i], 32);
        commitment = PayloadCommitment(salt, *e.personal);
        StoredPayload& p = payloads_[slot_[i]];
        p.index = first_ + i;
        p.salt.assign(reinterpret_cast<const char*>(salt.data()), salt.size());
        p.payload = *e.personal;
        // Consecutive entries of one subject are common (one user's reads).
        if (last != SIZE_MAX && entries_[last].subject == e.subject) {
          p.subject_hash = payloads_[slot_[last]].subject_hash;
        } else {
          Hash h = Sha256({AsBytes(e.subject)});
          p.subject_hash.assign(reinterpret_cast<const char*>(h.data()), h.size());
        }
        last = i;
      }
      lines_[i] = EncodeRecordStart({.index = first_ + i,
                                     .time_unix_nanos = times_[i],
                                     .kind = e.kind,
                                     .actor = e.actor,
                                     .action = e.action,
                                     .object = e.object,
                                     .outcome = e.outcome,
                                     .details = &e.details,
                                     .payload_commitment = commitment});
      hashes_[i] = PartialLeafHash(lines_[i]);
    }
  }

  Status Chain(size_t b) {
    for (size_t i = Begin(b); i < End(b); ++i) {
      const std::string link = EncodeRecordEnd(target_.prev);
      const Hash leaf = hashes_[i].Finish(link);
      lines_[i] += link;
      CUSTOS_RETURN_IF_ERROR(target_.tree.Append(leaf));
      target_.prev = HexEncode(leaf);
    }
    return Status::Ok();
  }

  Result<std::vector<CompressedChunk>> Compress(size_t b, unsigned worker) {
    std::span<const std::string> lines(lines_.data() + Begin(b), End(b) - Begin(b));
    std::span<const StoredPayload> payloads(payloads_.data() + payload_begin_[b],
                                            payload_begin_[b + 1] - payload_begin_[b]);
    auto chunks = target_.records.Compress(first_ + Begin(b), lines, payloads, worker);
    // The block's lines and payloads are stored now (or the append fails).
    for (size_t i = Begin(b); i < End(b); ++i) std::string().swap(lines_[i]);
    return chunks;
  }

  const std::vector<AuditEntry>& entries_;
  AppendTarget target_;
  const uint64_t first_;
  const size_t n_, blocks_;
  std::vector<std::string> lines_;
  std::vector<PartialLeafHash> hashes_;
  std::vector<int64_t> times_;
  std::vector<size_t> slot_;           // entry -> its payload's slot, SIZE_MAX for none
  std::vector<size_t> payload_begin_;  // block -> its first payload slot
  std::vector<uint8_t> salts_;
  std::vector<StoredPayload> payloads_;
  SubjectRanges subjects_;  // the caller's thread only

  std::mutex mu_;
  std::condition_variable changed_;
  bool abort_ = false;                                                       // guarded by mu_
  size_t next_encode_ = 0;                                                   // guarded by mu_
  size_t chained_ = 0;                                                       // blocks chained, guarded by mu_
  size_t next_compress_ = 0;                                                 // guarded by mu_
  std::vector<bool> encoded_;                                                // guarded by mu_
  std::vector<std::optional<Result<std::vector<CompressedChunk>>>> chunks_;  // guarded by mu_ until set
};

}  // namespace

Status AppendRecords(const std::vector<AuditEntry>& entries, AppendTarget target, Clock& clock, unsigned max_threads) {
  if (entries.empty()) return Status::Ok();
  Pipeline pipeline(entries, target, clock);
  return pipeline.Run(max_threads);
}

}  // namespace custos::audit
