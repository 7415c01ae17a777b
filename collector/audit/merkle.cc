#include "collector/audit/merkle.h"

#include <bit>
#include <cassert>
#include <string>

namespace custos::audit {
namespace {

// PATH(m, D[n]) of RFC 6962 §2.1.1, appended to `out` deepest first.
void Path(uint64_t m, std::span<const Hash> d, Proof& out) {
  if (d.size() <= 1) return;
  uint64_t k = SplitPoint(d.size());
  if (m < k) {
    Path(m, d.first(k), out);
    out.push_back(RootOf(d.subspan(k)));
  } else {
    Path(m - k, d.subspan(k), out);
    out.push_back(RootOf(d.first(k)));
  }
}

// SUBPROOF(m, D[n], b) of RFC 6962 §2.1.2, appended to `out`.
void Subproof(uint64_t m, std::span<const Hash> d, bool b, Proof& out) {
  if (m == d.size()) {
    if (!b) out.push_back(RootOf(d));
    return;
  }
  uint64_t k = SplitPoint(d.size());
  if (m <= k) {
    Subproof(m, d.first(k), b, out);
    out.push_back(RootOf(d.subspan(k)));
  } else {
    Subproof(m - k, d.subspan(k), false, out);
    out.push_back(RootOf(d.first(k)));
  }
}

// Both verifiers shift fn and sn right together until fn is odd or zero.
void ShiftUntilOddOrZero(uint64_t& fn, uint64_t& sn) {
  while (fn != 0 && (fn & 1) == 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

std::string Sizes(uint64_t a, uint64_t b) { return std::to_string(a) + " vs " + std::to_string(b); }

}  // namespace

uint64_t SplitPoint(uint64_t n) {
  assert(n >= 2);
  return std::bit_floor(n - 1);
}

Hash RootOf(std::span<const Hash> leaves) {
  if (leaves.empty()) return EmptyRoot();
  if (leaves.size() == 1) return leaves[0];
  uint64_t k = SplitPoint(leaves.size());
  return NodeHash(RootOf(leaves.first(k)), RootOf(leaves.subspan(k)));
}

Result<Proof> InclusionProof(std::span<const Hash> leaves, uint64_t index, uint64_t size) {
  if (size > leaves.size()) return InvalidArgument("tree size beyond the leaves given: " + Sizes(size, leaves.size()));
  if (index >= size) return InvalidArgument("index beyond tree size: " + Sizes(index, size));
  Proof out;
  Path(index, leaves.first(size), out);
  return out;
}

Result<Proof> ConsistencyProof(std::span<const Hash> leaves, uint64_t size1, uint64_t size2) {
  if (size2 > leaves.size())
    return InvalidArgument("tree size beyond the leaves given: " + Sizes(size2, leaves.size()));
  if (size1 > size2) return InvalidArgument("first size beyond second size: " + Sizes(size1, size2));
  Proof out;
  if (size1 > 0) Subproof(size1, leaves.first(size2), true, out);
  return out;
}

Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t size, std::span<const Hash> proof,
                       const Hash& root) {
  if (index >= size) return InvalidArgument("index beyond tree size: " + Sizes(index, size));
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return InvalidArgument("proof too long");
    if ((fn & 1) == 1 || fn == sn) {
      r = NodeHash(p, r);
      ShiftUntilOddOrZero(fn, sn);
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return InvalidArgument("proof too short");
  if (r != root) return InvalidArgument("root mismatch");
  return Status::Ok();
}

Status VerifyConsistency(uint64_t size1, uint64_t size2, std::span<const Hash> proof, const Hash& root1,
                         const Hash& root2) {
  if (size1 > size2) return InvalidArgument("first size beyond second size: " + Sizes(size1, size2));
  if (size1 == size2) {
    if (!proof.empty()) return InvalidArgument("proof too long: equal sizes need an empty proof");
    if (root1 != root2) return InvalidArgument("root mismatch: equal sizes with different roots");
    return Status::Ok();
  }
  if (size1 == 0) {
    if (!proof.empty()) return InvalidArgument("proof too long: an empty first tree needs an empty proof");
    return Status::Ok();
  }
  if (proof.empty()) return InvalidArgument("proof too short: empty proof");

  // When size1 is a power of two the old tree is a complete subtree of the new
  // one, the proof omits its root, and the walk starts from root1 instead.
  Hash seed = root1;
  std::span<const Hash> rest = proof;
  if (!std::has_single_bit(size1)) {
    seed = proof.front();
    rest = proof.subspan(1);
  }
  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = seed;
  Hash sr = seed;
  for (const Hash& c : rest) {
    if (sn == 0) return InvalidArgument("proof too long");
    if ((fn & 1) == 1 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      ShiftUntilOddOrZero(fn, sn);
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return InvalidArgument("proof too short");
  if (fr != root1) return InvalidArgument("root mismatch: the proof does not lead to the first root");
  if (sr != root2) return InvalidArgument("root mismatch: the proof does not lead to the second root");
  return Status::Ok();
}

void RootStream::Push(const Hash& leaf) {
  // Each trailing 1 bit of the old size is a perfect subtree that the new
  // leaf completes into one twice its size.
  Hash h = leaf;
  for (uint64_t n = size_; n & 1; n >>= 1) {
    h = NodeHash(subtrees_.back(), h);
    subtrees_.pop_back();
  }
  subtrees_.push_back(h);
  ++size_;
}

Hash RootStream::Root() const {
  if (subtrees_.empty()) return EmptyRoot();
  Hash h = subtrees_.back();
  for (size_t i = subtrees_.size() - 1; i-- > 0;) h = NodeHash(subtrees_[i], h);
  return h;
}

}  // namespace custos::audit
