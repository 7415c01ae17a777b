// Which dataset a file path or object URI belongs to, and which principal
// name a uid, user or systemd unit stands for: the mapping from
// configuration that the governance policy language will later replace.
// Kept behind this small class so that the swap touches nothing else.
//
//   CUSTOS_ASSIGN_OR_RETURN(DatasetMap map, DatasetMap::FromConfig(section));
//   if (const Dataset* d = map.ForObject("/data/imagenet/train/x.jpeg")) Use(d->id);
//   std::string who = map.PrincipalName(1001, "alice", "train.service");
//
// Patterns are globs over '/'-separated names: '*' matches within one name,
// '?' one character of a name, '**' any number of whole names (zero
// included), so "/data/imagenet/**" matches the directory and everything
// below it. The first dataset (in file order) with a matching pattern wins.
// Immutable after construction: thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"

namespace custos::agent::access {

struct Dataset {
  std::string id;
  std::string classification;
  std::string home_region;
  std::vector<std::string> paths;  // globs over absolute file paths
  std::vector<std::string> uris;   // globs over URIs ("s3://bucket/prefix/**")
};

class DatasetMap {
 public:
  DatasetMap() = default;

  // Reads [[datasets]] and [principal_names] of `config` (the access
  // section). Bad values (no id, duplicate id, relative path glob, unknown
  // principal key kind) are recorded on the config, so Finish() names them.
  static DatasetMap FromConfig(ConfigSection& config);

  // The dataset of a path (starts with '/') or URI; null when none matches.
  const Dataset* ForObject(std::string_view object) const;
  // The dataset with this id; null when unknown.
  const Dataset* ById(std::string_view id) const;

  // The configured principal name for a unit, else a user, else a uid
  // (most specific first); empty when none is configured.
  std::string PrincipalName(int64_t uid, const std::string& user, const std::string& unit) const;

  size_t dataset_count() const { return datasets_.size(); }

 private:
  std::vector<Dataset> datasets_;
  std::map<std::string, std::string> by_unit_, by_user_, by_uid_;
};

// Glob match as described above; linear memory, O(|pattern|·|text|) time.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace custos::agent::access
