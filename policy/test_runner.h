// Runs a policy's 'test' blocks: each names an access and the verdict it
// must get (and optionally its violations and deciding rules).
#pragma once

#include <string>
#include <vector>

#include "policy/decide.h"
#include "policy/policy.h"

namespace custos::policy {

struct TestResult {
  const TestCase* test = nullptr;
  bool passed = false;
  std::string failure;  // what differed, when !passed
  Verdict verdict;
};

// `now_unix` is the time of tests that give none.
std::vector<TestResult> RunTests(const Policy& policy, int64_t now_unix);

// The request a test case describes.
AccessRequest RequestOf(const TestCase& t, int64_t now_unix);

}  // namespace custos::policy
