#include "agent/core/sender.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>
#include <zmq.hpp>

#include "common/files.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace custos::agent {
namespace {

std::atomic<int> g_monitor_counter{0};

int64_t Backoff(const SenderOptions& o, int attempts) {
  int64_t d = o.ack_timeout_nanos;
  for (int i = 1; i < attempts && d < o.max_backoff_nanos; ++i) d *= 2;
  return std::min(d, o.max_backoff_nanos);
}

}  // namespace

Sender::Sender(SenderOptions options, Spool& spool, MetricsRegistry& metrics, Clock& clock)
    : options_(std::move(options)),
      spool_(spool),
      clock_(clock),
      sent_(metrics.GetCounter("custos_agent_batches_sent_total", "Batches sent for the first time")),
      resent_(metrics.GetCounter("custos_agent_batches_resent_total", "Batches sent again after a timeout or reconnect")),
      acked_(metrics.GetCounter("custos_agent_batches_acked_total", "Batches the collector committed")),
      refused_(metrics.GetCounter("custos_agent_batches_refused_total",
                                  "Batches the collector refused for good (kept in rejected/, reported as gaps)")),
      store_retry_(metrics.GetCounter("custos_agent_batches_store_retry_total",
                                      "Batches the collector could not store yet (resent later)")),
      auth_failures_(metrics.GetCounter("custos_agent_handshake_failures_total",
                                        "CURVE handshakes the collector refused (key not enrolled?)")),
      bad_acks_(metrics.GetCounter("custos_agent_bad_acks_total", "Undecodable replies from the collector")),
      connected_gauge_(metrics.GetGauge("custos_agent_connected", "1 while a connection to the collector is up")) {}

Sender::~Sender() { Stop(); }

Status Sender::Start() {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return ErrnoStatus("eventfd", errno);
  thread_ = std::thread([this] {
    SetThreadName("sender");
    Run();
  });
  return Status::Ok();
}

void Sender::Stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  Notify();
  thread_.join();
  ::close(wake_fd_);
  wake_fd_ = -1;
}

void Sender::Notify() {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof one);
  (void)n;  // EAGAIN means the counter is already non-zero: the sender is awake
}

