#include "collector/audit/merkle.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace custos::audit {
namespace {

Hash H(std::string_view hex) { return *HashFromHex(hex); }

// The leaves and roots of the RFC 6962 reference test data (as published by
// the certificate-transparency and transparency-dev/merkle projects).
std::vector<Hash> ReferenceLeaves() {
  const std::string entries[] = {
      "",
      std::string(1, '\x00'),
      "\x10",
      "\x20\x21",
      "\x30\x31",
      "\x40\x41\x42\x43",
      "\x50\x51\x52\x53\x54\x55\x56\x57",
      "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
  };
  std::vector<Hash> leaves;
  for (const std::string& e : entries) leaves.push_back(LeafHash(e));
  return leaves;
}

const char* const kReferenceRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

TEST(MerkleTest, SplitPointIsTheLargestPowerOfTwoBelow) {
  const std::pair<uint64_t, uint64_t> cases[] = {{2, 1},
                                                 {3, 2},
                                                 {4, 2},
                                                 {5, 4},
                                                 {8, 4},
                                                 {9, 8},
                                                 {1000, 512},
                                                 {uint64_t{1} << 40, uint64_t{1} << 39},
                                                 {(uint64_t{1} << 63) + 1, uint64_t{1} << 63}};
  for (auto [n, k] : cases) EXPECT_EQ(SplitPoint(n), k) << n;
}

TEST(MerkleTest, ReferenceRoots) {
  std::vector<Hash> leaves = ReferenceLeaves();
  for (size_t n = 0; n <= leaves.size(); ++n) {
    EXPECT_EQ(HexEncode(RootOf(std::span(leaves).first(n))), kReferenceRoots[n]) << "size " << n;
  }
}

struct ProofVector {
  const char* name;
  uint64_t a;  // index, or first size
  uint64_t b;  // tree size, or second size
  std::vector<const char*> proof;
};

Proof ToProof(const std::vector<const char*>& hex) {
  Proof p;
  for (const char* h : hex) p.push_back(H(h));
  return p;
}

TEST(MerkleTest, ReferenceInclusionProofs) {
  const ProofVector cases[] = {
      {"leaf0_of_8",
       0,
       8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {"leaf5_of_8",
       5,
       8,
       {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
  };
  std::vector<Hash> leaves = ReferenceLeaves();
  for (const ProofVector& c : cases) {
    SCOPED_TRACE(c.name);
    Result<Proof> proof = InclusionProof(leaves, c.a, c.b);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    EXPECT_EQ(*proof, ToProof(c.proof));
    EXPECT_TRUE(VerifyInclusion(leaves[c.a], c.a, c.b, *proof, H(kReferenceRoots[c.b])).ok());
  }
}

TEST(MerkleTest, ReferenceConsistencyProofs) {
  const ProofVector cases[] = {
      {"from2_to8",
       2,
       8,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {"from6_to8",
       6,
       8,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {"from2_to5",
       2,
       5,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
      {"from1_to1", 1, 1, {}},
      {"from0_to8", 0, 8, {}},
  };
  std::vector<Hash> leaves = ReferenceLeaves();
  for (const ProofVector& c : cases) {
    SCOPED_TRACE(c.name);
    Result<Proof> proof = ConsistencyProof(leaves, c.a, c.b);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    EXPECT_EQ(*proof, ToProof(c.proof));
    EXPECT_TRUE(VerifyConsistency(c.a, c.b, *proof, H(kReferenceRoots[c.a]), H(kReferenceRoots[c.b])).ok());
  }
}

TEST(MerkleTest, ReferenceBuildersCheckTheirArguments) {
  std::vector<Hash> leaves = ReferenceLeaves();
  EXPECT_FALSE(InclusionProof(leaves, 8, 8).ok());
  EXPECT_FALSE(InclusionProof(leaves, 0, 9).ok());
  EXPECT_FALSE(ConsistencyProof(leaves, 5, 4).ok());
  EXPECT_FALSE(ConsistencyProof(leaves, 1, 9).ok());
}

// Each failure names its reason; the cases use the 8-leaf reference tree.
TEST(MerkleTest, VerifyInclusionReasons) {
  std::vector<Hash> leaves = ReferenceLeaves();
  const Hash root8 = H(kReferenceRoots[8]);
  const Proof proof = *InclusionProof(leaves, 5, 8);
  Proof longer = proof;
  longer.push_back(root8);
  struct Case {
    const char* name;
    uint64_t index, size;
    Proof proof;
    const char* reason;
  };
  const Case cases[] = {
      {"index_equals_size", 8, 8, proof, "index beyond tree size"},
      {"empty_tree", 0, 0, {}, "index beyond tree size"},
      {"too_short", 5, 8, Proof(proof.begin(), proof.end() - 1), "proof too short"},
      {"too_long", 5, 8, longer, "proof too long"},
      {"wrong_index", 4, 8, proof, "root mismatch"},
      {"single_leaf_with_proof", 0, 1, {root8}, "proof too long"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Status s = VerifyInclusion(leaves[5], c.index, c.size, c.proof, root8);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(c.reason), std::string::npos) << s.message();
  }
  EXPECT_TRUE(VerifyInclusion(leaves[0], 0, 1, {}, leaves[0]).ok());
}

TEST(MerkleTest, VerifyConsistencyReasons) {
  std::vector<Hash> leaves = ReferenceLeaves();
  auto root = [](size_t n) { return H(kReferenceRoots[n]); };
  const Proof proof = *ConsistencyProof(leaves, 6, 8);
  Proof longer = proof;
  longer.push_back(root(8));
  struct Case {
    const char* name;
    uint64_t size1, size2;
    Proof proof;
    Hash root1, root2;
    const char* reason;
  };
  const Case cases[] = {
      {"first_beyond_second", 8, 6, proof, root(8), root(6), "first size beyond second size"},
      {"equal_sizes_with_proof", 8, 8, proof, root(8), root(8), "proof too long"},
      {"equal_sizes_other_root", 8, 8, {}, root(7), root(8), "root mismatch"},
      {"empty_first_with_proof", 0, 8, proof, root(0), root(8), "proof too long"},
      {"empty_proof", 6, 8, {}, root(6), root(8), "proof too short"},
      {"too_short", 6, 8, Proof(proof.begin(), proof.end() - 1), root(6), root(8), "proof too short"},
      {"too_long", 6, 8, longer, root(6), root(8), "proof too long"},
      {"wrong_first_root", 6, 8, proof, root(5), root(8), "root mismatch"},
      {"wrong_second_root", 6, 8, proof, root(6), root(7), "root mismatch"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Status s = VerifyConsistency(c.size1, c.size2, c.proof, c.root1, c.root2);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(c.reason), std::string::npos) << s.message();
  }
}

// ---- Every pair of sizes up to kMaxSize: reference proofs verify, and every
// ---- tampered variant is rejected.

constexpr uint64_t kMaxSize = 64;

struct Tree64 {
  std::vector<Hash> leaves;                     // kMaxSize leaves
  std::vector<Hash> roots;                      // [n]: the root of the first n leaves
  std::vector<std::vector<Proof>> consistency;  // [n][m], m <= n
};

const Tree64& SharedTree() {
  static const Tree64 tree = [] {
    Tree64 t;
    for (uint64_t i = 0; i < kMaxSize; ++i) t.leaves.push_back(LeafHash("record " + std::to_string(i)));
    for (uint64_t n = 0; n <= kMaxSize; ++n) {
      t.roots.push_back(RootOf(std::span(t.leaves).first(n)));
      t.consistency.emplace_back();
      for (uint64_t m = 0; m <= n; ++m) t.consistency[n].push_back(*ConsistencyProof(t.leaves, m, n));
    }
    return t;
  }();
  return tree;
}

// Variants of `proof` that must never verify: each element with one bit
// flipped, each element dropped, an element added at either end.
std::vector<Proof> Tampered(const Proof& proof) {
  std::vector<Proof> out;
  for (size_t i = 0; i < proof.size(); ++i) {
    Proof flipped = proof;
    flipped[i][i % 32] ^= static_cast<uint8_t>(1 << (i % 8));
    out.push_back(flipped);
    Proof dropped = proof;
    dropped.erase(dropped.begin() + static_cast<std::ptrdiff_t>(i));
    out.push_back(dropped);
  }
  Proof appended = proof;
  appended.push_back(LeafHash("extra"));
  out.push_back(appended);
  Proof prepended = proof;
  prepended.insert(prepended.begin(), LeafHash("extra"));
  out.push_back(prepended);
  return out;
}

TEST(MerkleExhaustiveTest, InclusionProofsVerifyAndTamperingIsRejected) {
  const std::vector<Hash>& leaves = SharedTree().leaves;
  const std::vector<Hash>& roots = SharedTree().roots;
  for (uint64_t n = 1; n <= kMaxSize; ++n) {
    for (uint64_t m = 0; m < n; ++m) {
      SCOPED_TRACE("index " + std::to_string(m) + " size " + std::to_string(n));
      Result<Proof> proof = InclusionProof(leaves, m, n);
      ASSERT_TRUE(proof.ok());
      ASSERT_TRUE(VerifyInclusion(leaves[m], m, n, *proof, roots[n]).ok());
      for (const Proof& bad : Tampered(*proof)) EXPECT_FALSE(VerifyInclusion(leaves[m], m, n, bad, roots[n]).ok());
      for (uint64_t other = 0; other <= kMaxSize; ++other) {
        if (other == m) continue;
        // The same leaf and proof claimed at another index of the same tree.
        EXPECT_FALSE(VerifyInclusion(leaves[m], other, n, *proof, roots[n]).ok()) << "claimed index " << other;
      }
      for (uint64_t other = m + 1; other <= kMaxSize; ++other) {
        if (other == n) continue;
        // The proof offered for another (real) checkpoint: its size and root.
        EXPECT_FALSE(VerifyInclusion(leaves[m], m, other, *proof, roots[other]).ok()) << "claimed size " << other;
      }
      EXPECT_FALSE(VerifyInclusion(LeafHash("not a record"), m, n, *proof, roots[n]).ok());
    }
  }
}

TEST(MerkleExhaustiveTest, ConsistencyProofsVerifyAndTamperingIsRejected) {
  const std::vector<Hash>& leaves = SharedTree().leaves;
  const std::vector<Hash>& roots = SharedTree().roots;
  for (uint64_t n = 0; n <= kMaxSize; ++n) {
    for (uint64_t m = 0; m <= n; ++m) {
      SCOPED_TRACE("from " + std::to_string(m) + " to " + std::to_string(n));
      Result<Proof> proof = ConsistencyProof(leaves, m, n);
      ASSERT_TRUE(proof.ok());
      ASSERT_TRUE(VerifyConsistency(m, n, *proof, roots[m], roots[n]).ok());
      for (const Proof& bad : Tampered(*proof)) {
        EXPECT_FALSE(VerifyConsistency(m, n, bad, roots[m], roots[n]).ok());
      }
      // The same proof offered for other (real) checkpoint pairs, unless it
      // happens to be their proof too (the empty proof serves 0 -> n and n -> n).
      const auto& table = SharedTree().consistency;
      for (uint64_t other = 0; other <= n; ++other) {
        if (other == m || table[n][other] == *proof) continue;
        EXPECT_FALSE(VerifyConsistency(other, n, *proof, roots[other], roots[n]).ok()) << "first " << other;
      }
      for (uint64_t other = m; other <= kMaxSize; ++other) {
        if (other == n || table[other][m] == *proof) continue;
        EXPECT_FALSE(VerifyConsistency(m, other, *proof, roots[m], roots[other]).ok()) << "second " << other;
      }
      if (m > 0 && m < n) {
        EXPECT_FALSE(VerifyConsistency(m, n, *proof, LeafHash("forged"), roots[n]).ok());
        EXPECT_FALSE(VerifyConsistency(m, n, *proof, roots[m], LeafHash("forged")).ok());
      }
    }
  }
}

TEST(RootStreamTest, EveryPrefixRootMatchesTheRfcDefinition) {
  std::vector<Hash> leaves;
  RootStream stream;
  EXPECT_EQ(stream.Root(), EmptyRoot());
  for (uint64_t i = 0; i < 300; ++i) {
    Hash leaf{};
    leaf[0] = static_cast<uint8_t>(i);
    leaf[1] = static_cast<uint8_t>(i >> 8);
    leaves.push_back(LeafHash(std::string_view(reinterpret_cast<const char*>(leaf.data()), leaf.size())));
    stream.Push(leaves.back());
    ASSERT_EQ(stream.size(), leaves.size());
    ASSERT_EQ(stream.Root(), RootOf(leaves)) << "size " << leaves.size();
  }
}

}  // namespace
}  // namespace custos::audit
