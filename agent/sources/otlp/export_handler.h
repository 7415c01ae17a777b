// Turns the body of one OTLP export request (already read and decompressed by
// the HTTP layer) into records in the batcher and the reply the client gets,
// following the OTLP/HTTP rules:
//
//   200  every record taken, or some rejected as invalid: partial_success says
//        how many and why (the client must not retry those)
//   400  the body does not decode (protobuf or JSON); nothing was taken
//   503  with Retry-After, the client retries, so nothing is lost:
//        - the spool is full or failing (Batcher::spool_blocked()) or the
//          batcher's buffer is full: refused before anything was taken;
//        - the records were taken but the flush that follows failed (see
//          below).
//
// The reply's body is an ExportTraceServiceResponse / ExportLogsServiceResponse
// (200) or a google.rpc.Status (errors), in the request's encoding.
//
// What a 200 means: with wait_durable (the default) the records are in the
// spool and fsynced (the handler calls Batcher::FlushNow(), which group-commits
// whatever is pending, so concurrent requests share fsyncs); without it they
// are in the agent's memory (the batcher), where a crash loses them.
//
// Duplicates: when the flush fails after Add() took the records (the spool
// just reached its quota, or an fsync failed), the reply is still 503, because
// a 200 must mean "fsynced" and these records are only in memory: they stay
// pending in the batcher and reach the spool once it recovers, and the
// client's retry stores them a second time (at-least-once, never lost). That
// happens only to the requests in flight when the spool filled or failed:
// from then on Batcher::spool_blocked() is true and requests are refused
// before Add(), so retries during a collector outage add no copies and do
// not fill the batcher's buffer that other sources share.
//
//   ExportHandler handler(options, context, "otlp");
//   ExportReply reply = handler.Handle(Signal::kTraces, Encoding::kProtobuf, body);
//
// Thread-safe: Handle() may run on several HTTP threads at once.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "agent/core/source.h"
#include "agent/sources/otlp/record_mapper.h"

namespace custos::agent::otlp {

enum class Signal { kTraces, kLogs };
enum class Encoding { kProtobuf, kJson };

const char* SignalName(Signal signal);  // "traces", "logs"

// "application/x-protobuf" or "application/json" (parameters such as
// "; charset=utf-8" and letter case ignored); nullopt for anything else.
std::optional<Encoding> ParseContentType(std::string_view content_type);

struct ExportReply {
  int http_status = 200;
  std::string content_type;
  std::string body;
  int retry_after_seconds = 0;  // > 0: send Retry-After
  // For metrics and logs: empty on full success, else a short reason
  // ("bad_body", "partial", "backpressure", ...) and a human message.
  std::string reason;
  std::string message;
};

// An error reply with a google.rpc.Status body in `encoding`, or plain text
// when the encoding is unknown (nullopt).
ExportReply ErrorReply(int http_status, std::optional<Encoding> encoding, std::string reason, std::string message);

struct ExportOptions {
  bool wait_durable = true;
  int retry_after_seconds = 1;
  MapperOptions mapper;
};

class ExportHandler {
 public:
  ExportHandler(ExportOptions options, SourceContext& context, std::string source_name);
  ExportHandler(const ExportHandler&) = delete;
  ExportHandler& operator=(const ExportHandler&) = delete;

  ExportReply Handle(Signal signal, Encoding encoding, std::string_view body);

  const RecordMapper& mapper() const { return mapper_; }

 private:
  ExportReply Deliver(Signal signal, Encoding encoding, MapResult&& mapped);

  // constant after construction
  const ExportOptions options_;
  SourceContext& context_;
  const std::string source_name_;
  RecordMapper mapper_;  // thread-safe itself
};

}  // namespace custos::agent::otlp
