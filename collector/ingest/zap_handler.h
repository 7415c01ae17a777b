// A ZAP (ZeroMQ RFC 27) handler that admits only enrolled CURVE keys.
//
// Without a ZAP handler libzmq admits any client that knows the server's
// public key; with this one, a CURVE client is accepted only when its public
// key is in the AllowList, and the connection's User-Id becomes the node id
// enrolled for it. The ingest side then refuses any batch whose agent_id is
// not that node id, which binds identity to key.
//
// Runs one thread with a REP socket on inproc://zeromq.zap.01 in the given
// context; Start() must return before the ROUTER binds.
#pragma once

#include <atomic>
#include <functional>
#include <thread>
#include <zmq.hpp>

#include "collector/ingest/allow_list.h"
#include "common/metrics.h"
#include "common/status.h"

namespace custos::ingest {

class ZapHandler {
 public:
  ZapHandler(zmq::context_t& ctx, AllowList& allow_list, MetricsRegistry& metrics);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Called (on the ZAP thread) for a refusal that is also logged: at most once
  // a minute per key. Set before Start().
  void SetOnRefused(std::function<void(const std::string& key, const std::string& peer)> fn) {
    on_refused_ = std::move(fn);
  }

  Status Start();
  void Stop();

 private:
  void Run();

  zmq::context_t& ctx_;
  AllowList& allow_list_;
  Counter& accepted_;
  Counter& refused_;
  std::function<void(const std::string&, const std::string&)> on_refused_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::unique_ptr<zmq::socket_t> socket_;
};

}  // namespace custos::ingest
