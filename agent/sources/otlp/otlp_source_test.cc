#include "agent/sources/otlp/otlp_source.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "agent/sources/otlp/otlp_testing.h"

namespace custos::agent::otlp {
namespace {

constexpr char kProto[] = "application/x-protobuf";
constexpr char kJson[] = "application/json";

struct Reply {
  int status = -1;  // -1: no response at all
  std::string body;
  std::string retry_after;
  std::string allow;
  std::string connection;
};

Reply Post(int port, const std::string& path, const std::string& body, const std::string& content_type,
           const httplib::Headers& headers = {}) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(30, 0);
  auto res = cli.Post(path.c_str(), headers, body, content_type.c_str());
  if (!res) return {};
  return {res->status, res->body, res->get_header_value("Retry-After"), res->get_header_value("Allow"),
          res->get_header_value("Connection")};
}

Reply PostTraces(int port, const otlp_compat::ExportTraceServiceRequest& req) {
  return Post(port, "/v1/traces", req.SerializeAsString(), kProto);
}

// Incompressible bytes (a fixed seed).
std::string RandomBytes(size_t n) {
  std::string s(n, '\0');
  uint64_t x = 88172645463325252ULL;
  for (char& c : s) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  return s;
}

std::vector<std::string> SpanNames(const Harness& h) {
  std::vector<std::string> names;
  for (const v1::Record& r : h.Read().records) {
    if (r.has_span()) names.push_back(r.span().name());
  }
  return names;
}

TEST(OtlpSourceTest, ProtobufSpansAreSpooledBeforeThe200) {
  Harness h;
  auto src = h.StartSource();
  Reply r = PostTraces(src->port(), MakeTraceRequest(3));
  ASSERT_EQ(r.status, 200) << r.body;
  otlp_compat::ExportTraceServiceResponse response;
  ASSERT_TRUE(response.ParseFromString(r.body));
  EXPECT_FALSE(response.has_partial_success());
  // wait_durable: the spans are in the spool (the batcher thread never ran).
  Harness::Spooled spooled = h.Read();
  ASSERT_EQ(spooled.records.size(), 3u);
  EXPECT_EQ(spooled.records[0].span().name(), "span-0");
  EXPECT_EQ(spooled.resources[0].service_name(), "checkout");
  EXPECT_EQ(spooled.resources[0].node_id(), "node-1");
  EXPECT_EQ(h.metrics.Value("custos_otlp_requests_total", {{"signal", "traces"}, {"code", "200"}}), 1);
  EXPECT_EQ(h.metrics.Value("custos_otlp_records_total", {{"signal", "traces"}, {"outcome", "accepted"}}), 3);
}

TEST(OtlpSourceTest, JsonAndGzipAndLogs) {
  Harness h;
  auto src = h.StartSource();
  const int port = src->port();
  const std::string json = R"({"resourceSpans": [{"resource": {"attributes": [
      {"key": "service.name", "value": {"stringValue": "json-svc"}}]},
      "scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                                 "name": "json-span", "kind": 3, "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]})";
  Reply r = Post(port, "/v1/traces", json, "application/json; charset=utf-8");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{}");

  r = Post(port, "/v1/traces", Gzip(MakeTraceRequest(2).SerializeAsString()), kProto,
           {{"Content-Encoding", "gzip"}});
  ASSERT_EQ(r.status, 200) << r.body;
  r = Post(port, "/v1/traces", Gzip(json), kJson, {{"Content-Encoding", "gzip"}});
  ASSERT_EQ(r.status, 200) << r.body;
  r = Post(port, "/v1/traces", Gzip(json, /*zlib_format=*/true), kJson, {{"Content-Encoding", "deflate"}});
  ASSERT_EQ(r.status, 200) << r.body;

  otlp_compat::ExportLogsServiceRequest logs;
  otlp_compat::LogRecord* l = logs.add_resource_logs()->add_scope_logs()->add_log_records();
  l->mutable_body()->set_string_value("hello from otlp");
  l->set_severity_number(9);
  r = Post(port, "/v1/logs", logs.SerializeAsString(), kProto);
  ASSERT_EQ(r.status, 200) << r.body;
  otlp_compat::ExportLogsServiceResponse logs_response;
  EXPECT_TRUE(logs_response.ParseFromString(r.body));
  r = Post(port, "/v1/logs", R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"json log"}}]}]}]})",
           kJson);
  ASSERT_EQ(r.status, 200) << r.body;

  Harness::Spooled spooled = h.Read();
  std::vector<std::string> spans, messages;
  for (size_t i = 0; i < spooled.records.size(); ++i) {
    const v1::Record& rec = spooled.records[i];
    if (rec.has_span()) spans.push_back(rec.span().name() + "@" + spooled.resources[i].service_name());
    if (rec.has_log()) messages.push_back(rec.log().message());
  }
  EXPECT_EQ(spans, (std::vector<std::string>{"json-span@json-svc", "span-0@checkout", "span-1@checkout",
                                             "json-span@json-svc", "json-span@json-svc"}));
  EXPECT_EQ(messages, (std::vector<std::string>{"hello from otlp", "json log"}));
  EXPECT_EQ(spooled.records[0].span().kind(), v1::Span::KIND_CLIENT);
}

