#include "common/config.h"

#include <toml++/toml.h>

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cmath>
#include <sstream>

#include "common/files.h"

namespace custos {

struct ConfigFile::Doc {
  toml::table table;
};

namespace {

const toml::table* AsTable(const void* p) { return static_cast<const toml::table*>(p); }

int LineOf(const toml::node* n) { return n == nullptr ? 0 : static_cast<int>(n->source().begin.line); }

// Records every leaf key path of `t` (tables are walked, not listed).
void CollectKeys(const toml::table& t, const std::string& prefix, std::vector<std::pair<std::string, int>>* out) {
  for (const auto& [k, v] : t) {
    std::string path = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = v.as_table()) {
      out->emplace_back(path, LineOf(&v));  // the table itself (so empty unknown tables are caught)
      CollectKeys(*sub, path, out);
    } else if (const toml::array* arr = v.as_array(); arr != nullptr && arr->is_array_of_tables()) {
      out->emplace_back(path, LineOf(&v));  // [[path]] entries: walked like tables
      for (size_t i = 0; i < arr->size(); ++i) {
        CollectKeys(*arr->get(i)->as_table(), path + "[" + std::to_string(i) + "]", out);
      }
    } else {
      out->emplace_back(path, LineOf(&v));
    }
  }
}

}  // namespace

std::string SecretPath(const std::string& configured, const std::string& name, const std::string& fallback) {
  if (!configured.empty()) return configured;
  if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY")) {
    std::string path = std::string(dir) + "/" + name;
    if (::access(path.c_str(), R_OK) == 0) return path;
  }
  return fallback;
}

Result<int64_t> ParseDuration(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return InvalidArgument("'" + text + "' is not a duration (expected e.g. 250ms, 10s, 5m, 2h, 7d)");
  double n = std::strtod(text.substr(0, i).c_str(), nullptr);
  std::string unit = text.substr(i);
  double mult;
  if (unit == "ns") mult = 1;
  else if (unit == "us") mult = 1e3;
  else if (unit == "ms") mult = 1e6;
  else if (unit == "s") mult = 1e9;
  else if (unit == "m") mult = 60e9;
  else if (unit == "h") mult = 3600e9;
  else if (unit == "d") mult = 86400e9;
  else return InvalidArgument("'" + text + "' has an unknown duration unit (use ns, us, ms, s, m, h or d)");
  return static_cast<int64_t>(std::llround(n * mult));
}

Result<uint64_t> ParseBytes(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) return InvalidArgument("'" + text + "' is not a size (expected e.g. 512, 64KiB, 10MiB, 2GiB)");
  uint64_t n = std::stoull(text.substr(0, i));
  std::string unit(Trim(text.substr(i)));
  uint64_t mult;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KiB") mult = 1ULL << 10;
  else if (unit == "MiB") mult = 1ULL << 20;
  else if (unit == "GiB") mult = 1ULL << 30;
  else if (unit == "TiB") mult = 1ULL << 40;
  else return InvalidArgument("'" + text + "' has an unknown size unit (use B, KiB, MiB, GiB or TiB)");
  return n * mult;
}

ConfigFile::ConfigFile(std::string path, std::unique_ptr<Doc> doc)
    : path_(std::move(path)), doc_(std::move(doc)) {}
ConfigFile::ConfigFile(ConfigFile&&) noexcept = default;
ConfigFile& ConfigFile::operator=(ConfigFile&&) noexcept = default;
ConfigFile::~ConfigFile() = default;

Result<ConfigFile> ConfigFile::Parse(const std::string& text, const std::string& name) {
  try {
    auto doc = std::make_unique<Doc>();
    doc->table = toml::parse(text, name);
    return ConfigFile(name, std::move(doc));
  } catch (const toml::parse_error& e) {
    std::ostringstream m;
    m << name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    return InvalidArgument(m.str());
  }
}

Result<ConfigFile> ConfigFile::Load(const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return Parse(text, path);
}

ConfigSection ConfigFile::Root() { return ConfigSection(this, &doc_->table, ""); }

void ConfigFile::AddError(const std::string& key, const std::string& message, int line) {
  errors_.push_back(path_ + ":" + std::to_string(line) + ": " + key + ": " + message);
}

Status ConfigFile::Finish() {
  std::vector<std::pair<std::string, int>> keys;
  CollectKeys(doc_->table, "", &keys);
  for (const auto& [key, line] : keys) {
    if (used_.count(key) == 0) errors_.push_back(path_ + ":" + std::to_string(line) + ": unknown key '" + key + "'");
  }
  if (errors_.empty()) return Status::Ok();
  std::string m;
  for (const std::string& e : errors_) {
    if (!m.empty()) m += "\n";
    m += e;
  }
  errors_.clear();
  return InvalidArgument(m);
}

void ConfigSection::AddError(const std::string& key, const std::string& message) {
  const toml::node* n = Has(key) ? AsTable(table_)->get(key) : nullptr;
  file_->AddError(Path(key), message, LineOf(n));
}

bool ConfigSection::Has(const std::string& key) const {
  return table_ != nullptr && AsTable(table_)->contains(key);
}

std::string ConfigSection::String(const std::string& key, const std::string& def) {
  if (!Has(key)) return def;
  const toml::node* n = AsTable(table_)->get(key);
  file_->MarkUsed(Path(key));
  if (auto v = n->value<std::string>()) return *v;
  file_->AddError(Path(key), "expected a string", LineOf(n));
  return def;
}

