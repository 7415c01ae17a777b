#include "collector/erasure.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "collector/alerting/alert_outbox.h"
#include "collector/store/sqlite_store.h"

namespace custos::collector {
namespace {

class ErasureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custos_erasure_XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto store = store::SqliteStore::Open({.path = dir_ + "/custos.db"});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ASSERT_TRUE(CreateOutboxTable(db()).ok());
    // Three principals' reads, stored as ingest stores them.
    store::IngestedBatch b;
    b.agent_id = "n1";
    b.batch.set_agent_id("n1");
    b.batch.set_spool_epoch(1);
    b.batch.set_seq(1);
    b.batch.add_resources()->set_node_id("n1");
    auto read = [&](const std::string& user, const std::string& service, uint32_t uid, const std::string& path) {
      v1::AccessEvent* a = b.batch.add_records()->mutable_access();
      a->set_time_unix_nano(1000);
      a->set_action(v1::AccessEvent::ACTION_READ);
      a->set_object(path);
      a->set_dataset_id("patients");
      a->mutable_principal()->set_user(user);
      a->mutable_principal()->set_service_identity(service);
      a->mutable_principal()->set_uid(uid);
      a->mutable_principal()->set_executable("/usr/bin/python3");
    };
    read("alice", "", 1001, "/data/patients/alice.csv");
    read("", "etl", 998, "/data/patients/all.parquet");
    read("", "", 1001, "/data/patients/cron.csv");  // uid 1001 with no user name
    ASSERT_TRUE(store_->Commit({&b}).ok());
    // An alert about alice, stored and waiting for delivery.
    ASSERT_TRUE(db().Exec("INSERT INTO alerts(ts, resource, rule, severity, message, labels, subject) VALUES(1, 0, "
                          "'access.violation', 'error', 'alice read patients', '{}', 'user:alice'), (2, 0, "
                          "'access.violation', 'error', 'etl read patients', '{}', 'service:etl')")
                    .ok());
    ASSERT_TRUE(db().Exec("INSERT INTO alert_outbox(target_kind, target_url, fingerprint, alert, next_attempt, "
                          "created, subject) VALUES('alertmanager', 'http://127.0.0.1:9093', 'f1', "
                          "'{\"labels\":{\"dataset\":\"patients\"},\"annotations\":{\"summary\":\"alice read "
                          "patients\"}}', 0, 0, 'user:alice')")
                    .ok());
  }
  void TearDown() override {
    store_.reset();
    (void)std::system(("rm -rf " + dir_).c_str());
  }

  store::Db& db() { return store_->writer_db(); }
  std::string Text(const std::string& sql) {
    auto st = db().Prepare(sql);
    EXPECT_TRUE(st.ok()) << sql;
    auto row = (*st)->Step();
    return row.ok() && *row && !(*st)->IsNull(0) ? (*st)->Text(0) : "NULL";
  }

  std::string dir_;
  std::unique_ptr<store::SqliteStore> store_;
};

TEST_F(ErasureTest, AliceIsGoneFromHerAccessEventsAlertsAndTheOutbox) {
  auto erased = EraseSubjectFromStore(db(), "user:alice");
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_EQ(erased->access_events, 1u);
  EXPECT_EQ(erased->alerts, 1u);
  EXPECT_EQ(erased->outbox, 1u);
  EXPECT_EQ(Text("SELECT count(*) FROM access_events WHERE user = 'alice' OR object LIKE '%alice%'"), "0");
  // What is not personal stays: the dataset, and the other principals.
  EXPECT_EQ(Text("SELECT count(*) FROM access_events WHERE dataset_id = 'patients'"), "3");
  EXPECT_EQ(Text("SELECT coalesce(uid, 'NULL') || ' ' || coalesce(executable, 'NULL') FROM access_events WHERE dataset_id = "
                 "'patients' AND user IS NULL AND service_identity IS NULL AND object IS NULL"),
            "NULL NULL");
  EXPECT_EQ(Text("SELECT message FROM alerts WHERE ts = 1"), "[erased]");
  EXPECT_EQ(Text("SELECT message FROM alerts WHERE ts = 2"), "etl read patients");
  EXPECT_EQ(Text("SELECT alert ->> '$.annotations.summary' FROM alert_outbox"), "[erased]");
  EXPECT_EQ(Text("SELECT alert ->> '$.labels.dataset' FROM alert_outbox"), "patients");
  // Asking again finds nothing more.
  erased = EraseSubjectFromStore(db(), "user:alice");
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(erased->access_events + erased->alerts + erased->outbox, 0u);
}

TEST_F(ErasureTest, AUidIsThePrincipalOnlyWithoutANameOrIdentity) {
  auto erased = EraseSubjectFromStore(db(), "uid:1001");
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_EQ(erased->access_events, 1u);  // the cron read; alice's read is hers
  EXPECT_EQ(Text("SELECT object FROM access_events WHERE user = 'alice'"), "/data/patients/alice.csv");
  EXPECT_EQ(Text("SELECT count(*) FROM access_events WHERE object = '/data/patients/cron.csv'"), "0");
  erased = EraseSubjectFromStore(db(), "service:etl");
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(erased->access_events, 1u);
  EXPECT_EQ(erased->alerts, 1u);
  auto bad = EraseSubjectFromStore(db(), "uid:alice");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("a uid subject takes a number"), std::string::npos) << bad.status().ToString();
  EXPECT_EQ(bad.status().ToString().find("alice"), std::string::npos) << "the subject is logged with the error";
  // A kind with no one after it would match everyone without a name.
  for (const char* nobody : {"user:", "service:", "uid:"}) {
    auto refused = EraseSubjectFromStore(db(), nobody);
    ASSERT_FALSE(refused.ok()) << nobody;
    EXPECT_NE(refused.status().message().find("names no one"), std::string::npos) << refused.status().ToString();
  }
  EXPECT_EQ(Text("SELECT object FROM access_events WHERE object IS NOT NULL"), "/data/patients/alice.csv");
  // Another kind of subject names no access event; nothing fails.
  erased = EraseSubjectFromStore(db(), "email:alice@example.org");
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(erased->access_events + erased->alerts + erased->outbox, 0u);
}

}  // namespace
}  // namespace custos::collector
