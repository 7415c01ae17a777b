#include "collector/ingest/ingest_server.h"

#include <map>

#include "common/log.h"
#include "common/thread_name.h"

namespace custos::ingest {
namespace {

constexpr const char* kAckEndpoint = "inproc://custos-acks";

}  // namespace

IngestServer::IngestServer(IngestOptions options, store::Store& store, AllowList& allow_list,
                           MetricsRegistry& metrics, Clock& clock)
    : options_(std::move(options)),
      store_(store),
      allow_list_(allow_list),
      clock_(clock),
      metrics_(metrics),
      frames_received_(metrics.GetCounter("custos_collector_frames_received_total", "Frames received from agents")),
      batches_stored_(metrics.GetCounter("custos_collector_batches_stored_total", "Batches committed to the store")),
      records_stored_(metrics.GetCounter("custos_collector_records_stored_total", "Records committed to the store")),
      duplicates_(metrics.GetCounter("custos_collector_batches_duplicate_total",
                                     "Resent batches recognised as already stored (acked, not stored again)")),
      heartbeats_(metrics.GetCounter("custos_collector_heartbeats_total", "Agent heartbeats received")),
      commit_failures_(metrics.GetCounter("custos_collector_commit_failures_total",
                                          "Store transactions that failed (agents resend)")),
      acks_unroutable_(metrics.GetCounter("custos_collector_acks_unroutable_total",
                                          "Acks for agents that disconnected before they were sent (they resend)")),
      gaps_reported_(metrics.GetCounter("custos_collector_gaps_reported_total", "Gap records received from agents")),
      records_lost_reported_(metrics.GetCounter("custos_collector_agent_lost_records_total",
                                                "Records agents reported as lost in gap records")),
      queue_depth_(metrics.GetGauge("custos_collector_ingest_queue_batches", "Batches waiting for the writer")) {}

IngestServer::~IngestServer() { Stop(); }

Status IngestServer::Start() {
  zap_ = std::make_unique<ZapHandler>(ctx_, allow_list_, metrics_);
  zap_->SetOnRefused(on_handshake_refused_);
  CUSTOS_RETURN_IF_ERROR(zap_->Start());
  router_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::router);
  try {
    router_->set(zmq::sockopt::curve_server, 1);
    router_->set(zmq::sockopt::curve_secretkey, options_.secret_key);
    router_->set(zmq::sockopt::zap_domain, "custos");
    router_->set(zmq::sockopt::linger, 0);
    router_->set(zmq::sockopt::router_mandatory, 1);
    // libzmq drops the connection of a peer sending more than this; below it,
    // oversized frames are refused with a reason (batch_validator).
    router_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options_.limits.max_batch_bytes * 2));
    router_->set(zmq::sockopt::rcvhwm, 1000);
    router_->set(zmq::sockopt::handshake_ivl, 10000);
    router_->set(zmq::sockopt::heartbeat_ivl, 5000);
    router_->set(zmq::sockopt::heartbeat_timeout, 15000);
    router_->bind(options_.bind);
    endpoint_ = router_->get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Unavailable("binding ingest socket " + options_.bind + ": " + e.what());
  }
  stop_.store(false);
  writer_thread_ = std::thread([this] {
    SetThreadName("store-writer");
    RunWriter();
  });
  ingest_thread_ = std::thread([this] {
    SetThreadName("ingest");
    RunIngest();
  });
  log::Info("ingest", "listening", {{"endpoint", endpoint_}, {"enrolled_agents", std::to_string(allow_list_.size())}});
  return Status::Ok();
}

void IngestServer::Stop() {
  if (!ingest_thread_.joinable()) return;
  stop_.store(true);
  cv_.notify_all();
  ingest_thread_.join();
  writer_thread_.join();
  router_.reset();
  zap_->Stop();
}

