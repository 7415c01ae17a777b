// Test helpers for the otlp source: hand-built OTLP requests, gzip, and a
// spool + batcher harness whose spooled records the tests read back. Not
// linked into the agent.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/spool.h"
#include "agent/core/spool_testing.h"
#include "agent/sources/otlp/otlp_compat.pb.h"
#include "agent/sources/otlp/otlp_source.h"

namespace custos::agent::otlp {

inline otlp_compat::KeyValue* AddAttr(google::protobuf::RepeatedPtrField<otlp_compat::KeyValue>* attrs,
                                      const std::string& key, const std::string& value) {
  otlp_compat::KeyValue* kv = attrs->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
  return kv;
}

// A request with one resource (service.name = `service`) and `n` spans of one
// trace; span i has span_id 00..0(i+1) and name "span-<i>".
inline otlp_compat::ExportTraceServiceRequest MakeTraceRequest(int n, const std::string& service = "checkout") {
  otlp_compat::ExportTraceServiceRequest req;
  otlp_compat::ResourceSpans* rs = req.add_resource_spans();
  AddAttr(rs->mutable_resource()->mutable_attributes(), "service.name", service);
  otlp_compat::ScopeSpans* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("test-scope");
  for (int i = 0; i < n; ++i) {
    otlp_compat::Span* s = ss->add_spans();
    s->set_trace_id(std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16));
    std::string span_id(8, '\0');
    span_id[7] = static_cast<char>(i + 1);
    s->set_span_id(span_id);
    s->set_name("span-" + std::to_string(i));
    s->set_kind(otlp_compat::Span::SPAN_KIND_SERVER);
    s->set_start_time_unix_nano(1000 + i);
    s->set_end_time_unix_nano(2000 + i);
  }
  return req;
}

// gzip by default; `zlib_format` gives HTTP's "deflate" (zlib-wrapped).
inline std::string Gzip(const std::string& data, bool zlib_format = false) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, zlib_format ? 15 : 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

inline std::string TempDir(const char* prefix) {
  std::string tmpl = std::string("/tmp/") + prefix + "_XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

// A real spool and batcher (not started: records reach the spool through
// FlushNow(), which the source calls itself with wait_durable).
struct Harness {
  // `spool_options.dir` is replaced by a fresh temporary directory.
  explicit Harness(BatcherOptions batcher_options = {.agent_id = "node-1"}, SpoolOptions spool_options = {}) {
    spool_options.dir = TempDir("custos_otlp");
    auto s = Spool::Open(spool_options, metrics);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    spool = std::move(*s);
    node.set_node_id("node-1");
    node.set_hostname("host-1");
    node.set_region("eu-west");
    node.set_zone("eu-west-1a");
    (*node.mutable_labels())["env"] = "prod";
    batcher = std::make_unique<Batcher>(batcher_options, *spool, node, metrics, clock);
    context = std::make_unique<SourceContext>(SourceContext{*batcher, metrics, clock, node});
  }

  // Starts a source from the body of a [sources.otlp] section.
  std::unique_ptr<OtlpSource> StartSource(const std::string& toml = "listen = \"127.0.0.1:0\"\n") {
    auto file = ConfigFile::Parse("[sources.otlp]\n" + toml, "agent.toml");
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    ConfigSection section = file->Section("sources").Section("otlp");
    auto src = OtlpSource::Create(section, *context);
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    if (!src.ok()) return nullptr;
    Status finished = file->Finish();
    EXPECT_TRUE(finished.ok()) << finished.ToString();
    Status started = (*src)->Start("");
    EXPECT_TRUE(started.ok()) << started.ToString();
    EXPECT_GT((*src)->port(), 0);
    return std::move(*src);
  }

  // Every spooled record, with the resources of its batch.
  struct Spooled {
    std::vector<v1::Record> records;
    std::vector<v1::Resource> resources;  // resources[i] belongs to records[i]
  };
  Spooled Read() const {
    Spooled out;
    for (const v1::Batch& b : PendingBatches(*spool)) {
      for (const v1::Record& r : b.records()) {
        uint32_t ref = r.has_span() ? r.span().resource_ref() : r.has_log() ? r.log().resource_ref() : 0;
        out.records.push_back(r);
        out.resources.push_back(ref < static_cast<uint32_t>(b.resources_size()) ? b.resources(static_cast<int>(ref))
                                                                                : v1::Resource());
      }
    }
    return out;
  }

  MetricsRegistry metrics;
  FakeClock clock;
  v1::Resource node;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<Batcher> batcher;
  std::unique_ptr<SourceContext> context;
};

}  // namespace custos::agent::otlp
