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
// 413 when the body, compressed or decompressed, passes max_body_bytes (a
// declared Content-Length past it is answered before the body is sent); 415
// for another Content-Type or Content-Encoding. Error replies close the
// connection when the body was left unread. Mid-body, libmicrohttpd cannot
// reply: a body sent on past twice the bound, or past request_timeout, gets
// its connection closed without a reply (counted with code "none").
//
// What a 200 means, and restarts: the source keeps no position. A 200 is sent
// only after batcher.Add() took the records and, with wait_durable (default),
// after the spool's fsync: a 200 means "in the agent's spool". Anything not
// answered 200 is retried by the client's exporter (503 carries
// Retry-After), so a restart loses nothing the client was told was received;
// the agent's spool resume (Start(position)) does not apply.
//
// The server is libmicrohttpd (the one systemd-journal-remote uses): `threads`
// threads, each waiting on its own epoll set, so an idle keep-alive
// connection costs nothing until bytes arrive.
//
// Bounds: at most threads + max_queued_connections connections at once (then
// accepting pauses and the kernel's backlog holds the rest); a request's line
// and headers must fit in libmicrohttpd's 32KiB per connection (else 431);
// keep-alive for at most keep_alive_requests requests. Silence closes a
// connection: keep_alive_timeout while waiting for a request's headers,
// read_timeout once they are in. A client trickling bytes resets those
// timers, so the source adds a deadline for the body: request_timeout from
// the headers, checked as each piece of body arrives. A request being
// answered (waiting for the spool's fsync) holds its thread's other
// connections. See README.md for every config key of [sources.otlp].
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

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/core/source.h"
#include "agent/sources/otlp/export_handler.h"
#include "common/log_limiter.h"

struct MHD_Connection;
struct MHD_Daemon;
struct sockaddr_storage;

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
  // Stops accepting, closes every connection (a request mid-body is cut off
  // unanswered, so its client retries; one being answered finishes first)
  // and joins.
  void Stop() override;

  // The bound port once Start() succeeded.
  int port() const { return port_; }

 private:
  struct Callbacks;  // libmicrohttpd's callbacks
  struct Request;    // one request's state

  // libmicrohttpd's access handler: false closes the connection.
  bool Answer(MHD_Connection* connection, const char* url, const char* method, const char* upload_data,
              size_t* upload_data_size, void** con_cls);
  // The headers are in: routes the request, or replies at once.
  bool Begin(MHD_Connection* connection, const char* url, const char* method, void** con_cls);
  MHD_Daemon* StartDaemon(sockaddr_storage& addr);
  ExportReply TooLarge(const Request& req) const;
  ExportReply BadBody(const Request& req) const;
  // Queues `reply`, counts it and logs refusals (rate-limited).
  bool Reply(MHD_Connection* connection, Request& req, const ExportReply& reply, bool close_connection);
  // Mid-body, libmicrohttpd cannot queue a reply: counts and logs `reply`
  // and returns false, which closes the connection.
  bool Drop(Request& req, const ExportReply& reply);
  void Count(const Request& req, const ExportReply& reply);
  void LibraryLog(const std::string& text);

  // constant after construction
  const std::string name_ = "otlp";
  const OtlpOptions options_;
  SourceContext& context_;
  ExportHandler handler_;  // thread-safe itself

  MHD_Daemon* daemon_ = nullptr;  // set by Start(), read by Stop(), same thread
  int port_ = -1;

  // One warning per 10 s at most: a misbehaving client must not flood the journal.
  LogLimiter log_limiter_;
};

// The registry's factory for [sources.otlp].
Result<std::unique_ptr<Source>> CreateOtlpSource(ConfigSection& config, SourceContext& context);

}  // namespace custos::agent::otlp
