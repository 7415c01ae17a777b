// custosctl policy check | test | explain | diff | unused
#include <cstdio>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "collector/api/http_api.h"
#include "collector/ctl/commands.h"
#include "collector/ctl/flags.h"
#include "collector/ctl/policy_replay.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/files.h"
#include "custos/v1/records.pb.h"
#include "policy/compiler.h"
#include "policy/event_json.h"
#include "policy/rules.h"
#include "policy/test_runner.h"

namespace custos::ctl {
namespace {

constexpr const char* kDefaultDb = "/var/lib/custos/collector/custos.db";

// Splits ARGS into positional arguments and --flags (with their values).
void SplitArgs(const Args& args, const std::vector<std::string>& with_value, Args& positional, Args& flags) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].starts_with("--")) {
      flags.push_back(args[i]);
      if (std::find(with_value.begin(), with_value.end(), args[i]) != with_value.end() && i + 1 < args.size()) {
        flags.push_back(args[++i]);
      }
    } else {
      positional.push_back(args[i]);
    }
  }
}

// Compiles PATHS; prints diagnostics to stderr. Null when it does not compile.
std::shared_ptr<const policy::Policy> CompileOrReport(const std::vector<std::string>& paths, const std::string& what,
                                                      size_t* warnings = nullptr) {
  auto files = policy::ReadPolicyFiles(paths);
  if (!files.ok()) {
    std::fprintf(stderr, "custosctl policy %s: %s\n", what.c_str(), files.status().message().c_str());
    return nullptr;
  }
  if (files->empty()) {
    std::fprintf(stderr, "custosctl policy %s: no *.policy files in the given paths\n", what.c_str());
    return nullptr;
  }
  policy::CompileResult r = policy::Compile(std::move(*files));
  std::fputs(r.diagnostics.Format(r.files).c_str(), stderr);
  if (warnings) *warnings = r.diagnostics.warning_count();
  if (!r.policy) {
    std::fprintf(stderr, "%zu error(s), %zu warning(s): the policy set is refused\n", r.diagnostics.error_count(),
                 r.diagnostics.warning_count());
  }
  return r.policy;
}

int PolicyCheck(const Args& args) {
  const char* usage = "custosctl policy check [--strict] PATH...";
  Args paths, flags;
  SplitArgs(args, {}, paths, flags);
  Flags f(flags, {}, {"--strict"});
  if (!f.ok()) return Usage("policy check", f.error(), usage);
  if (paths.empty()) return Usage("policy check", "name policy files or directories", usage);
  size_t warnings = 0;
  auto p = CompileOrReport(paths, "check", &warnings);
  if (!p) return 1;
  std::printf("ok: %zu files, %zu datasets, %zu principals, %zu groups, %zu grants, %zu residency rules, %zu rules, "
              "%zu tests; %zu warning(s); version %s\n",
              p->files.size(), p->datasets.size(), p->principals.size(), p->groups.size(), p->grants.size(),
              p->residencies.size(), p->rules.size(), p->tests.size(), warnings, p->version.c_str());
  return f.Has("--strict") && warnings > 0 ? 1 : 0;
}

