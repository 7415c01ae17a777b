#include "agent/sources/otlp/otlp_source.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

#include "agent/sources/otlp/body_decoder.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace custos::agent::otlp {
namespace {

int Seconds(int64_t nanos) { return static_cast<int>(std::max<int64_t>(1, nanos / kNanosPerSecond)); }

// "host:port", "[v6]:port".
Status ParseListen(const std::string& listen, std::string* host, int* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgument("listen '" + listen + "' is not host:port (e.g. 127.0.0.1:4318)");
  }
  std::string h = listen.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  std::string p = listen.substr(colon + 1);
  int value = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || end != p.data() + p.size() || value < 0 || value > 65535) {
    return InvalidArgument("listen '" + listen + "': port must be 0..65535");
  }
  *host = h;
  *port = value;
  return Status::Ok();
}

// One connection (libmicrohttpd's socket context): requests answered on it.
struct Connection {
  int requests = 0;
};

std::string Header(MHD_Connection* connection, const char* name) {
  const char* v = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
  return v ? v : "";
}

std::string PeerOf(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!info || !info->client_addr) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (info->client_addr->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(info->client_addr);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (info->client_addr->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(info->client_addr);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

}  // namespace

// One request, from its headers to its reply (libmicrohttpd's con_cls).
struct OtlpSource::Request {
  MHD_Connection* connection = nullptr;  // valid while the request is answered
  std::string method;
  std::string path;
  const char* signal_name = "none";
  Signal signal = Signal::kTraces;
  Encoding encoding = Encoding::kProtobuf;
  std::optional<BodyDecoder> body;
  std::string content_encoding;  // as sent, for messages
  int64_t deadline_nanos = 0;
};

Result<std::unique_ptr<OtlpSource>> OtlpSource::Create(ConfigSection& config, SourceContext& context) {
  OtlpOptions o;
  std::string listen = config.String("listen", "127.0.0.1:4318");
  CUSTOS_RETURN_IF_ERROR(ParseListen(listen, &o.host, &o.port).WithContext("[sources.otlp]"));
  o.max_body_bytes = config.Bytes("max_body_bytes", o.max_body_bytes);
  if (o.max_body_bytes < 1024 || o.max_body_bytes > (1ULL << 30)) {
    return InvalidArgument("[sources.otlp] max_body_bytes must be between 1KiB and 1GiB");
  }
  o.threads = static_cast<int>(config.Int("threads", o.threads, 1, 64));
  o.max_queued_connections = static_cast<int>(config.Int("max_queued_connections", o.max_queued_connections, 1, 4096));
  o.keep_alive_requests = static_cast<int>(config.Int("keep_alive_requests", o.keep_alive_requests, 1, 100000));
  o.keep_alive_timeout_seconds =
      Seconds(config.Duration("keep_alive_timeout", o.keep_alive_timeout_seconds * kNanosPerSecond));
  o.read_timeout_seconds = Seconds(config.Duration("read_timeout", o.read_timeout_seconds * kNanosPerSecond));
  o.export_options.wait_durable = config.Bool("wait_durable", true);
  o.export_options.retry_after_seconds = Seconds(config.Duration("retry_after", kNanosPerSecond));
  o.export_options.mapper.max_record_bytes =
      static_cast<size_t>(config.Bytes("max_record_bytes", o.export_options.mapper.max_record_bytes));
  if (o.export_options.mapper.max_record_bytes < 1024 || o.export_options.mapper.max_record_bytes > (8ULL << 20)) {
    return InvalidArgument("[sources.otlp] max_record_bytes must be between 1KiB and 8MiB");
  }
  o.export_options.mapper.max_resources = static_cast<size_t>(
      config.Int("max_resources", static_cast<int64_t>(o.export_options.mapper.max_resources), 1, 1'000'000));
  o.export_options.mapper.max_resource_bytes =
      static_cast<size_t>(config.Bytes("max_resource_bytes", o.export_options.mapper.max_resource_bytes));
  if (o.export_options.mapper.max_resource_bytes < 1024 || o.export_options.mapper.max_resource_bytes > (1ULL << 20)) {
    return InvalidArgument("[sources.otlp] max_resource_bytes must be between 1KiB and 1MiB");
  }
  o.request_timeout_nanos = config.Duration("request_timeout", o.request_timeout_nanos);
  if (o.request_timeout_nanos < kNanosPerSecond) {
    return InvalidArgument("[sources.otlp] request_timeout must be at least 1s");
  }
  return std::make_unique<OtlpSource>(std::move(o), context);
}

Result<std::unique_ptr<Source>> CreateOtlpSource(ConfigSection& config, SourceContext& context) {
  CUSTOS_ASSIGN_OR_RETURN(std::unique_ptr<OtlpSource> source, OtlpSource::Create(config, context));
  return std::unique_ptr<Source>(std::move(source));
}

// libmicrohttpd's callbacks, friends of OtlpSource.
struct OtlpSource::Callbacks {
  static void Log(void* cls, const char* format, va_list args) {
    char line[512];
    std::vsnprintf(line, sizeof line, format, args);
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    static_cast<OtlpSource*>(cls)->LibraryLog(text);
  }
  static MHD_Result Answer(void* cls, MHD_Connection* connection, const char* url, const char* method,
                           const char* /*version*/, const char* upload_data, size_t* upload_data_size,
                           void** con_cls) {
    // Exceptions (bad_alloc) must not unwind through libmicrohttpd's C
    // frames: the connection is closed instead.
    try {
      return static_cast<OtlpSource*>(cls)->Answer(connection, url, method, upload_data, upload_data_size, con_cls)
                 ? MHD_YES
                 : MHD_NO;
    } catch (const std::exception& e) {
      static_cast<OtlpSource*>(cls)->LibraryLog(std::string("request failed: ") + e.what());
      return MHD_NO;
    }
  }
  static void Completed(void* cls, MHD_Connection* connection, void** con_cls,
                        MHD_RequestTerminationCode /*why*/) {
    delete static_cast<Request*>(*con_cls);
    *con_cls = nullptr;
    // Between requests a connection may idle for keep_alive_timeout.
    MHD_set_connection_option(connection, MHD_CONNECTION_OPTION_TIMEOUT,
                              static_cast<unsigned>(static_cast<OtlpSource*>(cls)->options_.keep_alive_timeout_seconds));
  }
  static void Connected(void* /*cls*/, MHD_Connection* /*connection*/, void** socket_context,
                        MHD_ConnectionNotificationCode code) {
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      *socket_context = new Connection;
    } else {
      delete static_cast<Connection*>(*socket_context);
      *socket_context = nullptr;
    }
  }
};

