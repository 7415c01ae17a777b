#include "collector/ctl/policy_replay.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "collector/store/sqlite_db.h"
#include "common/time_format.h"
#include "policy/decide.h"

namespace custos::ctl {

Result<StoredAccessSet> LoadStoredAccess(const std::string& db_path, int64_t since) {
  auto db = store::Db::Open(db_path, /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return db.status();
  StoredAccessSet out;
  out.since_unix_nanos = since;
  CUSTOS_ASSIGN_OR_RETURN(auto oldest, (*db)->Prepare("SELECT min(ts) FROM access_events"));
  CUSTOS_ASSIGN_OR_RETURN(bool row, oldest->Step());
  if (row && !oldest->IsNull(0)) out.oldest_unix_nanos = oldest->Int(0);
  CUSTOS_ASSIGN_OR_RETURN(
      auto stmt, (*db)->Prepare("SELECT a.ts, a.uid, a.user, a.principal_unit, a.service_identity, a.action, a.object, "
                                "a.dataset_id, r.region, r.node_id, r.hostname, a.count FROM access_events a "
                                "LEFT JOIN resources r ON r.id = a.resource WHERE a.ts >= ?1 ORDER BY a.ts"));
  stmt->Bind(1, since);
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool more, stmt->Step());
    if (!more) break;
    StoredAccess e;
    e.data.time_unix_nano = stmt->Int(0);
    e.data.uid = stmt->IsNull(1) ? -1 : stmt->Int(1);
    e.data.user = stmt->Text(2);
    e.data.unit = stmt->Text(3);
    e.data.service = stmt->Text(4);
    int64_t action = stmt->Int(5);
    e.data.action = action > 0 && action < policy::kActionCount ? static_cast<policy::Action>(action)
                                                                : policy::Action::kUnspecified;
    e.data.object = stmt->Text(6);
    e.data.dataset = stmt->Text(7);
    e.data.region = stmt->Text(8);
    e.data.node = !stmt->Text(9).empty() ? stmt->Text(9) : stmt->Text(10);
    e.count = static_cast<uint64_t>(std::max<int64_t>(1, stmt->Int(11)));
    out.events.push_back(std::move(e));
  }
  return out;
}

namespace {

std::string PrincipalOf(const policy::AccessEventData& e) {
  if (!e.user.empty()) return "user " + e.user;
  if (!e.service.empty()) return "service " + e.service;
  if (!e.unit.empty()) return "unit " + e.unit;
  return "uid " + std::to_string(e.uid);
}

std::string TimeText(int64_t unix_nanos) { return FormatUtc(unix_nanos); }

std::string Where(const policy::Policy& p, policy::Pos pos) {
  return (pos.file < p.files.size() ? p.files[pos.file].path : "?") + ":" + std::to_string(pos.line);
}

// The note that a window reaches further back than the store does.
std::string CoverageNote(const StoredAccessSet& set) {
  if (set.oldest_unix_nanos == 0) return "the store holds no access events at all";
  if (set.oldest_unix_nanos > set.since_unix_nanos) {
    return "note: the store's oldest access event is from " + TimeText(set.oldest_unix_nanos) +
           ", after the window's start: the findings cover only the time since (see store.retention)";
  }
  return {};
}

}  // namespace