int PolicyTest(const Args& args) {
  const char* usage = "custosctl policy test [--now T] PATH...";
  Args paths, flags;
  SplitArgs(args, {"--now"}, paths, flags);
  Flags f(flags, {"--now"}, {});
  if (!f.ok()) return Usage("policy test", f.error(), usage);
  if (paths.empty()) return Usage("policy test", "name policy files or directories", usage);
  int64_t now = Clock::Real().NowUnixNanos();
  if (f.Has("--now")) {
    auto t = api::ParseTimeArg(f.Get("--now"), now);
    if (!t.ok()) return Fail("policy test: --now: " + t.status().message());
    now = *t;
  }
  auto p = CompileOrReport(paths, "test");
  if (!p) return 1;
  auto results = policy::RunTests(*p, now / 1'000'000'000);
  size_t failed = 0;
  std::set<int> decided;
  for (const auto& r : results) {
    if (r.verdict.grant >= 0) decided.insert(r.verdict.grant);
    for (uint8_t k = 0; k < r.verdict.violation_count; ++k) {
      if (r.verdict.violations[k].ref >= 0 && r.verdict.violations[k].kind == policy::ViolationKind::kNoGrant) {
        decided.insert(r.verdict.violations[k].ref);
      }
    }
    const policy::Pos& pos = r.test->pos;
    std::string where = p->files[pos.file].path + ":" + std::to_string(pos.line);
    if (r.passed) {
      std::printf("PASS  %s\n", r.test->name.c_str());
    } else {
      ++failed;
      std::printf("FAIL  %s (%s)\n      %s\n", r.test->name.c_str(), where.c_str(), r.failure.c_str());
    }
  }
  std::string untested;
  for (size_t g = 0; g < p->grants.size(); ++g) {
    if (!decided.contains(static_cast<int>(g))) untested += (untested.empty() ? "" : ", ") + p->grants[g].id;
  }
  std::printf("%zu passed, %zu failed; grants exercised by the tests: %zu of %zu%s%s\n", results.size() - failed,
              failed, decided.size(), p->grants.size(), untested.empty() ? "" : "; not exercised: ",
              untested.c_str());
  if (results.empty()) {
    std::fprintf(stderr, "custosctl policy test: the policy set has no test blocks\n");
    return 1;
  }
  return failed == 0 ? 0 : 1;
}

// The access event as a record, so that rules over access events can be shown too.
v1::AccessEvent ToRecord(const policy::AccessEventData& e) {
  v1::AccessEvent a;
  a.set_time_unix_nano(static_cast<uint64_t>(e.time_unix_nano));
  a.set_action(static_cast<v1::AccessEvent::Action>(static_cast<int>(e.action)));
  a.set_object(e.object);
  a.set_dataset_id(e.dataset);
  a.set_count(1);
  a.mutable_principal()->set_uid(e.uid);
  a.mutable_principal()->set_user(e.user);
  a.mutable_principal()->set_systemd_unit(e.unit);
  a.mutable_principal()->set_service_identity(e.service);
  return a;
}

int PolicyExplain(const Args& args) {
  const char* usage = "custosctl policy explain EVENT.json --policy PATH [--policy PATH ...] [--json]";
  Args positional, flags;
  SplitArgs(args, {"--policy"}, positional, flags);
  Flags f(flags, {"--policy"}, {"--json"});
  if (!f.ok()) return Usage("policy explain", f.error(), usage);
  if (positional.size() != 1 || !f.Has("--policy")) {
    return Usage("policy explain", "one event file (or - for stdin) and --policy are required", usage);
  }
  std::string text;
  if (positional[0] == "-") {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) text.append(buf, n);
  } else {
    auto read = ReadFile(positional[0]);
    if (!read.ok()) return Fail("policy explain: " + read.status().ToString());
    text = std::move(*read);
  }
  auto event = policy::ParseAccessEventJson(text, Clock::Real().NowUnixNanos());
  if (!event.ok()) return Fail("policy explain: " + positional[0] + ": " + event.status().message());
  auto p = CompileOrReport(f.GetAll("--policy"), "explain");
  if (!p) return 1;
  policy::AccessRequest req = event->Request();
  policy::Verdict v = policy::Decide(*p, req);
  // Rules over access events, as the collector would evaluate them.
  policy::RuleEngine rules(p);
  v1::AccessEvent record = ToRecord(*event);
  v1::Resource resource;
  resource.set_region(event->region);
  resource.set_node_id(event->node);
  resource.set_hostname(event->node);
  policy::RecordView view;
  view.record = &record;
  view.resource = &resource;
  view.time_unix_nano = req.time_unix_nano;
  view.verdict = static_cast<int>(v.decision);
  view.principals = v.principals;
  view.principal_count = v.principal_count;
  if (v.dataset >= 0) {
    const auto& ds = p->datasets[static_cast<size_t>(v.dataset)];
    view.dataset_id = ds.id;
    view.dataset_classification = ds.classification;
    view.dataset_home = ds.home;
    view.dataset_owner = ds.owner;
  }
  std::vector<policy::Alert> alerts;
  rules.Evaluate(v1::Record::kAccess, view, alerts);
  std::vector<std::string> lines = policy::Explain(*p, req, v);
  if (f.Has("--json")) {
    nlohmann::json j = {{"verdict", policy::DecisionName(v.decision)},
                        {"policy_version", p->version},
                        {"decided_by", policy::DecidingRules(*p, v)},
                        {"explanation", lines},
                        {"summary", policy::VerdictLine(*p, v)}};
    j["rules_fired"] = nlohmann::json::array();
    for (const auto& a : alerts) j["rules_fired"].push_back({{"rule", a.rule}, {"severity", a.severity}, {"message", a.message}});
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("verdict: %s\n", std::string(policy::DecisionName(v.decision)).c_str());
    for (const auto& line : lines) std::printf("  %s\n", line.c_str());
    for (const auto& a : alerts) std::printf("  rule '%s' fires (%s): %s\n", a.rule.c_str(), a.severity.c_str(), a.message.c_str());
    std::printf("policy %s\n", p->version.c_str());
  }
  return 0;
}

