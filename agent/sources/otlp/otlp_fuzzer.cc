// libFuzzer target: OTLP decoding of untrusted request bodies, protobuf and
// JSON, traces and logs, through the mapping to custos records. Build with
// clang and -DCUSTOS_BUILD_FUZZERS=ON; run:
//   build-fuzz/bin/otlp_fuzzer -max_total_time=60 agent/sources/otlp/testdata/fuzz_corpus
// The first byte picks the decoder; the rest is the body.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/sources/otlp/otlp_json.h"
#include "agent/sources/otlp/record_mapper.h"

namespace {

using namespace custos::agent::otlp;

void CheckRecords(const MapResult& m) {
  // Every mapped record must survive a round trip (valid UTF-8 everywhere),
  // and every rejection must say why.
  for (const custos::v1::Record& r : m.records) {
    custos::v1::Record back;
    if (!back.ParseFromString(r.SerializeAsString())) __builtin_trap();
  }
  if (m.rejected > 0 && m.first_error.empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  custos::v1::Resource node;
  node.set_node_id("n1");
  uint32_t next_ref = 1;
  RecordMapper mapper(node, [&](const custos::v1::Resource&) { return next_ref++; }, MapperOptions{.max_resources = 4});
  switch (selector % 4) {
    case 0: {
      custos::otlp_compat::ExportTraceServiceRequest req;
      if (req.ParseFromArray(body.data(), static_cast<int>(body.size()))) CheckRecords(mapper.MapTraces(req));
      break;
    }
    case 1: {
      custos::otlp_compat::ExportLogsServiceRequest req;
      if (req.ParseFromArray(body.data(), static_cast<int>(body.size()))) CheckRecords(mapper.MapLogs(req, 1));
      break;
    }
    case 2: {
      auto req = ParseTraceRequestJson(body);
      if (req.ok()) {
        CheckRecords(mapper.MapTraces(*req));
      } else if (req.status().message().empty()) {
        __builtin_trap();
      }
      break;
    }
    default: {
      auto req = ParseLogsRequestJson(body);
      if (req.ok()) {
        CheckRecords(mapper.MapLogs(*req, 1));
      } else if (req.status().message().empty()) {
        __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
