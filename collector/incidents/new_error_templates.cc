#include "collector/incidents/new_error_templates.h"

#include "collector/rca/log_template.h"
#include "schemas/record_refs.h"

namespace custos::collector {

NewErrorTemplates::NewErrorTemplates(NewErrorTemplateOptions options, MetricsRegistry& m)
    : options_(options),
      alerts_(m.GetCounter("custos_collector_new_error_template_alerts_total",
                           "Error log statements a service wrote for the first time after its warm-up")),
      untracked_(m.GetCounter("custos_collector_error_templates_untracked_total",
                              "Error lines whose template was not learned: max_templates reached")) {}

namespace {

// Whether ParseLogLine could find an ERROR or FATAL level in a line without
// a severity: a JSON line (its "severity"/"level" member), or one of the
// words in the first 40 characters. Spares the parse for most lines on the
// ingest path.
bool MayBeError(std::string_view message) {
  size_t first = message.find_first_not_of(" \t\r\n\v\f");
  if (first == std::string_view::npos) return false;
  if (message[first] == '{') return true;
  std::string_view head = message.substr(first, 40);
  return head.find("ERROR") != std::string_view::npos || head.find("FATAL") != std::string_view::npos;
}

}  // namespace

std::vector<policy::Alert> NewErrorTemplates::Observe(const v1::Batch& batch) {
  std::vector<policy::Alert> out;
  std::vector<std::string> entities;  // per resource ref, computed once per batch
  for (int i = 0; i < batch.resources_size(); ++i) entities.push_back(EntityOf(batch, static_cast<uint32_t>(i)));
  for (const v1::Record& r : batch.records()) {
    if (!r.has_log()) continue;
    const v1::LogRecord& log = r.log();
    if (log.resource_ref() >= entities.size()) continue;  // the validator refuses such batches
    const std::string& service = entities[log.resource_ref()];
    const auto t = static_cast<int64_t>(log.time_unix_nano());
    if (t <= 0) continue;  // no time: cannot say whether the service is past its warm-up
    auto [it, inserted] = services_.try_emplace(service);
    Service& s = it->second;
    if (inserted || t < s.first_seen) s.first_seen = t;
    // Cheap check first: most lines are not errors.
    if (log.severity() != v1::SEVERITY_UNSPECIFIED && log.severity() < v1::SEVERITY_ERROR) continue;
    if (log.severity() == v1::SEVERITY_UNSPECIFIED && !MayBeError(log.message())) continue;
    rca::ParsedLog parsed = rca::ParseLogLine(log.message(), static_cast<int>(log.severity()));
    if (parsed.level != "ERROR" && parsed.level != "FATAL") continue;
    std::string tpl = rca::LocationTemplate(parsed);
    if (!tpl.empty() && s.locations.count(tpl)) continue;
    if (templates_ >= options_.max_templates) {
      untracked_.Increment();
      continue;
    }
    if (tpl.empty()) {
      rca::DrainParser::Match m = s.words.Add(parsed.level + " " + parsed.message);
      if (!m.created) continue;
      tpl = m.text;
    } else {
      s.locations.insert(tpl);
    }
    ++templates_;
    if (t - s.first_seen < options_.warmup_nanos) continue;  // still learning this service
    alerts_.Increment();
    policy::Alert a;
    a.rule = "log.new-error-template";
    a.severity = "warning";
    a.message = service + " wrote a new error: " + log.message().substr(0, 300);
    a.kind = "logs";
    a.time_unix_nano = t;
    a.labels = {{"service", service}, {"template", tpl.substr(0, 200)}};
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace custos::collector
