#include "policy/policy.h"

#include <bit>

namespace custos::policy {

std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kUnspecified: return "unspecified";
    case Action::kRead: return "read";
    case Action::kWrite: return "write";
    case Action::kCreate: return "create";
    case Action::kDelete: return "delete";
    case Action::kRename: return "rename";
    case Action::kList: return "list";
  }
  return "?";
}

bool ParseAction(std::string_view name, Action& out) {
  for (int a = 1; a < kActionCount; ++a) {
    if (ActionName(static_cast<Action>(a)) == name) {
      out = static_cast<Action>(a);
      return true;
    }
  }
  return false;
}

bool Bitset::Empty() const {
  for (uint64_t w : words_) {
    if (w) return false;
  }
  return true;
}

size_t Bitset::Count() const {
  size_t n = 0;
  for (uint64_t w : words_) n += static_cast<size_t>(std::popcount(w));
  return n;
}

bool Bitset::Contains(const Bitset& other) const {
  for (size_t i = 0; i < other.words_.size(); ++i) {
    uint64_t mine = i < words_.size() ? words_[i] : 0;
    if (other.words_[i] & ~mine) return false;
  }
  return true;
}

void Bitset::Union(const Bitset& other) {
  if (words_.size() < other.words_.size()) words_.resize(other.words_.size());
  for (size_t i = 0; i < other.words_.size(); ++i) words_[i] |= other.words_[i];
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Backtracking with one resume point per kind of star: the last '*' (which
  // may not cross '/') and the last '**' (which may). Bounded by |p| * |t|.
  constexpr size_t kNone = std::string_view::npos;
  size_t p = 0, t = 0;
  size_t single_p = kNone, single_t = 0;
  size_t deep_p = kNone, deep_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      if (p + 1 < pattern.size() && pattern[p + 1] == '*') {
        p += 2;
        deep_p = p;
        deep_t = t;
        single_p = kNone;
      } else {
        p += 1;
        single_p = p;
        single_t = t;
      }
      continue;
    }
    if (p < pattern.size() && (pattern[p] == text[t] || (pattern[p] == '?' && text[t] != '/'))) {
      ++p;
      ++t;
      continue;
    }
    if (single_p != kNone && text[single_t] != '/') {
      p = single_p;
      t = ++single_t;
      continue;
    }
    if (deep_p != kNone) {
      p = deep_p;
      t = ++deep_t;
      single_p = kNone;
      continue;
    }
    return false;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

int Policy::FindRegion(std::string_view name) const {
  auto it = region_index.find(name);
  return it == region_index.end() ? -1 : it->second;
}

int Policy::FindDataset(std::string_view id) const {
  auto it = dataset_index.find(id);
  return it == dataset_index.end() ? -1 : it->second;
}

namespace {

bool HasWildcard(std::string_view s) { return s.find_first_of("*?") != std::string_view::npos; }

}  // namespace

void Policy::BuildIndexes() {
  path_exact.clear();
  path_prefix.clear();
  path_globs.clear();
  for (size_t d = 0; d < datasets.size(); ++d) {
    for (const auto& pattern : datasets[d].patterns) {
      int idx = static_cast<int>(d);
      if (!HasWildcard(pattern)) {
        path_exact.emplace(pattern, idx);
      } else if (pattern.size() > 3 && pattern.ends_with("/**") &&
                 !HasWildcard(std::string_view(pattern).substr(0, pattern.size() - 3))) {
        path_prefix.emplace(pattern.substr(0, pattern.size() - 3), idx);
      } else {
        path_globs.emplace_back(pattern, idx);
      }
    }
  }
  by_uid.clear();
  by_user.clear();
  by_unit.clear();
  by_service.clear();
  unit_globs.clear();
  for (size_t i = 0; i < principals.size(); ++i) {
    const Principal& pr = principals[i];
    int idx = static_cast<int>(i);
    for (int64_t uid : pr.uids) by_uid[uid].push_back(idx);
    for (const auto& u : pr.users) by_user[u].push_back(idx);
    for (const auto& s : pr.services) by_service[s].push_back(idx);
    for (const auto& u : pr.units) {
      if (HasWildcard(u)) {
        unit_globs.emplace_back(u, idx);
      } else {
        by_unit[u].push_back(idx);
      }
    }
  }
  grants_by_dataset_action.assign(datasets.size() * kActionCount, {});
  for (size_t g = 0; g < grants.size(); ++g) {
    for (size_t d = 0; d < datasets.size(); ++d) {
      if (!grants[g].datasets.Has(d)) continue;
      for (int a = 1; a < kActionCount; ++a) {
        if (grants[g].actions & (1u << a)) grants_by_dataset_action[d * kActionCount + a].push_back(static_cast<int>(g));
      }
    }
  }
}

}  // namespace custos::policy
