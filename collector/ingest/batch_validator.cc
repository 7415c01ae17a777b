#include "collector/ingest/batch_validator.h"

#include "schemas/record_refs.h"

namespace custos::ingest {

Validated DecodeAndValidate(const void* data, size_t size, const std::string& bound_node,
                            const ValidationLimits& limits) {
  Validated v;
  auto refuse = [&](v1::Ack::Refusal r, std::string m) {
    v.refusal = r;
    v.message = std::move(m);
    return v;
  };
  if (size > limits.max_batch_bytes) {
    return refuse(v1::Ack::REFUSAL_OVERSIZED, "frame of " + std::to_string(size) + " bytes exceeds the limit of " +
                                                  std::to_string(limits.max_batch_bytes));
  }
  if (size == 0) return refuse(v1::Ack::REFUSAL_MALFORMED, "empty frame");
  if (!v.batch.ParseFromArray(data, static_cast<int>(size))) {
    v.batch.Clear();
    return refuse(v1::Ack::REFUSAL_MALFORMED, "frame of " + std::to_string(size) +
                                                  " bytes is not a custos.v1.Batch (truncated or garbage)");
  }
  const v1::Batch& b = v.batch;
  if (bound_node.empty()) return refuse(v1::Ack::REFUSAL_WRONG_IDENTITY, "connection has no enrolled identity");
  if (b.agent_id() != bound_node) {
    return refuse(v1::Ack::REFUSAL_WRONG_IDENTITY, "batch claims agent_id '" + b.agent_id() +
                                                       "' but the key is enrolled for '" + bound_node + "'");
  }
  if (b.spool_epoch() == 0) return refuse(v1::Ack::REFUSAL_INVALID, "spool_epoch is 0");
  if (b.seq() == 0) {
    if (b.records_size() > 0) return refuse(v1::Ack::REFUSAL_INVALID, "heartbeat (seq 0) carries records");
    v.heartbeat = true;
    return v;
  }
  if (b.records_size() > limits.max_records) {
    return refuse(v1::Ack::REFUSAL_INVALID, std::to_string(b.records_size()) + " records exceed the limit of " +
                                                std::to_string(limits.max_records));
  }
  if (b.resources_size() > limits.max_resources) {
    return refuse(v1::Ack::REFUSAL_INVALID, std::to_string(b.resources_size()) + " resources exceed the limit");
  }
  for (int i = 0; i < b.resources_size(); ++i) {
    const std::string& node = b.resources(i).node_id();
    if (!node.empty() && node != bound_node) {
      return refuse(v1::Ack::REFUSAL_WRONG_IDENTITY, "resource " + std::to_string(i) + " claims node '" + node +
                                                         "' but the key is enrolled for '" + bound_node + "'");
    }
  }
  for (int i = 0; i < b.records_size(); ++i) {
    const v1::Record& r = b.records(i);
    if (r.kind_case() == v1::Record::KIND_NOT_SET) {
      return refuse(v1::Ack::REFUSAL_INVALID, "record " + std::to_string(i) + " has no kind");
    }
    if (ResourceRefOf(r) >= static_cast<uint32_t>(b.resources_size())) {
      return refuse(v1::Ack::REFUSAL_INVALID, "record " + std::to_string(i) + " refers to resource " +
                                                  std::to_string(ResourceRefOf(r)) + " of " +
                                                  std::to_string(b.resources_size()));
    }
    if (TimeOf(r) == 0) return refuse(v1::Ack::REFUSAL_INVALID, "record " + std::to_string(i) + " has no timestamp");
  }
  return v;
}

}  // namespace custos::ingest