TEST(OtlpSourceTest, InvalidSpansAreAPartialSuccess) {
  Harness h;
  auto src = h.StartSource();
  otlp_compat::ExportTraceServiceRequest req = MakeTraceRequest(3);
  req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1)->set_trace_id("short");
  Reply r = PostTraces(src->port(), req);
  ASSERT_EQ(r.status, 200) << r.body;
  otlp_compat::ExportTraceServiceResponse response;
  ASSERT_TRUE(response.ParseFromString(r.body));
  EXPECT_EQ(response.partial_success().rejected_spans(), 1);
  EXPECT_NE(response.partial_success().error_message().find("trace_id must be 16 bytes"), std::string::npos);
  EXPECT_EQ(SpanNames(h), (std::vector<std::string>{"span-0", "span-2"}));

  // The same in JSON: a valid hex id of the wrong length.
  r = Post(src->port(), "/v1/traces",
           R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcd","spanId":"eee19b7ec3c1b174"}]}]}]})", kJson);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("rejectedSpans":"1")"), std::string::npos) << r.body;
  EXPECT_EQ(h.metrics.Value("custos_otlp_records_total", {{"signal", "traces"}, {"outcome", "rejected"}}), 2);
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "partial"}}), 2);
}

// A gzip body that inflates to `bytes` zeros (about 1000:1).
std::string GzipBomb(size_t bytes) { return Gzip(std::string(bytes, '\0')); }

