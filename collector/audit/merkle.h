// RFC 6962 / RFC 9162 Merkle tree proofs: the verifiers every consumer of the
// audit log runs, and reference builders that follow the RFC's recursive
// definitions literally over a list of leaf hashes.
//
//   CUSTOS_RETURN_IF_ERROR(VerifyInclusion(LeafHash(record), index, cp.size, proof, cp.root));
//   CUSTOS_RETURN_IF_ERROR(VerifyConsistency(old.size, cp.size, proof, old.root, cp.root));
//
// The builders here read every leaf (O(n)); they define what MerkleTree (which
// reads O(log n) stored nodes) must produce, and serve tests and small offline
// checks. Verification failures are INVALID_ARGUMENT with a message that names
// the reason ("proof too short", "root mismatch", ...).
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "collector/audit/hash.h"
#include "common/status.h"

namespace custos::audit {

// Proof elements in the order RFC 9162 transmits them (deepest first).
using Proof = std::vector<Hash>;

// MTH(leaves): the root of the tree over all of `leaves` (EmptyRoot() if none).
Hash RootOf(std::span<const Hash> leaves);

// PATH(index, leaves[0:size]). Requires index < size <= leaves.size().
[[nodiscard]] Result<Proof> InclusionProof(std::span<const Hash> leaves, uint64_t index, uint64_t size);

// PROOF(size1, leaves[0:size2]); empty when size1 is 0 or equals size2.
// Requires size1 <= size2 <= leaves.size().
[[nodiscard]] Result<Proof> ConsistencyProof(std::span<const Hash> leaves, uint64_t size1, uint64_t size2);

// RFC 9162 §2.1.3.2: OK iff `proof` shows that the leaf `leaf_hash` sits at
// `index` in the tree of `size` leaves whose root is `root`.
[[nodiscard]] Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t size, std::span<const Hash> proof,
                                     const Hash& root);

// RFC 9162 §2.1.4.2: OK iff `proof` shows that the tree of `size1` leaves with
// root `root1` is a prefix of the tree of `size2` leaves with root `root2`.
[[nodiscard]] Status VerifyConsistency(uint64_t size1, uint64_t size2, std::span<const Hash> proof, const Hash& root1,
                                       const Hash& root2);

// Roots of every prefix of a stream of leaves, in O(log n) memory and one
// node hash per leaf on average: the roots of the perfect subtrees covering
// the leaves so far (a "compact range"), folded on demand. Verifiers use it
// to check checkpoint roots without keeping the tree.
//
//   RootStream s;
//   for (const Hash& leaf : leaves) s.Push(leaf);
//   Hash root = s.Root();  // == RootOf(leaves)
class RootStream {
 public:
  void Push(const Hash& leaf);
  // MTH of the leaves pushed so far.
  Hash Root() const;
  uint64_t size() const { return size_; }

 private:
  std::vector<Hash> subtrees_;  // left to right, sizes descending powers of two
  uint64_t size_ = 0;
};

// The k of RFC 6962: the largest power of two strictly below n. Requires n >= 2.
uint64_t SplitPoint(uint64_t n);

}  // namespace custos::audit