int PolicyDiff(const Args& args) {
  const char* usage = "custosctl policy diff OLD NEW [--since 7d] [--db PATH] [--limit N]";
  Args positional, flags;
  SplitArgs(args, {"--since", "--db", "--limit"}, positional, flags);
  Flags f(flags, {"--since", "--db", "--limit"}, {});
  if (!f.ok()) return Usage("policy diff", f.error(), usage);
  if (positional.size() != 2) return Usage("policy diff", "name the OLD and the NEW policy (file or directory)", usage);
  const int64_t now = Clock::Real().NowUnixNanos();
  auto since = api::ParseTimeArg(f.Get("--since", "7d"), now);
  if (!since.ok()) return Fail("policy diff: --since: " + since.status().message());
  auto old_set = CompileOrReport({positional[0]}, "diff (old)");
  auto new_set = CompileOrReport({positional[1]}, "diff (new)");
  if (!old_set || !new_set) return 1;
  auto events = LoadStoredAccess(f.Get("--db", kDefaultDb), *since);
  if (!events.ok()) return Fail("policy diff: " + events.status().ToString());
  DiffReport report = DiffPolicies(*old_set, *new_set, events->events);
  size_t limit = static_cast<size_t>(std::max(1, std::atoi(f.Get("--limit", "50").c_str())));
  PrintDiff(report, *events, limit);
  return 0;
}

int PolicyUnused(const Args& args) {
  const char* usage = "custosctl policy unused --policy PATH [--policy PATH ...] [--window 90d] [--db PATH] [--json]";
  Flags f(args, {"--policy", "--window", "--db"}, {"--json"});
  if (!f.ok()) return Usage("policy unused", f.error(), usage);
  if (!f.Has("--policy")) return Usage("policy unused", "--policy is required", usage);
  auto window = ParseDuration(f.Get("--window", "90d"));
  if (!window.ok() || *window <= 0) return Fail("policy unused: --window: a duration such as 90d");
  const int64_t now = Clock::Real().NowUnixNanos();
  auto p = CompileOrReport(f.GetAll("--policy"), "unused");
  if (!p) return 1;
  auto events = LoadStoredAccess(f.Get("--db", kDefaultDb), now - *window);
  if (!events.ok()) return Fail("policy unused: " + events.status().ToString());
  UnusedReport report = FindUnused(*p, events->events, now - *window, now);
  if (f.Has("--json")) {
    std::printf("%s\n", UnusedJson(report, *events).dump(2).c_str());
  } else {
    PrintUnused(report, *events, *window);
  }
  return 0;
}

}  // namespace

int RunPolicy(const Args& args) {
  const char* usage =
      "custosctl policy check [--strict] PATH...\n"
      "       custosctl policy test [--now T] PATH...\n"
      "       custosctl policy explain EVENT.json --policy PATH [--json]\n"
      "       custosctl policy diff OLD NEW [--since 7d] [--db PATH]\n"
      "       custosctl policy unused --policy PATH [--window 90d] [--db PATH] [--json]";
  if (args.empty()) return Usage("policy", "name a subcommand", usage);
  Args rest(args.begin() + 1, args.end());
  const std::string& sub = args[0];
  if (sub == "check") return PolicyCheck(rest);
  if (sub == "test") return PolicyTest(rest);
  if (sub == "explain") return PolicyExplain(rest);
  if (sub == "diff") return PolicyDiff(rest);
  if (sub == "unused") return PolicyUnused(rest);
  return Usage("policy", "unknown subcommand '" + sub + "'", usage);
}

}  // namespace custos::ctl
