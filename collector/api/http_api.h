// The collector's HTTP API, on loopback by default:
//   GET /healthz                 "ok"
//   GET /metrics                 Prometheus text (self-metrics)
//   GET /api/v1/status           collector counters + every agent's state (JSON)
//   GET /api/v1/query?kind=K&node=N&name=X&since=T&until=T&limit=L   records (JSON)
//   POST /api/v1/audit/erase?subject=S&actor=A   erase a subject's personal data
// custosctl talks to it. Times are RFC 3339 or relative ("15m" = 15 minutes ago).
//
// Owns the server's threads; Start/Stop from one thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "collector/alerting/silences.h"
#include "collector/store/store.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"

namespace httplib {
class Server;
}

namespace custos::api {

struct ApiOptions {
  std::string host = "127.0.0.1";
  int port = 7080;  // 0 picks a free port
  int64_t agent_connected_within_nanos = 20 * kNanosPerSecond;
};

class HttpApi {
 public:
  HttpApi(ApiOptions options, store::Store& store, MetricsRegistry& metrics, Clock& clock = Clock::Real());
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // POST /api/v1/audit/erase?subject=S&actor=A runs `fn(subject, actor)`:
  // erasure of personal data is an operator action, on loopback by default.
  void SetEraseHandler(std::function<Result<nlohmann::json>(const std::string&, const std::string&)> fn) {
    erase_ = std::move(fn);
  }

  // /api/v1/silences (GET lists; POST ?match=…&duration=…&comment=…&actor=…
  // adds; POST /api/v1/silences/expire?id=…&actor=… ends one). `on_change`
  // is told of every addition and expiry, to audit it.
  using SilenceChange = std::function<void(const std::string& action, const collector::Silence&, const std::string& actor)>;
  void SetSilences(collector::Silences* silences, SilenceChange on_change) {
    silences_ = silences;
    on_silence_change_ = std::move(on_change);
  }

  Status Start();
  void Stop();
  int port() const { return port_; }

 private:
  void Routes();

  const ApiOptions options_;
  store::Store& store_;
  MetricsRegistry& metrics_;
  Clock& clock_;
  int64_t started_unix_nanos_;
  std::function<Result<nlohmann::json>(const std::string&, const std::string&)> erase_;
  collector::Silences* silences_ = nullptr;
  SilenceChange on_silence_change_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};  // set by thread_ when listen_after_bind returns
  int port_ = 0;
};

// Parses "2026-11-26T14:00:00Z", a Unix time in seconds, or a relative "15m"
// (that long before `now`). Shared with custosctl.
Result<int64_t> ParseTimeArg(const std::string& text, int64_t now_unix_nanos);

}  // namespace custos::api
