#include "collector/store/sqlite_store.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace custos::store {
namespace {

IngestedBatch MakeBatch(const std::string& agent, uint64_t epoch, uint64_t seq, int logs) {
  IngestedBatch b;
  b.agent_id = agent;
  b.received_unix_nanos = 2'000;
  b.batch.set_agent_id(agent);
  b.batch.set_spool_epoch(epoch);
  b.batch.set_seq(seq);
  b.batch.set_created_unix_nano(1'500);
  v1::Resource* node = b.batch.add_resources();
  node->set_node_id(agent);
  node->set_hostname("host-" + agent);
  v1::Resource* unit = b.batch.add_resources();
  *unit = *node;
  unit->set_systemd_unit("trainer.service");
  for (int i = 0; i < logs; ++i) {
    v1::LogRecord* l = b.batch.add_records()->mutable_log();
    l->set_time_unix_nano(1'000 + seq * 100 + i);
    l->set_message("seq " + std::to_string(seq) + " line " + std::to_string(i));
    l->set_resource_ref(i % 2);
    (*l->mutable_fields())["k"] = "v";
  }
  v1::MetricPoint* m = b.batch.add_records()->mutable_metric();
  m->set_time_unix_nano(1'000 + seq);
  m->set_name("node_load");
  m->set_type(v1::MetricPoint::TYPE_GAUGE);
  m->set_value(0.5);
  (*m->mutable_attributes())["window"] = "1m";
  b.batch.mutable_stats()->set_spool_batches(3);
  return b;
}

std::string TempDb() {
  char tmpl[] = "/tmp/custos_store_XXXXXX";
  return std::string(mkdtemp(tmpl)) + "/custos.db";
}

TEST(SqliteStoreTest, CommitsOnceAndRecognisesDuplicates) {
  std::string path = TempDb();
  auto store = SqliteStore::Open({.path = path});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  IngestedBatch a = MakeBatch("n1", 7, 1, 3), b = MakeBatch("n1", 7, 2, 2);
  auto out = (*store)->Commit({&a, &b});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0], CommitOutcome::kStored);
  EXPECT_EQ((*out)[1], CommitOutcome::kStored);
  // A resend of seq 2 and a new epoch's seq 2 (a recreated spool) in one transaction.
  IngestedBatch again = MakeBatch("n1", 7, 2, 2), new_epoch = MakeBatch("n1", 8, 2, 1);
  out = (*store)->Commit({&again, &new_epoch});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0], CommitOutcome::kDuplicate);
  EXPECT_EQ((*out)[1], CommitOutcome::kStored);
  auto counts = (*store)->Counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)["logs"], 6);
  EXPECT_EQ((*counts)["metrics"], 3);
}

TEST(SqliteStoreTest, DedupSurvivesReopen) {
  std::string path = TempDb();
  {
    auto store = SqliteStore::Open({.path = path});
    IngestedBatch a = MakeBatch("n1", 7, 1, 3);
    ASSERT_TRUE((*store)->Commit({&a}).ok());
  }
  auto store = SqliteStore::Open({.path = path});
  ASSERT_TRUE(store.ok());
  IngestedBatch a = MakeBatch("n1", 7, 1, 3);
  auto out = (*store)->Commit({&a});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0], CommitOutcome::kDuplicate);
  EXPECT_EQ((*(*store)->Counts())["logs"], 3);
}

TEST(SqliteStoreTest, QueryFiltersAndJoinsResources) {
  auto store = SqliteStore::Open({.path = TempDb()});
  IngestedBatch a = MakeBatch("n1", 7, 1, 4), b = MakeBatch("n2", 9, 1, 2);
  ASSERT_TRUE((*store)->Commit({&a, &b}).ok());
  auto rows = (*store)->Query({.kind = "logs", .node = "n1", .limit = 10});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[0]["message"], "seq 1 line 3");  // newest first
  EXPECT_EQ((*rows)[0]["node"], "n1");
  EXPECT_EQ((*rows)[0]["unit"], "trainer.service");
  EXPECT_EQ((*rows)[0]["fields"]["k"], "v");
  auto by_host = (*store)->Query({.kind = "metrics", .node = "host-n2", .name = "node_load"});
  ASSERT_TRUE(by_host.ok());
  ASSERT_EQ(by_host->size(), 1u);
  EXPECT_EQ((*by_host)[0]["attributes"]["window"], "1m");
  EXPECT_EQ((*store)->Query({.kind = "bogus"}).status().code(), StatusCode::kInvalidArgument);
  auto window = (*store)->Query({.kind = "logs", .since_unix_nanos = 1'102, .until_unix_nanos = 1'103});
  ASSERT_TRUE(window.ok());
  EXPECT_EQ(window->size(), 2u);  // n1 lines 2 and 3
}