TEST(OtlpSourceTest, BadInputGetsItsStatusAndTheReceiverKeepsServing) {
  Harness h;
  auto src = h.StartSource("listen = \"127.0.0.1:0\"\nmax_body_bytes = \"64KiB\"\n");
  const int port = src->port();
  const std::string good = MakeTraceRequest(1).SerializeAsString();
  const std::string garbage = "\xff\xff\xff\xff garbage \x01\x02";
  struct Case {
    const char* name;
    std::function<Reply()> send;
    int status;
    const char* body_has;  // in the error message
  };
  auto chunked = [port](size_t total) {
    httplib::Client cli("127.0.0.1", port);
    auto sent = std::make_shared<size_t>(0);
    auto res = cli.Post(
        "/v1/traces",
        [sent, total](size_t, httplib::DataSink& sink) {
          std::string chunk(4096, 'x');
          sink.write(chunk.data(), chunk.size());
          *sent += chunk.size();
          if (*sent >= total) sink.done();
          return true;
        },
        kProto);
    return res ? Reply{res->status, res->body, "", "", res->get_header_value("Connection")} : Reply{};
  };
  const std::vector<Case> cases = {
      {"garbage_protobuf", [&] { return Post(port, "/v1/traces", garbage, kProto); }, 400, "not a protobuf"},
      {"truncated_protobuf", [&] { return Post(port, "/v1/traces", good.substr(0, good.size() - 5), kProto); }, 400,
       "not a protobuf"},
      {"garbage_logs", [&] { return Post(port, "/v1/logs", garbage, kProto); }, 400, "ExportLogsServiceRequest"},
      {"bad_gzip", [&] { return Post(port, "/v1/traces", garbage, kProto, {{"Content-Encoding", "gzip"}}); }, 400,
       "bad gzip data"},
      {"gzip_bomb",
       [&] { return Post(port, "/v1/traces", GzipBomb(16 << 20), kProto, {{"Content-Encoding", "gzip"}}); }, 413,
       "once decompressed"},
      {"json_wrong_types", [&] { return Post(port, "/v1/traces", R"({"resourceSpans": 5})", kJson); }, 400,
       "resourceSpans: expected an array"},
      {"json_garbage", [&] { return Post(port, "/v1/traces", garbage, kJson); }, 400, "not JSON"},
      {"json_logs_wrong_types",
       [&] { return Post(port, "/v1/logs", R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":"x"}]}]}]})", kJson); },
       400, "logRecords[0].body: expected an object"},
      {"oversized_body", [&] { return Post(port, "/v1/traces", std::string(65 << 10, 'x'), kProto); }, 413,
       "max_body_bytes (65536 bytes)"},
      {"oversized_compressed",
       [&] { return Post(port, "/v1/traces", Gzip(RandomBytes(80 << 10)), kProto, {{"Content-Encoding", "gzip"}}); },
       413, "compressed or once decompressed"},
      {"oversized_chunked", [&] { return chunked(100 << 10); }, 413, "max_body_bytes"},
      {"wrong_path", [&] { return Post(port, "/v1/metrics", good, kProto); }, 404, "no such path"},
      {"root_path", [&] { return Post(port, "/", good, kProto); }, 404, "no such path"},
      {"wrong_content_type", [&] { return Post(port, "/v1/traces", good, "text/plain"); }, 415, "Content-Type"},
      {"no_content_type", [&] { return Post(port, "/v1/traces", good, ""); }, 415, "Content-Type"},
      {"unknown_encoding",
       [&] { return Post(port, "/v1/traces", good, kProto, {{"Content-Encoding", "zstd"}}); }, 415,
       "Content-Encoding"},
      {"get",
       [&] {
         httplib::Client cli("127.0.0.1", port);
         auto res = cli.Get("/v1/traces");
         return res ? Reply{res->status, res->body, "", res->get_header_value("Allow"), ""} : Reply{};
       },
       405, "only POST"},
      {"put",
       [&] {
         httplib::Client cli("127.0.0.1", port);
         auto res = cli.Put("/v1/logs", good, kProto);
         return res ? Reply{res->status, res->body, "", res->get_header_value("Allow"), ""} : Reply{};
       },
       405, "only POST"},
      {"delete",
       [&] {
         httplib::Client cli("127.0.0.1", port);
         auto res = cli.Delete("/v1/traces");
         return res ? Reply{res->status, res->body, "", res->get_header_value("Allow"), ""} : Reply{};
       },
       405, "only POST"},
  };
  int requests = 0;
  for (const Case& c : cases) {
    Reply r = c.send();
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body;
    EXPECT_NE(r.body.find(c.body_has), std::string::npos) << c.name << ": " << r.body;
    if (c.status == 405) {
      EXPECT_EQ(r.allow, "POST") << c.name;
    }
    // The receiver still serves after each.
    Reply ok = PostTraces(port, MakeTraceRequest(1));
    EXPECT_EQ(ok.status, 200) << "after " << c.name << ": " << ok.body;
    requests++;
  }
  EXPECT_EQ(SpanNames(h).size(), static_cast<size_t>(requests));  // only the good ones
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "bad_body"}}), 6);
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "too_large"}}), 4);
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "not_found"}}), 2);
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "method_not_allowed"}}), 3);
  EXPECT_EQ(h.metrics.Value("custos_otlp_requests_total", {{"signal", "traces"}, {"code", "200"}}), requests);
}

