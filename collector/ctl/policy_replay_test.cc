// policy diff and policy unused over a real store file.
#include "collector/ctl/policy_replay.h"

#include <gtest/gtest.h>

#include "collector/store/sqlite_store.h"
#include "common/clock.h"
#include "policy/compiler.h"

namespace custos::ctl {
namespace {

constexpr const char* kPolicy = R"(regions eu = [eu-west-1]
regions us = [us-east-1]
dataset images { paths = ["/data/images/**"]
  classification = internal }
dataset ml-a { paths = ["/data/ml/a/**"]
  classification = internal }
dataset ml-b { paths = ["/data/ml/b/**"]
  classification = internal }
dataset cust { paths = ["/data/cust/**"]
  classification = pii }
principal trainer { units = ["trainer.service"] }
principal etl { uids = [3000] }
principal carol { users = ["carol"] }
grant trainer-images { who = trainer
  actions = [read]
  datasets = [images] }
grant etl-ml { who = etl
  actions = [read, write]
  datasets = ["ml-*"] }
grant carol-cust { who = carol
  actions = [read]
  datasets = [cust] }
residency pii { regions = [eu] }
)";

std::shared_ptr<const policy::Policy> MustCompile(const std::string& text) {
  auto r = policy::Compile({{"p.policy", text}});
  EXPECT_TRUE(r.policy) << r.diagnostics.Format(r.files);
  return r.policy;
}

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custos_replay_XXXXXX";
    db_ = std::string(mkdtemp(tmpl)) + "/custos.db";
    auto s = store::SqliteStore::Open({.path = db_});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store::IngestedBatch b;
    b.agent_id = "n1";
    b.batch.set_agent_id("n1");
    b.batch.set_spool_epoch(1);
    b.batch.set_seq(1);
    v1::Resource* eu = b.batch.add_resources();
    eu->set_node_id("n1");
    eu->set_region("eu-west-1");
    v1::Resource* us = b.batch.add_resources();
    us->set_node_id("n2");
    us->set_region("us-east-1");
    now_ = Clock::Real().NowUnixNanos();
    auto add = [&](uint32_t res, const char* unit, int64_t uid, const char* user, v1::AccessEvent::Action action,
                   const char* object, uint32_t count) {
      v1::Record* r = b.batch.add_records();
      v1::AccessEvent* a = r->mutable_access();
      a->set_resource_ref(res);
      a->set_time_unix_nano(static_cast<uint64_t>(now_ - 3'600'000'000'000));
      a->mutable_principal()->set_systemd_unit(unit);
      a->mutable_principal()->set_uid(uid);
      a->mutable_principal()->set_user(user);
      a->set_action(action);
      a->set_object(object);
      a->set_count(count);
    };
    add(0, "trainer.service", 2000, "", v1::AccessEvent::ACTION_READ, "/data/images/1.jpg", 40);
    add(0, "", 3000, "", v1::AccessEvent::ACTION_READ, "/data/ml/a/x.npy", 5);
    add(0, "", 1001, "carol", v1::AccessEvent::ACTION_READ, "/data/cust/c.csv", 1);
    add(1, "", 1001, "carol", v1::AccessEvent::ACTION_READ, "/data/cust/c.csv", 2);
    auto outcome = (*s)->Commit({&b});
    ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  }

  std::string db_;
  int64_t now_ = 0;
};

TEST_F(ReplayTest, LoadsStoredAccessWithRegions) {
  auto set = LoadStoredAccess(db_, now_ - 86'400'000'000'000);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->events.size(), 4u);
  EXPECT_EQ(set->events[0].data.unit, "trainer.service");
  EXPECT_EQ(set->events[0].count, 40u);
  EXPECT_EQ(set->events[0].data.region, "eu-west-1");
  EXPECT_EQ(set->events[3].data.region, "us-east-1");
  EXPECT_EQ(set->events[3].data.node, "n2");
  EXPECT_EQ(set->events[2].data.action, policy::Action::kRead);
  // Nothing newer than an hour from now.
  auto none = LoadStoredAccess(db_, now_ + 3'600'000'000'000);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->events.empty());
}

