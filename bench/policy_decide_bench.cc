// Policy decisions per second per core on a realistic policy set, measured in
// the same run beside Cedar (npm @cedar-policy/cedar-wasm under Node.js)
// deciding an equivalent policy set, with the two checked to agree on every
// event.
//
// The set: 300 datasets (paths and classifications), 500 principals in 40
// groups, 400 grants (groups and single principals, 1-3 actions, 1-5 datasets,
// some limited to regions, some expiring), residency for pii, phi and
// confidential with one transfer basis each; 200,000 events mixing allowed
// accesses and each kind of violation.
//
//   build/bench/policy_decide_bench [--events N] [--cedar-events M] [--keep DIR] [--no-cedar]
//
// Prints one summary line. custos decides from the event's object path (it
// resolves the dataset by the policy's path patterns); Cedar gets the dataset
// id directly, which is the easier job. Cedar decides the first M events
// (default 5,000: it runs at hundreds a second here) and both must agree on
// every one of them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/time_format.h"
#include "policy/compiler.h"
#include "policy/decide.h"

namespace {

using namespace custos;

constexpr int64_t kNow = 1'795'000'000;  // 2026-11-18
const std::vector<std::string> kRegions = {"eu-central-1", "eu-west-1", "eu-north-1", "us-east-1", "us-west-2",
                                           "ap-south-1"};
const std::vector<std::string> kClasses = {"public", "internal", "internal", "confidential", "pii", "phi"};
const std::vector<std::string> kActions = {"read", "write", "create", "delete", "rename", "list"};

struct Scenario {
  std::string policy_text;
  nlohmann::json json;
  struct Event {
    std::string user, action, object, dataset, region;
    int64_t time;
  };
  std::vector<Event> events;
};

std::string Name(const char* prefix, int i) {
  char buf[32];
  snprintf(buf, sizeof buf, "%s%04d", prefix, i);
  return buf;
}

Scenario Generate(size_t event_count) {
  std::mt19937_64 rng(20261126);
  auto pick = [&](size_t n) { return static_cast<int>(rng() % n); };
  Scenario s;
  std::ostringstream p;
  nlohmann::json& j = s.json;
  j["now_unix"] = kNow;
  p << "regions eea = [eu-central-1, eu-west-1, eu-north-1]\nregions us = [us-east-1, us-west-2]\n"
       "regions apac = [ap-south-1]\n\n";
  const int kDatasets = 300, kPrincipals = 500, kGroups = 40, kGrants = 400;
  std::vector<std::string> ds_class(kDatasets);
  for (int d = 0; d < kDatasets; ++d) {
    ds_class[d] = kClasses[static_cast<size_t>(pick(kClasses.size()))];
    std::string home = kRegions[static_cast<size_t>(pick(3))];  // homed in the EEA
    p << "dataset " << Name("ds-", d) << " {\n  paths = [\"/data/" << Name("ds-", d) << "/**\"]\n  classification = "
      << ds_class[d] << "\n  home = " << home << "\n}\n";
    j["datasets"].push_back({{"id", Name("ds-", d)}, {"classification", ds_class[d]}, {"home", home}});
  }
  std::vector<std::vector<std::string>> groups_of(kPrincipals);
  std::vector<std::vector<std::string>> members(kGroups);
  for (int u = 0; u < kPrincipals; ++u) {
    p << "principal " << Name("user", u) << " { users = [\"" << Name("user", u) << "\"] }\n";
    int n = 1 + pick(3);
    for (int k = 0; k < n; ++k) {
      int g = pick(kGroups);
      if (std::find(groups_of[u].begin(), groups_of[u].end(), Name("team-", g)) != groups_of[u].end()) continue;
      groups_of[u].push_back(Name("team-", g));
      members[static_cast<size_t>(g)].push_back(Name("user", u));
    }
    j["principals"].push_back({{"id", Name("user", u)}, {"groups", groups_of[u]}});
  }
  for (int g = 0; g < kGroups; ++g) {
    if (members[static_cast<size_t>(g)].empty()) members[static_cast<size_t>(g)].push_back(Name("user", g));
    p << "group " << Name("team-", g) << " = [";
    for (size_t m = 0; m < members[static_cast<size_t>(g)].size(); ++m) p << (m ? ", " : "") << members[static_cast<size_t>(g)][m];
    p << "]\n";
  }
  for (int gi = 0; gi < kGrants; ++gi) {
    nlohmann::json grant = {{"id", Name("grant-", gi)}, {"principals", nlohmann::json::array()},
                            {"groups", nlohmann::json::array()}, {"regions", nlohmann::json::array()},
                            {"until_unix", 0}};
    std::vector<std::string> who;
    if (pick(3) == 0) {
      who.push_back(Name("user", pick(kPrincipals)));
      grant["principals"].push_back(who.back());
    } else {
      who.push_back(Name("team-", pick(kGroups)));
      grant["groups"].push_back(who.back());
    }
    std::vector<std::string> actions = {kActions[static_cast<size_t>(pick(2) == 0 ? 5 : 0)]};
    int extra = pick(3);
    for (int k = 0; k < extra; ++k) {
      std::string a = kActions[static_cast<size_t>(pick(kActions.size()))];
      if (std::find(actions.begin(), actions.end(), a) == actions.end()) actions.push_back(a);
    }
    grant["actions"] = actions;
    std::vector<std::string> datasets;
    int nd = 1 + pick(5);
    for (int k = 0; k < nd; ++k) {
      std::string d = Name("ds-", pick(kDatasets));
      if (std::find(datasets.begin(), datasets.end(), d) == datasets.end()) datasets.push_back(d);
    }
    grant["datasets"] = datasets;
    p << "grant " << Name("grant-", gi) << " {\n  who = [" << who[0] << "]\n  actions = [";
    for (size_t k = 0; k < actions.size(); ++k) p << (k ? ", " : "") << actions[k];
    p << "]\n  datasets = [";
    for (size_t k = 0; k < datasets.size(); ++k) p << (k ? ", " : "") << datasets[k];
    p << "]\n";
    if (pick(4) == 0) {
      std::vector<std::string> regions = {kRegions[static_cast<size_t>(pick(kRegions.size()))],
                                          kRegions[static_cast<size_t>(pick(kRegions.size()))]};
      std::sort(regions.begin(), regions.end());
      regions.erase(std::unique(regions.begin(), regions.end()), regions.end());
      grant["regions"] = regions;
      p << "  regions = [";
      for (size_t k = 0; k < regions.size(); ++k) p << (k ? ", " : "") << regions[k];
      p << "]\n";
    }
    if (pick(5) == 0) {
      int64_t until = kNow + (pick(2) == 0 ? -1 : 1) * (3600 + pick(30) * 86400);
      grant["until_unix"] = until;
      p << "  until = " << FormatUtc(until * 1'000'000'000) << "\n";
    }
    p << "}\n";
    j["grants"].push_back(grant);
  }
  p << "residency pii {\n  regions = [eea]\n  transfer us-east-1 basis scc \"SCC 2021/914\"\n}\n"
       "residency phi {\n  regions = [eu-central-1, eu-west-1]\n  transfer eu-north-1 basis adequacy\n}\n"
       "residency confidential {\n  regions = [eea, us-east-1]\n  transfer us-west-2 basis bcr\n}\n";
  j["residency"] = {
      {{"classification", "pii"}, {"regions", {"eu-central-1", "eu-west-1", "eu-north-1"}}, {"transfers", {"us-east-1"}}},
      {{"classification", "phi"}, {"regions", {"eu-central-1", "eu-west-1"}}, {"transfers", {"eu-north-1"}}},
      {{"classification", "confidential"},
       {"regions", {"eu-central-1", "eu-west-1", "eu-north-1", "us-east-1"}},
       {"transfers", {"us-west-2"}}}};
  s.policy_text = p.str();

  // Events: half follow a grant (mostly allowed, some outside its regions or
  // after its expiry), half are random (mostly denied).
  const auto& grants = j["grants"];
  for (size_t e = 0; e < event_count; ++e) {
    Scenario::Event ev;
    if (pick(2) == 0) {
      const auto& g = grants[static_cast<size_t>(pick(grants.size()))];
      if (!g["principals"].empty()) {
        ev.user = g["principals"][0];
      } else {
        int team = std::stoi(g["groups"][0].get<std::string>().substr(5));
        const auto& m = members[static_cast<size_t>(team)];
        ev.user = m[static_cast<size_t>(pick(m.size()))];
      }
      ev.action = g["actions"][static_cast<size_t>(pick(g["actions"].size()))];
      ev.dataset = g["datasets"][static_cast<size_t>(pick(g["datasets"].size()))];
    } else {
      ev.user = Name("user", pick(kPrincipals));
      ev.action = kActions[static_cast<size_t>(pick(kActions.size()))];
      ev.dataset = Name("ds-", pick(kDatasets));
    }
    ev.region = pick(3) == 0 ? kRegions[static_cast<size_t>(pick(kRegions.size()))] : kRegions[static_cast<size_t>(pick(2))];
    ev.time = kNow + pick(7200) - 3600;
    ev.object = "/data/" + ev.dataset + "/part-" + std::to_string(pick(1000)) + ".parquet";
    j["events"].push_back({{"principal", ev.user}, {"action", ev.action}, {"dataset", ev.dataset},
                           {"region", ev.region}, {"time_unix", ev.time}});
    s.events.push_back(std::move(ev));
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  size_t event_count = 200'000;
  size_t cedar_events = 5'000;
  std::string keep;
  bool cedar = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--events" && i + 1 < argc) {
      event_count = static_cast<size_t>(std::atol(argv[++i]));
    } else if (a == "--cedar-events" && i + 1 < argc) {
      cedar_events = static_cast<size_t>(std::atol(argv[++i]));
    } else if (a == "--keep" && i + 1 < argc) {
      keep = argv[++i];
    } else if (a == "--no-cedar") {
      cedar = false;
    } else {
      std::fprintf(stderr, "usage: policy_decide_bench [--events N] [--cedar-events M] [--keep DIR] [--no-cedar]\n");
      return 2;
    }
  }
  Scenario s = Generate(event_count);
  policy::CompileResult r = policy::Compile({{"bench.policy", s.policy_text}}, {kNow});
  if (!r.policy) {
    std::fprintf(stderr, "%s", r.diagnostics.Format(r.files).c_str());
    return 1;
  }
  const policy::Policy& p = *r.policy;

  std::vector<policy::AccessRequest> requests(s.events.size());
  for (size_t i = 0; i < s.events.size(); ++i) {
    const auto& e = s.events[i];
    policy::AccessRequest& q = requests[i];
    q.user = e.user;
    policy::ParseAction(e.action, q.action);
    q.object = e.object;
    q.region = e.region;
    q.time_unix_nano = e.time * 1'000'000'000;
  }
  std::vector<policy::Decision> decisions(requests.size());
  std::vector<double> rates;
  size_t allowed = 0;
  for (int run = 0; run < 5; ++run) {
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < requests.size(); ++i) decisions[i] = policy::Decide(p, requests[i]).decision;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(requests.size()) / secs);
  }
  for (auto d : decisions) allowed += d == policy::Decision::kAllow;
  std::sort(rates.begin(), rates.end());
  double custos_rate = rates[rates.size() / 2];

  std::string dir = keep;
  if (dir.empty()) {
    char tmpl[] = "/tmp/custos_policy_bench_XXXXXX";
    dir = mkdtemp(tmpl);
  }
  (void)WriteFileAtomic(dir + "/bench.policy", s.policy_text);
  std::string cedar_summary = "cedar not run";
  size_t agree = 0;
  cedar_events = std::min(cedar_events, s.events.size());
  if (cedar) {
    nlohmann::json subset = s.json;
    subset["events"] = nlohmann::json(std::vector<nlohmann::json>(s.json["events"].begin(),
                                                                  s.json["events"].begin() + static_cast<long>(cedar_events)));
    (void)WriteFileAtomic(dir + "/scenario.json", subset.dump());
    const char* src = std::getenv("CUSTOS_SOURCE_DIR");
    std::string script = std::string(src ? src : ".") + "/bench/policy/js/cedar_decide.js";
    std::string cmd = "node " + script + " " + dir + "/scenario.json " + dir + "/cedar.out > " + dir + "/cedar.txt";
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "policy_decide_bench: '%s' failed (is Node.js installed and npm ci run in bench/policy/js?)\n",
                   cmd.c_str());
      return 1;
    }
    auto summary = ReadFile(dir + "/cedar.txt");
    auto out = ReadFile(dir + "/cedar.out");
    if (!summary.ok() || !out.ok()) return 1;
    cedar_summary = std::string(Trim(*summary));
    std::istringstream lines(*out);
    std::string line;
    size_t i = 0, first_disagreement = SIZE_MAX;
    while (std::getline(lines, line) && i < cedar_events) {
      bool custos_allow = decisions[i] == policy::Decision::kAllow;
      if ((line == "allow") == custos_allow && (line == "allow" || line == "deny")) {
        ++agree;
      } else if (first_disagreement == SIZE_MAX) {
        first_disagreement = i;
      }
      ++i;
    }
    if (first_disagreement != SIZE_MAX) {
      const auto& e = s.events[first_disagreement];
      std::fprintf(stderr, "first disagreement: event %zu (%s %s %s from %s at %lld): custos %s\n", first_disagreement,
                   e.user.c_str(), e.action.c_str(), e.dataset.c_str(), e.region.c_str(),
                   static_cast<long long>(e.time),
                   std::string(policy::DecisionName(decisions[first_disagreement])).c_str());
    }
  }
  std::printf("policy_decide: custos %.0f decisions/s on one core (median of 5 runs of %zu; from object paths; "
              "%zu allowed, %zu denied) | %s | agree %zu/%zu | set: %zu datasets, %zu principals, %zu groups, %zu grants\n",
              custos_rate, requests.size(), allowed, requests.size() - allowed, cedar_summary.c_str(), agree,
              cedar ? cedar_events : 0, p.datasets.size(), p.principals.size(), p.groups.size(), p.grants.size());
  if (keep.empty()) (void)std::system(("rm -rf " + dir).c_str());
  return cedar && agree != cedar_events ? 1 : 0;
}
