#include "collector/audit/merkle_tree.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace custos::audit {
namespace {

constexpr uint64_t kMaxSize = 70;  // every shape up to and past 64 leaves

// A MemoryNodeStore that counts reads and can be told to fail writes.
class InstrumentedStore : public NodeStore {
 public:
  // NodeStore
  Result<Hash> Get(uint32_t level, uint64_t index) override {
    ++gets;
    return inner.Get(level, index);
  }
  Status Put(uint32_t level, uint64_t index, const Hash& hash) override {
    if (puts_before_failure == 0) return Unavailable("disk unplugged");
    if (puts_before_failure > 0) --puts_before_failure;
    return inner.Put(level, index, hash);
  }

  MemoryNodeStore inner;
  int gets = 0;
  int puts_before_failure = -1;  // negative: never fail
};

std::vector<Hash> Leaves(uint64_t n) {
  std::vector<Hash> leaves;
  for (uint64_t i = 0; i < n; ++i) leaves.push_back(LeafHash("entry " + std::to_string(i)));
  return leaves;
}

// Reference roots and proofs for every size up to kMaxSize, from merkle.h.
struct Reference {
  std::vector<Hash> leaves = Leaves(kMaxSize);
  std::vector<Hash> roots;                      // [n]
  std::vector<std::vector<Proof>> inclusion;    // [n][m], m < n
  std::vector<std::vector<Proof>> consistency;  // [n][m], m <= n