TEST_F(ReplayTest, UnusedGrantsBroaderGrantsAndIdlePrincipals) {
  auto p = MustCompile(std::string(kPolicy) + "principal dave { users = [\"dave\"] }\n"
                                              "grant dave-images { who = dave\n  actions = [read]\n  datasets = [images] }\n");
  ASSERT_TRUE(p);
  auto set = LoadStoredAccess(db_, now_ - 90 * 86'400'000'000'000);
  ASSERT_TRUE(set.ok());
  UnusedReport r = FindUnused(*p, set->events, now_ - 90 * 86'400'000'000'000, now_);
  EXPECT_EQ(r.events, 48u);
  ASSERT_EQ(r.unused.size(), 1u);
  EXPECT_EQ(r.unused[0].id, "dave-images");
  EXPECT_EQ(r.unused[0].where, "p.policy:25");
  ASSERT_EQ(r.broader.size(), 1u);  // etl-ml: read+write on ml-a and ml-b, used: read ml-a
  EXPECT_EQ(r.broader[0].id, "etl-ml");
  EXPECT_TRUE(r.broader[0].wildcard);
  EXPECT_EQ(r.broader[0].granted_pairs, 4u);
  EXPECT_EQ(r.broader[0].used_pairs, (std::vector<std::string>{"read ml-a"}));
  EXPECT_EQ(r.broader[0].allowed_events, 5u);
  ASSERT_EQ(r.inactive.size(), 1u);
  EXPECT_EQ(r.inactive[0].id, "dave");
  EXPECT_EQ(r.inactive[0].granted_by, (std::vector<std::string>{"dave-images"}));
  // carol-cust allowed the EU read only (the US one breaks residency), yet it was used: not a finding.
  for (const auto& g : r.broader) EXPECT_NE(g.id, "carol-cust");
  auto j = UnusedJson(r, *set);
  EXPECT_EQ(j["unused_grants"][0]["grant"], "dave-images");
}

TEST_F(ReplayTest, DiffListsTheVerdictsAChangeWouldChange) {
  auto old_set = MustCompile(kPolicy);
  // The new set drops the trainer's grant and lets pii be processed in the US under SCCs.
  std::string next = kPolicy;
  next.replace(next.find("grant trainer-images"), std::string("grant trainer-images { who = trainer\n  actions = [read]\n  datasets = [images] }\n").size(), "");
  next.replace(next.find("residency pii { regions = [eu] }"), std::string("residency pii { regions = [eu] }").size(),
               "residency pii {\n  regions = [eu]\n  transfer us-east-1 basis scc\n}");
  auto new_set = MustCompile(next);
  ASSERT_TRUE(old_set && new_set);
  auto set = LoadStoredAccess(db_, now_ - 86'400'000'000'000);
  ASSERT_TRUE(set.ok());
  DiffReport r = DiffPolicies(*old_set, *new_set, set->events);
  EXPECT_EQ(r.replayed, 48u);
  EXPECT_EQ(r.changed, 42u);
  EXPECT_EQ(r.allow_to_deny, 40u);
  EXPECT_EQ(r.deny_to_allow, 2u);
  ASSERT_EQ(r.changes.size(), 2u);
  EXPECT_EQ(r.changes[0].principal, "unit trainer.service");
  EXPECT_EQ(r.changes[0].old_verdict, "allow dataset=images by=grant:trainer-images");
  EXPECT_EQ(r.changes[0].new_verdict, "deny dataset=images violation=no-grant");
  EXPECT_EQ(r.changes[1].principal, "user carol");
  EXPECT_EQ(r.changes[1].region, "us-east-1");
  EXPECT_EQ(r.changes[1].new_verdict, "allow dataset=cust by=grant:carol-cust by=residency:pii transfer=scc");
}

}  // namespace
}  // namespace custos::ctl