OtlpSource::OtlpSource(OtlpOptions options, SourceContext& context)
    : options_(std::move(options)), context_(context), handler_(options_.export_options, context, name_) {}

OtlpSource::~OtlpSource() { Stop(); }

Status OtlpSource::Start(const std::string& /*position*/) {
  if (daemon_) return FailedPrecondition("otlp source already started");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(options_.port);
  if (int rc = getaddrinfo(options_.host.c_str(), service.c_str(), &hints, &found); rc != 0 || !found) {
    return InvalidArgument("[sources.otlp] listen: cannot resolve '" + options_.host + "': " + gai_strerror(rc));
  }
  // IPv4 addresses first ("localhost" may list ::1 first), then the rest,
  // each tried until one binds.
  std::vector<sockaddr_storage> addresses;
  for (int pass = 0; pass < 2; ++pass) {
    for (addrinfo* a = found; a; a = a->ai_next) {
      if ((a->ai_family == AF_INET) != (pass == 0) || a->ai_addrlen > sizeof(sockaddr_storage)) continue;
      sockaddr_storage addr{};
      std::memcpy(&addr, a->ai_addr, a->ai_addrlen);
      addresses.push_back(addr);
    }
  }
  freeaddrinfo(found);
  for (sockaddr_storage& addr : addresses) {
    daemon_ = StartDaemon(addr);
    if (daemon_) break;
  }
  if (!daemon_) {
    return Unavailable("otlp: cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                       " (in use? set [sources.otlp] listen)");
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info ? info->port : options_.port;
  const bool v6 = options_.host.find(':') != std::string::npos;
  log::Info("otlp", "listening for OTLP/HTTP",
            {{"address", (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(port_)},
             {"wait_durable", options_.export_options.wait_durable ? "true" : "false"}});
  return Status::Ok();
}

MHD_Daemon* OtlpSource::StartDaemon(sockaddr_storage& addr) {
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
  if (addr.ss_family == AF_INET6) {
    flags |= MHD_USE_IPv6;
    // "::" takes IPv4 too, as it did before (libmicrohttpd binds IPv6-only otherwise).
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr)) flags |= MHD_USE_DUAL_STACK;
  }
  const unsigned threads = static_cast<unsigned>(options_.threads);
  // Each thread serves its own connections from its own epoll set; past the
  // limit libmicrohttpd stops accepting and the kernel's backlog holds new
  // connections.
  const unsigned connection_limit = threads + static_cast<unsigned>(options_.max_queued_connections);
  // A pool of 0 or 1 thread makes libmicrohttpd warn: leave the option out.
  auto start = [&](auto... pool) {
    return MHD_start_daemon(
        flags, static_cast<uint16_t>(options_.port), nullptr, nullptr, &Callbacks::Answer, this,
        MHD_OPTION_EXTERNAL_LOGGER, &Callbacks::Log, this,  // first, so that it gets every message
        MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&addr), pool...,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(options_.keep_alive_timeout_seconds),
        MHD_OPTION_NOTIFY_COMPLETED, &Callbacks::Completed, this,
        MHD_OPTION_NOTIFY_CONNECTION, &Callbacks::Connected, this,
        MHD_OPTION_END);
  };
  return threads > 1 ? start(MHD_OPTION_THREAD_POOL_SIZE, threads) : start();
}

