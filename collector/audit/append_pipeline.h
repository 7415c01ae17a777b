// How one append's records are made and stored (AuditLog's appends).
//
// Everything of a record's line but its chain link (the last field, the
// previous record's leaf hash) is independent of the records before it. So an
// append works in blocks of one chunk's records (kChunkRecords), each going
// through four stages:
//   encode   - the line up to the link, its partial leaf hash, the payload
//              commitment and salt: any thread, any order;
//   chain    - the link, the leaf hash, the Merkle tree: in order, on the
//              caller's thread (the tree writes nodes to the database);
//   compress - the block's chunk: any thread, once the block is chained;
//   insert   - the chunk's rows: in order, on the caller's thread.
// On a large append the stages of different blocks run at once on every
// core, so the serial chain and inserts overlap the encoding and compression
// of other blocks instead of leaving cores idle.
//
// On error nothing is undone here: the caller rolls the transaction back and
// reloads the tree and chain head.
#pragma once

#include <string>
#include <vector>

#include "collector/audit/merkle_tree.h"
#include "collector/audit/record.h"
#include "collector/audit/record_store.h"
#include "common/clock.h"

namespace custos::audit {

// What an append changes: the tree (appended to), the chain head (hex leaf
// hash of the last record, updated) and the stored chunks.
struct AppendTarget {
  MerkleTree& tree;
  std::string& prev;
  RecordStore& records;
};

// Appends `entries` as records tree.size(), tree.size() + 1, ...; an entry
// without a time gets clock's. `max_threads` bounds the threads used
// (the caller's included); 0 means one per core.
Status AppendRecords(const std::vector<AuditEntry>& entries, AppendTarget target, Clock& clock,
                     unsigned max_threads = 0);

}  // namespace custos::audit
