#include "collector/policy_engine.h"

#include <sys/stat.h>

#include <algorithm>

#include "common/files.h"
#include "common/log.h"
#include "schemas/record_refs.h"

namespace custos::collector {

namespace {

constexpr int64_t kCheckIntervalNanos = 2'000'000'000;

policy::Action ActionOf(v1::AccessEvent::Action a) {
  int n = static_cast<int>(a);
  return n > 0 && n < policy::kActionCount ? static_cast<policy::Action>(n) : policy::Action::kUnspecified;
}

}  // namespace

std::string AccessSubject(const v1::Principal& p) {
  return !p.user().empty()               ? "user:" + p.user()
         : !p.service_identity().empty() ? "service:" + p.service_identity()
                                         : "uid:" + std::to_string(p.uid());
}

std::string JoinComma(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

PolicyEngine::PolicyEngine(std::vector<std::string> paths, MetricsRegistry& m)
    : paths_(std::move(paths)),
      decisions_allow_(m.GetCounter("custos_collector_policy_decisions_total", "Access decisions by verdict",
                                    {{"verdict", "allow"}})),
      decisions_deny_(m.GetCounter("custos_collector_policy_decisions_total", "Access decisions by verdict",
                                   {{"verdict", "deny"}})),
      decisions_error_(m.GetCounter("custos_collector_policy_decisions_total", "Access decisions by verdict",
                                    {{"verdict", "error"}})),
      alerts_raised_(m.GetCounter("custos_collector_alerts_raised_total", "Alerts raised by policy rules and violations")),
      reloads_ok_(m.GetCounter("custos_collector_policy_reloads_total", "Policy reloads", {{"outcome", "ok"}})),
      reloads_refused_(m.GetCounter("custos_collector_policy_reloads_total", "Policy reloads", {{"outcome", "refused"}})),
      untracked_keys_(m.GetGauge("custos_collector_rule_untracked_keys",
                                 "Threshold-rule keys not counted because the bound on counters was full")) {}

Result<std::unique_ptr<PolicyEngine>> PolicyEngine::Open(std::vector<std::string> paths, MetricsRegistry& metrics) {
  std::unique_ptr<PolicyEngine> e(new PolicyEngine(std::move(paths), metrics));
  e->start_ = e->Load("start");
  if (e->start_.refused) {
    return InvalidArgument("the policy does not compile (" + std::to_string(e->start_.error_count) + " errors):\n" +
                           e->start_.errors);
  }
  return e;
}

std::shared_ptr<const policy::Policy> PolicyEngine::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return policy_;
}

std::string PolicyEngine::Fingerprint() const {
  std::string out;
  for (const auto& f : policy::PolicyFilePaths(paths_)) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) {
      out += f + ":missing;";
      continue;
    }
    out += f + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ino) + ";";
  }
  return out;
}

ReloadOutcome PolicyEngine::Load(const std::string& reason) {
  ReloadOutcome out;
  out.reason = reason;
  fingerprint_ = Fingerprint();
  auto files = policy::ReadPolicyFiles(paths_);
  if (!files.ok()) {
    out.refused = true;
    out.error_count = 1;
    out.errors = files.status().message();
  } else {
    policy::CompileResult r = policy::Compile(std::move(*files));
    out.error_count = r.diagnostics.error_count();
    out.warning_count = r.diagnostics.warning_count();
    out.errors = r.diagnostics.Format(r.files);
    if (!r.policy) {
      out.refused = true;
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      out.changed = !policy_ || policy_->version != r.policy->version;
      policy_ = std::move(r.policy);
    }
  }
  auto active = current();
  out.version = active ? active->version : "";
  (out.refused ? reloads_refused_ : reloads_ok_).Increment();
  if (out.refused) {
    log::Error("policy", "the policy set was refused; the previous set stays active",
               {{"reason", reason}, {"errors", std::to_string(out.error_count)}, {"active", out.version},
                {"diagnostics", out.errors}});
  } else {
    log::Info("policy", out.changed ? "policy set active" : "policy set unchanged",
              {{"reason", reason}, {"version", out.version}, {"warnings", std::to_string(out.warning_count)},
               {"files", std::to_string(active->files.size())}});
    if (out.warning_count > 0) log::Warn("policy", "policy warnings", {{"diagnostics", out.errors}});
  }
  return out;
}

std::optional<ReloadOutcome> PolicyEngine::MaybeReload(int64_t now) {
  bool requested = reload_requested_.exchange(false);
  if (!requested) {
    if (now < next_check_) return std::nullopt;
    next_check_ = now + kCheckIntervalNanos;
    if (Fingerprint() == fingerprint_) return std::nullopt;
  }
  ReloadOutcome out = Load(requested ? "SIGHUP" : "files changed");
  if (!out.changed && !out.refused) return std::nullopt;  // touched but identical
  return out;
}