void IngestServer::Refuse(zmq::socket_t& router, const std::string& routing_id, const std::string& node,
                          const Validated& v) {
  std::string reason = v1::Ack::Refusal_Name(v.refusal);
  if (on_refusal_) on_refusal_(node, reason, v.message);
  metrics_.GetCounter("custos_collector_frames_refused_total", "Frames refused, by reason", {{"reason", reason}})
      .Increment();
  log::Warn("ingest", "refused a frame", {{"reason", reason}, {"detail", v.message},
                                          {"agent", v.batch.agent_id()}, {"seq", std::to_string(v.batch.seq())}});
  v1::Ack ack;
  ack.set_spool_epoch(v.batch.spool_epoch());
  v1::Ack::Refused* r = ack.add_refused();
  r->set_seq(v.batch.seq());
  r->set_reason(v.refusal);
  r->set_message(v.message);
  std::string bytes = ack.SerializeAsString();
  try {
    (void)router.send(zmq::buffer(routing_id), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    (void)router.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    acks_unroutable_.Increment();
  }
}

void IngestServer::RunIngest() {
  zmq::socket_t& router = *router_;
  zmq::socket_t acks(ctx_, zmq::socket_type::pull);
  acks.set(zmq::sockopt::linger, 0);
  acks.bind(kAckEndpoint);
  while (!stop_.load()) {
    bool queue_full;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_full = queue_.size() >= options_.queue_batches;
    }
    zmq::pollitem_t items[] = {{acks.handle(), 0, ZMQ_POLLIN, 0},
                               {router.handle(), 0, static_cast<short>(queue_full ? 0 : ZMQ_POLLIN), 0}};
    zmq::poll(items, 2, std::chrono::milliseconds(queue_full ? 5 : 100));

    if (items[0].revents & ZMQ_POLLIN) {
      zmq::message_t id, body;
      while (acks.recv(id, zmq::recv_flags::dontwait)) {
        (void)acks.recv(body, zmq::recv_flags::none);
        try {
          if (!router.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait) ||
              !router.send(body, zmq::send_flags::dontwait)) {
            acks_unroutable_.Increment();
          }
        } catch (const zmq::error_t&) {
          acks_unroutable_.Increment();  // EHOSTUNREACH: the agent reconnected; it resends
        }
      }
    }
    if (!(items[1].revents & ZMQ_POLLIN)) continue;
    // Drain what is ready, up to the queue bound.
    for (int n = 0; n < 256; ++n) {
      zmq::message_t id, body;
      if (!router.recv(id, zmq::recv_flags::dontwait)) break;
      frames_received_.Increment();
      if (!router.get(zmq::sockopt::rcvmore)) continue;  // cannot happen on ROUTER
      (void)router.recv(body, zmq::recv_flags::none);
      bool extra = false;
      while (router.get(zmq::sockopt::rcvmore)) {
        zmq::message_t more;
        (void)router.recv(more, zmq::recv_flags::none);
        extra = true;
      }
      const char* user = body.gets("User-Id");
      std::string node = user != nullptr ? user : "";
      Validated v;
      if (extra) {
        v.refusal = v1::Ack::REFUSAL_MALFORMED;
        v.message = "multi-part message; a batch is one frame";
      } else {
        v = DecodeAndValidate(body.data(), body.size(), node, options_.limits);
      }
      if (!v.ok()) {
        Refuse(router, id.to_string(), node, v);
        continue;
      }
      auto work = std::make_unique<Work>();
      work->routing_id = id.to_string();
      work->batch.agent_id = node;
      work->batch.received_unix_nanos = clock_.NowUnixNanos();
      work->records = static_cast<size_t>(v.batch.records_size());
      work->batch.batch = std::move(v.batch);
      if (v.heartbeat) heartbeats_.Increment();
      bool full;
      {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_back(std::move(work));
        queue_depth_.Set(static_cast<int64_t>(queue_.size()));
        full = queue_.size() >= options_.queue_batches;
      }
      cv_.notify_one();
      if (full) break;
    }
  }
}

