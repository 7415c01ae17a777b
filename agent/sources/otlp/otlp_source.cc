#include "agent/sources/otlp/otlp_source.h"

#include <httplib.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>

#include "common/log.h"

namespace custos::agent::otlp {
namespace {

constexpr int64_t kLogInterval = 10 * kNanosPerSecond;

// httplib's ThreadPool queues accepted connections without bound. This one
// blocks the accept loop once `max_queued` connections wait for a worker, so
// further clients wait in the kernel's listen backlog instead of in memory.
class BoundedThreadPool final : public httplib::TaskQueue {
 public:
  BoundedThreadPool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }
  BoundedThreadPool(const BoundedThreadPool&) = delete;
  BoundedThreadPool& operator=(const BoundedThreadPool&) = delete;

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    space_.wait(lock, [&] { return jobs_.size() < max_queued_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    work_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
    }
    work_.notify_all();
    space_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;  // shut down and drained: every accepted socket was served and closed
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      space_.notify_one();
      fn();
    }
  }

  const size_t max_queued_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable space_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool shutdown_ = false;                   // guarded by mu_
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

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

}  // namespace

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

OtlpSource::OtlpSource(OtlpOptions options, SourceContext& context)
    : options_(std::move(options)), context_(context), handler_(options_.export_options, context, name_) {}

OtlpSource::~OtlpSource() { Stop(); }

Status OtlpSource::Start(const std::string& /*position*/) {
  if (server_) return FailedPrecondition("otlp source already started");
  server_ = std::make_unique<httplib::Server>();
  const size_t threads = static_cast<size_t>(options_.threads);
  const size_t queued = static_cast<size_t>(options_.max_queued_connections);
  server_->new_task_queue = [threads, queued] { return new BoundedThreadPool(threads, queued); };
  server_->set_payload_max_length(options_.max_body_bytes);
  // httplib also sets SO_REUSEPORT by default, which would let a second
  // process bind the same port and silently take half the connections.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_->set_keep_alive_max_count(static_cast<size_t>(options_.keep_alive_requests));
  server_->set_keep_alive_timeout(options_.keep_alive_timeout_seconds);
  server_->set_read_timeout(options_.read_timeout_seconds, 0);
  server_->set_write_timeout(options_.read_timeout_seconds, 0);
  Routes();
  port_ = options_.port == 0 ? server_->bind_to_any_port(options_.host)
                             : (server_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port_ <= 0) {
    server_.reset();
    return Unavailable("otlp: cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                       " (in use? set [sources.otlp] listen)");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // Stop() only stops a running server: wait (bounded) until it runs.
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  log::Info("otlp", "listening for OTLP/HTTP",
            {{"address", options_.host + ":" + std::to_string(port_)},
             {"wait_durable", options_.export_options.wait_durable ? "true" : "false"}});
  return Status::Ok();
}

void OtlpSource::Stop() {
  if (!server_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

void OtlpSource::Routes() {
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    Signal signal;
    if (req.path == "/v1/traces") {
      signal = Signal::kTraces;
    } else if (req.path == "/v1/logs") {
      signal = Signal::kLogs;
    } else {
      Send("none", req, res, ErrorReply(404, std::nullopt, "not_found", "no such path: " + req.path), true);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method == "POST") return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("Allow", "POST");
    Send(SignalName(signal), req, res,
         ErrorReply(405, std::nullopt, "method_not_allowed", req.method + " " + req.path + ": only POST is allowed"),
         true);
    return httplib::Server::HandlerResponse::Handled;
  });
  server_->Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& reader) {
    HandlePost(Signal::kTraces, req, res, reader);
  });
  server_->Post("/v1/logs", [this](const httplib::Request& req, httplib::Response& res,
                                   const httplib::ContentReader& reader) {
    HandlePost(Signal::kLogs, req, res, reader);
  });
}

