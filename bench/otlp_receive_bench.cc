// OTLP/HTTP receive rate: one keep-alive client POSTs protobuf
// ExportTraceServiceRequests of `spans` spans (8 attributes each, like an
// SDK's BatchSpanProcessor batch) to the otlp source, which maps them and
// hands them to a real batcher and spool (fsync on). Two modes: wait_durable
// (each 200 after the spool's fsync, the default) and not (200 once in the
// batcher; the batcher flushes on its own).
//
//   otlp_receive_bench [requests=400] [spans=512]
//
// Prints one summary line (spans/s per mode); see bench/README.md.
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/core/batcher.h"
#include "agent/core/spool.h"
#include "agent/sources/otlp/otlp_compat.pb.h"
#include "agent/sources/otlp/otlp_source.h"
#include "common/log.h"

namespace {

using namespace custos;
using namespace custos::agent;

std::string Request(int spans, int batch) {
  otlp_compat::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* kv = rs->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value("bench");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("bench-tracer");
  for (int i = 0; i < spans; ++i) {
    auto* s = ss->add_spans();
    std::string trace(16, '\x01');
    trace[0] = static_cast<char>(batch);
    trace[1] = static_cast<char>(batch >> 8);
    std::string id(8, '\x02');
    id[0] = static_cast<char>(i);
    id[1] = static_cast<char>(i >> 8);
    s->set_trace_id(trace);
    s->set_span_id(id);
    s->set_name("GET /api/v1/items/{id}");
    s->set_kind(otlp_compat::Span::SPAN_KIND_SERVER);
    s->set_start_time_unix_nano(1'700'000'000'000'000'000ULL + i);
    s->set_end_time_unix_nano(1'700'000'000'000'500'000ULL + i);
    for (int a = 0; a < 8; ++a) {
      auto* attr = s->add_attributes();
      attr->set_key("attribute." + std::to_string(a));
      if (a % 2 == 0) {
        attr->mutable_value()->set_string_value("value-" + std::to_string(i * a));
      } else {
        attr->mutable_value()->set_int_value(i * a);
      }
    }
  }
  return req.SerializeAsString();
}

double Run(bool wait_durable, int requests, int spans) {
  MetricsRegistry metrics;
  std::string tmpl = "/tmp/custos_otlp_bench_XXXXXX";
  std::string dir = mkdtemp(tmpl.data());
  auto spool = Spool::Open(SpoolOptions{.dir = dir, .quota_bytes = 16ULL << 30}, metrics);
  if (!spool.ok()) {
    std::fprintf(stderr, "spool: %s\n", spool.status().ToString().c_str());
    std::exit(1);
  }
  v1::Resource node;
  node.set_node_id("bench");
  Batcher batcher(BatcherOptions{.agent_id = "bench"}, **spool, node, metrics, Clock::Real());
  batcher.Start();
  SourceContext context{batcher, metrics, Clock::Real(), node};
  otlp::OtlpOptions options;
  options.port = 0;
  options.export_options.wait_durable = wait_durable;
  otlp::OtlpSource source(options, context);
  if (Status s = source.Start(""); !s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    std::exit(1);
  }
  std::vector<std::string> bodies;
  for (int i = 0; i < 16; ++i) bodies.push_back(Request(spans, i));
  httplib::Client cli("127.0.0.1", source.port());
  cli.set_keep_alive(true);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < requests; ++i) {
    auto res = cli.Post("/v1/traces", bodies[static_cast<size_t>(i) % bodies.size()], "application/x-protobuf");
    if (!res || res->status != 200) {
      std::fprintf(stderr, "request %d failed: %d\n", i, res ? res->status : -1);
      std::exit(1);
    }
  }
  if (Status s = batcher.FlushNow(); !s.ok()) std::exit(1);  // everything durable in both modes
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  source.Stop();
  batcher.Stop();
  std::system(("rm -rf '" + dir + "'").c_str());
  return static_cast<double>(requests) * spans / secs;
}

}  // namespace

int main(int argc, char** argv) {
  int requests = argc > 1 ? std::atoi(argv[1]) : 400;
  int spans = argc > 2 ? std::atoi(argv[2]) : 512;
  custos::log::SetMinLevel(custos::log::Level::kWarning);
  double durable = Run(true, requests, spans);
  double memory = Run(false, requests, spans);
  std::printf("otlp_receive_bench: %d requests x %d spans, 1 keep-alive client, protobuf: "
              "wait_durable %.0f spans/s, in-memory ack %.0f spans/s\n",
              requests, spans, durable, memory);
  return 0;
}
