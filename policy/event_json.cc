#include "policy/event_json.h"

#include <nlohmann/json.hpp>

#include "policy/lexer.h"

namespace custos::policy {

AccessRequest AccessEventData::Request() const {
  AccessRequest r;
  r.uid = uid;
  r.user = user;
  r.unit = unit;
  r.service = service;
  r.action = action;
  r.object = object;
  r.dataset_id = dataset;
  r.region = region;
  r.node_id = node;
  r.hostname = node;
  r.time_unix_nano = time_unix_nano;
  return r;
}

namespace {

bool ParseTimestamp(const std::string& s, int64_t& out_nano) {
  Diagnostics diags;
  auto tokens = Lex(s, 0, diags);
  if (diags.has_errors() || tokens.size() != 2 || (tokens[0].kind != Tok::kTime && tokens[0].kind != Tok::kDate)) {
    return false;
  }
  out_nano = tokens[0].value * 1'000'000'000;
  return true;
}

}  // namespace

Result<AccessEventData> ParseAccessEventJson(const std::string& json, int64_t now_unix_nano) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("the access event is not a JSON object");
  AccessEventData e;
  e.time_unix_nano = now_unix_nano;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const auto& v = it.value();
    auto text = [&](std::string& out) -> Status {
      if (!v.is_string()) return InvalidArgument("\"" + key + "\" must be a string");
      out = v.get<std::string>();
      return Status::Ok();
    };
    if (key == "user") {
      CUSTOS_RETURN_IF_ERROR(text(e.user));
    } else if (key == "unit") {
      CUSTOS_RETURN_IF_ERROR(text(e.unit));
    } else if (key == "service") {
      CUSTOS_RETURN_IF_ERROR(text(e.service));
    } else if (key == "object") {
      CUSTOS_RETURN_IF_ERROR(text(e.object));
    } else if (key == "dataset") {
      CUSTOS_RETURN_IF_ERROR(text(e.dataset));
    } else if (key == "region") {
      CUSTOS_RETURN_IF_ERROR(text(e.region));
    } else if (key == "node") {
      CUSTOS_RETURN_IF_ERROR(text(e.node));
    } else if (key == "uid") {
      if (!v.is_number_integer() || v.get<int64_t>() < 0) return InvalidArgument("\"uid\" must be a whole number >= 0");
      e.uid = v.get<int64_t>();
    } else if (key == "action") {
      std::string a;
      CUSTOS_RETURN_IF_ERROR(text(a));
      if (!ParseAction(a, e.action)) {
        return InvalidArgument("unknown action \"" + a + "\" (read, write, create, delete, rename, list)");
      }
    } else if (key == "time") {
      if (v.is_number_integer()) {
        e.time_unix_nano = v.get<int64_t>();
      } else if (!v.is_string() || !ParseTimestamp(v.get<std::string>(), e.time_unix_nano)) {
        return InvalidArgument("\"time\" must be a timestamp such as 2026-11-26T10:00:00Z or Unix nanoseconds");
      }
    } else {
      return InvalidArgument("unknown key \"" + key +
                             "\" (keys: time, user, uid, unit, service, action, object, dataset, region, node)");
    }
  }
  if (e.action == Action::kUnspecified) return InvalidArgument("the access event needs an \"action\"");
  return e;
}

std::string VerdictLine(const Policy& policy, const Verdict& v) {
  std::string out(DecisionName(v.decision));
  if (v.dataset >= 0) out += " dataset=" + policy.datasets[static_cast<size_t>(v.dataset)].id;
  for (uint8_t k = 0; k < v.violation_count; ++k) {
    const Violation& x = v.violations[k];
    out += " violation=" + std::string(ViolationName(x.kind));
    if (x.kind == ViolationKind::kResidency) out += ":" + policy.residencies[static_cast<size_t>(x.ref)].classification;
    if (x.kind == ViolationKind::kNoGrant && x.ref >= 0) {
      static const char* kNear[] = {"", "expired", "region", "node", "action", "principal"};
      out += "(" + policy.grants[static_cast<size_t>(x.ref)].id + ":" + kNear[static_cast<int>(x.near)] + ")";
    }
  }
  for (const auto& rule : DecidingRules(policy, v)) {
    if (!rule.starts_with("near-grant:")) out += " by=" + rule;
  }
  if (v.transfer >= 0) {
    out += " transfer=" + policy.residencies[static_cast<size_t>(v.residency)].transfers[static_cast<size_t>(v.transfer)].basis;
  }
  if (v.decision == Decision::kError && v.error) out += " error=\"" + std::string(v.error) + "\"";
  return out;
}

}  // namespace custos::policy
