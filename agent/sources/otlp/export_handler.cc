#include "agent/sources/otlp/export_handler.h"

#include <climits>

#include "agent/sources/otlp/otlp_json.h"
#include "common/utf8.h"

namespace custos::agent::otlp {
namespace {

constexpr char kProtobufType[] = "application/x-protobuf";
constexpr char kJsonType[] = "application/json";

// The gRPC code that goes with an HTTP status in a google.rpc.Status body.
int RpcCode(int http_status) {
  switch (http_status) {
    case 400:
      return 3;  // INVALID_ARGUMENT
    case 404:
      return 5;  // NOT_FOUND
    case 413:
    case 429:
      return 8;  // RESOURCE_EXHAUSTED
    case 503:
      return 14;  // UNAVAILABLE
    case 405:
    case 415:
      return 12;  // UNIMPLEMENTED
    default:
      return 13;  // INTERNAL
  }
}

}  // namespace

const char* SignalName(Signal signal) { return signal == Signal::kTraces ? "traces" : "logs"; }

std::optional<Encoding> ParseContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  std::string lower(media);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lower == kProtobufType) return Encoding::kProtobuf;
  if (lower == kJsonType) return Encoding::kJson;
  return std::nullopt;
}

ExportReply ErrorReply(int http_status, std::optional<Encoding> encoding, std::string reason, std::string message) {
  ExportReply reply;
  reply.http_status = http_status;
  reply.reason = std::move(reason);
  otlp_compat::RpcStatus status;
  status.set_code(RpcCode(http_status));
  status.set_message(ToValidUtf8(message));
  if (!encoding) {
    reply.content_type = "text/plain";
    reply.body = status.message() + "\n";
  } else if (*encoding == Encoding::kProtobuf) {
    reply.content_type = kProtobufType;
    reply.body = status.SerializeAsString();
  } else {
    reply.content_type = kJsonType;
    reply.body = RpcStatusJson(status);
  }
  reply.message = std::move(message);
  return reply;
}

ExportHandler::ExportHandler(ExportOptions options, SourceContext& context, std::string source_name)
    : options_(std::move(options)),
      context_(context),
      source_name_(std::move(source_name)),
      mapper_(
          context.node, [&batcher = context.batcher](const v1::Resource& r) { return batcher.InternResource(r); },
          options_.mapper) {}

ExportReply ExportHandler::Handle(Signal signal, Encoding encoding, std::string_view body) {
  if (body.size() > static_cast<size_t>(INT_MAX)) {
    return ErrorReply(413, encoding, "too_large", "body too large to decode");
  }
  MapResult mapped;
  if (signal == Signal::kTraces) {
    otlp_compat::ExportTraceServiceRequest request;
    if (encoding == Encoding::kProtobuf) {
      if (!request.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
        return ErrorReply(400, encoding, "bad_body",
                          "body is not a protobuf ExportTraceServiceRequest (" + std::to_string(body.size()) + " bytes)");
      }
    } else {
      auto parsed = ParseTraceRequestJson(body);
      if (!parsed.ok()) return ErrorReply(400, encoding, "bad_body", "bad OTLP/JSON: " + parsed.status().message());
      request = std::move(*parsed);
    }
    mapped = mapper_.MapTraces(request);
  } else {
    otlp_compat::ExportLogsServiceRequest request;
    if (encoding == Encoding::kProtobuf) {
      if (!request.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
        return ErrorReply(400, encoding, "bad_body",
                          "body is not a protobuf ExportLogsServiceRequest (" + std::to_string(body.size()) + " bytes)");
      }
    } else {
      auto parsed = ParseLogsRequestJson(body);
      if (!parsed.ok()) return ErrorReply(400, encoding, "bad_body", "bad OTLP/JSON: " + parsed.status().message());
      request = std::move(*parsed);
    }
    mapped = mapper_.MapLogs(request, context_.clock.NowUnixNanos());
  }
  return Deliver(signal, encoding, std::move(mapped));
}

ExportReply ExportHandler::Deliver(Signal signal, Encoding encoding, MapResult&& mapped) {
  MetricsRegistry& metrics = context_.metrics;
  const char* help = "OTLP spans and log records by outcome: accepted (in the batcher), rejected (invalid, "
                     "reported as partial success), refused (backpressure; the client retries)";
  auto count = [&](const char* outcome, uint64_t n) {
    if (n > 0) metrics.GetCounter("custos_otlp_records_total", help, {{"signal", SignalName(signal)}, {"outcome", outcome}}).Increment(n);
  };
  count("rejected", static_cast<uint64_t>(mapped.rejected));
  const uint64_t n = mapped.records.size();
  if (n > 0) {
    auto refuse = [&](const std::string& reason, const std::string& why) {
      count("refused", n);
      ExportReply reply = ErrorReply(503, encoding, reason, why);
      reply.retry_after_seconds = options_.retry_after_seconds;
      return reply;
    };
    // Refuse before taking anything: a 503 from here means "nothing was taken",
    // so the exporter's retries cannot pile up copies while the spool is full.
    if (context_.batcher.spool_blocked()) {
      return refuse("spool_full", "agent spool full or failing (collector unreachable?); nothing taken, retry later");
    }
    if (!context_.batcher.accepting()) return refuse("backpressure", "agent buffer full; retry later");
    Status added = context_.batcher.Add(source_name_, std::move(mapped.records));
    if (!added.ok()) return refuse("backpressure", added.message() + "; retry later");
    count("accepted", n);
    if (options_.wait_durable) {
      Status flushed = context_.batcher.FlushNow();
      if (!flushed.ok()) {
        // Taken but not durable: 503 keeps "200 = fsynced". The records stay
        // pending and reach the spool later, so the retry may store them twice
        // (at-least-once); the spool_blocked() check above limits this to the
        // requests in flight when the spool filled or failed.
        ExportReply reply = ErrorReply(503, encoding, "flush_failed",
                                       "records not yet durable (" + flushed.ToString() + "); retry later");
        reply.retry_after_seconds = options_.retry_after_seconds;
        return reply;
      }
    }
  }

  ExportReply reply;
  std::string error = ToValidUtf8(mapped.first_error);
  if (mapped.rejected > 0) {
    reply.reason = "partial";
    reply.message = std::to_string(mapped.rejected) + " rejected: " + error;
  }
  if (signal == Signal::kTraces) {
    otlp_compat::ExportTraceServiceResponse response;
    if (mapped.rejected > 0) {
      response.mutable_partial_success()->set_rejected_spans(mapped.rejected);
      response.mutable_partial_success()->set_error_message(error);
    }
    reply.body = encoding == Encoding::kProtobuf ? response.SerializeAsString() : TraceResponseJson(response);
  } else {
    otlp_compat::ExportLogsServiceResponse response;
    if (mapped.rejected > 0) {
      response.mutable_partial_success()->set_rejected_log_records(mapped.rejected);
      response.mutable_partial_success()->set_error_message(error);
    }
    reply.body = encoding == Encoding::kProtobuf ? response.SerializeAsString() : LogsResponseJson(response);
  }
  reply.content_type = encoding == Encoding::kProtobuf ? kProtobufType : kJsonType;
  return reply;
}

}  // namespace custos::agent::otlp
