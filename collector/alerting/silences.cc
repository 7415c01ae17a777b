#include "collector/alerting/silences.h"

#include <algorithm>

#include "common/time_format.h"

namespace custos::collector {

bool Matcher::Matches(const std::map<std::string, std::string>& labels) const {
  auto it = labels.find(name);
  const std::string& v = it == labels.end() ? std::string() : it->second;
  switch (op) {
    case Op::kEq: return v == value;
    case Op::kNe: return v != value;
    case Op::kRe: return std::regex_match(v, *regex);
    case Op::kNre: return !std::regex_match(v, *regex);
  }
  return false;
}

std::string Matcher::ToString() const {
  static const char* kOps[] = {"=", "!=", "=~", "!~"};
  return name + kOps[static_cast<int>(op)] + value;
}

Result<Matcher> ParseMatcher(const std::string& text) {
  size_t pos = text.find_first_of("=!");
  if (pos == std::string::npos || pos == 0) {
    return InvalidArgument("matcher '" + text + "' is not name=value, name!=value, name=~regex or name!~regex");
  }
  Matcher m;
  m.name = text.substr(0, pos);
  std::string rest = text.substr(pos);
  if (rest.starts_with("=~")) {
    m.op = Matcher::Op::kRe;
    m.value = rest.substr(2);
  } else if (rest.starts_with("!~")) {
    m.op = Matcher::Op::kNre;
    m.value = rest.substr(2);
  } else if (rest.starts_with("!=")) {
    m.op = Matcher::Op::kNe;
    m.value = rest.substr(2);
  } else if (rest.starts_with("=")) {
    m.value = rest.substr(1);
  } else {
    return InvalidArgument("matcher '" + text + "': expected =, !=, =~ or !~ after '" + m.name + "'");
  }
  if (m.op == Matcher::Op::kRe || m.op == Matcher::Op::kNre) {
    try {
      m.regex = std::make_shared<const std::regex>(m.value, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return InvalidArgument("matcher '" + text + "': bad regular expression: " + e.what());
    }
  }
  return m;
}

nlohmann::json Silence::ToJson(int64_t now) const {
  nlohmann::json ms = nlohmann::json::array();
  for (const auto& m : matchers) ms.push_back(m.ToString());
  std::string state = now < starts ? "pending" : now < ends ? "active" : "expired";
  return {{"id", id},           {"matchers", ms},         {"starts", FormatUtc(starts)}, {"ends", FormatUtc(ends)},
          {"state", state},     {"created_by", created_by}, {"comment", comment}};
}

Result<std::unique_ptr<Silences>> Silences::Open(const std::string& db_path) {
  CUSTOS_ASSIGN_OR_RETURN(auto db, store::Db::Open(db_path, /*create=*/true));
  CUSTOS_RETURN_IF_ERROR(db->Exec(
      "CREATE TABLE IF NOT EXISTS silences(id INTEGER PRIMARY KEY AUTOINCREMENT, matchers TEXT NOT NULL, "
      "starts INTEGER NOT NULL, ends INTEGER NOT NULL, created_by TEXT, comment TEXT)"));
  std::unique_ptr<Silences> s(new Silences(std::move(db)));
  CUSTOS_RETURN_IF_ERROR(s->Load());
  return s;
}

Status Silences::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  CUSTOS_ASSIGN_OR_RETURN(auto stmt, db_->Prepare("SELECT id, matchers, starts, ends, created_by, comment FROM silences"));
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    Silence s;
    s.id = stmt->Int(0);
    auto list = nlohmann::json::parse(stmt->Text(1), nullptr, false);
    if (!list.is_array()) return DataLoss("silence " + std::to_string(s.id) + ": unreadable matchers");
    for (const auto& text : list) {
      CUSTOS_ASSIGN_OR_RETURN(Matcher m, ParseMatcher(text.is_string() ? text.get<std::string>() : ""));
      s.matchers.push_back(std::move(m));
    }
    s.starts = stmt->Int(2);
    s.ends = stmt->Int(3);
    s.created_by = stmt->Text(4);
    s.comment = stmt->Text(5);
    silences_.push_back(std::move(s));
  }
  return Status::Ok();
}

Result<Silence> Silences::Add(std::vector<Matcher> matchers, int64_t starts, int64_t ends, const std::string& actor,
                              const std::string& comment) {
  if (matchers.empty()) return InvalidArgument("a silence needs at least one matcher");
  if (ends <= starts) return InvalidArgument("a silence must end after it starts");
  if (comment.empty()) return InvalidArgument("say why (a comment): silences are audited");
  nlohmann::json list = nlohmann::json::array();
  for (const auto& m : matchers) list.push_back(m.ToString());
  std::string list_text = list.dump();
  std::lock_guard<std::mutex> lock(mu_);
  CUSTOS_ASSIGN_OR_RETURN(auto stmt, db_->Prepare(
      "INSERT INTO silences(matchers, starts, ends, created_by, comment) VALUES(?,?,?,?,?)"));
  stmt->Bind(1, list_text);
  stmt->Bind(2, starts);
  stmt->Bind(3, ends);
  stmt->Bind(4, actor);
  stmt->Bind(5, comment);
  CUSTOS_RETURN_IF_ERROR(stmt->Exec());
  Silence s{sqlite3_last_insert_rowid(db_->raw()), std::move(matchers), starts, ends, actor, comment};
  silences_.push_back(s);
  return s;
}

Result<Silence> Silences::Expire(int64_t id, int64_t now, const std::string& actor) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(silences_.begin(), silences_.end(), [&](const Silence& s) { return s.id == id && s.ends > now; });
  if (it == silences_.end()) return NotFound("no active or pending silence " + std::to_string(id));
  CUSTOS_ASSIGN_OR_RETURN(auto stmt, db_->Prepare("UPDATE silences SET ends = ?2 WHERE id = ?1"));
  stmt->Bind(1, id);
  stmt->Bind(2, std::max(now, it->starts + 1));
  CUSTOS_RETURN_IF_ERROR(stmt->Exec());
  it->ends = std::max(now, it->starts + 1);
  (void)actor;  // the caller audits who expired it
  return *it;
}

std::vector<Silence> Silences::List(int64_t now) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Silence> out;
  for (const auto& s : silences_) {
    if (s.ends > now - 86'400'000'000'000) out.push_back(s);
  }
  return out;
}

int64_t Silences::Match(const std::map<std::string, std::string>& labels, int64_t now) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& s : silences_) {
    if (now < s.starts || now >= s.ends) continue;
    if (std::all_of(s.matchers.begin(), s.matchers.end(), [&](const Matcher& m) { return m.Matches(labels); })) {
      return s.id;
    }
  }
  return 0;
}

}  // namespace custos::collector
