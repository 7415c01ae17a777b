// The "generator" source emits numbered log records at a fixed rate, like
// Fluent Bit's `dummy` input or Vector's `demo_logs`: for load tests,
// benchmarks and end-to-end checks of the pipeline's exactly-once delivery.
//
// Record i (1-based) has message "generator record <i>" and fields
// {"index": "<i>"}; the position is the last index handed to the batcher, so
// a restarted agent continues after the last spooled record: across any
// number of kill -9s the store receives 1..count exactly once.
//
// Config ([sources.generator]): rate (records/s, default 1000), count (total,
// 0 = unbounded, default 0), message_bytes (pad messages to this size).
// Thread-safe: Start/Stop from one thread; the source runs its own thread.
#pragma once

#include <memory>

#include "agent/core/source.h"

namespace custos::agent::generator {

Result<std::unique_ptr<Source>> CreateGeneratorSource(ConfigSection& config, SourceContext& context);

}  // namespace custos::agent::generator
