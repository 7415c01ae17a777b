// Golden tests: policy files and access events in, exact verdicts out.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/files.h"
#include "policy/compiler.h"
#include "policy/decide.h"
#include "policy/event_json.h"
#include "policy/test_runner.h"

namespace custos::policy {
namespace {

std::string SourceDir() {
  const char* dir = std::getenv("CUSTOS_SOURCE_DIR");
  return dir ? dir : ".";
}

constexpr int64_t kNow = 1795000000;  // 2026-11-18, before every expiry in the golden set

std::shared_ptr<const Policy> CompileDir(const std::string& dir, std::string* warnings = nullptr) {
  auto files = ReadPolicyFiles({dir});
  EXPECT_TRUE(files.ok()) << files.status().ToString();
  if (!files.ok()) return nullptr;
  CompileResult r = Compile(std::move(*files), {kNow});
  EXPECT_TRUE(r.policy) << r.diagnostics.Format(r.files);
  if (warnings) *warnings = r.diagnostics.Format(r.files);
  return r.policy;
}

TEST(PolicyGolden, EventsGetExactlyTheExpectedVerdicts) {
  std::string dir = SourceDir() + "/policy/testdata/golden";
  auto policy = CompileDir(dir);
  ASSERT_TRUE(policy);
  auto events = ReadFile(dir + "/events.jsonl");
  auto expected = ReadFile(dir + "/expected.txt");
  ASSERT_TRUE(events.ok() && expected.ok());
  std::istringstream ev(*events), ex(*expected);
  std::string event_line, expected_line;
  int n = 0;
  while (std::getline(ev, event_line)) {
    ++n;
    ASSERT_TRUE(std::getline(ex, expected_line)) << "expected.txt has fewer lines than events.jsonl";
    auto e = ParseAccessEventJson(event_line, kNow * 1'000'000'000);
    ASSERT_TRUE(e.ok()) << "event " << n << ": " << e.status().ToString();
    Verdict v = Decide(*policy, e->Request());
    std::string explanation;
    for (const auto& line : Explain(*policy, e->Request(), v)) explanation += "\n    " + line;
    EXPECT_EQ(VerdictLine(*policy, v), expected_line) << "event " << n << ": " << event_line << explanation;
  }
  EXPECT_FALSE(std::getline(ex, expected_line)) << "expected.txt has more lines than events.jsonl";
  EXPECT_EQ(n, 25);
}

TEST(PolicyGolden, ShippedRulesAndExampleCompileCleanAndTheirTestsPass) {
  std::string warnings;
  auto policy = CompileDir(SourceDir() + "/rules", &warnings);
  ASSERT_TRUE(policy);
  EXPECT_EQ(warnings, "");
  auto example = CompileDir(SourceDir() + "/rules/examples", &warnings);
  ASSERT_TRUE(example);
  EXPECT_EQ(warnings, "");
  ASSERT_EQ(example->tests.size(), 10u);
  for (const auto& r : RunTests(*example, kNow)) {
    EXPECT_TRUE(r.passed) << r.test->name << ": " << r.failure;
  }
}

TEST(PolicyGolden, AFailingTestBlockSaysWhatDiffered) {
  CompileResult r = Compile({{"t.policy", R"(
regions eu = [eu-central-1]
dataset d { paths = ["/d/**"]
  classification = internal }
principal a { users = ["a"] }
grant g { who = a
  actions = [read]
  datasets = [d] }
test "a writes" {
  user = "a"
  action = write
  object = "/d/x"
  region = eu-central-1
  expect = allow
}
test "a reads" {
  user = "a"
  action = read
  object = "/d/x"
  region = eu-central-1
  expect = allow
  rules = ["grant:other"]
}
)"}}, {kNow});
  ASSERT_TRUE(r.policy) << r.diagnostics.Format(r.files);
  auto results = RunTests(*r.policy, kNow);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_FALSE(results[0].passed);
  EXPECT_EQ(results[0].failure.substr(0, results[0].failure.find('\n')), "expected allow, got deny");
  EXPECT_FALSE(results[1].passed);
  EXPECT_EQ(results[1].failure.substr(0, results[1].failure.find('\n')),
            "expected rule grant:other to decide; deciding: grant:g");
}

TEST(PolicyGolden, VersionIsAHashOfTheFiles) {
  auto a = Compile({{"a.policy", "regions r = [x]\n"}}, {kNow});
  auto b = Compile({{"a.policy", "regions r = [y]\n"}}, {kNow});
  auto c = Compile({{"a.policy", "regions r = [x]\n"}}, {kNow});
  ASSERT_TRUE(a.policy && b.policy && c.policy);
  EXPECT_EQ(a.policy->version.substr(0, 7), "sha256:");
  EXPECT_EQ(a.policy->version.size(), 7u + 64u);
  EXPECT_NE(a.policy->version, b.policy->version);
  EXPECT_EQ(a.policy->version, c.policy->version);
}

TEST(PolicyGolden, WarningsForShadowedExpiredAndUnknownNames) {
  auto r = Compile({{"w.policy", R"(regions all = [eu-central-1, us-east-1]
dataset d { paths = ["/d/**"]
  classification = pii
  home = us-east-1 }
principal a { users = ["a"] }
grant broad { who = a
  actions = any
  datasets = [d] }
grant narrow { who = a
  actions = [read]
  datasets = [d]
  regions = [eu-central-1] }
grant old { who = a
  actions = [read]
  datasets = [dd, "zz-*"]
  until = 2020-01-01 }
grant ghost { who = [b]
  actions = [read]
  datasets = [d] }
residency pii { regions = [eu-central-1] }
rule never { on = log
  when = pid == 1 and pid == 2
  severity = info
  message = "x" }
rule errors { on = log
  when = severity in [error, critical] and comm == "trainer"
  severity = info
  message = "x" }
rule errors-again { on = log
  when = comm == "trainer" and severity in [critical, error]
  severity = warning
  message = "y" }
)"}}, {kNow});
  ASSERT_TRUE(r.policy) << r.diagnostics.Format(r.files);
  std::vector<std::string> messages;
  for (const auto& d : r.diagnostics.all()) {
    EXPECT_EQ(d.severity, Severity::kWarning);
    messages.push_back(std::to_string(d.pos.line) + ":" + std::to_string(d.pos.col) + " " + d.message);
  }
  std::sort(messages.begin(), messages.end());
  EXPECT_EQ(messages, (std::vector<std::string>{
                          "15:15 grant 'old' names unknown dataset 'dd'",
                          "15:19 dataset pattern \"zz-*\" matches no declared dataset",
                          "16:11 grant 'old' expired on 2020-01-01; it covers nothing any more",
                          "17:22 grant 'ghost' names unknown principal or group 'b'",
                          "22:3 the condition of rule 'never' can never hold; the rule never fires",
                          "29:6 rule 'errors-again' tests exactly what rule 'errors' (w.policy:25) tests; both fire on the same records",
                          "2:9 dataset 'd' is homed in us-east-1, where pii data may not be held (residency at w.policy:20)",
                          "9:7 grant 'narrow' is shadowed by grant 'broad' (w.policy:6), which covers everything it grants",
                      }));
}

}  // namespace
}  // namespace custos::policy