void OtlpSource::HandlePost(Signal signal, const httplib::Request& req, httplib::Response& res,
                            const httplib::ContentReader& reader) {
  const char* signal_name = SignalName(signal);
  const std::string content_type = req.get_header_value("Content-Type");
  std::optional<Encoding> encoding = ParseContentType(content_type);
  if (!encoding) {
    Send(signal_name, req, res,
         ErrorReply(415, std::nullopt, "unsupported_media_type",
                    "Content-Type '" + content_type + "': use application/x-protobuf or application/json"),
         true);
    return;
  }
  // httplib inflates gzip and deflate bodies as it reads them (and would pass
  // anything else through undecoded): refuse the rest before reading.
  const std::string content_encoding = Lower(req.get_header_value("Content-Encoding"));
  if (!content_encoding.empty() && content_encoding != "identity" && content_encoding != "gzip" &&
      content_encoding != "deflate") {
    Send(signal_name, req, res,
         ErrorReply(415, encoding, "unsupported_encoding",
                    "Content-Encoding '" + content_encoding + "': use gzip or none"),
         true);
    return;
  }
  // The bound applies to the bytes after decompression too (gzip bombs).
  // Past it, up to max_body_bytes more are read and dropped so that a client
  // still sending gets the 413 rather than a connection reset; beyond that
  // the read stops.
  //
  // httplib's read_timeout bounds each wait for bytes, not the whole body: a
  // client trickling a byte now and then could hold a worker for hours. The
  // body must arrive within request_timeout of the handler starting (checked
  // as each piece arrives, so the bound is request_timeout + read_timeout).
  const int64_t deadline = context_.clock.MonotonicNanos() + options_.request_timeout_nanos;
  std::string body;
  bool too_large = false;
  bool too_slow = false;
  uint64_t dropped = 0;
  const bool read = reader([&](const char* data, size_t n) {
    if (context_.clock.MonotonicNanos() > deadline) {
      too_slow = true;
      return false;
    }
    if (!too_large && body.size() + n <= options_.max_body_bytes) {
      body.append(data, n);
      return true;
    }
    if (!too_large) {
      too_large = true;
      body.clear();
      body.shrink_to_fit();
    }
    dropped += n;
    return dropped <= options_.max_body_bytes;
  });
  if (too_large || res.status == 413) {
    Send(signal_name, req, res,
         ErrorReply(413, encoding, "too_large",
                    "body above max_body_bytes (" + std::to_string(options_.max_body_bytes) +
                        (content_encoding.empty() ? " bytes)" : " bytes once decompressed)")),
         true);
    return;
  }
  if (too_slow) {
    // 503, not 408: OTLP exporters retry 503 (and drop on 408), and a slow
    // link is a transient condition.
    ExportReply reply = ErrorReply(503, encoding, "too_slow",
                                   "body not received within request_timeout (" +
                                       std::to_string(options_.request_timeout_nanos / kNanosPerSecond) +
                                       "s); retry later");
    reply.retry_after_seconds = options_.export_options.retry_after_seconds;
    Send(signal_name, req, res, reply, true);
    return;
  }
  if (!read) {
    Send(signal_name, req, res,
         ErrorReply(400, encoding, "unreadable_body",
                    content_encoding.empty() ? "cannot read the body (connection broken or timed out)"
                                             : "cannot read the body: bad " + content_encoding +
                                                   " data, or the connection broke"),
         true);
    return;
  }
  Send(signal_name, req, res, handler_.Handle(signal, *encoding, body), false);
}

void OtlpSource::Send(const char* signal, const httplib::Request& req, httplib::Response& res,
                      const ExportReply& reply, bool close_connection) {
  res.status = reply.http_status;
  res.set_content(reply.body, reply.content_type.c_str());
  if (reply.retry_after_seconds > 0) res.set_header("Retry-After", std::to_string(reply.retry_after_seconds));
  // The rest of an unread body must not be parsed as the next request.
  if (close_connection) res.set_header("Connection", "close");

  MetricsRegistry& m = context_.metrics;
  m.GetCounter("custos_otlp_requests_total", "OTLP/HTTP requests by signal and status code",
               {{"signal", signal}, {"code", std::to_string(reply.http_status)}})
      .Increment();
  if (reply.reason.empty()) return;
  m.GetCounter("custos_otlp_errors_total",
               "OTLP/HTTP requests not fully taken, by reason (partial = some records rejected as invalid)",
               {{"reason", reply.reason}})
      .Increment();
  // One line per kLogInterval at most: a misbehaving client must not flood the journal.
  uint64_t suppressed = 0;
  {
    std::lock_guard<std::mutex> lock(log_mu_);
    int64_t now = context_.clock.MonotonicNanos();
    if (last_log_nanos_ != INT64_MIN && now - last_log_nanos_ < kLogInterval) {
      suppressed_logs_++;
      return;
    }
    last_log_nanos_ = now;
    suppressed = suppressed_logs_;
    suppressed_logs_ = 0;
  }
  log::Warn("otlp", "request not fully taken",
            {{"peer", req.remote_addr + ":" + std::to_string(req.remote_port)},
             {"request", req.method + " " + req.path},
             {"status", std::to_string(reply.http_status)},
             {"reason", reply.reason},
             {"error", reply.message},
             {"suppressed_since_last", std::to_string(suppressed)}});
}

}  // namespace custos::agent::otlp