void PolicyEngine::Evaluate(const store::IngestedBatch& b, BatchEvaluation& out) {
  std::shared_ptr<const policy::Policy> p = current();
  if (!p) return;
  if (!rules_ || rules_->policy().version != p->version) rules_ = std::make_unique<policy::RuleEngine>(p);
  static const v1::Resource kNoResource;
  const size_t alerts_at_start = out.alerts.size();
  for (const v1::Record& r : b.batch.records()) {
    const uint32_t ref = ResourceRefOf(r);
    const v1::Resource& res =
        ref < static_cast<uint32_t>(b.batch.resources_size()) ? b.batch.resources(static_cast<int>(ref)) : kNoResource;
    policy::RecordView view;
    view.resource = &res;
    view.time_unix_nano = static_cast<int64_t>(TimeOf(r));
    const size_t alerts_before = out.alerts.size();
    if (r.has_access()) {
      const v1::AccessEvent& a = r.access();
      policy::AccessRequest req;
      req.uid = a.principal().uid();
      req.user = a.principal().user();
      req.unit = a.principal().systemd_unit();
      req.service = a.principal().service_identity();
      req.action = ActionOf(a.action());
      req.object = a.object();
      req.dataset_id = a.dataset_id();
      req.region = res.region();
      req.node_id = res.node_id();
      req.hostname = res.hostname();
      req.time_unix_nano = static_cast<int64_t>(a.time_unix_nano());
      policy::Verdict v = policy::Decide(*p, req);
      AccessVerdict av;
      av.decision = std::string(policy::DecisionName(v.decision));
      for (uint8_t k = 0; k < v.violation_count; ++k) {
        const auto& x = v.violations[k];
        std::string name(policy::ViolationName(x.kind));
        if (x.kind == policy::ViolationKind::kResidency) {
          name += ":" + p->residencies[static_cast<size_t>(x.ref)].classification;
        }
        av.violations.push_back(std::move(name));
      }
      av.rules = policy::DecidingRules(*p, v);
      if (v.dataset >= 0) {
        av.dataset = p->datasets[static_cast<size_t>(v.dataset)].id;
        av.classification = p->datasets[static_cast<size_t>(v.dataset)].classification;
      }
      if (v.error) av.error = v.error;
      (v.decision == policy::Decision::kAllow  ? decisions_allow_
       : v.decision == policy::Decision::kDeny ? decisions_deny_
                                               : decisions_error_)
          .Increment();
      view.record = &a;
      view.verdict = static_cast<int>(v.decision);
      view.principals = v.principals;
      view.principal_count = v.principal_count;
      if (v.dataset >= 0) {
        const policy::Dataset& ds = p->datasets[static_cast<size_t>(v.dataset)];
        view.dataset_id = ds.id;
        view.dataset_classification = ds.classification;
        view.dataset_home = ds.home;
        view.dataset_owner = ds.owner;
      }
      // A violation is an alert of its own (issue: "violations raise alerts").
      if (v.decision != policy::Decision::kAllow) {
        policy::Alert alert;
        alert.rule = v.decision == policy::Decision::kError ? "policy.error" : "policy.violation";
        const bool residency = std::find_if(av.violations.begin(), av.violations.end(), [](const std::string& s) {
                                 return s.starts_with("residency");
                               }) != av.violations.end();
        alert.severity = residency || v.decision == policy::Decision::kError ? "error" : "warning";
        std::string who = !a.principal().user().empty()               ? a.principal().user()
                          : !a.principal().service_identity().empty() ? a.principal().service_identity()
                          : !a.principal().systemd_unit().empty()     ? a.principal().systemd_unit()
                                                                      : "uid " + std::to_string(a.principal().uid());
        alert.message = who + " " + std::string(policy::ActionName(req.action)) + " " +
                        (av.dataset.empty() ? a.object() : av.dataset) + " on " + res.hostname() + " (" +
                        res.region() + "): " + (av.error.empty() ? JoinComma(av.violations) : av.error);
        alert.labels = {{"verdict", av.decision}, {"violations", JoinComma(av.violations)}};
        if (!av.dataset.empty()) alert.labels.emplace_back("dataset", av.dataset);
        alert.kind = "access";
        alert.time_unix_nano = req.time_unix_nano;
        alert.policy_version = p->version;
        out.alerts.push_back(std::move(alert));
      }
      out.access.push_back(std::move(av));
      rules_->Evaluate(r.kind_case(), view, out.alerts);
      const std::string subject = AccessSubject(a.principal());
      for (size_t k = alerts_before; k < out.alerts.size(); ++k) out.alerts[k].subject = subject;
    } else if (rules_->Wants(r.kind_case())) {
      const google::protobuf::Message* m = nullptr;
      switch (r.kind_case()) {
        case v1::Record::kLog: m = &r.log(); break;
        case v1::Record::kMetric: m = &r.metric(); break;
        case v1::Record::kSpan: m = &r.span(); break;
        case v1::Record::kGpuSample: m = &r.gpu_sample(); break;
        case v1::Record::kGpuEvent: m = &r.gpu_event(); break;
        case v1::Record::kGap: m = &r.gap(); break;
        default: break;
      }
      if (m != nullptr) {
        view.record = m;
        rules_->Evaluate(r.kind_case(), view, out.alerts);
      }
    }
    for (size_t k = alerts_before; k < out.alerts.size(); ++k) {
      out.alert_nodes.push_back(res.node_id().empty() ? b.agent_id : res.node_id());
    }
  }
  alerts_raised_.Increment(out.alerts.size() - alerts_at_start);
  untracked_keys_.Set(static_cast<int64_t>(rules_->untracked_keys()));
}

}  // namespace custos::collector