DiffReport DiffPolicies(const policy::Policy& old_set, const policy::Policy& new_set,
                        const std::vector<StoredAccess>& events) {
  DiffReport report;
  std::map<std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>, DiffChange> changes;
  for (const auto& e : events) {
    policy::AccessRequest req = e.data.Request();
    policy::Verdict a = policy::Decide(old_set, req);
    policy::Verdict b = policy::Decide(new_set, req);
    report.replayed += e.count;
    std::string old_line = policy::VerdictLine(old_set, a);
    std::string new_line = policy::VerdictLine(new_set, b);
    if (a.decision == b.decision && old_line == new_line) continue;
    report.changed += e.count;
    if (a.decision == policy::Decision::kAllow && b.decision != policy::Decision::kAllow) {
      report.allow_to_deny += e.count;
    } else if (a.decision != policy::Decision::kAllow && b.decision == policy::Decision::kAllow) {
      report.deny_to_allow += e.count;
    } else {
      report.other += e.count;
    }
    std::string target = b.dataset >= 0 ? new_set.datasets[static_cast<size_t>(b.dataset)].id
                         : a.dataset >= 0 ? old_set.datasets[static_cast<size_t>(a.dataset)].id
                         : !e.data.dataset.empty() ? e.data.dataset
                                                   : e.data.object;
    std::string action(policy::ActionName(e.data.action));
    auto key = std::make_tuple(PrincipalOf(e.data), action, target, e.data.region, old_line, new_line);
    DiffChange& c = changes[key];
    if (c.events == 0) {
      c = {std::get<0>(key), action, target, e.data.region, old_line, new_line, 0, e.data.time_unix_nano, 0};
    }
    c.events += e.count;
    c.last = e.data.time_unix_nano;
  }
  for (auto& [key, c] : changes) report.changes.push_back(std::move(c));
  std::sort(report.changes.begin(), report.changes.end(),
            [](const DiffChange& x, const DiffChange& y) { return x.events > y.events; });
  return report;
}

void PrintDiff(const DiffReport& r, const StoredAccessSet& set, size_t limit) {
  std::printf("replayed %llu access events since %s: %llu would change (%llu allow -> deny, %llu deny -> allow, "
              "%llu in their reasons only)\n",
              static_cast<unsigned long long>(r.replayed), TimeText(set.since_unix_nanos).c_str(),
              static_cast<unsigned long long>(r.changed), static_cast<unsigned long long>(r.allow_to_deny),
              static_cast<unsigned long long>(r.deny_to_allow), static_cast<unsigned long long>(r.other));
  std::string note = CoverageNote(set);
  if (!note.empty()) std::printf("%s\n", note.c_str());
  size_t shown = 0;
  for (const auto& c : r.changes) {
    if (shown++ == limit) {
      std::printf("... %zu more (--limit)\n", r.changes.size() - limit);
      break;
    }
    std::printf("\n%s %s %s from %s: %llu events, %s .. %s\n  old: %s\n  new: %s\n", c.principal.c_str(),
                c.action.c_str(), c.target.c_str(), c.region.empty() ? "no region" : c.region.c_str(),
                static_cast<unsigned long long>(c.events), TimeText(c.first).c_str(), TimeText(c.last).c_str(),
                c.old_verdict.c_str(), c.new_verdict.c_str());
  }
}

UnusedReport FindUnused(const policy::Policy& p, const std::vector<StoredAccess>& events, int64_t window_start,
                        int64_t now) {
  UnusedReport report;
  report.window_start = window_start;
  report.now = now;
  const size_t n = p.grants.size();
  std::vector<uint64_t> allowed(n, 0), principal_events(n, 0);
  std::vector<int64_t> last_used(n, 0);
  std::vector<std::set<std::string>> used_pairs(n);
  std::vector<bool> principal_active(p.principals.size(), false);
  for (const auto& e : events) {
    if (e.data.time_unix_nano < window_start) continue;
    report.events += e.count;
    policy::Verdict v = policy::Decide(p, e.data.Request());
    for (uint8_t k = 0; k < v.principal_count; ++k) {
      principal_active[static_cast<size_t>(v.principals[k])] = true;
      for (size_t g = 0; g < n; ++g) {
        if (p.grants[g].principals.Has(static_cast<size_t>(v.principals[k]))) principal_events[g] += e.count;
      }
    }
    if (v.grant >= 0) {
      size_t g = static_cast<size_t>(v.grant);
      allowed[g] += e.count;
      last_used[g] = std::max(last_used[g], e.data.time_unix_nano);
      used_pairs[g].insert(std::string(policy::ActionName(e.data.action)) + " " +
                           p.datasets[static_cast<size_t>(v.dataset)].id);
    }
  }
  for (size_t g = 0; g < n; ++g) {
    const policy::Grant& grant = p.grants[g];
    UnusedReport::Grant out;
    out.id = grant.id;
    out.where = Where(p, grant.pos);
    out.granted_pairs = grant.datasets.Count() * static_cast<uint64_t>(__builtin_popcount(grant.actions));
    out.used_pairs.assign(used_pairs[g].begin(), used_pairs[g].end());
    out.allowed_events = allowed[g];
    out.last_used = last_used[g];
    out.principal_events = principal_events[g];
    out.wildcard = grant.dataset_wildcard;
    if (allowed[g] == 0) {
      report.unused.push_back(std::move(out));
    } else if (out.used_pairs.size() < out.granted_pairs) {
      report.broader.push_back(std::move(out));
    }
  }
  for (size_t i = 0; i < p.principals.size(); ++i) {
    if (principal_active[i]) continue;
    UnusedReport::Principal out;
    out.id = p.principals[i].id;
    out.where = Where(p, p.principals[i].pos);
    for (const auto& grant : p.grants) {
      if (grant.principals.Has(i)) out.granted_by.push_back(grant.id);
    }
    if (!out.granted_by.empty()) report.inactive.push_back(std::move(out));
  }
  return report;
}

