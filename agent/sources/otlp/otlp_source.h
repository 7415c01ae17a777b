// The "otlp" source: an OTLP/HTTP receiver (like the OpenTelemetry
// Collector's otlp receiver, HTTP only) that turns the spans and logs
// applications export into custos records.
//
//   POST /v1/traces   ExportTraceServiceRequest → v1::Span records
//   POST /v1/logs     ExportLogsServiceRequest  → v1::LogRecord records
//   Content-Type application/x-protobuf or application/json (OTLP/JSON);
//   Content-Encoding gzip, deflate or none. Other paths 404, other methods 405.
//
// Replies follow the OTLP/HTTP spec (see export_handler.h for 200/400/503):
// 413 when the body, compressed or decompressed, passes max_body_bytes; 415
// for another Content-Type or Content-Encoding. Error replies close the
// connection when the body was left unread.
//
// What a 200 means, and restarts: the source keeps no position. A 200 is sent
// only after batcher.Add() took the records and, with wait_durable (default),
// after the spool's fsync: a 200 means "in the agent's spool". Anything not
// answered 200 is retried by the client's exporter (503 carries
// Retry-After), so a restart loses nothing the client was told was received;
// the agent's spool resume (Start(position)) does not apply.
//
// Bounds: `threads` HTTP worker threads; at most `max_queued_connections`
// accepted connections wait for one (then accepting pauses and the kernel's
// backlog holds the rest); keep-alive for at most keep_alive_requests requests
// and keep_alive_timeout idle. Slow clients: httplib only bounds each wait for
// bytes (read_timeout), so the source adds a deadline for the body:
// request_timeout from the handler's start, checked as each piece of body
// arrives (503 + Retry-After past it). NOT bounded: the request line and
// headers, which httplib (0.11) reads before the handler runs with only the
// per-read timeout and an 8KiB limit per header line, not on their number: a
// client trickling headers holds a worker as long as it likes. `threads`,
// max_queued_connections and the loopback default listen address are the
// defence there (a local client that misbehaves can only stall OTLP intake). See README.md for every config key of [sources.otlp].
//
// Metrics: custos_otlp_requests_total{signal,code},
// custos_otlp_errors_total{reason}, custos_otlp_records_total{signal,outcome}.
//
//   auto src = OtlpSource::Create(config, context);   // [sources.otlp]
//   CUSTOS_RETURN_IF_ERROR((*src)->Start(""));
//   int port = (*src)->port();                         // when listen = "127.0.0.1:0"
//
// Thread-safe: Start/Stop from one thread; requests run on the server's threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/core/source.h"
#include "agent/sources/otlp/export_handler.h"

namespace httplib {
class ContentReader;
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace custos::agent::otlp {

struct OtlpOptions {
  std::string host = "127.0.0.1";
  int port = 4318;  // 0 picks a free port (tests); see port()
  uint64_t max_body_bytes = 8 << 20;
  int threads = 4;
  int max_queued_connections = 32;
  int keep_alive_requests = 100;
  int keep_alive_timeout_seconds = 5;
  int read_timeout_seconds = 10;
  int64_t request_timeout_nanos = 60 * kNanosPerSecond;
  ExportOptions export_options;
};

class OtlpSource final : public Source {
 public:
  // Reads [sources.otlp]; a bad value is reported by config.Finish().
  static Result<std::unique_ptr<OtlpSource>> Create(ConfigSection& config, SourceContext& context);

  OtlpSource(OtlpOptions options, SourceContext& context);
  ~OtlpSource() override;
  OtlpSource(const OtlpSource&) = delete;
  OtlpSource& operator=(const OtlpSource&) = delete;

  // Source
  const std::string& name() const override { return name_; }
  // Binds and starts serving; `position` is unused (see above). UNAVAILABLE
  // when the address cannot be bound.
  Status Start(const std::string& position) override;
  // Stops accepting, finishes the requests in progress and joins (idle
  // keep-alive connections may hold this up to keep_alive_timeout).
  void Stop() override;

  // The bound port once Start() succeeded.
  int port() const { return port_; }

 private:
  void Routes();
  void HandlePost(Signal signal, const httplib::Request& req, httplib::Response& res,
                  const httplib::ContentReader& reader);
  // Writes `reply` into `res`, counts it and logs refusals (rate-limited).
  void Send(const char* signal, const httplib::Request& req, httplib::Response& res, const ExportReply& reply,
            bool close_connection);

  // constant after construction
  const std::string name_ = "otlp";
  const OtlpOptions options_;
  SourceContext& context_;
  ExportHandler handler_;  // thread-safe itself

  std::unique_ptr<httplib::Server> server_;  // set by Start(), read by Stop(), same thread
  std::thread thread_;
  int port_ = -1;

  std::mutex log_mu_;
  int64_t last_log_nanos_ = INT64_MIN;  // guarded by log_mu_
  uint64_t suppressed_logs_ = 0;        // guarded by log_mu_
};

// The registry's factory for [sources.otlp].
Result<std::unique_ptr<Source>> CreateOtlpSource(ConfigSection& config, SourceContext& context);

}  // namespace custos::agent::otlp
