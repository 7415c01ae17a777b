#include "policy/rules.h"

namespace custos::policy {

RuleEngine::RuleEngine(std::shared_ptr<const Policy> policy, size_t max_keys)
    : policy_(std::move(policy)), max_keys_(max_keys) {
  for (const Rule& r : policy_->rules) by_kind_[r.kind_number].push_back(&r);
}

bool RuleEngine::Wants(int kind_number) const { return by_kind_.contains(kind_number); }

void RuleEngine::Evaluate(int kind_number, const RecordView& view, std::vector<Alert>& out) {
  auto it = by_kind_.find(kind_number);
  if (it == by_kind_.end()) return;
  for (const Rule* r : it->second) {
    if (!r->when.Evaluate(view)) continue;
    uint64_t count = 1;
    if (r->at_least > 1) {
      std::string key = r->id;
      for (const FieldRef& f : r->by) {
        key += '\x1f';
        key += FieldText(f, view);
      }
      auto w = windows_.find(key);
      if (w == windows_.end()) {
        if (windows_.size() >= max_keys_) {
          // Forget windows that have gone quiet before refusing a new key.
          for (auto x = windows_.begin(); x != windows_.end();) {
            bool stale = x->second.empty() ||
                         x->second.back() < view.time_unix_nano - r->within_seconds * 1'000'000'000;
            x = stale ? windows_.erase(x) : std::next(x);
          }
          if (windows_.size() >= max_keys_) {
            ++untracked_keys_;
            continue;
          }
        }
        w = windows_.emplace(std::move(key), std::deque<int64_t>{}).first;
      }
      auto& times = w->second;
      times.push_back(view.time_unix_nano);
      const int64_t horizon = view.time_unix_nano - r->within_seconds * 1'000'000'000;
      while (!times.empty() && times.front() <= horizon) times.pop_front();
      if (times.size() < r->at_least) continue;
      count = times.size();
      times.clear();
    }
    Alert a;
    a.rule = r->id;
    a.severity = r->severity;
    a.message = r->message.Render(view, count);
    a.labels = r->labels;
    a.kind = r->kind;
    a.time_unix_nano = view.time_unix_nano;
    a.count = count;
    a.policy_version = policy_->version;
    out.push_back(std::move(a));
  }
}

}  // namespace custos::policy