// Sends 256MiB of 'x' as a chunked body (no Content-Length); returns whether
// a reply came, and sets *written to the bytes the server took.
bool PostEndless(int port, const httplib::Headers& headers, size_t* written) {
  constexpr size_t kTotal = 256 << 20;
  httplib::Client cli("127.0.0.1", port);
  auto res = cli.Post(
      "/v1/traces", headers,
      [written](size_t, httplib::DataSink& sink) {
        std::string chunk(64 << 10, 'x');
        if (!sink.write(chunk.data(), chunk.size())) return false;
        *written += chunk.size();
        if (*written >= kTotal) sink.done();
        return true;
      },
      kProto);
  EXPECT_LT(*written, kTotal) << "the server read it all";
  return static_cast<bool>(res);
}

TEST(OtlpSourceTest, AnEndlessBodyIsNotReadPastTwiceTheLimit) {
  Harness h;
  auto src = h.StartSource("listen = \"127.0.0.1:0\"\nmax_body_bytes = \"64KiB\"\n");
  size_t written = 0;
  // The server stopped reading and closed mid-body, without a reply.
  EXPECT_FALSE(PostEndless(src->port(), {}, &written));
  EXPECT_LE(written, size_t{32} << 20);  // twice the bound, plus what the kernel buffers hold
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "too_large"}}), 1);
  EXPECT_EQ(h.metrics.Value("custos_otlp_requests_total", {{"signal", "traces"}, {"code", "none"}}), 1);
  EXPECT_EQ(PostTraces(src->port(), MakeTraceRequest(1)).status, 200);
}

TEST(OtlpSourceTest, EndlessBadGzipIsNotReadPastTwiceTheLimit) {
  Harness h;
  auto src = h.StartSource("listen = \"127.0.0.1:0\"\nmax_body_bytes = \"64KiB\"\n");
  size_t written = 0;
  EXPECT_FALSE(PostEndless(src->port(), {{"Content-Encoding", "gzip"}}, &written));  // not gzip from byte 0
  EXPECT_LE(written, size_t{32} << 20);  // twice the bound, plus what the kernel buffers hold
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "unreadable_body"}}), 1);
  EXPECT_EQ(PostTraces(src->port(), MakeTraceRequest(1)).status, 200);
}

TEST(OtlpSourceTest, ABodyTrickledPastRequestTimeoutIsCutOff) {
  Harness h;
  // 1000 chunks of 64KiB fit under max_body_bytes: only the deadline stops them.
  auto src =
      h.StartSource("listen = \"127.0.0.1:0\"\nrequest_timeout = \"30s\"\nmax_body_bytes = \"64MiB\"\n");
  // Each chunk moves the agent's (fake) clock 20s on: soon a chunk arrives
  // past the deadline, and the receiver stops reading whatever else comes.
  int chunks = 0;
  httplib::Client cli("127.0.0.1", src->port());
  auto res = cli.Post(
      "/v1/traces",
      [&](size_t, httplib::DataSink& sink) {
        std::string chunk(64 << 10, 'x');
        if (!sink.write(chunk.data(), chunk.size())) return false;
        h.clock.Advance(20 * kNanosPerSecond);
        if (++chunks == 1000) sink.done();
        return true;
      },
      kProto);
  EXPECT_LT(chunks, 1000);  // the server stopped reading and closed
  EXPECT_FALSE(res);  // mid-body: closed without a reply, so the exporter retries
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "too_slow"}}), 1);
  // A prompt request still goes through.
  EXPECT_EQ(PostTraces(src->port(), MakeTraceRequest(1)).status, 200);
}

