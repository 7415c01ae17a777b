// Malformed policy files: each gets its exact message at its exact position,
// and a set with any error compiles to nothing (the old set stays active).
#include <gtest/gtest.h>

#include <tuple>

#include "policy/compiler.h"

namespace custos::policy {
namespace {

// Declarations the cases below may refer to.
constexpr const char* kBase = R"(regions eea = [eu-central-1, eu-west-1]
dataset images { paths = ["/data/images/**"]
  classification = internal }
principal alice { users = ["alice"] }
group team = [alice]
)";

struct ErrorCase {
  const char* name;
  const char* text;       // appended to kBase (which is 5 lines long)
  const char* expected;   // "line:col: message"
  const char* hint;       // "" when none
};

const ErrorCase kCases[] = {
    {"unknown declaration", "datset x {}\n", "6:1: unknown declaration 'datset'", "did you mean 'dataset'?"},
    {"missing brace", "dataset x\n", "6:10: expected '{', found the end of the line", ""},
    {"unknown attribute", "dataset x {\n  clasification = internal\n}\n",
     "7:3: unknown attribute 'clasification' of dataset 'x'", "did you mean 'classification'?"},
    {"missing required attribute", "dataset x { paths = [\"/x/**\"] }\n",
     "6:9: dataset 'x' needs 'classification = ...'", ""},
    {"unknown region with hint", "dataset x { classification = internal\n  home = eu-centrl-1 }\n",
     "7:10: unknown region 'eu-centrl-1'", "did you mean region 'eu-central-1'?"},
    {"unknown classification", "dataset x { classification = pi }\n", "6:30: unknown classification 'pi'",
     "did you mean classification 'pii'?"},
    {"duplicate dataset", "dataset images { classification = public }\n",
     "6:9: dataset 'images' is declared twice", "the first declaration is at base.policy:2"},
    {"pattern claimed twice", "dataset y { paths = [\"/data/images/**\"]\n  classification = public }\n",
     "6:9: pattern '/data/images/**' is also claimed by dataset 'images'", "a path or URI belongs to one dataset"},
    {"relative path", "dataset y { paths = [\"data/y\"]\n  classification = public }\n",
     "6:21: path 'data/y' is not absolute", ""},
    {"principal without identity", "principal bob {}\n", "6:11: principal 'bob' names no identity",
     "give it uids, users, units or services"},
    {"negative uid", "principal bob { uids = [-5] }\n", "6:25: a uid is a whole number >= 0, found '-5'", ""},
    {"group cycle", "group a = [b]\ngroup b = [a]\n", "6:7: group 'a' includes itself: a -> b -> a", ""},
    {"group unknown member", "group g = [alic]\n", "6:12: unknown principal or group 'alic'",
     "did you mean 'alice'?"},
    {"unknown action", "grant g { who = alice\n  actions = [raed]\n  datasets = [images] }\n",
     "7:14: unknown action 'raed'", "did you mean action 'read'?"},
    {"grant without datasets", "grant g { who = alice\n  actions = [read] }\n", "6:7: grant 'g' needs 'datasets = ...'",
     ""},
    {"bad until", "grant g { who = alice\n  actions = [read]\n  datasets = [images]\n  until = 90d }\n",
     "9:11: 'until' takes a date (2027-06-30) or a timestamp (2027-06-30T18:00:00Z)", ""},
    {"no such date", "grant g { who = alice\n  actions = [read]\n  datasets = [images]\n  until = 2027-02-29 }\n",
     "9:11: no such date '2027-02-29'", ""},
    {"unknown transfer basis", "residency pii {\n  regions = [eea]\n  transfer us-east-1 basis sccs\n}\n",
     "8:12: unknown region 'us-east-1'", "declare it in a region set: regions NAME = [us-east-1, ...]"},
    {"transfer basis typo", "regions us = [us-east-1]\nresidency pii {\n  regions = [eea]\n  transfer us-east-1 basis sccs\n}\n",
     "9:28: unknown transfer basis 'sccs'", "did you mean basis 'scc'?"},
    {"residency of unknown class", "residency pij { regions = [eea] }\n", "6:11: unknown classification 'pij'",
     "did you mean classification 'pii'?"},
    {"rule on unknown kind", "rule r { on = gpu_events\n  when = true\n  severity = info\n  message = \"m\" }\n",
     "6:15: unknown record kind 'gpu_events'", "did you mean 'gpu_event'?"},
    {"rule unknown field", "rule r { on = gpu_event\n  when = cod == 79\n  severity = info\n  message = \"m\" }\n",
     "7:10: unknown field 'cod' of gpu_event records", "did you mean field 'code'?"},
    {"rule enum value typo", "rule r { on = log\n  when = severity == eror\n  severity = info\n  message = \"m\" }\n",
     "7:22: 'eror' is not a value of severity (unspecified, debug, info, notice, warning, error, critical, alert, emergency)",
     "did you mean 'error'?"},
    {"rule string unquoted", "rule r { on = gpu_event\n  when = kind == xid\n  severity = info\n  message = \"m\" }\n",
     "7:18: quote text values: \"xid\"", "bare names are enum values, regions and classifications"},
    {"rule ordering on text", "rule r { on = log\n  when = message > \"a\"\n  severity = info\n  message = \"m\" }\n",
     "7:10: '>' compares numbers, times and enum values; 'message' is a string", "use == or != (or 'in [...]')"},
    {"rule assignment in condition", "rule r { on = log\n  when = pid = 1\n  severity = info\n  message = \"m\" }\n",
     "7:14: '=' assigns; compare with '=='", ""},
    {"rule region typo", "rule r { on = access\n  when = resource.region == eu-west-2\n  severity = info\n  message = \"m\" }\n",
     "7:29: unknown region 'eu-west-2'", "did you mean region 'eu-west-1'?"},
    {"rule bad template field",
     "rule r { on = gpu_event\n  when = code == 79\n  severity = info\n  message = \"GPU {gpu_uid}\" }\n",
     "9:13: unknown field 'gpu_uid' of gpu_event records (in 'gpu_uid')", "did you mean field 'gpu_uuid'?"},
    {"rule unknown severity", "rule r { on = log\n  when = pid == 1\n  severity = sever\n  message = \"m\" }\n",
     "8:14: unknown severity 'sever'", "one of: info, warning, error, critical"},
    {"rule threshold without window",
     "rule r { on = log\n  when = pid == 1\n  severity = info\n  message = \"m\"\n  at_least = 5 }\n",
     "6:6: rule 'r' needs both 'at_least' and 'within', or neither", "e.g. at_least = 20 and within = 5m"},
    {"member outside access", "rule r { on = log\n  when = principal in team\n  severity = info\n  message = \"m\" }\n",
     "7:10: 'principal in ...' applies to access records only", ""},
    {"member unknown group", "rule r { on = access\n  when = principal in tema\n  severity = info\n  message = \"m\" }\n",
     "7:23: unknown group or principal 'tema'", "did you mean 'team'?"},
    {"unclosed paren", "rule r { on = log\n  when = (pid == 1\n  severity = info\n  message = \"m\" }\n",
     "8:3: expected ')', found 'severity'", ""},
    {"two attributes on a line", "dataset y { classification = public paths = [\"/y\"] }\n",
     "6:37: expected the end of the line, found 'paths'", "write one attribute per line"},
    {"unterminated list", "group g = [alice\n", "7:1: expected ',' or ']' in the list, found the end of the file", ""},
    {"test expect typo", "test t { action = read\n  expect = allow-all }\n", "7:12: 'expect' is allow, deny or error", ""},
};

TEST(PolicyErrors, EachMalformedFileGetsItsMessageAndPosition) {
  for (const auto& c : kCases) {
    CompileResult one = Compile({{"base.policy", std::string(kBase) + c.text}});
    EXPECT_FALSE(one.policy) << c.name << ": compiled";
    ASSERT_FALSE(one.diagnostics.all().empty()) << c.name;
    const Diagnostic* first = nullptr;
    for (const auto& d : one.diagnostics.all()) {
      if (d.severity == Severity::kError && (first == nullptr || std::tie(d.pos.line, d.pos.col) < std::tie(first->pos.line, first->pos.col))) {
        first = &d;
      }
    }
    ASSERT_NE(first, nullptr) << c.name;
    EXPECT_EQ(std::to_string(first->pos.line) + ":" + std::to_string(first->pos.col) + ": " + first->message, c.expected)
        << c.name << "\n" << one.diagnostics.Format(one.files);
    EXPECT_EQ(first->hint, c.hint) << c.name;
  }
}

TEST(PolicyErrors, FormatQuotesTheLineWithACaret) {
  CompileResult r = Compile({{"site.policy", std::string(kBase) + "dataset x { classification = internal\n  home = eu-centrl-1 }\n"}});
  ASSERT_FALSE(r.policy);
  EXPECT_EQ(r.diagnostics.Format(r.files),
            "site.policy:7:10: error: unknown region 'eu-centrl-1'\n"
            "  7 |   home = eu-centrl-1 }\n"
            "    |          ^\n"
            "  hint: did you mean region 'eu-central-1'?\n");
}

TEST(PolicyErrors, OneRunReportsEveryBrokenDeclaration) {
  CompileResult r = Compile({{"site.policy", "datset a {}\ndataset b {\n  classification = nope\n}\nprincipal c {}\n"}});
  ASSERT_FALSE(r.policy);
  EXPECT_EQ(r.diagnostics.error_count(), 3u) << r.diagnostics.Format(r.files);
}

TEST(PolicyErrors, DeepNestingIsRefusedNotACrash) {
  std::string deep = "rule r { on = log\n  when = " + std::string(200, '(') + "pid == 1" + std::string(200, ')') +
                     "\n  severity = info\n  message = \"m\" }\n";
  CompileResult r = Compile({{"deep.policy", deep}});
  ASSERT_FALSE(r.policy);
  EXPECT_NE(r.diagnostics.Format(r.files).find("nested too deeply"), std::string::npos);
}

}  // namespace
}  // namespace custos::policy
