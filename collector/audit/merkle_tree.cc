#include "collector/audit/merkle_tree.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <optional>
#include <string>

namespace custos::audit {

Result<MerkleTree> MerkleTree::Open(NodeStore& store, uint64_t size) {
  MerkleTree tree(store);
  for (uint32_t level = 0; level < 64; ++level) {
    uint64_t count = size >> level;
    if ((count & 1) == 0) continue;
    Result<Hash> node = store.Get(level, count - 1);
    if (!node.ok()) return node.status().WithContext("opening Merkle tree of size " + std::to_string(size));
    tree.frontier_[level] = *node;
  }
  tree.size_ = size;
  return tree;
}

Hash MerkleTree::Root() const {
  if (size_ == 0) return EmptyRoot();
  // The perfect subtrees of the frontier, folded from the smallest (rightmost).
  std::optional<Hash> root;
  for (uint32_t level = 0; level < 64; ++level) {
    if (((size_ >> level) & 1) == 0) continue;
    root = root ? NodeHash(frontier_[level], *root) : frontier_[level];
  }
  return *root;
}

Status MerkleTree::Append(const Hash& leaf_hash) {
  if (size_ == std::numeric_limits<uint64_t>::max()) return ResourceExhausted("Merkle tree is full");
  // The new leaf completes one parent per trailing one bit of size_: the
  // frontier node of that level is its left sibling. Everything is written
  // before the frontier changes, so a failed Put leaves the tree as it was.
  Hash node = leaf_hash;
  CUSTOS_RETURN_IF_ERROR(store_.Put(0, size_, node));
  uint32_t level = 0;
  for (; ((size_ >> level) & 1) == 1; ++level) {
    node = NodeHash(frontier_[level], node);
    CUSTOS_RETURN_IF_ERROR(store_.Put(level + 1, size_ >> (level + 1), node));
  }
  frontier_[level] = node;
  ++size_;
  return Status::Ok();
}

Result<Hash> MerkleTree::RootAt(uint64_t size) {
  CUSTOS_RETURN_IF_ERROR(CheckSize(size));
  if (size == 0) return EmptyRoot();
  if (size == size_) return Root();
  return SubtreeHash(0, size);
}

Result<Proof> MerkleTree::InclusionProof(uint64_t index, uint64_t size) {
  CUSTOS_RETURN_IF_ERROR(CheckSize(size));
  if (index >= size) {
    return InvalidArgument("index beyond tree size: " + std::to_string(index) + " vs " + std::to_string(size));
  }
  // PATH(index, D[0:size]), walked from the root down; the RFC lists the
  // siblings from the leaf up, hence the reverse at the end.
  Proof proof;
  uint64_t begin = 0;
  uint64_t end = size;
  while (end - begin > 1) {
    uint64_t mid = begin + SplitPoint(end - begin);
    if (index < mid) {
      CUSTOS_ASSIGN_OR_RETURN(Hash right, SubtreeHash(mid, end));
      proof.push_back(right);
      end = mid;
    } else {
      CUSTOS_ASSIGN_OR_RETURN(Hash left, SubtreeHash(begin, mid));
      proof.push_back(left);
      begin = mid;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

Result<Proof> MerkleTree::ConsistencyProof(uint64_t size1, uint64_t size2) {
  CUSTOS_RETURN_IF_ERROR(CheckSize(size2));
  if (size1 > size2) {
    return InvalidArgument("first size beyond second size: " + std::to_string(size1) + " vs " + std::to_string(size2));
  }
  Proof proof;
  if (size1 == 0 || size1 == size2) return proof;
  // SUBPROOF(m, D[begin:end], whole) walked from the root down, m counted
  // from `begin`; reversed at the end into the RFC's bottom-up order.
  uint64_t begin = 0;
  uint64_t end = size2;
  uint64_t m = size1;
  bool whole = true;  // the RFC's b: the old tree is all of D[begin:end]'s left edge so far
  while (m != end - begin) {
    uint64_t k = SplitPoint(end - begin);
    if (m <= k) {
      CUSTOS_ASSIGN_OR_RETURN(Hash right, SubtreeHash(begin + k, end));
      proof.push_back(right);
      end = begin + k;
    } else {
      CUSTOS_ASSIGN_OR_RETURN(Hash left, SubtreeHash(begin, begin + k));
      proof.push_back(left);
      begin += k;
      m -= k;
      whole = false;
    }
  }
  if (!whole) {
    CUSTOS_ASSIGN_OR_RETURN(Hash old_subtree, SubtreeHash(begin, end));
    proof.push_back(old_subtree);
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

Result<Hash> MerkleTree::SubtreeHash(uint64_t begin, uint64_t end) {
  assert(begin < end);
  // RFC 6962 splits a subtree at the largest power of two below its width, so
  // it is the right fold of the perfect subtrees given by the set bits of its
  // width, largest (leftmost) first. Fold from the smallest, rightmost one.
  uint64_t width = end - begin;
  uint64_t piece_end = end;
  std::optional<Hash> acc;
  for (uint32_t level = 0; level < 64; ++level) {
    if (((width >> level) & 1) == 0) continue;
    uint64_t piece_begin = piece_end - (uint64_t{1} << level);
    CUSTOS_ASSIGN_OR_RETURN(Hash piece, Node(level, piece_begin >> level));
    acc = acc ? NodeHash(piece, *acc) : piece;
    piece_end = piece_begin;
  }
  return *acc;
}

Result<Hash> MerkleTree::Node(uint32_t level, uint64_t index) {
  uint64_t count = size_ >> level;
  if ((count & 1) == 1 && index == count - 1) return frontier_[level];
  return store_.Get(level, index);
}

Status MerkleTree::CheckSize(uint64_t size) const {
  if (size > size_) {
    return InvalidArgument("tree size " + std::to_string(size) + " beyond the " + std::to_string(size_) +
                           " leaves appended");
  }
  return Status::Ok();
}

}  // namespace custos::audit