TEST(OtlpSourceTest, ErrorBodiesAreRpcStatusInTheRequestEncoding) {
  Harness h;
  auto src = h.StartSource();
  Reply r = Post(src->port(), "/v1/traces", "\xff\xff", kProto);
  ASSERT_EQ(r.status, 400);
  otlp_compat::RpcStatus status;
  ASSERT_TRUE(status.ParseFromString(r.body));
  EXPECT_EQ(status.code(), 3);
  EXPECT_NE(status.message().find("not a protobuf ExportTraceServiceRequest"), std::string::npos);
  r = Post(src->port(), "/v1/traces", "[", kJson);
  ASSERT_EQ(r.status, 400);
  EXPECT_EQ(r.body.rfind(R"({"code":3,"message":"bad OTLP/JSON: not JSON)", 0), 0u) << r.body;
}

TEST(OtlpSourceTest, KeepAliveConnectionSurvivesAnUnreadBody) {
  Harness h;
  auto src = h.StartSource();
  httplib::Client cli("127.0.0.1", src->port());
  cli.set_keep_alive(true);
  const std::string good = MakeTraceRequest(1).SerializeAsString();
  for (int i = 0; i < 3; ++i) {
    auto res = cli.Post("/nope", std::string(10000, 'x'), kProto);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404);
    EXPECT_EQ(res->get_header_value("Connection"), "close");
    res = cli.Post("/v1/traces", good, kProto);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    res = cli.Post("/v1/traces", good, kProto);  // kept alive
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
  }
  EXPECT_EQ(SpanNames(h).size(), 6u);
}

TEST(OtlpSourceTest, FullBatcherAnswers503WithRetryAfterAndTheRetrySucceeds) {
  // Not started and never flushed: the batcher's pending buffer (5 records) fills up.
  Harness h(BatcherOptions{.agent_id = "node-1", .max_pending_records = 5});
  std::vector<v1::Record> filler(5);
  for (v1::Record& r : filler) r.mutable_log()->set_message("filler");
  ASSERT_TRUE(h.batcher->Add("other", std::move(filler)).ok());
  ASSERT_FALSE(h.batcher->accepting());
  auto src = h.StartSource("listen = \"127.0.0.1:0\"\nretry_after = \"3s\"\n");

  Reply r = PostTraces(src->port(), MakeTraceRequest(2));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.retry_after, "3");
  otlp_compat::RpcStatus status;
  ASSERT_TRUE(status.ParseFromString(r.body));
  EXPECT_EQ(status.code(), 14);
  r = Post(src->port(), "/v1/logs", R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]})", kJson);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.retry_after, "3");
  EXPECT_TRUE(SpanNames(h).empty());
  EXPECT_EQ(h.metrics.Value("custos_otlp_records_total", {{"signal", "traces"}, {"outcome", "refused"}}), 2);
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "backpressure"}}), 2);

  // The buffer drains; the client's retry goes through and nothing was lost.
  ASSERT_TRUE(h.batcher->FlushNow().ok());
  r = PostTraces(src->port(), MakeTraceRequest(2));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(SpanNames(h), (std::vector<std::string>{"span-0", "span-1"}));
}

// Fills `spool` with filler batches, appended directly as if another source
// had, until not even a small batch fits; returns their seqs.
std::vector<uint64_t> FillSpool(Spool& spool) {
  std::vector<uint64_t> seqs;
  for (size_t padding : {1000, 100, 10}) {
    while (true) {
      v1::Batch filler;
      filler.set_agent_id("node-1");
      filler.set_seq(spool.next_seq());
      filler.add_records()->mutable_log()->set_message(std::string(padding, 'f'));
      Status s = spool.Append(filler.seq(), filler.SerializeAsString(), {});
      if (!s.ok()) {
        EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
        break;
      }
      seqs.push_back(filler.seq());
    }
  }
  EXPECT_TRUE(spool.Sync().ok());
  return seqs;
}

