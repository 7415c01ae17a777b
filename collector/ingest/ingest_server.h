// The collector's ingest stage: a ZeroMQ ROUTER with CURVE (and the ZAP
// allow-list) receives batches, validates them, and hands them to one writer
// thread that commits them to the Store in batched transactions; only then is
// each batch acked to its agent. Duplicates (resends) are acked too, so the
// agent can drop them, but stored once.
//
//   IngestServer server(options, store, allow_list, metrics);
//   CUSTOS_RETURN_IF_ERROR(server.Start());   // binds
//   ... server.Stop();
//
// Bounds: at most queue_batches decoded batches wait for the writer; when the
// queue is full the ROUTER is not read (backpressure reaches agents through
// TCP and their send windows), nothing is dropped. Oversized, malformed and
// mis-identified frames are refused with a reason the agent sees, counted per
// reason, and logged.
//
// Thread-safety: Start/Stop from one thread. Owns two threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "collector/ingest/allow_list.h"
#include "collector/ingest/batch_validator.h"
#include "collector/ingest/zap_handler.h"
#include "collector/store/store.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"

namespace custos::ingest {

struct IngestOptions {
  std::string bind = "tcp://127.0.0.1:7070";
  std::string secret_key;  // Z85, the collector's CURVE secret key
  ValidationLimits limits;
  size_t queue_batches = 512;
  size_t max_txn_records = 50'000;
  int64_t retention_nanos = 7 * 86400 * kNanosPerSecond;
  int64_t retention_check_nanos = 60 * kNanosPerSecond;
};

class IngestServer {
 public:
  IngestServer(IngestOptions options, store::Store& store, AllowList& allow_list, MetricsRegistry& metrics,
               Clock& clock = Clock::Real());
  ~IngestServer();
  IngestServer(const IngestServer&) = delete;
  IngestServer& operator=(const IngestServer&) = delete;

  // Hooks; set before Start().
  // Runs on the writer thread after each loop iteration (at least every 200 ms):
  // the place for work that must share the store's writer connection.
  void SetWriterTick(std::function<void()> fn) { writer_tick_ = std::move(fn); }
  // A refused frame (node as bound to the key, reason, detail), from the ingest thread.
  void SetOnRefusal(std::function<void(const std::string&, const std::string&, const std::string&)> fn) {
    on_refusal_ = std::move(fn);
  }
  // A refused handshake (public key, peer address), from the ZAP thread, at
  // most once a minute per key.
  void SetOnHandshakeRefused(std::function<void(const std::string&, const std::string&)> fn) {
    on_handshake_refused_ = std::move(fn);
  }

  Status Start();
  void Stop();
  // The endpoint actually bound (resolves port 0).
  std::string endpoint() const { return endpoint_; }

 private:
  struct Work {
    std::string routing_id;
    store::IngestedBatch batch;
    size_t records = 0;
  };

  void RunIngest();
  void RunWriter();
  void Refuse(zmq::socket_t& router, const std::string& routing_id, const std::string& node, const Validated& v);

  const IngestOptions options_;
  store::Store& store_;
  AllowList& allow_list_;
  Clock& clock_;
  MetricsRegistry& metrics_;
  Counter& frames_received_;
  Counter& batches_stored_;
  Counter& records_stored_;
  Counter& duplicates_;
  Counter& heartbeats_;
  Counter& commit_failures_;
  Counter& acks_unroutable_;
  Counter& gaps_reported_;
  Counter& records_lost_reported_;
  Gauge& queue_depth_;

  std::function<void()> writer_tick_;
  std::function<void(const std::string&, const std::string&, const std::string&)> on_refusal_;
  std::function<void(const std::string&, const std::string&)> on_handshake_refused_;

  zmq::context_t ctx_{1};
  std::unique_ptr<ZapHandler> zap_;
  std::string endpoint_;
  std::unique_ptr<zmq::socket_t> router_;  // owned by the ingest thread once started
  std::atomic<bool> stop_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Work>> queue_;  // guarded by mu_

  std::thread ingest_thread_;
  std::thread writer_thread_;
};

}  // namespace custos::ingest
