// The audit log's Merkle tree (RFC 6962), append-only and storage-backed.
//
// Appending a leaf writes the leaf and every parent it completes to a
// NodeStore (see node_store.h). The tree keeps its "right frontier" in memory
// (the roots of the perfect subtrees that make up the current size, one per
// set bit of the size), so appends never read the store and cost O(1)
// amortised. Roots and proofs for the current size or ANY earlier size read
// O(log n) stored nodes, never the leaves:
//
//   MemoryNodeStore store;
//   MerkleTree tree(store);
//   CUSTOS_RETURN_IF_ERROR(tree.Append(LeafHash(record)));
//   Hash root = tree.Root();
//   CUSTOS_ASSIGN_OR_RETURN(Proof p, tree.InclusionProof(index, checkpoint_size));
//   CUSTOS_ASSIGN_OR_RETURN(Proof c, tree.ConsistencyProof(old_size, tree.size()));
//
// After a restart, MerkleTree::Open(store, size) reads the frontier back.
// Proofs are exactly those of the RFC (merkle.h builds the same ones from the
// leaves), so VerifyInclusion / VerifyConsistency accept them.
//
// Thread-compatible: one owner at a time; the store must outlive the tree.
#pragma once

#include <array>
#include <cstdint>

#include "collector/audit/hash.h"
#include "collector/audit/merkle.h"
#include "collector/audit/node_store.h"
#include "common/status.h"

namespace custos::audit {

class MerkleTree {
 public:
  // An empty tree writing to `store`.
  explicit MerkleTree(NodeStore& store) : store_(store) {}

  // The tree of the first `size` leaves already in `store`; reads the
  // popcount(size) frontier nodes. NOT_FOUND if the store lacks one.
  [[nodiscard]] static Result<MerkleTree> Open(NodeStore& store, uint64_t size);

  // Number of leaves appended.
  uint64_t size() const { return size_; }

  // Root of the current tree, from memory.
  Hash Root() const;

  // Appends one leaf hash (LeafHash of the entry). On error the tree is
  // unchanged and the append can be retried.
  [[nodiscard]] Status Append(const Hash& leaf_hash);

  // Root of the tree of the first `size` leaves. Requires size <= size().
  [[nodiscard]] Result<Hash> RootAt(uint64_t size);

  // Inclusion proof of leaf `index` in the tree of `size` leaves.
  // Requires index < size <= size().
  [[nodiscard]] Result<Proof> InclusionProof(uint64_t index, uint64_t size);

  // Consistency proof from the tree of `size1` leaves to that of `size2`.
  // Requires size1 <= size2 <= size(); empty when size1 is 0 or equals size2.
  [[nodiscard]] Result<Proof> ConsistencyProof(uint64_t size1, uint64_t size2);

 private:
  // The hash of the RFC 6962 subtree over leaves [begin, end), a non-empty
  // range that occurs as a subtree in some tree (begin is then a multiple of
  // the smallest power of two >= end - begin).
  [[nodiscard]] Result<Hash> SubtreeHash(uint64_t begin, uint64_t end);

  // Node (level, index), from the frontier when it is there, else the store.
  [[nodiscard]] Result<Hash> Node(uint32_t level, uint64_t index);

  [[nodiscard]] Status CheckSize(uint64_t size) const;

  NodeStore& store_;
  uint64_t size_ = 0;
  // frontier_[level] is node (level, (size_ >> level) - 1), the perfect
  // subtree for bit `level` of size_; entries for clear bits are unused.
  std::array<Hash, 64> frontier_{};
};

}  // namespace custos::audit