TEST(OtlpSourceTest, AFullSpoolRefusesBeforeTakingSoRetriesAddNoCopies) {
  Harness h(BatcherOptions{.agent_id = "node-1"}, SpoolOptions{.quota_bytes = 16 << 10, .segment_bytes = 4096});
  auto src = h.StartSource("listen = \"127.0.0.1:0\"\nretry_after = \"2s\"\n");
  const std::vector<uint64_t> filler = FillSpool(*h.spool);
  ASSERT_FALSE(filler.empty());

  // The first request is taken, but its flush finds the spool full: 503, and
  // its spans wait in the batcher for the spool to drain.
  Reply r = PostTraces(src->port(), MakeTraceRequest(3));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.retry_after, "2");
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "flush_failed"}}), 1);
  EXPECT_EQ(h.metrics.Value("custos_agent_pending_records"), 3);
  // While the batcher knows the spool is full, the exporter's retries are
  // refused before anything is taken: no copy piles up in memory.
  for (int i = 0; i < 5; ++i) {
    r = PostTraces(src->port(), MakeTraceRequest(3));
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.retry_after, "2");
  }
  EXPECT_EQ(h.metrics.Value("custos_agent_pending_records"), 3);
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "flush_failed"}}), 1);
  EXPECT_EQ(h.metrics.Value("custos_otlp_errors_total", {{"reason", "spool_full"}}), 5);
  EXPECT_EQ(h.metrics.Value("custos_otlp_records_total", {{"signal", "traces"}, {"outcome", "refused"}}), 15);

  // The collector acks: the batcher's retry spools the spans it holds...
  for (uint64_t seq : filler) ASSERT_TRUE(h.spool->Ack(seq).ok());
  ASSERT_TRUE(h.batcher->FlushNow().ok());
  EXPECT_EQ(SpanNames(h), (std::vector<std::string>{"span-0", "span-1", "span-2"}));
  // ...and the exporter's next retry is taken: the one documented duplicate
  // of a request that was in flight when the spool filled, never more.
  r = PostTraces(src->port(), MakeTraceRequest(3));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(SpanNames(h).size(), 6u);
}

TEST(OtlpSourceTest, WithoutWaitDurableA200MeansInTheBatcher) {
  Harness h;
  auto src = h.StartSource("listen = \"127.0.0.1:0\"\nwait_durable = false\n");
  Reply r = PostTraces(src->port(), MakeTraceRequest(2));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(SpanNames(h).empty());  // pending in memory
  ASSERT_TRUE(h.batcher->FlushNow().ok());
  EXPECT_EQ(SpanNames(h).size(), 2u);
}