  Reference() {
    for (uint64_t n = 0; n <= kMaxSize; ++n) {
      roots.push_back(RootOf(std::span(leaves).first(n)));
      inclusion.emplace_back();
      consistency.emplace_back();
      for (uint64_t m = 0; m <= n; ++m) {
        if (m < n) inclusion[n].push_back(*InclusionProof(leaves, m, n));
        consistency[n].push_back(*ConsistencyProof(leaves, m, n));
      }
    }
  }
};

const Reference& Ref() {
  static const Reference ref;
  return ref;
}

// Checks every root and proof the tree can give at its current size against
// the reference, and that the verifiers accept them.
void ExpectMatchesReference(MerkleTree& tree) {
  const Reference& ref = Ref();
  const uint64_t size = tree.size();
  ASSERT_EQ(tree.Root(), ref.roots[size]);
  for (uint64_t n = 0; n <= size; ++n) {
    SCOPED_TRACE("tree of " + std::to_string(size) + " leaves, size " + std::to_string(n));
    Result<Hash> root = tree.RootAt(n);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    ASSERT_EQ(*root, ref.roots[n]);
    for (uint64_t m = 0; m <= n; ++m) {
      if (m < n) {
        Result<Proof> inclusion = tree.InclusionProof(m, n);
        ASSERT_TRUE(inclusion.ok()) << inclusion.status().ToString();
        ASSERT_EQ(*inclusion, ref.inclusion[n][m]) << "inclusion of " << m;
        ASSERT_TRUE(VerifyInclusion(ref.leaves[m], m, n, *inclusion, ref.roots[n]).ok());
      }
      Result<Proof> consistency = tree.ConsistencyProof(m, n);
      ASSERT_TRUE(consistency.ok()) << consistency.status().ToString();
      ASSERT_EQ(*consistency, ref.consistency[n][m]) << "consistency from " << m;
      ASSERT_TRUE(VerifyConsistency(m, n, *consistency, ref.roots[m], ref.roots[n]).ok());
    }
  }
}

TEST(MerkleTreeTest, EmptyTree) {
  MemoryNodeStore store;
  MerkleTree tree(store);
  EXPECT_EQ(tree.size(), 0u);
  EXPECT_EQ(tree.Root(), EmptyRoot());
  EXPECT_EQ(*tree.RootAt(0), EmptyRoot());
  EXPECT_TRUE(tree.ConsistencyProof(0, 0)->empty());
  EXPECT_EQ(tree.InclusionProof(0, 0).status().code(), StatusCode::kInvalidArgument);
}

// For every tree size up to kMaxSize, every root, inclusion proof and
// consistency proof for every earlier size equals the RFC's recursive
// definition and verifies.
TEST(MerkleTreeTest, MatchesReferenceForEveryPairOfSizes) {
  MemoryNodeStore store;
  MerkleTree tree(store);
  ExpectMatchesReference(tree);
  for (const Hash& leaf : Ref().leaves) {
    ASSERT_TRUE(tree.Append(leaf).ok());
    ExpectMatchesReference(tree);
    if (HasFatalFailure()) return;
  }
}

TEST(MerkleTreeTest, OpenResumesAtEverySize) {
  MemoryNodeStore full_store;
  MerkleTree full(full_store);
  for (const Hash& leaf : Ref().leaves) ASSERT_TRUE(full.Append(leaf).ok());

  for (uint64_t size = 0; size <= kMaxSize; ++size) {
    SCOPED_TRACE("opened at " + std::to_string(size));
    // A store holding exactly what a tree of `size` leaves wrote.
    MemoryNodeStore store;
    {
      MerkleTree writer(store);
      for (uint64_t i = 0; i < size; ++i) ASSERT_TRUE(writer.Append(Ref().leaves[i]).ok());
    }
    Result<MerkleTree> reopened = MerkleTree::Open(store, size);
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    EXPECT_EQ(reopened->size(), size);
    EXPECT_EQ(reopened->Root(), Ref().roots[size]);
    // It keeps appending as if it had never stopped.
    for (uint64_t i = size; i < kMaxSize; ++i) ASSERT_TRUE(reopened->Append(Ref().leaves[i]).ok());
    EXPECT_EQ(reopened->Root(), full.Root());
    EXPECT_EQ(*reopened->InclusionProof(size / 2, kMaxSize), *full.InclusionProof(size / 2, kMaxSize));
    EXPECT_EQ(*reopened->ConsistencyProof(size, kMaxSize), *full.ConsistencyProof(size, kMaxSize));
  }
}

TEST(MerkleTreeTest, OpenFailsWhenTheStoreLacksAFrontierNode) {
  MemoryNodeStore store;
  MerkleTree writer(store);
  for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(writer.Append(Ref().leaves[i]).ok());
  Result<MerkleTree> opened = MerkleTree::Open(store, 6);  // leaf 5 was never written
  EXPECT_EQ(opened.status().code(), StatusCode::kNotFound);
  EXPECT_NE(opened.status().message().find("opening Merkle tree of size 6"), std::string::npos);
}

TEST(MerkleTreeTest, FailedAppendLeavesTheTreeUnchanged) {
  InstrumentedStore store;
  MerkleTree tree(store);
  for (uint64_t i = 0; i < 7; ++i) ASSERT_TRUE(tree.Append(Ref().leaves[i]).ok());
  // Leaf 7 completes three parents: four writes. Let two succeed.
  store.puts_before_failure = 2;
  Status s = tree.Append(Ref().leaves[7]);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(tree.size(), 7u);
  EXPECT_EQ(tree.Root(), Ref().roots[7]);
  store.puts_before_failure = -1;
  ASSERT_TRUE(tree.Append(Ref().leaves[7]).ok());
  ExpectMatchesReference(tree);
}

TEST(MerkleTreeTest, AppendsNeverReadAndProofsReadLogarithmicallyMany) {
  constexpr uint64_t kLeaves = 100'003;  // 17 bits, several of them set
  constexpr int kMaxReads = 2 * 17;
  InstrumentedStore store;
  MerkleTree tree(store);
  std::vector<Hash> leaves;
  for (uint64_t i = 0; i < kLeaves; ++i) {
    leaves.push_back(LeafHash("entry " + std::to_string(i)));
    ASSERT_TRUE(tree.Append(leaves.back()).ok());
  }
  EXPECT_EQ(store.gets, 0);

  const std::pair<uint64_t, uint64_t> pairs[] = {
      {0, kLeaves},     {kLeaves - 1, kLeaves}, {1, kLeaves - 1}, {12'345, 99'999},  {65'535, 65'537},
      {65'536, 98'304}, {77'777, 77'778},       {3, 5},           {50'000, 100'000}, {99'998, 100'001},
  };
  for (auto [m, n] : pairs) {
    SCOPED_TRACE(std::to_string(m) + ", " + std::to_string(n));
    int before = store.gets;
    Result<Hash> root_m = tree.RootAt(m);
    Result<Hash> root_n = tree.RootAt(n);
    ASSERT_TRUE(root_m.ok() && root_n.ok());
    EXPECT_LE(store.gets - before, 2 * kMaxReads);

    before = store.gets;
    Result<Proof> inclusion = tree.InclusionProof(m, n);
    ASSERT_TRUE(inclusion.ok());
    EXPECT_LE(store.gets - before, kMaxReads);
    EXPECT_TRUE(VerifyInclusion(leaves[m], m, n, *inclusion, *root_n).ok());

    before = store.gets;
    Result<Proof> consistency = tree.ConsistencyProof(m, n);
    ASSERT_TRUE(consistency.ok());
    EXPECT_LE(store.gets - before, kMaxReads);
    EXPECT_TRUE(VerifyConsistency(m, n, *consistency, *root_m, *root_n).ok());
  }
  // The current root and the nodes on the right edge come from memory.
  int before = store.gets;
  EXPECT_EQ(*tree.RootAt(kLeaves), tree.Root());
  EXPECT_TRUE(tree.InclusionProof(kLeaves - 1, kLeaves).ok());
  EXPECT_EQ(store.gets - before, 0);
}

TEST(MerkleTreeTest, RejectsSizesBeyondTheTree) {
  MemoryNodeStore store;
  MerkleTree tree(store);
  for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(tree.Append(Ref().leaves[i]).ok());
  struct Case {
    const char* name;
    Status status;
    const char* reason;
  };
  const Case cases[] = {
      {"root_beyond", tree.RootAt(6).status(), "beyond the 5 leaves"},
      {"inclusion_size_beyond", tree.InclusionProof(0, 6).status(), "beyond the 5 leaves"},
      {"inclusion_index_beyond", tree.InclusionProof(5, 5).status(), "index beyond tree size"},
      {"consistency_size_beyond", tree.ConsistencyProof(1, 6).status(), "beyond the 5 leaves"},
      {"consistency_reversed", tree.ConsistencyProof(4, 3).status(), "first size beyond second size"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(c.status.message().find(c.reason), std::string::npos) << c.status.message();
  }
}

TEST(MemoryNodeStoreTest, GetPutAndGaps) {
  MemoryNodeStore store;
  const Hash a = LeafHash("a"), b = LeafHash("b");
  EXPECT_EQ(store.Get(0, 0).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store.Put(0, 0, a).ok());
  ASSERT_TRUE(store.Put(3, 0, b).ok());  // levels are independent
  EXPECT_EQ(*store.Get(0, 0), a);
  EXPECT_EQ(*store.Get(3, 0), b);
  EXPECT_EQ(store.Get(2, 0).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store.Put(0, 0, b).ok());  // replaced
  EXPECT_EQ(*store.Get(0, 0), b);
  EXPECT_EQ(store.Put(0, 2, a).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.Put(64, 0, a).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::audit
