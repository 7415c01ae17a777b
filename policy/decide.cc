#include "policy/decide.h"

namespace custos::policy {

std::string_view DecisionName(Decision d) {
  switch (d) {
    case Decision::kAllow: return "allow";
    case Decision::kDeny: return "deny";
    case Decision::kError: return "error";
  }
  return "?";
}

std::string_view ViolationName(ViolationKind k) {
  switch (k) {
    case ViolationKind::kNoDataset: return "no-dataset";
    case ViolationKind::kNoGrant: return "no-grant";
    case ViolationKind::kResidency: return "residency";
  }
  return "?";
}

int MatchDataset(const Policy& p, std::string_view dataset_id, std::string_view object) {
  if (!dataset_id.empty()) return p.FindDataset(dataset_id);
  if (object.empty()) return -1;
  if (auto it = p.path_exact.find(object); it != p.path_exact.end()) return it->second;
  // The longest "prefix/**" that is a whole-segment prefix of the object.
  if (!p.path_prefix.empty()) {
    for (size_t end = object.size(); end > 0; --end) {
      if (object[end - 1] != '/' && end != object.size()) continue;
      size_t len = object[end - 1] == '/' ? end - 1 : end;
      if (auto it = p.path_prefix.find(object.substr(0, len)); it != p.path_prefix.end()) return it->second;
    }
  }
  for (const auto& [glob, index] : p.path_globs) {
    if (GlobMatch(glob, object)) return index;
  }
  return -1;
}

namespace {

void MatchPrincipals(const Policy& p, const AccessRequest& r, Verdict& v) {
  auto add = [&](const std::vector<int>& list) {
    for (int idx : list) {
      bool seen = false;
      for (uint8_t k = 0; k < v.principal_count; ++k) seen |= v.principals[k] == idx;
      if (!seen && v.principal_count < sizeof v.principals / sizeof v.principals[0]) {
        v.principals[v.principal_count++] = idx;
      }
    }
  };
  if (r.uid >= 0) {
    if (auto it = p.by_uid.find(r.uid); it != p.by_uid.end()) add(it->second);
  }
  if (!r.user.empty()) {
    if (auto it = p.by_user.find(r.user); it != p.by_user.end()) add(it->second);
  }
  if (!r.service.empty()) {
    if (auto it = p.by_service.find(r.service); it != p.by_service.end()) add(it->second);
  }
  if (!r.unit.empty()) {
    if (auto it = p.by_unit.find(r.unit); it != p.by_unit.end()) add(it->second);
    for (const auto& [glob, idx] : p.unit_globs) {
      if (GlobMatch(glob, r.unit)) add({idx});
    }
  }
}

bool NodeMatches(const Grant& g, const AccessRequest& r) {
  for (const auto& glob : g.nodes) {
    if (GlobMatch(glob, r.node_id) || GlobMatch(glob, r.hostname)) return true;
  }
  return false;
}

}  // namespace

Verdict Decide(const Policy& p, const AccessRequest& r) {
  Verdict v;
  if (r.action == Action::kUnspecified || static_cast<int>(r.action) >= kActionCount) {
    v.decision = Decision::kError;
    v.error = "the event names no known action";
    return v;
  }
  MatchPrincipals(p, r, v);
  v.dataset = MatchDataset(p, r.dataset_id, r.object);
  if (v.dataset < 0) {
    v.decision = Decision::kDeny;
    v.AddViolation({ViolationKind::kNoDataset, -1, NearMiss::kNone});
    return v;
  }
  const int region = r.region.empty() ? -1 : p.FindRegion(r.region);

  // Least privilege: some grant must cover the access.
  const int64_t seconds = r.time_unix_nano / 1'000'000'000;
  const auto& candidates = p.grants_by_dataset_action[static_cast<size_t>(v.dataset) * kActionCount +
                                                      static_cast<size_t>(r.action)];
  Violation miss{ViolationKind::kNoGrant, -1, NearMiss::kNone};
  for (int gi : candidates) {
    const Grant& g = p.grants[static_cast<size_t>(gi)];
    bool principal = false;
    for (uint8_t k = 0; k < v.principal_count && !principal; ++k) {
      principal = g.principals.Has(static_cast<size_t>(v.principals[k]));
    }
    if (!principal) continue;
    NearMiss why = NearMiss::kNone;
    if (g.until_unix != 0 && seconds >= g.until_unix) {
      why = NearMiss::kExpired;
    } else if (!g.any_region && (region < 0 || !g.regions.Has(static_cast<size_t>(region)))) {
      why = NearMiss::kRegion;
    } else if (!g.nodes.empty() && !NodeMatches(g, r)) {
      why = NearMiss::kNode;
    }
    if (why == NearMiss::kNone) {
      v.grant = gi;
      break;
    }
    if (miss.ref < 0) {
      miss.ref = gi;
      miss.near = why;
    }
  }
  if (v.grant < 0) v.AddViolation(miss);

  // Residency of the dataset's classification.
  const Dataset& ds = p.datasets[static_cast<size_t>(v.dataset)];
  if (ds.classification_index >= 0) {
    int ri = p.residency_by_classification[static_cast<size_t>(ds.classification_index)];
    if (ri >= 0) {
      v.residency = ri;
      const Residency& res = p.residencies[static_cast<size_t>(ri)];
      if (r.region.empty()) {
        v.decision = Decision::kError;
        v.error = "the node reports no region, so the residency of its classification cannot be decided";
        return v;
      }
      if (region < 0 || !res.regions.Has(static_cast<size_t>(region))) {
        for (size_t t = 0; t < res.transfers.size(); ++t) {
          if (res.transfers[t].region == region && region >= 0) {
            v.transfer = static_cast<int>(t);
            break;
          }
        }
        if (v.transfer < 0) v.AddViolation({ViolationKind::kResidency, ri, NearMiss::kNone});
      }
    }
  }
  v.decision = v.violation_count == 0 ? Decision::kAllow : Decision::kDeny;
  return v;
}

namespace {

std::string PrincipalText(const AccessRequest& r) {
  std::string out;
  auto add = [&](std::string_view label, std::string_view value) {
    if (value.empty()) return;
    out += (out.empty() ? "" : ", ") + std::string(label) + " " + std::string(value);
  };
  add("user", r.user);
  if (r.uid >= 0) add("uid", std::to_string(r.uid));
  add("unit", r.unit);
  add("service", r.service);
  return out.empty() ? "an unidentified principal" : out;
}

}  // namespace

std::vector<std::string> Explain(const Policy& p, const AccessRequest& r, const Verdict& v) {
  std::vector<std::string> out;
  std::string who = PrincipalText(r);
  std::string matched;
  for (uint8_t k = 0; k < v.principal_count; ++k) {
    matched += (k ? ", " : "") + p.principals[static_cast<size_t>(v.principals[k])].id;
  }
  out.push_back("principal: " + who + (matched.empty() ? " (matches no declared principal)" : " = " + matched));
  if (v.dataset >= 0) {
    const Dataset& ds = p.datasets[static_cast<size_t>(v.dataset)];
    out.push_back("dataset: " + ds.id + " (" + (ds.classification.empty() ? "unclassified" : ds.classification) +
                  (ds.home.empty() ? "" : ", home " + ds.home) + ")");
  }
  if (v.decision == Decision::kError) {
    out.push_back(std::string("error: ") + (v.error ? v.error : "undecidable"));
    return out;
  }
  if (v.grant >= 0) {
    out.push_back("least privilege: grant '" + p.grants[static_cast<size_t>(v.grant)].id + "' covers it");
  }
  if (v.transfer >= 0) {
    const Residency& res = p.residencies[static_cast<size_t>(v.residency)];
    const Transfer& t = res.transfers[static_cast<size_t>(v.transfer)];
    out.push_back("residency '" + res.classification + "': region " + std::string(r.region) +
                  " allowed by transfer basis " + t.basis + (t.note.empty() ? "" : " (" + t.note + ")"));
  } else if (v.residency >= 0 && v.decision == Decision::kAllow) {
    out.push_back("residency '" + p.residencies[static_cast<size_t>(v.residency)].classification + "': region " +
                  std::string(r.region) + " allowed");
  }
  for (uint8_t k = 0; k < v.violation_count; ++k) {
    const Violation& x = v.violations[k];
    switch (x.kind) {
      case ViolationKind::kNoDataset:
        out.push_back("violation no-dataset: '" + std::string(r.dataset_id.empty() ? r.object : r.dataset_id) +
                      "' belongs to no declared dataset");
        break;
      case ViolationKind::kNoGrant: {
        std::string line = "violation no-grant: no grant lets " + who + " " + std::string(ActionName(r.action)) +
                           " " + p.datasets[static_cast<size_t>(v.dataset)].id;
        if (x.ref >= 0) {
          const Grant& g = p.grants[static_cast<size_t>(x.ref)];
          switch (x.near) {
            case NearMiss::kExpired: line += "; grant '" + g.id + "' expired (until " + g.until_text + ")"; break;
            case NearMiss::kRegion:
              line += "; grant '" + g.id + "' does not cover region '" + std::string(r.region) + "'";
              break;
            case NearMiss::kNode: line += "; grant '" + g.id + "' does not cover this node"; break;
            default: break;
          }
        }
        out.push_back(line);
        break;
      }
      case ViolationKind::kResidency: {
        const Residency& res = p.residencies[static_cast<size_t>(x.ref)];
        out.push_back("violation residency: " + res.classification + " data may not be processed in region '" +
                      std::string(r.region) + "' and no transfer basis covers it");
        break;
      }
    }
  }
  return out;
}

std::vector<std::string> DecidingRules(const Policy& p, const Verdict& v) {
  std::vector<std::string> out;
  if (v.grant >= 0) out.push_back("grant:" + p.grants[static_cast<size_t>(v.grant)].id);
  if (v.residency >= 0) out.push_back("residency:" + p.residencies[static_cast<size_t>(v.residency)].classification);
  for (uint8_t k = 0; k < v.violation_count; ++k) {
    const Violation& x = v.violations[k];
    if (x.kind == ViolationKind::kNoGrant && x.ref >= 0) {
      out.push_back("near-grant:" + p.grants[static_cast<size_t>(x.ref)].id);
    }
  }
  return out;
}

}  // namespace custos::policy
