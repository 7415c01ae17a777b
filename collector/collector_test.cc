// The collector assembled in-process: a batch with an access event arrives
// over real CURVE, is stored and audited in one transaction, and an erasure
// through the HTTP API forgets its personal data while the trail verifies.
#include <httplib.h>

#include <cstdlib>

#include "collector/api/http_api.h"
#include "collector/collector_testing.h"
#include "collector/store/sqlite_store.h"

namespace custos::collector {
namespace {

using CollectorTest = CollectorTestBase;

TEST_F(CollectorTest, AccessEventsAreAuditedAndErasable) {
  StartCollector("", /*api=*/true);
  // An agent sends one access event by alice.
  v1::Batch b = NewBatch();
  v1::AccessEvent* a = b.add_records()->mutable_access();
  a->set_time_unix_nano(1000);
  a->set_action(v1::AccessEvent::ACTION_READ);
  a->set_object("/data/patients/alice.csv");
  a->set_dataset_id("patients");
  a->set_outcome(v1::AccessEvent::OUTCOME_SUCCESS);
  a->mutable_principal()->set_user("alice");
  a->mutable_principal()->set_uid(1001);
  Send(b);

  // Erasure through the API, as custosctl audit erase does it.
  httplib::Client api("127.0.0.1", collector_->api_port());
  auto res = api.Post("/api/v1/audit/erase?subject=user:alice&actor=dpo");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find("\"erased_payloads\":1"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("\"erased_access_events\":1"), std::string::npos) << res->body;
  auto missing = api.Post("/api/v1/audit/erase");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  // One request a connection: an idle kept-alive connection would cost the
  // collector ~90 wake-ups a second in httplib.
  api.set_keep_alive(true);
  auto health = api.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->get_header_value("Connection"), "close");
  audit::VerifierKey vkey = collector_->audit_key();
  collector_->Stop();

  auto db = store::Db::Open(dir_ + "/state/custos.db", false, true);
  ASSERT_TRUE(db.ok());
  auto data = audit::LoadAuditData(**db);
  ASSERT_TRUE(data.ok());
  std::vector<std::string> kinds;
  for (const std::string& line : data->record_lines) kinds.push_back(audit::ParseRecord(line)->kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"lifecycle", "access", "erasure", "lifecycle"}));
  EXPECT_EQ(audit::ParseRecord(data->record_lines[2])->details.at("store_access_events"), "1");
  // The stored access event kept its dataset, not who read which file.
  auto row = (*db)->Prepare("SELECT coalesce(user, '') || coalesce(object, '') || dataset_id FROM access_events");
  ASSERT_TRUE(row.ok());
  ASSERT_TRUE(*(*row)->Step());
  EXPECT_EQ((*row)->Text(0), "patients");
  EXPECT_EQ(data->record_lines[1].find("alice"), std::string::npos) << "personal data leaked into the chain";
  audit::VerifyReport r = audit::VerifyAuditData(*data, {.log_keys = {vkey}});
  EXPECT_TRUE(r.ok()) << r.first_error;
  EXPECT_EQ(r.payloads_erased, 1u);
}

// httplib's stop() is a no-op until its listen loop has begun: Start()
// returns only once the API serves, so a Stop() right after it returns.
TEST(CollectorApi, StopRightAfterStartReturns) {
  char tmpl[] = "/tmp/custos_api_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto store = store::SqliteStore::Open({.path = dir + "/custos.db"});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  MetricsRegistry metrics;
  for (int i = 0; i < 50; ++i) {
    api::HttpApi api({.host = "127.0.0.1", .port = 0}, **store, metrics);
    ASSERT_TRUE(api.Start().ok());
    api.Stop();
  }
  (void)std::system(("rm -rf " + dir).c_str());
}

// A second process must not be able to share the API's port (httplib sets
// SO_REUSEPORT by default, which would split requests between the two).
TEST(CollectorApi, PortCannotBeShared) {
  httplib::Server first;
  first.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes));  // the most permissive neighbour
  });
  int port = first.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  char tmpl[] = "/tmp/custos_api_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto store = store::SqliteStore::Open({.path = dir + "/custos.db"});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  MetricsRegistry metrics;
  api::HttpApi api({.host = "127.0.0.1", .port = port}, **store, metrics);
  Status s = api.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot listen"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace custos::collector
