#include "agent/sources/access/dataset_map.h"

#include <set>

namespace custos::agent::access {
namespace {

std::vector<std::string_view> SplitNames(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t slash = s.find('/');
    out.push_back(s.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    s = s.substr(slash + 1);
  }
}

// '*' and '?' within one name (no '/'): the classic single-backtrack match.
bool NameMatch(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) {
  std::vector<std::string_view> p = SplitNames(pattern), t = SplitNames(text);
  // A "**" name matches zero or more names, so "/x/**" matches "/x" too.
  const size_t P = p.size(), T = t.size();
  // ok[i][j]: p[i..] matches t[j..]; rows kept two at a time, filled from the end.
  std::vector<char> next(T + 1, 0), cur(T + 1, 0);
  next[T] = 1;  // the empty pattern matches only the empty rest
  for (size_t i = P; i-- > 0;) {
    cur.assign(T + 1, 0);
    for (size_t j = T + 1; j-- > 0;) {
      if (p[i] == "**") {
        cur[j] = next[j] || (j < T && cur[j + 1]);
      } else {
        cur[j] = j < T && next[j + 1] && NameMatch(p[i], t[j]);
      }
    }
    std::swap(cur, next);
  }
  return next[0] != 0;
}

DatasetMap DatasetMap::FromConfig(ConfigSection& config) {
  DatasetMap map;
  std::set<std::string> ids;
  for (ConfigSection& d : config.SectionList("datasets")) {
    Dataset ds;
    ds.id = d.String("id", "");
    ds.classification = d.String("classification", "");
    ds.home_region = d.String("home_region", "");
    ds.paths = d.StringList("paths");
    ds.uris = d.StringList("uris");
    if (ds.id.empty()) d.AddError("id", "every dataset needs a non-empty id");
    if (!ds.id.empty() && !ids.insert(ds.id).second) d.AddError("id", "dataset '" + ds.id + "' is defined twice");
    if (ds.paths.empty() && ds.uris.empty()) d.AddError("paths", "a dataset needs at least one of paths or uris");
    for (const std::string& p : ds.paths) {
      if (p.empty() || p[0] != '/') d.AddError("paths", "'" + p + "' is not an absolute path glob");
    }
    for (const std::string& u : ds.uris) {
      if (u.find("://") == std::string::npos) d.AddError("uris", "'" + u + "' is not a URI glob (scheme://...)");
    }
    map.datasets_.push_back(std::move(ds));
  }
  for (const auto& [key, name] : config.StringMap("principal_names")) {
    size_t colon = key.find(':');
    std::string kind = key.substr(0, colon == std::string::npos ? 0 : colon);
    std::string value = colon == std::string::npos ? "" : key.substr(colon + 1);
    std::map<std::string, std::string>* target = kind == "unit" ? &map.by_unit_
                                                 : kind == "user" ? &map.by_user_
                                                 : kind == "uid"  ? &map.by_uid_
                                                                  : nullptr;
    bool uid_ok = kind != "uid" || (!value.empty() && value.find_first_not_of("0123456789") == std::string::npos);
    if (target == nullptr || value.empty() || !uid_ok || name.empty()) {
      config.AddError("principal_names",
                      "key '" + key + "' must be \"uid:<number>\", \"user:<name>\" or \"unit:<unit>\" with a non-empty name");
      continue;
    }
    (*target)[value] = name;
  }
  return map;
}

const Dataset* DatasetMap::ForObject(std::string_view object) const {
  bool is_path = !object.empty() && object[0] == '/';
  for (const Dataset& d : datasets_) {
    for (const std::string& g : is_path ? d.paths : d.uris) {
      if (GlobMatch(g, object)) return &d;
    }
  }
  return nullptr;
}

const Dataset* DatasetMap::ById(std::string_view id) const {
  for (const Dataset& d : datasets_) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

std::string DatasetMap::PrincipalName(int64_t uid, const std::string& user, const std::string& unit) const {
  if (!unit.empty()) {
    if (auto it = by_unit_.find(unit); it != by_unit_.end()) return it->second;
  }
  if (!user.empty()) {
    if (auto it = by_user_.find(user); it != by_user_.end()) return it->second;
  }
  if (uid >= 0) {
    if (auto it = by_uid_.find(std::to_string(uid)); it != by_uid_.end()) return it->second;
  }
  return "";
}

}  // namespace custos::agent::access
