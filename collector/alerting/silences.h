// Silences: an operator mutes alerts whose labels match, for a while
// (`custosctl silence add --match alertname=gpu-xid-critical --duration 2h
// --comment "node 7 in repair"`). A silenced alert is still stored and
// audited; it is only not delivered. Matchers are Alertmanager's: name=value,
// name!=value, name=~regex, name!~regex (anchored); all must match.
// Silences live in the store's file, so they survive restarts; adding and
// expiring one is audited by the caller.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "collector/store/sqlite_db.h"
#include "common/status.h"

namespace custos::collector {

struct Matcher {
  std::string name, value;
  enum class Op { kEq, kNe, kRe, kNre } op = Op::kEq;
  std::shared_ptr<const std::regex> regex;  // kRe, kNre

  bool Matches(const std::map<std::string, std::string>& labels) const;
  std::string ToString() const;
};

// Parses "name=value", "name!=value", "name=~regex", "name!~regex".
Result<Matcher> ParseMatcher(const std::string& text);

struct Silence {
  int64_t id = 0;
  std::vector<Matcher> matchers;
  int64_t starts = 0, ends = 0;  // unix nanos
  std::string created_by, comment;

  nlohmann::json ToJson(int64_t now) const;
};

class Silences {
 public:
  // Opens (creating) the silences table in the store's file at `db_path`.
  static Result<std::unique_ptr<Silences>> Open(const std::string& db_path);

  Result<Silence> Add(std::vector<Matcher> matchers, int64_t starts, int64_t ends, const std::string& actor,
                      const std::string& comment);
  // Ends silence `id` now; NotFound when there is no such active silence.
  Result<Silence> Expire(int64_t id, int64_t now, const std::string& actor);
  // Active and pending silences (expired ones within the last day too).
  std::vector<Silence> List(int64_t now) const;
  // The id of an active silence matching `labels`, or 0.
  int64_t Match(const std::map<std::string, std::string>& labels, int64_t now) const;

 private:
  explicit Silences(std::unique_ptr<store::Db> db) : db_(std::move(db)) {}
  Status Load();

  mutable std::mutex mu_;
  std::unique_ptr<store::Db> db_;   // guarded by mu_
  std::vector<Silence> silences_;   // guarded by mu_
};

}  // namespace custos::collector
