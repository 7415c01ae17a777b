// The sender ships durable spool entries to the collector over a ZeroMQ
// DEALER socket with CURVE, and deletes each from the spool only when the
// collector acks its sequence number after committing it.
//
// Up to `window` batches are in flight. An unacked batch is resent after
// ack_timeout, doubling up to max_backoff; every batch in flight is resent at
// once when a new connection's handshake succeeds (the old connection's queue
// died with it). A batch the collector refuses for good (malformed, wrong
// identity) is moved to DIR/rejected/ and reported as a gap, never retried
// forever nor dropped silently. While idle, a heartbeat carrying the agent's
// stats keeps the collector's view of this agent current.
//
// Owns one thread; Start/Stop/Notify are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "agent/core/spool.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "custos/v1/transport.pb.h"

namespace custos::agent {

struct SenderOptions {
  std::string agent_id;
  std::string endpoint;           // tcp://host:port
  std::string server_public_key;  // Z85
  std::string public_key;         // Z85, this agent's
  std::string secret_key;         // Z85, this agent's
  std::string rejected_dir;       // where refused batches are kept
  size_t window = 16;
  int64_t ack_timeout_nanos = 5 * 1'000'000'000LL;
  int64_t max_backoff_nanos = 60 * 1'000'000'000LL;
  int64_t heartbeat_nanos = 5 * 1'000'000'000LL;
};

class Sender {
 public:
  Sender(SenderOptions options, Spool& spool, MetricsRegistry& metrics, Clock& clock);
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  Status Start();
  void Stop();
  // Wakes the sender: new durable entries are in the spool.
  void Notify();

  void SetStatsProvider(std::function<void(v1::AgentStats*)> fn) { stats_provider_ = std::move(fn); }
  // Called for each batch refused for good, with how many records it held.
  void SetOnRejected(std::function<void(uint64_t seq, uint64_t records, const std::string& reason)> fn) {
    on_rejected_ = std::move(fn);
  }

  bool connected() const { return connected_.load(); }
  size_t in_flight() const { return in_flight_.load(); }

 private:
  struct InFlight {
    int64_t deadline = 0;
    int attempts = 0;
  };

  void Run();

  const SenderOptions options_;
  Spool& spool_;
  Clock& clock_;
  Counter& sent_;
  Counter& resent_;
  Counter& acked_;
  Counter& refused_;
  Counter& store_retry_;
  Counter& auth_failures_;
  Counter& bad_acks_;  // undecodable replies, and refusals of undecodable frames
  Gauge& connected_gauge_;
  std::function<void(v1::AgentStats*)> stats_provider_;
  std::function<void(uint64_t, uint64_t, const std::string&)> on_rejected_;

  int wake_fd_ = -1;  // eventfd: new data or stop
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<size_t> in_flight_{0};
  std::thread thread_;
};

}  // namespace custos::agent
