// The collector's storage seam. SqliteStore is the embedded default; a server
// database can replace it behind this interface.
//
// Contract: Commit() makes a set of batches durable in one transaction and
// says, per batch, whether it was new or a duplicate of one committed before
// (same agent, epoch and seq): stored data is exactly-once even though
// delivery is at-least-once. The collector acks a batch only after Commit()
// returned OK for it.
//
// Thread-safety: Commit and DeleteOlderThan are called from one
// writer thread; the query methods may be called from any thread concurrently
// with it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "custos/v1/transport.pb.h"

namespace custos::store {

struct IngestedBatch {
  std::string agent_id;  // as bound to the CURVE key by the ZAP handler
  int64_t received_unix_nanos = 0;
  v1::Batch batch;
};

enum class CommitOutcome { kStored, kDuplicate };

struct RecordQuery {
  std::string kind;      // logs, metrics, spans, gpu_samples, gpu_events, access, gaps
  std::string node;      // node id, or empty for all
  std::string name;      // metric or span name, log source, access dataset id, GPU uuid; or empty
  int64_t since_unix_nanos = 0;
  int64_t until_unix_nanos = INT64_MAX;
  int limit = 100;       // newest first
};

class Store {
 public:
  virtual ~Store() = default;

  // A batch with seq 0 is a heartbeat: it only updates the agent's stats.
  virtual Result<std::vector<CommitOutcome>> Commit(const std::vector<const IngestedBatch*>& batches) = 0;
  // Deletes records (and dedup entries) older than the cutoff; returns rows deleted.
  virtual Result<uint64_t> DeleteOlderThan(int64_t cutoff_unix_nanos) = 0;

  // Every agent that ever delivered, with its latest stats, as JSON objects.
  virtual Result<nlohmann::json> Agents() = 0;
  // Matching records as JSON objects, newest first.
  virtual Result<nlohmann::json> Query(const RecordQuery& query) = 0;
  // Row counts per record kind.
  virtual Result<nlohmann::json> Counts() = 0;
};

// The record kinds Query() accepts, in display order.
const std::vector<std::string>& RecordKinds();

}  // namespace custos::store
