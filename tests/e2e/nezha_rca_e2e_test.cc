// A slice of the Nezha data (shared/datasets/nezha-dev) replayed through the
// real agent and collector; the root-cause analysis of the stored data must
// rank the labelled faulty service first, through custosctl rca as an
// operator would run it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "tests/e2e/nezha_cluster.h"

namespace custos::nezha {
namespace {

std::string DataDir() {
  const char* env = std::getenv("CUSTOS_NEZHA_DIR");
  if (env != nullptr) return env;
  for (const char* dir :
       {"../shared/datasets/nezha-dev", "../../shared/datasets/nezha-dev", "/work/shared/datasets/nezha-dev"}) {
    if (access((std::string(dir) + "/rca_data").c_str(), R_OK) == 0) return dir;
  }
  return "";
}

TEST(NezhaRcaE2E, LabelledRootCauseRanksFirst) {
  std::string root = DataDir();
  if (root.empty()) GTEST_SKIP() << "the Nezha dataset is not here (set CUSTOS_NEZHA_DIR)";
  auto all = ListDays(root);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::vector<Day> days;
  for (Day& d : *all)
    if (d.name == "2023-01-29") days.push_back(d);
  ASSERT_EQ(days.size(), 1u);
  // Two Train-Ticket cases of different kinds: a `return` fault (seen in the
  // logs: a new error statement on every request) and a CPU contention (seen
  // in the metrics and spans), with other cases' minutes as the reference.
  const std::map<std::string, std::string> want = {{"2023-01-29 09:03:53", "ts-basic-service"},
                                                   {"2023-01-29 14:23:31", "ts-verification-code-service"}};
  Selection sel;
  sel.trace_minutes = {8 * 60 + 43,  8 * 60 + 44,  8 * 60 + 45,  8 * 60 + 52,  8 * 60 + 53,  8 * 60 + 54,  8 * 60 + 58,
                       8 * 60 + 59,  9 * 60,       9 * 60 + 3,   9 * 60 + 4,   9 * 60 + 5,   9 * 60 + 34,  9 * 60 + 35,
                       9 * 60 + 36,  11 * 60 + 19, 11 * 60 + 20, 11 * 60 + 21, 11 * 60 + 36, 11 * 60 + 37, 11 * 60 + 38,
                       14 * 60 + 23, 14 * 60 + 24, 14 * 60 + 25, 14 * 60 + 49, 14 * 60 + 50, 14 * 60 + 51};
  const int64_t midnight = days[0].midnight_unix;
  for (int minute : {9 * 60 + 3, 14 * 60 + 23})
    sel.metric_ranges.push_back({midnight + (minute - 62) * 60, midnight + (minute + 7) * 60});

  auto cluster = ReplayCluster();
  auto counts = Replay(*cluster, root, days, sel, 300);
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(counts->bad_rows, 0u);
  EXPECT_GT(counts->spans, 100'000u);
  EXPECT_GT(counts->logs, 50'000u);
  EXPECT_GT(counts->metric_points, 50'000u);
  // Nothing refused, nothing lost on the way.
  EXPECT_EQ(cluster->QueryInt("SELECT count(*) FROM gaps"), 0);

  int checked = 0;
  for (const Case& c : days[0].cases) {
    auto it = want.find(c.inject_time);
    if (it == want.end()) continue;
    ++checked;
    ASSERT_EQ(c.service, it->second);
    std::string out;
    std::string db = cluster->dir() + "/collector/custos.db";
    ASSERT_EQ(
        cluster->RunCtl(
            "rca --at " + std::to_string(c.onset_unix_nanos / 1'000'000'000) + " --db " + db + " --json --top 5", &out),
        0)
        << out;
    // --at takes whole seconds; the phase's fraction does not move a bucket
    // of spans enough to matter, but say what was analysed if it fails.
    auto j = nlohmann::json::parse(out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << out;
    ASSERT_FALSE(j["candidates"].empty()) << out;
    EXPECT_EQ(j["candidates"][0]["entity"], c.service) << c.inject_time << " " << c.type << "\n" << out;
    EXPECT_FALSE(j["candidates"][0]["evidence"].empty());
    // Every source was there and used.
    EXPECT_EQ(j["sources_in_window"], nlohmann::json({"metrics", "traces", "logs"})) << out;
    // The text form names the same service first.
    ASSERT_EQ(cluster->RunCtl("rca --at " + std::to_string(c.onset_unix_nanos / 1'000'000'000) + " --db " + db, &out),
              0);
    EXPECT_NE(out.find("1. " + c.service), std::string::npos) << out;
  }
  EXPECT_EQ(checked, 2);
}

}  // namespace
}  // namespace custos::nezha
