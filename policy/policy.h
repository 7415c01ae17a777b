// A compiled policy set: datasets, principals, grants, residency and rules,
// ready to decide data-plane accesses (see decide.h) and to evaluate rules
// over records (see rules.h). Built by Compile() (compiler.h) from checked
// sources; immutable afterwards, so one set can be shared by many threads
// while a reload builds the next one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/condition.h"
#include "policy/diagnostics.h"

namespace custos::policy {

// Data-plane actions; the numbers are custos.v1.AccessEvent.Action's.
enum class Action : uint8_t { kUnspecified = 0, kRead = 1, kWrite, kCreate, kDelete, kRename, kList };
constexpr int kActionCount = 7;
std::string_view ActionName(Action a);  // "read", ...
bool ParseAction(std::string_view name, Action& out);

// A fixed-size set of small integers (principals, datasets, regions).
class Bitset {
 public:
  Bitset() = default;
  explicit Bitset(size_t n) : words_((n + 63) / 64) {}
  void Set(size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  bool Has(size_t i) const { return i / 64 < words_.size() && (words_[i / 64] >> (i % 64) & 1); }
  bool Empty() const;
  size_t Count() const;
  bool Contains(const Bitset& other) const;  // other ⊆ this
  void Union(const Bitset& other);

 private:
  std::vector<uint64_t> words_;
};

// Heterogeneous lookup by string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct Dataset {
  std::string id;
  Pos pos;
  std::string classification;
  int classification_index = -1;
  std::string home;  // region
  int home_region = -1;
  std::string owner;
  std::vector<std::string> patterns;  // paths and URIs as written
};

struct Principal {
  std::string id;
  Pos pos;
  std::vector<int64_t> uids;
  std::vector<std::string> users, units, services;
};

struct Group {
  std::string id;
  Pos pos;
  Bitset members;  // principals, nested groups flattened
};

struct Grant {
  std::string id;
  Pos pos;
  Bitset principals;                   // groups flattened
  std::vector<std::string> who;        // as written
  uint8_t actions = 0;                 // bit per Action
  Bitset datasets;
  std::vector<std::string> dataset_terms;  // as written ("ds-1", "ml-*")
  bool dataset_wildcard = false;       // some term is a pattern
  Bitset regions;                      // empty: any region
  bool any_region = true;
  std::vector<std::string> nodes;      // globs over node id or hostname; empty: any node
  int64_t until_unix = 0;              // 0: no expiry; else covers times before it
  std::string until_text;
};

struct Transfer {
  int region = -1;
  std::string basis;  // adequacy, scc, bcr, derogation, consent
  std::string note;
  Pos pos;
};

struct Residency {
  std::string classification;
  Pos pos;
  Bitset regions;
  std::vector<Transfer> transfers;
};

// An alerting rule over one record kind.
struct Rule {
  std::string id;
  Pos pos;
  std::string kind;       // record kind: "gpu_event", ...
  int kind_number = 0;    // custos.v1.Record oneof field number
  Condition when;
  std::string severity;   // info, warning, error, critical
  Template message;
  std::vector<std::pair<std::string, std::string>> labels;
  // Thresholds: fire when at least `at_least` matching records arrive within
  // `within_seconds`, counted per distinct value of `by`.
  uint32_t at_least = 1;
  int64_t within_seconds = 0;
  std::vector<FieldRef> by;
};

// A 'test' block: an access and the verdict it must get.
struct TestCase {
  std::string name;
  Pos pos;
  int64_t uid = -1;
  std::string user, unit, service, object, dataset, region, node;
  Action action = Action::kUnspecified;
  int64_t time_unix = 0;  // 0: the test run's own time
  std::string expect;     // allow, deny, error
  std::vector<std::string> expect_violations;  // as Violation kinds' names
  std::vector<std::string> expect_rules;       // grant / residency ids that must decide
};

class Policy {
 public:
  // Constant after Compile().
  std::vector<SourceFile> files;
  std::string version;  // "sha256:..." over the files' names and contents
  std::vector<std::string> regions;          // interned region names
  StringMap<int> region_index;
  StringMap<std::vector<int>> region_sets;   // 'regions NAME = [...]'
  std::vector<std::string> classifications;
  std::vector<Dataset> datasets;
  StringMap<int> dataset_index;
  std::vector<Principal> principals;
  StringMap<int> principal_index;
  std::vector<Group> groups;
  StringMap<int> group_index;
  std::vector<std::unique_ptr<Bitset>> member_sets;  // what 'principal in X' conditions test
  std::vector<Grant> grants;
  std::vector<Residency> residencies;
  std::vector<int> residency_by_classification;  // index or -1
  std::vector<Rule> rules;
  std::vector<TestCase> tests;

  // Lookup structures for Decide() (decide.cc builds them).
  StringMap<int> path_exact;           // pattern without wildcards
  StringMap<int> path_prefix;          // "prefix/**" -> dataset
  std::vector<std::pair<std::string, int>> path_globs;  // other patterns, in declaration order
  std::unordered_map<int64_t, std::vector<int>> by_uid;
  StringMap<std::vector<int>> by_user, by_unit, by_service;
  std::vector<std::pair<std::string, int>> unit_globs;
  std::vector<std::vector<int>> grants_by_dataset_action;  // [dataset * kActionCount + action]

  void BuildIndexes();
  int FindRegion(std::string_view name) const;
  int FindDataset(std::string_view id) const;
};

// Glob matching: '*' matches within one path segment, '**' across segments,
// '?' one character other than '/'.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace custos::policy