void Sender::Run() {
  zmq::context_t ctx(1);
  zmq::socket_t sock(ctx, zmq::socket_type::dealer);
  sock.set(zmq::sockopt::curve_serverkey, options_.server_public_key);
  sock.set(zmq::sockopt::curve_publickey, options_.public_key);
  sock.set(zmq::sockopt::curve_secretkey, options_.secret_key);
  sock.set(zmq::sockopt::immediate, 1);  // never queue to a connection that is not up
  sock.set(zmq::sockopt::linger, 0);
  sock.set(zmq::sockopt::maxmsgsize, int64_t{1} << 20);  // acks are small
  sock.set(zmq::sockopt::heartbeat_ivl, 2000);
  sock.set(zmq::sockopt::heartbeat_timeout, 6000);
  sock.set(zmq::sockopt::reconnect_ivl, 200);
  sock.set(zmq::sockopt::reconnect_ivl_max, 5000);
  sock.set(zmq::sockopt::sndhwm, static_cast<int>(options_.window * 2 + 8));
  std::string monitor_ep = "inproc://sender-monitor-" + std::to_string(g_monitor_counter.fetch_add(1));
  zmq_socket_monitor(sock.handle(), monitor_ep.c_str(),
                     ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                         ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
  zmq::socket_t monitor(ctx, zmq::socket_type::pair);
  monitor.connect(monitor_ep);
  sock.connect(options_.endpoint);
  log::Info("sender", "connecting to collector", {{"endpoint", options_.endpoint}});

  std::map<uint64_t, InFlight> in_flight;
  uint64_t scan_from = 0;  // seqs below this are in flight or acked
  int64_t last_send = 0;
  int64_t last_auth_log = 0;

  auto send_batch = [&](uint64_t seq, bool resend) -> bool {
    auto entry = spool_.Read(seq);
    if (!entry.ok()) {
      // Acked meanwhile (NOT_FOUND) or unreadable: either way not ours to send.
      if (entry.status().code() != StatusCode::kNotFound) {
        log::Error("sender", "cannot read spooled batch", {{"seq", std::to_string(seq)},
                                                           {"error", entry.status().ToString()}});
      }
      in_flight.erase(seq);
      return true;
    }
    zmq::message_t msg(entry->batch.data(), entry->batch.size());
    auto ok = sock.send(msg, zmq::send_flags::dontwait);
    if (!ok) return false;  // no connection (immediate) or HWM: try later
    InFlight& f = in_flight[seq];
    f.attempts++;
    f.deadline = clock_.MonotonicNanos() + Backoff(options_, f.attempts);
    (resend ? resent_ : sent_).Increment();
    last_send = clock_.MonotonicNanos();
    return true;
  };

  auto reject = [&](uint64_t seq, const std::string& reason) {
    refused_.Increment();
    auto entry = spool_.Read(seq);
    if (entry.ok() && !options_.rejected_dir.empty() && MakeDirs(options_.rejected_dir, 0700).ok()) {
      Status s = WriteFileAtomic(options_.rejected_dir + "/batch-" + std::to_string(seq) + ".pb", entry->batch, 0600);
      if (!s.ok()) log::Error("sender", "cannot keep refused batch", {{"error", s.ToString()}});
    }
    uint64_t records = 0;
    if (entry.ok()) {
      v1::Batch b;
      if (b.ParseFromString(entry->batch)) records = static_cast<uint64_t>(b.records_size());
    }
    log::Error("sender", "collector refused a batch for good; kept in rejected/ and reported as a gap",
               {{"seq", std::to_string(seq)}, {"records", std::to_string(records)}, {"reason", reason},
                {"dir", options_.rejected_dir}});
    in_flight.erase(seq);
    (void)spool_.Ack(seq);
    if (on_rejected_) on_rejected_(seq, records, reason);
  };

  while (!stop_.load()) {
    int64_t now = clock_.MonotonicNanos();
    // Resend what timed out (oldest first). send_batch may erase entries, so
    // the due seqs are collected first.
    std::vector<uint64_t> due;
    for (const auto& [seq, f] : in_flight) {
      if (f.deadline <= now) due.push_back(seq);
    }
    for (uint64_t seq : due) {
      if (!send_batch(seq, true)) break;
    }
    // Fill the window with new durable entries.
    while (in_flight.size() < options_.window) {
      std::vector<uint64_t> next = spool_.Pending(scan_from, options_.window - in_flight.size());
      if (next.empty()) break;
      bool blocked = false;
      for (uint64_t seq : next) {
        if (in_flight.count(seq) == 0 && !send_batch(seq, false)) {
          blocked = true;
          break;
        }
        scan_from = seq + 1;
      }
      if (blocked) break;
    }
    // Heartbeat while idle, so status stays current without spooling anything.
    now = clock_.MonotonicNanos();
    if (now - last_send >= options_.heartbeat_nanos) {
      v1::Batch hb;
      hb.set_agent_id(options_.agent_id);
      hb.set_spool_epoch(spool_.epoch());
      hb.set_seq(0);
      hb.set_created_unix_nano(static_cast<uint64_t>(clock_.NowUnixNanos()));
      if (stats_provider_) stats_provider_(hb.mutable_stats());
      std::string bytes = hb.SerializeAsString();
      (void)sock.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
      last_send = now;
    }
    in_flight_.store(in_flight.size());

    int64_t wait = options_.heartbeat_nanos - (now - last_send);
    for (auto& [seq, f] : in_flight) wait = std::min(wait, f.deadline - now);
    wait = std::clamp<int64_t>(wait, 1'000'000, 1'000'000'000);
    zmq::pollitem_t items[] = {{sock.handle(), 0, ZMQ_POLLIN, 0},
                               {monitor.handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, wake_fd_, ZMQ_POLLIN, 0}};
    zmq::poll(items, 3, std::chrono::milliseconds(wait / 1'000'000));

    if (items[2].revents & ZMQ_POLLIN) {
      uint64_t v;
      ssize_t n = ::read(wake_fd_, &v, sizeof v);
      (void)n;
    }
    if (items[1].revents & ZMQ_POLLIN) {
      zmq::message_t ev, addr;
      while (monitor.recv(ev, zmq::recv_flags::dontwait)) {
        (void)monitor.recv(addr, zmq::recv_flags::dontwait);
        uint16_t event = 0;
        if (ev.size() >= 2) std::memcpy(&event, ev.data(), 2);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
          connected_.store(true);
          connected_gauge_.Set(1);
          log::Info("sender", "connected to collector", {{"endpoint", options_.endpoint},
                                                         {"in_flight", std::to_string(in_flight.size())}});
          // Whatever was in flight on the old connection is gone: resend now.
          int64_t t = clock_.MonotonicNanos();
          for (auto& [seq, f] : in_flight) f.deadline = t;
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
          connected_.store(false);
          connected_gauge_.Set(0);
        } else {
          auth_failures_.Increment();
          int64_t t = clock_.MonotonicNanos();
          if (t - last_auth_log > 10 * 1'000'000'000LL) {
            last_auth_log = t;
            log::Error("sender", "collector refused the handshake: is this agent's key enrolled "
                                 "(custosctl enroll) and the collector's public key right?",
                       {{"endpoint", options_.endpoint}});
          }
        }
      }
    }
    if (items[0].revents & ZMQ_POLLIN) {
      zmq::message_t msg;
      while (sock.recv(msg, zmq::recv_flags::dontwait)) {
        v1::Ack ack;
        if (!ack.ParseFromArray(msg.data(), static_cast<int>(msg.size()))) {
          bad_acks_.Increment();
          log::Warn("sender", "undecodable reply from collector", {{"bytes", std::to_string(msg.size())}});
          continue;
        }
        if (ack.spool_epoch() == 0) {
          // A frame the collector could not even decode (so it cannot say
          // which batch): this agent's spool is intact, so say so loudly.
          bad_acks_.Increment();
          for (const v1::Ack::Refused& r : ack.refused()) {
            log::Error("sender", "collector could not decode a frame from this agent",
                       {{"reason", v1::Ack::Refusal_Name(r.reason())}, {"detail", r.message()}});
          }
          continue;
        }
        if (ack.spool_epoch() != spool_.epoch()) continue;  // for a previous spool
        for (uint64_t seq : ack.committed_seqs()) {
          if (in_flight.erase(seq) > 0) acked_.Increment();
          Status s = spool_.Ack(seq);
          if (!s.ok()) log::Error("sender", "spool ack failed", {{"error", s.ToString()}});
        }
        for (const v1::Ack::Refused& r : ack.refused()) {
          if (r.reason() == v1::Ack::REFUSAL_STORE_FAILED) {
            store_retry_.Increment();
            auto it = in_flight.find(r.seq());
            if (it != in_flight.end()) it->second.deadline = clock_.MonotonicNanos() + Backoff(options_, it->second.attempts);
            continue;
          }
          reject(r.seq(), v1::Ack::Refusal_Name(r.reason()) + ": " + r.message());
        }
      }
    }
  }
  in_flight_.store(0);
}

}  // namespace custos::agent