void PrintUnused(const UnusedReport& r, const StoredAccessSet& set, int64_t window_nanos) {
  std::printf("least-privilege findings over %lld days (%s .. %s), %llu access events\n",
              static_cast<long long>(window_nanos / 86'400'000'000'000), TimeText(r.window_start).c_str(),
              TimeText(r.now).c_str(), static_cast<unsigned long long>(r.events));
  std::string note = CoverageNote(set);
  if (!note.empty()) std::printf("%s\n", note.c_str());
  std::printf("\nunused grants (%zu): granted, never used in the window\n", r.unused.size());
  for (const auto& g : r.unused) {
    std::printf("  %-28s %s: grants %llu dataset-actions; its principals made %llu accesses, none allowed by it\n",
                g.id.c_str(), g.where.c_str(), static_cast<unsigned long long>(g.granted_pairs),
                static_cast<unsigned long long>(g.principal_events));
  }
  std::printf("\ngrants broader than their use (%zu)\n", r.broader.size());
  for (const auto& g : r.broader) {
    std::string used;
    for (const auto& u : g.used_pairs) used += (used.empty() ? "" : ", ") + u;
    std::printf("  %-28s %s: grants %llu dataset-actions%s, used %zu (%s) by %llu accesses, last %s\n", g.id.c_str(),
                g.where.c_str(), static_cast<unsigned long long>(g.granted_pairs), g.wildcard ? " (a wildcard)" : "",
                g.used_pairs.size(), used.c_str(), static_cast<unsigned long long>(g.allowed_events),
                TimeText(g.last_used).c_str());
  }
  std::printf("\nprincipals with no access in the window (%zu)\n", r.inactive.size());
  for (const auto& pr : r.inactive) {
    std::string by;
    for (const auto& g : pr.granted_by) by += (by.empty() ? "" : ", ") + g;
    std::printf("  %-28s %s: granted by %s\n", pr.id.c_str(), pr.where.c_str(), by.c_str());
  }
}

nlohmann::json UnusedJson(const UnusedReport& r, const StoredAccessSet& set) {
  auto grant = [](const UnusedReport::Grant& g) {
    return nlohmann::json{{"grant", g.id},          {"where", g.where},
                          {"granted_pairs", g.granted_pairs}, {"used_pairs", g.used_pairs},
                          {"allowed_events", g.allowed_events}, {"last_used", g.last_used ? TimeText(g.last_used) : ""},
                          {"principal_events", g.principal_events}, {"wildcard", g.wildcard}};
  };
  nlohmann::json j = {{"window_start", TimeText(r.window_start)}, {"now", TimeText(r.now)}, {"events", r.events}};
  j["coverage_note"] = CoverageNote(set);
  j["unused_grants"] = nlohmann::json::array();
  for (const auto& g : r.unused) j["unused_grants"].push_back(grant(g));
  j["broader_than_used"] = nlohmann::json::array();
  for (const auto& g : r.broader) j["broader_than_used"].push_back(grant(g));
  j["inactive_principals"] = nlohmann::json::array();
  for (const auto& pr : r.inactive) {
    j["inactive_principals"].push_back({{"principal", pr.id}, {"where", pr.where}, {"granted_by", pr.granted_by}});
  }
  return j;
}

}  // namespace custos::ctl
