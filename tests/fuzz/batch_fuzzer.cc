// libFuzzer target: the collector's decoding and validation of a frame from
// an agent (untrusted bytes). Build with clang and -DCUSTOS_BUILD_FUZZERS=ON;
// run: build/bin/batch_fuzzer -max_total_time=60 tests/fuzz/corpus/batch
#include <cstddef>
#include <cstdint>

#include "collector/ingest/batch_validator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  custos::ingest::ValidationLimits limits;
  limits.max_batch_bytes = 1 << 20;
  custos::ingest::Validated v = custos::ingest::DecodeAndValidate(data, size, "n1", limits);
  // Every refusal must say why.
  if (!v.ok() && v.message.empty()) __builtin_trap();
  return 0;
}
