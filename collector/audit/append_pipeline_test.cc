// The append pipeline over a real SQLite file: whatever the number of
// threads, the stored records are the entries in order, chained, committed
// to by the tree, with their payloads; a failure part-way returns the error
// and leaves no thread behind.
#include "collector/audit/append_pipeline.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "collector/audit/hash.h"
#include "collector/audit/sqlite_node_store.h"

namespace custos::audit {
namespace {

// Entries of every shape: with and without a payload, runs of one subject
// and subjects that change, and one without a time (the clock's is used).
std::vector<AuditEntry> Entries(size_t n) {
  std::vector<AuditEntry> out;
  for (size_t i = 0; i < n; ++i) {
    AuditEntry e{.time_unix_nanos = i == 7 ? 0 : 1'800'000'000'000'000'000 + static_cast<int64_t>(i),
                 .kind = "access",
                 .actor = "node:n" + std::to_string(i % 3),
                 .action = "read",
                 .object = "dataset:d" + std::to_string(i % 11),
                 .outcome = "allow",
                 .details = {{"bytes", std::to_string(i * 4096)}, {"i", std::to_string(i)}}};
    if (i % 5 != 0) {
      e.subject = "uid:" + std::to_string(i / 40);  // runs of the same subject
      e.personal = "{\"path\":\"/data/" + std::to_string(i) + "\"}";
    }
    out.push_back(std::move(e));
  }
  return out;
}

class AppendPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custos_append_XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto db = store::Db::Open(dir_ + "/a.db", /*create=*/true);
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Exec(kRecordStoreSchema).ok());
    ASSERT_TRUE(db_->Exec("CREATE TABLE audit_nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT "
                          "NULL, PRIMARY KEY(level, idx)) WITHOUT ROWID")
                    .ok());
    auto records = RecordStore::Open(*db_);
    ASSERT_TRUE(records.ok());
    records_ = std::move(*records);
    auto nodes = SqliteNodeStore::Open(*db_, *records_);
    ASSERT_TRUE(nodes.ok());
    nodes_ = std::move(*nodes);
    auto tree = MerkleTree::Open(*nodes_, 0);
    ASSERT_TRUE(tree.ok());
    tree_ = std::make_unique<MerkleTree>(std::move(*tree));
  }
  void TearDown() override { (void)std::system(("rm -rf " + dir_).c_str()); }

  Status Append(const std::vector<AuditEntry>& entries, unsigned threads) {
    return AppendRecords(entries, {.tree = *tree_, .prev = prev_, .records = *records_}, clock_, threads);
  }

  // Checks the stored log against `entries` from first principles: each
  // line's fields, its index, its link to the line before, the payload
  // commitments, the tree root and the chain head.
  void ExpectStored(const std::vector<AuditEntry>& entries) {
    std::vector<std::string> lines;
    ASSERT_TRUE(records_
                    ->ForEachLine([&](std::string&& l) {
                      lines.push_back(std::move(l));
                      return Status::Ok();
                    })
                    .ok());
    std::vector<StoredPayload> payloads;
    ASSERT_TRUE(records_
                    ->ForEachPayload([&](StoredPayload&& p) {
                      payloads.push_back(std::move(p));
                      return Status::Ok();
                    })
                    .ok());
    ASSERT_EQ(lines.size(), entries.size());
    MemoryNodeStore store;
    MerkleTree expected_tree(store);
    std::string prev = GenesisPrev();
    size_t next_payload = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      auto r = ParseRecord(lines[i]);
      ASSERT_TRUE(r.ok()) << i << ": " << r.status().ToString();
      const AuditEntry& e = entries[i];
      EXPECT_EQ(r->index, i);
      EXPECT_EQ(r->time_unix_nanos, e.time_unix_nanos != 0 ? e.time_unix_nanos : clock_.NowUnixNanos()) << i;
      EXPECT_EQ(r->actor, e.actor) << i;
      EXPECT_EQ(r->object, e.object) << i;
      EXPECT_EQ(r->details, e.details) << i;
      EXPECT_EQ(r->prev, prev) << i;
      if (e.personal) {
        ASSERT_LT(next_payload, payloads.size());
        const StoredPayload& p = payloads[next_payload++];
        EXPECT_EQ(p.index, i);
        EXPECT_EQ(p.payload, *e.personal);
        Hash subject = Sha256({AsBytes(e.subject)});
        EXPECT_EQ(p.subject_hash, std::string(reinterpret_cast<const char*>(subject.data()), 32)) << i;
        EXPECT_EQ(r->payload_commitment, PayloadCommitment(AsBytes(p.salt), p.payload)) << i;
      } else {
        EXPECT_EQ(r->payload_commitment, "") << i;
      }
      const Hash leaf = LeafHash(lines[i]);
      ASSERT_TRUE(expected_tree.Append(leaf).ok());
      prev = HexEncode(leaf);
    }
    EXPECT_EQ(next_payload, payloads.size());
    EXPECT_EQ(tree_->size(), entries.size());
    EXPECT_EQ(tree_->Root(), expected_tree.Root());
    EXPECT_EQ(prev_, prev);
  }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<store::Db> db_;
  std::unique_ptr<RecordStore> records_;
  std::unique_ptr<SqliteNodeStore> nodes_;
  std::unique_ptr<MerkleTree> tree_;
  std::string prev_ = GenesisPrev();
};