TEST(OtlpSourceTest, ConcurrentClientsAreAllServedOnce) {
  Harness h;
  auto src = h.StartSource("listen = \"127.0.0.1:0\"\nthreads = 2\nmax_queued_connections = 2\n");
  constexpr int kClients = 8;
  constexpr int kRequests = 10;
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client cli("127.0.0.1", src->port());
      cli.set_keep_alive(c % 2 == 0);
      cli.set_read_timeout(30, 0);
      for (int i = 0; i < kRequests; ++i) {
        auto res = cli.Post("/v1/traces", MakeTraceRequest(1, "client-" + std::to_string(c)).SerializeAsString(),
                            kProto);
        if (res && res->status == 200) ok++;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  Harness::Spooled spooled = h.Read();
  ASSERT_EQ(spooled.records.size(), static_cast<size_t>(kClients * kRequests));
  std::map<std::string, int> per_client;
  for (const v1::Resource& r : spooled.resources) per_client[r.service_name()]++;
  EXPECT_EQ(per_client.size(), static_cast<size_t>(kClients));
  for (const auto& [service, n] : per_client) EXPECT_EQ(n, kRequests) << service;
}

TEST(OtlpSourceTest, ConnectionsPastTheLimitWaitAndIdleOnesAreClosed) {
  Harness h;
  // At most threads + max_queued_connections = 2 connections at once.
  auto src = h.StartSource(
      "listen = \"127.0.0.1:0\"\nthreads = 1\nmax_queued_connections = 1\nkeep_alive_timeout = \"1s\"\n");
  auto connect_idle = [&] {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(src->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  };
  int idle[2] = {connect_idle(), connect_idle()};
  // Two silent connections fill the limit: the next waits in the backlog
  // until keep_alive_timeout closes them, and is then served.
  EXPECT_EQ(PostTraces(src->port(), MakeTraceRequest(1)).status, 200);
  // So by the time the reply came, both idle connections had been closed.
  for (int fd : idle) {
    char c;
    EXPECT_EQ(recv(fd, &c, 1, MSG_DONTWAIT), 0) << "the idle connection is still open";
    close(fd);
  }
  EXPECT_EQ(SpanNames(h).size(), 1u);
}

TEST(OtlpSourceTest, ConfigErrors) {
  Harness h;
  struct Case {
    const char* toml;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"listen = \"4318\"\n", "not host:port"},
      {"listen = \"127.0.0.1:99999\"\n", "port must be 0..65535"},
      {"max_body_bytes = \"10\"\n", "max_body_bytes must be between"},
      {"max_resource_bytes = \"100\"\n", "max_resource_bytes must be between"},
      {"max_resource_bytes = \"2MiB\"\n", "max_resource_bytes must be between"},
      {"request_timeout = \"100ms\"\n", "request_timeout must be at least 1s"},
  };
  for (const Case& c : cases) {
    auto file = ConfigFile::Parse("[sources.otlp]\n" + std::string(c.toml), "agent.toml");
    ASSERT_TRUE(file.ok());
    ConfigSection section = file->Section("sources").Section("otlp");
    auto src = OtlpSource::Create(section, *h.context);
    ASSERT_FALSE(src.ok()) << c.toml;
    EXPECT_NE(src.status().message().find(c.error), std::string::npos) << src.status().ToString();
  }
  // A typo is refused by Finish() like any unknown key.
  auto file = ConfigFile::Parse("[sources.otlp]\nlisten = \"127.0.0.1:0\"\nthread = 3\n", "agent.toml");
  ASSERT_TRUE(file.ok());
  ConfigSection section = file->Section("sources").Section("otlp");
  ASSERT_TRUE(OtlpSource::Create(section, *h.context).ok());
  EXPECT_FALSE(file->Finish().ok());
}

TEST(OtlpSourceTest, ListenTakesHostNamesAndRefusesUnknownOnes) {
  Harness h;
  auto by_name = h.StartSource("listen = \"localhost:0\"\n");
  EXPECT_EQ(PostTraces(by_name->port(), MakeTraceRequest(1)).status, 200);
  by_name->Stop();
  auto file = ConfigFile::Parse("[sources.otlp]\nlisten = \"no-such-host.invalid:4318\"\n", "agent.toml");
  ASSERT_TRUE(file.ok());
  ConfigSection section = file->Section("sources").Section("otlp");
  auto source = OtlpSource::Create(section, *h.context);
  ASSERT_TRUE(source.ok());
  Status s = (*source)->Start("");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.ToString().find("no-such-host.invalid"), std::string::npos) << s.ToString();
}

TEST(OtlpSourceTest, BusyPortIsUnavailable) {
  Harness h;
  auto first = h.StartSource();
  auto file = ConfigFile::Parse("[sources.otlp]\nlisten = \"127.0.0.1:" + std::to_string(first->port()) + "\"\n",
                                "agent.toml");
  ASSERT_TRUE(file.ok());
  ConfigSection section = file->Section("sources").Section("otlp");
  auto second = OtlpSource::Create(section, *h.context);
  ASSERT_TRUE(second.ok());
  Status s = (*second)->Start("");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  (*second)->Stop();  // harmless when never started
  first->Stop();
  first->Stop();  // idempotent
}

}  // namespace
}  // namespace custos::agent::otlp