void IngestServer::RunWriter() {
  zmq::socket_t acks(ctx_, zmq::socket_type::push);
  acks.set(zmq::sockopt::sndhwm, 0);  // acks are few and must not be dropped
  acks.set(zmq::sockopt::linger, 0);  // at shutdown, an unsent ack is resent-for by the agent
  acks.connect(kAckEndpoint);
  int64_t next_retention = clock_.MonotonicNanos() + 5 * kNanosPerSecond;
  while (true) {
    std::vector<std::unique_ptr<Work>> work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_.load() || !queue_.empty(); });
      size_t records = 0;
      while (!queue_.empty() && (work.empty() || records + queue_.front()->records <= options_.max_txn_records)) {
        records += queue_.front()->records;
        work.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queue_depth_.Set(static_cast<int64_t>(queue_.size()));
      if (work.empty() && stop_.load()) break;
    }
    if (!work.empty()) {
      std::vector<const store::IngestedBatch*> batches;
      batches.reserve(work.size());
      for (auto& w : work) batches.push_back(&w->batch);
      auto outcomes = store_.Commit(batches);
      // Acks grouped per connection and spool epoch.
      std::map<std::pair<std::string, uint64_t>, v1::Ack> replies;
      if (!outcomes.ok()) {
        commit_failures_.Increment();
        log::Error("ingest", "store commit failed; agents will resend",
                   {{"batches", std::to_string(work.size())}, {"error", outcomes.status().ToString()}});
      }
      for (size_t i = 0; i < work.size(); ++i) {
        const v1::Batch& b = work[i]->batch.batch;
        if (b.seq() == 0) continue;  // heartbeats are not acked
        v1::Ack& ack = replies[{work[i]->routing_id, b.spool_epoch()}];
        ack.set_spool_epoch(b.spool_epoch());
        if (!outcomes.ok()) {
          v1::Ack::Refused* r = ack.add_refused();
          r->set_seq(b.seq());
          r->set_reason(v1::Ack::REFUSAL_STORE_FAILED);
          r->set_message(outcomes.status().message());
          continue;
        }
        ack.add_committed_seqs(b.seq());
        if ((*outcomes)[i] == store::CommitOutcome::kDuplicate) {
          duplicates_.Increment();
          continue;
        }
        batches_stored_.Increment();
        records_stored_.Increment(static_cast<uint64_t>(b.records_size()));
        for (const v1::Record& r : b.records()) {
          if (!r.has_gap()) continue;
          gaps_reported_.Increment();
          records_lost_reported_.Increment(r.gap().lost_records());
          log::Warn("ingest", "agent reported a gap",
                    {{"agent", work[i]->batch.agent_id}, {"reason", v1::Gap::Reason_Name(r.gap().reason())},
                     {"lost_records", std::to_string(r.gap().lost_records())}, {"detail", r.gap().detail()}});
        }
      }
      for (auto& [key, ack] : replies) {
        std::string bytes = ack.SerializeAsString();
        (void)acks.send(zmq::buffer(key.first), zmq::send_flags::sndmore);
        (void)acks.send(zmq::buffer(bytes), zmq::send_flags::none);
      }
      if (!outcomes.ok()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let a transient failure pass
      }
    }
    if (writer_tick_) writer_tick_();
    int64_t now = clock_.MonotonicNanos();
    if (now >= next_retention && options_.retention_nanos > 0) {
      next_retention = now + options_.retention_check_nanos;
      auto deleted = store_.DeleteOlderThan(clock_.NowUnixNanos() - options_.retention_nanos);
      if (!deleted.ok()) {
        log::Error("ingest", "retention pass failed", {{"error", deleted.status().ToString()}});
      } else if (*deleted > 0) {
        metrics_.GetCounter("custos_collector_retention_deleted_total", "Records deleted by retention")
            .Increment(*deleted);
      }
    }
  }
}

}  // namespace custos::ingest