class AppendPipelineThreads : public AppendPipelineTest, public ::testing::WithParamInterface<unsigned> {};

TEST_P(AppendPipelineThreads, StoresEveryRecordInOrderWithItsChainTreeAndPayload) {
  // Blocks of 256: 1, 3 and a partial, then many; appended one after another.
  std::vector<AuditEntry> all = Entries(1 + 700 + 4100);
  std::vector<AuditEntry> a(all.begin(), all.begin() + 1), b(all.begin() + 1, all.begin() + 701),
      c(all.begin() + 701, all.end());
  ASSERT_TRUE(Append(a, GetParam()).ok());
  ASSERT_TRUE(Append(b, GetParam()).ok());
  ASSERT_TRUE(Append(c, GetParam()).ok());
  ExpectStored(all);
  auto chunks = db_->Prepare("SELECT count(*) FROM audit_chunks");
  ASSERT_TRUE(*(*chunks)->Step());
  EXPECT_EQ((*chunks)->Int(0), 1 + 3 + 17);  // each append's blocks of up to 256
}

INSTANTIATE_TEST_SUITE_P(Threads, AppendPipelineThreads, ::testing::Values(1u, 2u, 3u, 4u));

TEST_F(AppendPipelineTest, AFailedInsertPartWayReturnsTheErrorAndStopsTheHelpers) {
  // A row already at the third block's index: its insert fails while the
  // helpers are still encoding and compressing later blocks.
  ASSERT_TRUE(db_->Exec("INSERT INTO audit_chunks VALUES(512, 1, x'00')").ok());
  for (unsigned threads : {1u, 2u, 4u}) {
    ASSERT_TRUE(db_->Exec("SAVEPOINT append").ok());
    Status s = Append(Entries(3000), threads);
    EXPECT_FALSE(s.ok()) << threads;
    EXPECT_NE(s.message().find("audit_chunks"), std::string::npos) << s.ToString();
    ASSERT_TRUE(db_->Exec("ROLLBACK TO append").ok());
    ASSERT_TRUE(db_->Exec("RELEASE append").ok());
    // As the audit log does after a failed append: back to the stored state.
    auto tree = MerkleTree::Open(*nodes_, 0);
    ASSERT_TRUE(tree.ok());
    tree_ = std::make_unique<MerkleTree>(std::move(*tree));
    prev_ = GenesisPrev();
  }
  ASSERT_TRUE(db_->Exec("DELETE FROM audit_chunks").ok());
  records_->ForgetCache();
  std::vector<AuditEntry> entries = Entries(600);
  ASSERT_TRUE(Append(entries, 2).ok());
  ExpectStored(entries);
}

}  // namespace
}  // namespace custos::audit
