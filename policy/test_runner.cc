#include "policy/test_runner.h"

#include <algorithm>

namespace custos::policy {

AccessRequest RequestOf(const TestCase& t, int64_t now_unix) {
  AccessRequest r;
  r.uid = t.uid;
  r.user = t.user;
  r.unit = t.unit;
  r.service = t.service;
  r.action = t.action;
  r.object = t.object;
  r.dataset_id = t.dataset;
  r.region = t.region;
  r.node_id = t.node;
  r.hostname = t.node;
  r.time_unix_nano = (t.time_unix != 0 ? t.time_unix : now_unix) * 1'000'000'000;
  return r;
}

std::vector<TestResult> RunTests(const Policy& policy, int64_t now_unix) {
  std::vector<TestResult> out;
  for (const TestCase& t : policy.tests) {
    TestResult result;
    result.test = &t;
    AccessRequest req = RequestOf(t, now_unix);
    result.verdict = Decide(policy, req);
    const Verdict& v = result.verdict;
    std::string got(DecisionName(v.decision));
    std::vector<std::string> violations;
    for (uint8_t k = 0; k < v.violation_count; ++k) violations.emplace_back(ViolationName(v.violations[k].kind));
    std::vector<std::string> rules = DecidingRules(policy, v);
    std::string failure;
    if (got != t.expect) {
      failure = "expected " + t.expect + ", got " + got;
    }
    auto sorted = [](std::vector<std::string> v2) {
      std::sort(v2.begin(), v2.end());
      return v2;
    };
    if (failure.empty() && !t.expect_violations.empty() && sorted(t.expect_violations) != sorted(violations)) {
      failure = "expected violations [";
      for (size_t i = 0; i < t.expect_violations.size(); ++i) failure += (i ? ", " : "") + t.expect_violations[i];
      failure += "], got [";
      for (size_t i = 0; i < violations.size(); ++i) failure += (i ? ", " : "") + violations[i];
      failure += "]";
    }
    for (const auto& want : t.expect_rules) {
      if (failure.empty() && std::find(rules.begin(), rules.end(), want) == rules.end()) {
        failure = "expected rule " + want + " to decide; deciding: ";
        for (size_t i = 0; i < rules.size(); ++i) failure += (i ? ", " : "") + rules[i];
        if (rules.empty()) failure += "none";
      }
    }
    if (!failure.empty()) {
      for (const auto& line : Explain(policy, req, v)) failure += "\n      " + line;
    }
    result.passed = failure.empty();
    result.failure = std::move(failure);
    out.push_back(std::move(result));
  }
  return out;
}

}  // namespace custos::policy
