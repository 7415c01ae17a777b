// Test helper: the batches waiting in a spool, decoded. For tests of the
// spool's producers (batcher, sources); not linked into the agent.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "agent/core/spool.h"
#include "custos/v1/transport.pb.h"

namespace custos::agent {

// Every pending (durable, unacked) batch in seq order; a batch that cannot be
// read or decoded fails the calling test.
inline std::vector<v1::Batch> PendingBatches(const Spool& spool) {
  std::vector<v1::Batch> out;
  for (uint64_t seq : spool.Pending(0, SIZE_MAX)) {
    auto entry = spool.Read(seq);
    EXPECT_TRUE(entry.ok()) << entry.status().ToString();
    if (!entry.ok()) continue;
    v1::Batch batch;
    EXPECT_TRUE(batch.ParseFromString(entry->batch)) << "seq " << seq;
    out.push_back(std::move(batch));
  }
  return out;
}

}  // namespace custos::agent
