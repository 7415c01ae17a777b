// Decoding and validation of one frame from an agent: untrusted bytes in, a
// Batch or a refusal with its reason out. Pure and allocation-bounded, so it
// is fuzzed directly (tests/fuzz/batch_fuzzer.cc).
#pragma once

#include <cstddef>
#include <string>

#include "custos/v1/transport.pb.h"

namespace custos::ingest {

struct ValidationLimits {
  size_t max_batch_bytes = 8 << 20;
  int max_records = 200'000;
  int max_resources = 10'000;
};

struct Validated {
  // REFUSAL_UNSPECIFIED when the batch is acceptable.
  v1::Ack::Refusal refusal = v1::Ack::REFUSAL_UNSPECIFIED;
  std::string message;  // why, naming the offending record or field
  bool heartbeat = false;
  v1::Batch batch;      // decoded as far as possible (seq/epoch for the reply)

  bool ok() const { return refusal == v1::Ack::REFUSAL_UNSPECIFIED; }
};

// `bound_node` is the node id the ZAP handler bound to the sender's key.
Validated DecodeAndValidate(const void* data, size_t size, const std::string& bound_node,
                            const ValidationLimits& limits);

}  // namespace custos::ingest
