// Where a MerkleTree keeps its hashes: one hash per complete (perfect)
// subtree, addressed by (level, index). Node (level, i) is the root of the
// 2^level leaves [i * 2^level, (i + 1) * 2^level); level 0 holds the leaf
// hashes. Every complete subtree of every tree size is such a node, so any
// proof for any earlier size can be assembled from O(log n) of them.
//
//   MemoryNodeStore store;
//   MerkleTree tree(store);
//
// A MerkleTree writes nodes in append order. After a failed append the same
// (level, index) is written again by the next one, so Put must replace.
// Implementations are thread-compatible: one owner at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "collector/audit/hash.h"
#include "common/status.h"

namespace custos::audit {

class NodeStore {
 public:
  virtual ~NodeStore() = default;

  // The hash stored at (level, index); NOT_FOUND if none was stored.
  [[nodiscard]] virtual Result<Hash> Get(uint32_t level, uint64_t index) = 0;

  // Stores `hash` at (level, index), replacing any hash already there.
  [[nodiscard]] virtual Status Put(uint32_t level, uint64_t index, const Hash& hash) = 0;
};

// Nodes in memory, a vector per level (about 64 bytes per leaf). For tests
// and offline verification that rebuilds a tree from an export.
class MemoryNodeStore : public NodeStore {
 public:
  // NodeStore
  [[nodiscard]] Result<Hash> Get(uint32_t level, uint64_t index) override;
  // FAILED_PRECONDITION when `index` would leave a gap in its level: the
  // tree fills each level from the left.
  [[nodiscard]] Status Put(uint32_t level, uint64_t index, const Hash& hash) override;

 private:
  std::vector<std::vector<Hash>> levels_;
};

}  // namespace custos::audit