void OtlpSource::Stop() {
  if (!daemon_) return;
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
}

bool OtlpSource::Answer(MHD_Connection* connection, const char* url, const char* method, const char* upload_data,
                        size_t* upload_data_size, void** con_cls) {
  auto* req = static_cast<Request*>(*con_cls);
  if (!req) return Begin(connection, url, method, con_cls);
  // Once a reply is queued libmicrohttpd calls no more, so this is the body.
  if (*upload_data_size > 0) {
    const size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (context_.clock.MonotonicNanos() > req->deadline_nanos) {
      // 503, not 408: OTLP exporters retry 503 (and drop on 408), and a
      // slow link is a transient condition.
      ExportReply reply = ErrorReply(503, req->encoding, "too_slow",
                                     "body not received within request_timeout (" +
                                         std::to_string(options_.request_timeout_nanos / kNanosPerSecond) +
                                         "s); retry later");
      reply.retry_after_seconds = options_.export_options.retry_after_seconds;
      return Drop(*req, reply);
    }
    req->body->Feed(upload_data, n);
    // Past the bound, up to max_body_bytes more are read and dropped, so
    // that a client still sending gets the 413 rather than a reset; beyond
    // that the read stops.
    if (req->body->state() != BodyDecoder::kOk && req->body->wire_bytes() > 2 * options_.max_body_bytes) {
      return Drop(*req, req->body->state() == BodyDecoder::kTooLarge ? TooLarge(*req) : BadBody(*req));
    }
    return true;
  }
  // The whole body is in.
  switch (req->body->Finish()) {
    case BodyDecoder::kTooLarge:
      return Reply(connection, *req, TooLarge(*req), true);
    case BodyDecoder::kBadData:
      return Reply(connection, *req, BadBody(*req), true);
    case BodyDecoder::kOk:
      break;
  }
  std::string body = req->body->TakeBody();
  ExportReply reply = handler_.Handle(req->signal, req->encoding, body);
  bool close = false;
  if (const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
      info && info->socket_context) {
    close = ++static_cast<Connection*>(info->socket_context)->requests >= options_.keep_alive_requests;
  }
  return Reply(connection, *req, reply, close);
}

bool OtlpSource::Begin(MHD_Connection* connection, const char* url, const char* method, void** con_cls) {
  static thread_local bool named = false;
  if (!named) {
    SetThreadName("otlp-http");
    named = true;
  }
  auto* req = new Request;
  *con_cls = req;
  req->method = method;
  req->path = url;
  req->connection = connection;
  MHD_set_connection_option(connection, MHD_CONNECTION_OPTION_TIMEOUT,
                            static_cast<unsigned>(options_.read_timeout_seconds));
  // Replies before the body close the connection: its unread rest must not
  // be parsed as the next request.
  if (req->path == "/v1/traces") {
    req->signal = Signal::kTraces;
  } else if (req->path == "/v1/logs") {
    req->signal = Signal::kLogs;
  } else {
    return Reply(connection, *req, ErrorReply(404, std::nullopt, "not_found", "no such path: " + req->path), true);
  }
  req->signal_name = SignalName(req->signal);
  if (req->method != "POST") {
    return Reply(connection, *req,
                 ErrorReply(405, std::nullopt, "method_not_allowed",
                            req->method + " " + req->path + ": only POST is allowed"),
                 true);
  }
  const std::string content_type = Header(connection, "Content-Type");
  std::optional<Encoding> encoding = ParseContentType(content_type);
  if (!encoding) {
    return Reply(connection, *req,
                 ErrorReply(415, std::nullopt, "unsupported_media_type",
                            "Content-Type '" + content_type + "': use application/x-protobuf or application/json"),
                 true);
  }
  req->encoding = *encoding;
  const std::string content_encoding = Header(connection, "Content-Encoding");
  std::optional<BodyDecoder::Coding> coding = BodyDecoder::ParseContentEncoding(content_encoding);
  if (!coding) {
    return Reply(connection, *req,
                 ErrorReply(415, encoding, "unsupported_encoding",
                            "Content-Encoding '" + content_encoding + "': use gzip or none"),
                 true);
  }
  // The bound applies to the bytes after decompression too (gzip bombs).
  req->body.emplace(*coding, options_.max_body_bytes);
  req->content_encoding = content_encoding;
  // A declared length past the bound is answered before the body is sent
  // (a client that asked "Expect: 100-continue" never sends it).
  const std::string declared = Header(connection, "Content-Length");
  uint64_t length = 0;
  if (auto [end, ec] = std::from_chars(declared.data(), declared.data() + declared.size(), length);
      ec == std::errc() && end == declared.data() + declared.size() && length > options_.max_body_bytes) {
    return Reply(connection, *req, TooLarge(*req), true);
  }
  // The per-read timeout (read_timeout) does not bound the whole body: a
  // client trickling a byte now and then could hold a connection for hours.
  req->deadline_nanos = context_.clock.MonotonicNanos() + options_.request_timeout_nanos;
  return true;
}

