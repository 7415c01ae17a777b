#include "collector/rca/log_features.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "collector/rca/log_template.h"

namespace custos::rca {

static bool MentionsError(std::string_view msg) {
  std::string low(msg);
  std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return std::tolower(c); });
  return low.find("exception") != std::string::npos || low.find("error") != std::string::npos;
}

void AddLogBucket(int b, const std::vector<LogRow>& logs, SeriesFrame& frame, const EntryOperations* entry_ops) {
  if (logs.empty()) return;
  frame.MarkSource(b, Source::kLog);
  for (const LogRow& row : logs) {
    ParsedLog parsed = ParseLogLine(row.message, row.severity);
    std::string tpl = SeriesPart(LogTemplate(parsed));
    frame.Add(b, row.service, "L|n", 1);
    SeriesId tpl_id = frame.Intern(row.service, "L|tpl|" + tpl);
    frame.Add(b, tpl_id, 1);
    frame.SetExample(b, tpl_id, row.message);
    if (entry_ops != nullptr && !row.span_id.empty()) {
      auto eo = entry_ops->find(row.span_id);
      if (eo != entry_ops->end()) {
        SeriesId ev = frame.Intern(row.service, "L|ev|" + SeriesPart(eo->second) + "|" + tpl);
        frame.Add(b, ev, 1);
        frame.SetExample(b, ev, row.message);
      }
    }
    if (parsed.level == "ERROR" || parsed.level == "FATAL") {
      frame.Add(b, row.service, "L|err", 1);
    } else if (parsed.level == "WARN") {
      frame.Add(b, row.service, "L|warn", 1);
    }
    if (MentionsError(parsed.message)) frame.Add(b, row.service, "L|exc", 1);
  }
}

void AddShares(SeriesFrame& frame) {
  std::vector<std::pair<int, std::pair<SeriesId, double>>> add;
  for (int b : frame.BucketsWithValues()) {
    auto value = [&](const std::string& entity, const std::string& name, double* out) {
      SeriesId id;
      if (!frame.Find(entity, name, &id)) return false;
      const double* v = frame.Get(b, id);
      if (v == nullptr) return false;
      *out = *v;
      return true;
    };
    frame.ForEachValue(b, [&](SeriesId id, double v) {
      // Copies: Intern() below may move the frame's names.
      const std::string entity = frame.entity(id);
      const std::string name = frame.name(id);
      double den = 0;
      if (name.rfind("L|tpl|", 0) == 0) {
        if (value(entity, "L|n", &den) && den > 0)
          add.push_back({b, {frame.Intern(entity, "L|share|" + name.substr(6)), v / den}});
      } else if (name == "L|n" && v > 0) {
        double err = 0;
        value(entity, "L|err", &err);
        add.push_back({b, {frame.Intern(entity, "L|errshare"), err / v}});
      } else if (name.rfind("L|ev|", 0) == 0) {
        std::string rest = name.substr(5);
        std::string op = rest.substr(0, rest.find('|'));
        if (value(entity, "T|ent|" + op, &den) && den > 0)
          add.push_back({b, {frame.Intern(entity, "L|evshare|" + rest), v / den}});
      } else if (name.rfind("T|op|", 0) == 0 && name.size() > 9 && name.compare(name.size() - 4, 4, "|cnt") == 0) {
        if (value(entity, "T|n_span", &den) && den > 0)
          add.push_back({b, {frame.Intern(entity, "T|opshare|" + name.substr(5, name.size() - 9)), v / den}});
      }
    });
  }
  for (const auto& [b, kv] : add) frame.Put(b, kv.first, kv.second);
}

}  // namespace custos::rca
