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
    if (inserted || t < s.first_seen) {
      s.first_seen = t;
      dirty_services_.insert(service);
    }
    // Cheap check first: most lines are not errors.
    if (log.severity() != v1::SEVERITY_UNSPECIFIED && log.severity() < v1::SEVERITY_ERROR) continue;
    if (log.severity() == v1::SEVERITY_UNSPECIFIED && !MayBeError(log.message())) continue;
    rca::ParsedLog parsed = rca::ParseLogLine(log.message(), static_cast<int>(log.severity()));
    if (parsed.level != "ERROR" && parsed.level != "FATAL") continue;
    std::string tpl;
    if (!Learn(service, s, parsed, t, &tpl)) continue;
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

bool NewErrorTemplates::Learn(const std::string& service, Service& s, const rca::ParsedLog& parsed, int64_t t,
                              std::string* statement) {
  auto seen = [&](bool by_words, const std::string& text) {
    int64_t& last = seen_[{service, by_words, text}];
    last = std::max(last, t);
  };
  std::string tpl = rca::LocationTemplate(parsed);
  if (!tpl.empty() && s.locations.count(tpl)) {
    seen(false, tpl);
    return false;
  }
  if (templates_ >= options_.max_templates) {
    untracked_.Increment();
    return false;
  }
  const bool by_words = tpl.empty();
  if (by_words) {
    rca::DrainParser::Match m = s.words.Add(parsed.level + " " + parsed.message);
    if (!m.created) {
      if (auto known = s.word_statements.find(m.id); known != s.word_statements.end()) seen(true, known->second);
      return false;
    }
    tpl = m.text;
    s.word_statements[m.id] = tpl;
  } else {
    s.locations.insert(tpl);
  }
  ++templates_;
  unsaved_.push_back({service, tpl, by_words, t});
  *statement = std::move(tpl);
  return true;
}

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS error_template_services(service TEXT PRIMARY KEY, first_seen INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS error_templates(service TEXT NOT NULL, by_words INTEGER NOT NULL,
  statement TEXT NOT NULL, learned INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  PRIMARY KEY(service, by_words, statement)) WITHOUT ROWID;
)sql";

}  // namespace

Status NewErrorTemplates::Load(store::Db& db) {
  CUSTOS_RETURN_IF_ERROR(db.Exec(kSchema));
  CUSTOS_ASSIGN_OR_RETURN(auto services, db.Prepare("SELECT service, first_seen FROM error_template_services"));
  for (;;) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, services->Step());
    if (!row) break;
    Service& s = services_[services->Text(0)];
    s.first_seen = services->Int(1);
  }
  CUSTOS_ASSIGN_OR_RETURN(auto statements,
                          db.Prepare("SELECT service, by_words, statement FROM error_templates ORDER BY learned"));
  for (;;) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, statements->Step());
    if (!row) break;
    auto it = services_.find(statements->Text(0));
    if (it == services_.end() || templates_ >= options_.max_templates) continue;
    // A statement known by its words is its template ("ERROR user <*> not
    // found"): added to Drain again, it matches the lines it matched.
    if (statements->Int(1) != 0) {
      const std::string text = statements->Text(2);
      rca::DrainParser::Match m = it->second.words.Add(text);
      if (m.id != 0) it->second.word_statements.try_emplace(m.id, text);
    } else {
      it->second.locations.insert(statements->Text(2));
    }
    ++templates_;
  }
  return Status::Ok();
}

Status NewErrorTemplates::Save(store::Db& db) {
  if (dirty_services_.empty() && unsaved_.empty() && seen_.empty()) return Status::Ok();
  CUSTOS_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  Status s = [&]() -> Status {
    CUSTOS_ASSIGN_OR_RETURN(
        auto service, db.Prepare("INSERT INTO error_template_services(service, first_seen) VALUES(?1, ?2) "
                                 "ON CONFLICT(service) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen)"));
    for (const std::string& name : dirty_services_) {
      service->Bind(1, name);
      service->Bind(2, services_.at(name).first_seen);
      CUSTOS_RETURN_IF_ERROR(service->Exec());
    }
    CUSTOS_ASSIGN_OR_RETURN(auto statement,
                            db.Prepare("INSERT OR IGNORE INTO error_templates(service, by_words, statement, learned, "
                                       "last_seen) VALUES(?1, ?2, ?3, ?4, ?4)"));
    for (const Learned& l : unsaved_) {
      statement->Bind(1, l.service);
      statement->Bind(2, int64_t{l.by_words ? 1 : 0});
      statement->Bind(3, l.statement);
      statement->Bind(4, l.time);
      CUSTOS_RETURN_IF_ERROR(statement->Exec());
    }
    CUSTOS_ASSIGN_OR_RETURN(auto sighting,
                            db.Prepare("UPDATE error_templates SET last_seen = max(last_seen, ?4) "
                                       "WHERE service = ?1 AND by_words = ?2 AND statement = ?3"));
    for (const auto& [key, time] : seen_) {
      const auto& [service_name, by_words, text] = key;
      sighting->Bind(1, service_name);
      sighting->Bind(2, int64_t{by_words ? 1 : 0});
      sighting->Bind(3, text);
      sighting->Bind(4, time);
      CUSTOS_RETURN_IF_ERROR(sighting->Exec());
    }
    return db.Exec("COMMIT");
  }();
  if (!s.ok()) {
    (void)db.Exec("ROLLBACK");
    return s;
  }
  dirty_services_.clear();
  unsaved_.clear();
  seen_.clear();
  return Status::Ok();
}

}  // namespace custos::collector