bool OtlpSource::Drop(Request& req, const ExportReply& reply) {
  ExportReply dropped = reply;
  dropped.message += " (connection closed mid-body, no reply sent)";
  dropped.http_status = 0;  // counted as code "none"
  Count(req, dropped);
  return false;
}

ExportReply OtlpSource::TooLarge(const Request& req) const {
  return ErrorReply(413, req.encoding, "too_large",
                    "body above max_body_bytes (" + std::to_string(options_.max_body_bytes) +
                        (req.body && req.body->coding() != BodyDecoder::kIdentity ? " bytes, compressed or once decompressed)"
                                                                                  : " bytes)"));
}

ExportReply OtlpSource::BadBody(const Request& req) const {
  return ErrorReply(400, req.encoding, "unreadable_body",
                    "cannot read the body: bad " + req.content_encoding + " data");
}

bool OtlpSource::Reply(MHD_Connection* connection, Request& req, const ExportReply& reply, bool close_connection) {
  MHD_Response* res =
      MHD_create_response_from_buffer(reply.body.size(), const_cast<char*>(reply.body.data()), MHD_RESPMEM_MUST_COPY);
  if (!res) {
    LibraryLog("cannot create a reply; closing the connection");
    return false;
  }
  MHD_add_response_header(res, "Content-Type", reply.content_type.c_str());
  if (reply.retry_after_seconds > 0) {
    MHD_add_response_header(res, "Retry-After", std::to_string(reply.retry_after_seconds).c_str());
  }
  if (reply.http_status == 405) MHD_add_response_header(res, "Allow", "POST");
  if (close_connection) MHD_add_response_header(res, "Connection", "close");
  const bool queued = MHD_queue_response(connection, static_cast<unsigned>(reply.http_status), res) == MHD_YES;
  MHD_destroy_response(res);
  Count(req, reply);
  return queued;
}

void OtlpSource::LibraryLog(const std::string& text) {
  // Closing a connection on purpose (Drop) is logged by Count already.
  if (text.find("Application reported internal error") != std::string::npos) return;
  uint64_t suppressed = 0;
  if (!log_limiter_.Allow(context_.clock.MonotonicNanos(), &suppressed)) return;
  log::Warn("otlp", "http server: " + text, {{"suppressed_since_last", std::to_string(suppressed)}});
}

void OtlpSource::Count(const Request& req, const ExportReply& reply) {
  MetricsRegistry& m = context_.metrics;
  m.GetCounter("custos_otlp_requests_total", "OTLP/HTTP requests by signal and status code",
               {{"signal", req.signal_name},
                {"code", reply.http_status == 0 ? "none" : std::to_string(reply.http_status)}})
      .Increment();
  if (reply.reason.empty()) return;
  m.GetCounter("custos_otlp_errors_total",
               "OTLP/HTTP requests not fully taken, by reason (partial = some records rejected as invalid)",
               {{"reason", reply.reason}})
      .Increment();
  uint64_t suppressed = 0;
  if (!log_limiter_.Allow(context_.clock.MonotonicNanos(), &suppressed)) return;
  log::Warn("otlp", "request not fully taken",
            {{"peer", PeerOf(req.connection)},  // formatted only when a line is written
             {"request", req.method + " " + req.path},
             {"status", reply.http_status == 0 ? "none (connection closed)" : std::to_string(reply.http_status)},
             {"reason", reply.reason},
             {"error", reply.message},
             {"suppressed_since_last", std::to_string(suppressed)}});
}

}  // namespace custos::agent::otlp