int64_t ConfigSection::Int(const std::string& key, int64_t def, int64_t min, int64_t max) {
  if (!Has(key)) return def;
  const toml::node* n = AsTable(table_)->get(key);
  file_->MarkUsed(Path(key));
  auto v = n->value<int64_t>();
  if (!v || !n->is_integer()) {
    file_->AddError(Path(key), "expected an integer", LineOf(n));
    return def;
  }
  if (*v < min || *v > max) {
    file_->AddError(Path(key), "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                                   ", got " + std::to_string(*v), LineOf(n));
    return def;
  }
  return *v;
}

double ConfigSection::Double(const std::string& key, double def, double min, double max) {
  if (!Has(key)) return def;
  const toml::node* n = AsTable(table_)->get(key);
  file_->MarkUsed(Path(key));
  auto v = n->value<double>();
  if (!v || !(n->is_floating_point() || n->is_integer())) {
    file_->AddError(Path(key), "expected a number", LineOf(n));
    return def;
  }
  if (!(*v >= min && *v <= max)) {
    file_->AddError(Path(key), "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                                   ", got " + std::to_string(*v), LineOf(n));
    return def;
  }
  return *v;
}

bool ConfigSection::Bool(const std::string& key, bool def) {
  if (!Has(key)) return def;
  const toml::node* n = AsTable(table_)->get(key);
  file_->MarkUsed(Path(key));
  if (n->is_boolean()) return *n->value<bool>();
  file_->AddError(Path(key), "expected true or false", LineOf(n));
  return def;
}

int64_t ConfigSection::Duration(const std::string& key, int64_t def_nanos) {
  if (!Has(key)) return def_nanos;
  const toml::node* n = AsTable(table_)->get(key);
  std::string text = String(key, "");
  if (text.empty()) return def_nanos;
  auto d = ParseDuration(text);
  if (!d.ok()) {
    file_->AddError(Path(key), d.status().message(), LineOf(n));
    return def_nanos;
  }
  return *d;
}

uint64_t ConfigSection::Bytes(const std::string& key, uint64_t def) {
  if (!Has(key)) return def;
  const toml::node* n = AsTable(table_)->get(key);
  file_->MarkUsed(Path(key));
  if (n->is_integer()) {
    int64_t v = *n->value<int64_t>();
    if (v >= 0) return static_cast<uint64_t>(v);
  } else if (auto s = n->value<std::string>()) {
    auto b = ParseBytes(*s);
    if (b.ok()) return *b;
    file_->AddError(Path(key), b.status().message(), LineOf(n));
    return def;
  }
  file_->AddError(Path(key), "expected a size such as 64MiB", LineOf(n));
  return def;
}

std::map<std::string, std::string> ConfigSection::StringMap(const std::string& key) {
  std::map<std::string, std::string> out;
  if (!Has(key)) return out;
  const toml::node* n = AsTable(table_)->get(key);
  file_->MarkUsed(Path(key));
  const toml::table* t = n->as_table();
  if (t == nullptr) {
    file_->AddError(Path(key), "expected a table of strings", LineOf(n));
    return out;
  }
  for (const auto& [k, v] : *t) {
    std::string sub = Path(key) + "." + std::string(k.str());
    file_->MarkUsed(sub);
    if (auto s = v.value<std::string>()) {
      out[std::string(k.str())] = *s;
    } else {
      file_->AddError(sub, "expected a string", LineOf(&v));
    }
  }
  return out;
}

std::vector<std::string> ConfigSection::StringList(const std::string& key) {
  std::vector<std::string> out;
  if (!Has(key)) return out;
  const toml::node* n = AsTable(table_)->get(key);
  file_->MarkUsed(Path(key));
  const toml::array* a = n->as_array();
  if (a == nullptr) {
    file_->AddError(Path(key), "expected an array of strings", LineOf(n));
    return out;
  }
  for (const toml::node& e : *a) {
    if (auto s = e.value<std::string>()) {
      out.push_back(*s);
    } else {
      file_->AddError(Path(key), "expected an array of strings", LineOf(&e));
    }
  }
  return out;
}

ConfigSection ConfigSection::Section(const std::string& key) {
  if (!Has(key)) return ConfigSection(file_, nullptr, Path(key));
  const toml::node* n = AsTable(table_)->get(key);
  file_->MarkUsed(Path(key));
  if (const toml::table* t = n->as_table()) return ConfigSection(file_, t, Path(key));
  file_->AddError(Path(key), "expected a table [" + Path(key) + "]", LineOf(n));
  return ConfigSection(file_, nullptr, Path(key));
}

std::vector<ConfigSection> ConfigSection::SectionList(const std::string& key) {
  std::vector<ConfigSection> out;
  if (!Has(key)) return out;
  const toml::node* n = AsTable(table_)->get(key);
  file_->MarkUsed(Path(key));
  const toml::array* a = n->as_array();
  if (a == nullptr || (!a->empty() && !a->is_array_of_tables())) {
    file_->AddError(Path(key), "expected an array of tables [[" + Path(key) + "]]", LineOf(n));
    return out;
  }
  for (size_t i = 0; i < a->size(); ++i) {
    out.push_back(ConfigSection(file_, a->get(i)->as_table(), Path(key) + "[" + std::to_string(i) + "]"));
  }
  return out;
}

std::vector<std::string> ConfigSection::SubsectionNames() {
  std::vector<std::string> out;
  if (table_ == nullptr) return out;
  for (const auto& [k, v] : *AsTable(table_)) {
    if (v.is_table()) out.emplace_back(k.str());
  }
  return out;
}

}  // namespace custos