// Enums come back as schema names, and a table's own "kind" column (span
// kind, GPU event kind) is not lost under the record kind.
TEST(SqliteStoreTest, QueryNamesEnumsAndKeepsOwnKinds) {
  auto store = SqliteStore::Open({.path = TempDb()});
  ASSERT_TRUE(store.ok());
  IngestedBatch b = MakeBatch("n1", 1, 1, 0);
  v1::AccessEvent* a = b.batch.add_records()->mutable_access();
  a->set_time_unix_nano(1'000);
  a->set_action(v1::AccessEvent::ACTION_RENAME);
  a->set_outcome(v1::AccessEvent::OUTCOME_DENIED);
  a->set_dataset_id("patients");
  v1::Span* sp = b.batch.add_records()->mutable_span();
  sp->set_start_time_unix_nano(1'000);
  sp->set_end_time_unix_nano(2'000);
  sp->set_kind(v1::Span::KIND_CLIENT);
  sp->set_status_code(v1::Span::STATUS_ERROR);
  sp->set_name("GET /x");
  v1::GpuEvent* e = b.batch.add_records()->mutable_gpu_event();
  e->set_time_unix_nano(1'000);
  e->set_kind("xid");
  e->set_code(79);
  e->set_gpu_uuid("GPU-1");
  ASSERT_TRUE((*store)->Commit({&b}).ok());
  auto access = (*store)->Query({.kind = "access", .name = "patients", .limit = 10});
  ASSERT_TRUE(access.ok() && access->size() == 1) << access->dump();
  EXPECT_EQ((*access)[0]["action"], "ACTION_RENAME");
  EXPECT_EQ((*access)[0]["outcome"], "OUTCOME_DENIED");
  auto spans = (*store)->Query({.kind = "spans", .limit = 10});
  ASSERT_TRUE(spans.ok() && spans->size() == 1);
  EXPECT_EQ((*spans)[0]["kind"], "spans");
  EXPECT_EQ((*spans)[0]["span_kind"], "KIND_CLIENT");
  EXPECT_EQ((*spans)[0]["status_code"], "STATUS_ERROR");
  auto events = (*store)->Query({.kind = "gpu_events", .name = "GPU-1", .limit = 10});
  ASSERT_TRUE(events.ok() && events->size() == 1);
  EXPECT_EQ((*events)[0]["event_kind"], "xid");
  EXPECT_EQ((*events)[0]["code"], 79);
}

TEST(SqliteStoreTest, AgentsCarryLatestStatsAndHeartbeats) {
  auto store = SqliteStore::Open({.path = TempDb()});
  IngestedBatch a = MakeBatch("n1", 7, 1, 1);
  ASSERT_TRUE((*store)->Commit({&a}).ok());
  IngestedBatch hb;
  hb.agent_id = "n1";
  hb.received_unix_nanos = 9'000;
  hb.batch.set_agent_id("n1");
  hb.batch.set_spool_epoch(7);
  hb.batch.mutable_stats()->set_spool_batches(0);
  hb.batch.mutable_stats()->set_records_dropped(4);
  ASSERT_TRUE((*store)->Commit({&hb}).ok());
  auto agents = (*store)->Agents();
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0]["last_seen"], 9'000);
  EXPECT_EQ((*agents)[0]["records"], 2);
  EXPECT_EQ((*agents)[0]["agent_records_dropped"], 4u);
  EXPECT_EQ((*agents)[0]["hostname"], "host-n1");
}

TEST(SqliteStoreTest, RetentionDeletesOldRows) {
  auto store = SqliteStore::Open({.path = TempDb()});
  IngestedBatch a = MakeBatch("n1", 7, 1, 4);
  ASSERT_TRUE((*store)->Commit({&a}).ok());
  auto deleted = (*store)->DeleteOlderThan(1'102);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 3u);  // logs at 1100, 1101 and the metric at 1001
  EXPECT_EQ((*(*store)->Counts())["logs"], 2);
}

TEST(SqliteStoreTest, NotADatabaseIsAClearError) {
  std::string path = TempDb();
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("this is not sqlite, just text long enough to be a header........................", f);
  std::fclose(f);
  auto store = SqliteStore::Open({.path = path});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(path), std::string::npos) << store.status().ToString();
}

}  // namespace
}  // namespace custos::store

namespace custos::store {
namespace {

// A store file made before a column was added gets the column on open.
TEST(SqliteStoreMigration, OlderFilesGetAddedColumns) {
  char tmpl[] = "/tmp/custos_migrate_XXXXXX";
  std::string path = std::string(mkdtemp(tmpl)) + "/custos.db";
  {
    auto db = Db::Open(path, true);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("CREATE TABLE alerts(ts INTEGER NOT NULL, resource INTEGER NOT NULL, rule TEXT, "
                            "severity TEXT, message TEXT, labels TEXT, record_kind TEXT, count INTEGER, "
                            "policy_version TEXT, alert_node TEXT)")
                    .ok());
  }
  auto store = SqliteStore::Open({.path = path});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE((*store)->writer_db().Exec("INSERT INTO alerts(ts, resource, suppressed_by) VALUES(1, 0, 'silence:7')").ok());
}

}  // namespace
}  // namespace custos::store
