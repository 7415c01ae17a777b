#include "policy/compiler.h"

#include <openssl/sha.h>

#include <algorithm>
#include <functional>
#include <map>

#include "common/files.h"
#include "common/hex.h"
#include "policy/condition_compiler.h"
#include "policy/parser.h"

namespace custos::policy {

const std::vector<std::string>& BuiltinClassifications() {
  static const std::vector<std::string> kBuiltin = {"public", "internal", "confidential", "restricted",
                                                    "pii", "phi", "pci"};
  return kBuiltin;
}

namespace {

using ast::Attribute;
using ast::Decl;
using ast::Value;

const std::vector<std::string> kTransferBases = {"adequacy", "scc", "bcr", "derogation", "consent"};
const std::vector<std::string> kSeverities = {"info", "warning", "error", "critical"};

std::string Where(const std::vector<SourceFile>& files, Pos p) {
  return (p.file < files.size() ? files[p.file].path : "?") + ":" + std::to_string(p.line);
}

std::string VersionOf(const std::vector<SourceFile>& files) {
  std::string framed;
  for (const auto& f : files) {
    // Length-prefixed, so no two different sets hash alike.
    for (const std::string* s : {&f.path, &f.text}) {
      framed += std::to_string(s->size()) + ":" + *s;
    }
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(framed.data()), framed.size(), digest);
  return "sha256:" + HexLower(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

class Checker {
 public:
  Checker(std::vector<SourceFile>& files, const CompileOptions& options, Diagnostics& diags)
      : files_(files), options_(options), diags_(diags), policy_(std::make_shared<Policy>()) {}

  std::shared_ptr<Policy> Run() {
    std::vector<ast::File> parsed;
    for (uint32_t i = 0; i < files_.size(); ++i) parsed.push_back(Parse(files_[i].text, i, diags_));
    for (auto& f : parsed) {
      for (auto& d : f.decls) {
        if (Declare(d)) decls_.push_back(&d);
      }
    }
    // Names first, in an order where each kind only refers to earlier kinds.
    for (auto kind : {Decl::Kind::kRegions, Decl::Kind::kClassification, Decl::Kind::kDataset,
                      Decl::Kind::kPrincipal, Decl::Kind::kGroup, Decl::Kind::kResidency, Decl::Kind::kGrant,
                      Decl::Kind::kRule, Decl::Kind::kTest}) {
      for (const Decl* d : decls_) {
        if (d->kind == kind) Check(*d);
      }
    }
    Finish();
    if (diags_.has_errors()) return nullptr;
    policy_->files = files_;
    policy_->version = VersionOf(files_);
    policy_->BuildIndexes();
    return policy_;
  }

 private:
  // --- declarations and their names ------------------------------------------------
  bool Declare(const Decl& d) {
    static const char* kKindNames[] = {"region set", "classification", "dataset", "principal", "group",
                                       "grant", "residency", "rule", "test"};
    const char* kind = kKindNames[static_cast<int>(d.kind)];
    // Principals and groups share one namespace: 'who' may name either.
    Decl::Kind space = d.kind == Decl::Kind::kGroup ? Decl::Kind::kPrincipal : d.kind;
    auto key = std::to_string(static_cast<int>(space)) + ":" + d.name;
    if (auto it = seen_.find(key); it != seen_.end()) {
      diags_.Error(d.name_pos, std::string(kind) + " '" + d.name + "' is declared twice",
                   "the first declaration is at " + Where(files_, it->second));
      return false;
    }
    seen_.emplace(key, d.name_pos);
    return true;
  }

  void Check(const Decl& d) {
    switch (d.kind) {
      case Decl::Kind::kRegions: CheckRegions(d); break;
      case Decl::Kind::kClassification: CheckClassification(d); break;
      case Decl::Kind::kDataset: CheckDataset(d); break;
      case Decl::Kind::kPrincipal: CheckPrincipal(d); break;
      case Decl::Kind::kGroup: CheckGroup(d); break;
      case Decl::Kind::kResidency: CheckResidency(d); break;
      case Decl::Kind::kGrant: CheckGrant(d); break;
      case Decl::Kind::kRule: CheckRule(d); break;
      case Decl::Kind::kTest: CheckTest(d); break;
    }
  }

  // Checks that `d` has only `allowed` attributes, each once, and the
  // `required` ones; returns them by name.
  std::map<std::string, const Attribute*> Attributes(const Decl& d, const std::vector<std::string>& allowed,
                                                     const std::vector<std::string>& required) {
    std::map<std::string, const Attribute*> out;
    bool unknown = false;
    for (const auto& a : d.attributes) {
      if (std::find(allowed.begin(), allowed.end(), a.key) == allowed.end()) {
        std::string all = "a " + DeclName(d) + " has:";
        for (const auto& k : allowed) all += " " + k;
        std::string hint = DidYouMeanOr("", a.key, allowed, all);
        diags_.Error(a.pos, "unknown attribute '" + a.key + "' of " + DeclName(d) + " '" + d.name + "'", hint);
        unknown = true;
        continue;
      }
      if (out.contains(a.key)) {
        diags_.Error(a.pos, "'" + a.key + "' is set twice", "the first is at " + Where(files_, out[a.key]->pos));
        continue;
      }
      out[a.key] = &a;
    }
    // A misspelt attribute is the likely cause of a missing one: say it once.
    for (const auto& k : required) {
      if (!unknown && !out.contains(k)) diags_.Error(d.name_pos, DeclName(d) + " '" + d.name + "' needs '" + k + " = ...'");
    }
    return out;
  }

  static std::string DeclName(const Decl& d) {
    static const char* kNames[] = {"regions", "classification", "dataset", "principal", "group",
                                   "grant", "residency", "rule", "test"};
    return kNames[static_cast<int>(d.kind)];
  }

  // A list of items, or a single item written without brackets.
  static std::vector<const Value*> Items(const Value& v) {
    std::vector<const Value*> out;
    if (v.kind == Value::Kind::kList) {
      for (const auto& item : v.items) out.push_back(&item);
    } else {
      out.push_back(&v);
    }
    return out;
  }

  bool ExpectKind(const Value& v, Value::Kind kind, const std::string& what) {
    if (v.kind == kind) return true;
    std::string hint = kind == Value::Kind::kString && v.kind == Value::Kind::kIdent ? "quote it: \"" + v.text + "\"" : "";
    diags_.Error(v.pos, "expected " + what + ", found '" + v.text + "'", hint);
    return false;
  }

  std::vector<std::string> Strings(const Attribute* a, const std::string& what) {
    std::vector<std::string> out;
    if (a == nullptr) return out;
    for (const Value* v : Items(a->value)) {
      if (ExpectKind(*v, Value::Kind::kString, what)) out.push_back(v->text);
    }
    return out;
  }

  std::string Ident(const Attribute* a, const std::string& what) {
    if (a == nullptr) return {};
    if (a->value.kind != Value::Kind::kIdent && a->value.kind != Value::Kind::kString) {
      diags_.Error(a->value.pos, "expected " + what);
      return {};
    }
    return a->value.text;
  }

  // --- regions and classifications -------------------------------------------------------
  int InternRegion(const std::string& name) {
    if (int r = policy_->FindRegion(name); r >= 0) return r;
    int idx = static_cast<int>(policy_->regions.size());
    policy_->regions.push_back(name);
    policy_->region_index.emplace(name, idx);
    return idx;
  }

  void CheckRegions(const Decl& d) {
    std::vector<int> members;
    for (const auto& item : d.list.items) {
      if (!ExpectKind(item, Value::Kind::kIdent, "a region name such as eu-central-1")) continue;
      if (item.text == d.name || policy_->region_sets.contains(item.text)) {
        diags_.Error(item.pos, "'" + item.text + "' is a region set; a set lists regions, not other sets");
        continue;
      }
      members.push_back(InternRegion(item.text));
    }
    if (policy_->FindRegion(d.name) >= 0) {
      diags_.Error(d.name_pos, "'" + d.name + "' is already a region; name the set differently");
    }
    policy_->region_sets.emplace(d.name, std::move(members));
  }

  // Resolves region names and set names into `out`.
  bool Regions(const Value& list, Bitset& out) {
    bool ok = true;
    for (const Value* v : Items(list)) {
      if (v->kind != Value::Kind::kIdent && v->kind != Value::Kind::kString) {
        diags_.Error(v->pos, "expected a region or region set");
        ok = false;
        continue;
      }
      if (auto it = policy_->region_sets.find(v->text); it != policy_->region_sets.end()) {
        for (int r : it->second) out.Set(static_cast<size_t>(r));
      } else if (int r = policy_->FindRegion(v->text); r >= 0) {
        out.Set(static_cast<size_t>(r));
      } else {
        std::vector<std::string> names = policy_->regions;
        for (const auto& [name, members] : policy_->region_sets) names.push_back(name);
        diags_.Error(v->pos, "unknown region '" + v->text + "'",
                     DidYouMeanOr("region", v->text, names,
                                  "declare it in a region set: regions NAME = [" + v->text + ", ...]"));
        ok = false;
      }
    }
    return ok;
  }

  int Region(const Value& v) {
    Bitset one(kMaxRegions);
    if (!Regions(v, one) || one.Count() != 1) {
      if (one.Count() > 1) diags_.Error(v.pos, "expected one region, found the set '" + v.text + "'");
      return -1;
    }
    return policy_->FindRegion(v.text);
  }

  void CheckClassification(const Decl& d) {
    if (std::find(BuiltinClassifications().begin(), BuiltinClassifications().end(), d.name) !=
        BuiltinClassifications().end()) {
      diags_.Warning(d.name_pos, "'" + d.name + "' is a built-in classification; the declaration is not needed");
      return;
    }
    extra_classifications_.push_back(d.name);
  }

  int Classification(const Value& v) {
    const auto& all = policy_->classifications;
    auto it = std::find(all.begin(), all.end(), v.text);
    if (it != all.end()) return static_cast<int>(it - all.begin());
    diags_.Error(v.pos, "unknown classification '" + v.text + "'",
                 DidYouMeanOr("classification", v.text, all, "declare it: classification " + v.text));
    return -1;
  }

  void EnsureClassifications() {
    if (!policy_->classifications.empty()) return;
    policy_->classifications = BuiltinClassifications();
    for (const auto& c : extra_classifications_) policy_->classifications.push_back(c);
    policy_->residency_by_classification.assign(policy_->classifications.size(), -1);
  }

  // --- datasets and principals -----------------------------------------------------------
  void CheckDataset(const Decl& d) {
    EnsureClassifications();
    auto attrs = Attributes(d, {"paths", "uris", "classification", "home", "owner"}, {"classification"});
    Dataset ds;
    ds.id = d.name;
    ds.pos = d.name_pos;
    for (const std::string& p : Strings(attrs["paths"], "a quoted path glob such as \"/data/images/**\"")) {
      if (!p.starts_with("/")) diags_.Error(attrs["paths"]->value.pos, "path '" + p + "' is not absolute");
      ds.patterns.push_back(p);
    }
    for (const std::string& u : Strings(attrs["uris"], "a quoted URI pattern such as \"s3://bucket/prefix/**\"")) {
      if (u.find("://") == std::string::npos) {
        diags_.Error(attrs["uris"]->value.pos, "'" + u + "' is not a URI (scheme://...)");
      }
      ds.patterns.push_back(u);
    }
    for (const auto& p : ds.patterns) {
      if (auto it = patterns_.find(p); it != patterns_.end()) {
        diags_.Error(d.name_pos, "pattern '" + p + "' is also claimed by dataset '" + it->second + "'",
                     "a path or URI belongs to one dataset");
      }
      patterns_.emplace(p, d.name);
    }
    if (attrs["classification"]) {
      ds.classification_index = Classification(attrs["classification"]->value);
      ds.classification = attrs["classification"]->value.text;
    }
    if (attrs["home"]) {
      ds.home_region = Region(attrs["home"]->value);
      ds.home = attrs["home"]->value.text;
    }
    if (attrs["owner"]) {
      if (ExpectKind(attrs["owner"]->value, Value::Kind::kString, "a quoted owner")) ds.owner = attrs["owner"]->value.text;
    }
    policy_->dataset_index.emplace(ds.id, static_cast<int>(policy_->datasets.size()));
    policy_->datasets.push_back(std::move(ds));
  }

  void CheckPrincipal(const Decl& d) {
    const size_t errors_before = diags_.error_count();
    auto attrs = Attributes(d, {"uids", "users", "units", "services"}, {});
    Principal p;
    p.id = d.name;
    p.pos = d.name_pos;
    if (const Attribute* a = attrs["uids"]) {
      for (const Value* v : Items(a->value)) {
        if (v->kind != Value::Kind::kNumber || v->number < 0 || v->number != static_cast<double>(static_cast<int64_t>(v->number))) {
          diags_.Error(v->pos, "a uid is a whole number >= 0, found '" + v->text + "'");
          continue;
        }
        p.uids.push_back(static_cast<int64_t>(v->number));
      }
    }
    p.users = Strings(attrs["users"], "a quoted user name");
    p.units = Strings(attrs["units"], "a quoted systemd unit such as \"trainer@*.service\"");
    p.services = Strings(attrs["services"], "a quoted service identity");
    if (p.uids.empty() && p.users.empty() && p.units.empty() && p.services.empty() &&
        diags_.error_count() == errors_before) {
      diags_.Error(d.name_pos, "principal '" + d.name + "' names no identity",
                   "give it uids, users, units or services");
    }
    policy_->principal_index.emplace(p.id, static_cast<int>(policy_->principals.size()));
    policy_->principals.push_back(std::move(p));
  }

  // Groups may include groups; members are flattened with a cycle check.
  void CheckGroup(const Decl& d) { group_decls_.emplace(d.name, &d); }

  bool ResolveGroup(const std::string& name, Bitset& out, std::vector<std::string>& stack) {
    if (auto it = policy_->group_index.find(name); it != policy_->group_index.end()) {
      out.Union(policy_->groups[static_cast<size_t>(it->second)].members);
      return true;
    }
    const Decl& d = *group_decls_.at(name);
    if (std::find(stack.begin(), stack.end(), name) != stack.end()) {
      std::string cycle;
      for (const auto& s : stack) cycle += s + " -> ";
      diags_.Error(d.name_pos, "group '" + name + "' includes itself: " + cycle + name);
      return false;
    }
    stack.push_back(name);
    Group g;
    g.id = name;
    g.pos = d.name_pos;
    g.members = Bitset(policy_->principals.size());
    bool ok = true;
    for (const auto& item : d.list.items) {
      if (!ExpectKind(item, Value::Kind::kIdent, "a principal or group name")) continue;
      if (auto p = policy_->principal_index.find(item.text); p != policy_->principal_index.end()) {
        g.members.Set(static_cast<size_t>(p->second));
      } else if (group_decls_.contains(item.text)) {
        ok &= ResolveGroup(item.text, g.members, stack);
      } else {
        diags_.Error(item.pos, "unknown principal or group '" + item.text + "'", DidYouMean("", item.text, WhoNames()));
        ok = false;
      }
    }
    stack.pop_back();
    out.Union(g.members);
    policy_->group_index.emplace(name, static_cast<int>(policy_->groups.size()));
    policy_->groups.push_back(std::move(g));
    return ok;
  }

  void ResolveGroups() {
    if (groups_resolved_) return;
    groups_resolved_ = true;
    for (const auto& [name, decl] : group_decls_) {
      Bitset ignored(policy_->principals.size());
      std::vector<std::string> stack;
      if (!policy_->group_index.contains(name)) ResolveGroup(name, ignored, stack);
    }
  }

  std::vector<std::string> WhoNames() const {
    std::vector<std::string> out;
    for (const auto& p : policy_->principals) out.push_back(p.id);
    for (const auto& [name, decl] : group_decls_) out.push_back(name);
    return out;
  }

  // --- residency and grants ----------------------------------------------------------------
  void CheckResidency(const Decl& d) {
    EnsureClassifications();
    ResolveGroups();
    auto attrs = Attributes(d, {"regions"}, {"regions"});
    Residency r;
    r.classification = d.name;
    r.pos = d.name_pos;
    r.regions = Bitset(kMaxRegions);
    Value name;
    name.pos = d.name_pos;
    name.text = d.name;
    int c = Classification(name);
    if (attrs["regions"]) Regions(attrs["regions"]->value, r.regions);
    for (const auto& t : d.transfers) {
      Transfer tr;
      tr.pos = t.pos;
      tr.region = Region(t.region);
      tr.basis = t.basis;
      tr.note = t.note;
      if (std::find(kTransferBases.begin(), kTransferBases.end(), t.basis) == kTransferBases.end()) {
        diags_.Error(t.basis_pos, "unknown transfer basis '" + t.basis + "'",
                     DidYouMeanOr("basis", t.basis, kTransferBases,
                                  "one of: adequacy, scc, bcr, derogation, consent (GDPR Art. 45, 46, 49)"));
      }
      if (tr.region >= 0 && r.regions.Has(static_cast<size_t>(tr.region))) {
        diags_.Warning(t.pos, "region '" + t.region.text + "' is already allowed for " + d.name + "; the transfer is never used");
      }
      r.transfers.push_back(std::move(tr));
    }
    if (c >= 0) {
      policy_->residency_by_classification[static_cast<size_t>(c)] = static_cast<int>(policy_->residencies.size());
    }
    policy_->residencies.push_back(std::move(r));
  }

  void CheckGrant(const Decl& d) {
    EnsureClassifications();
    ResolveGroups();
    auto attrs = Attributes(d, {"who", "actions", "datasets", "regions", "nodes", "until"}, {"who", "actions", "datasets"});
    Grant g;
    g.id = d.name;
    g.pos = d.name_pos;
    g.principals = Bitset(policy_->principals.size());
    g.datasets = Bitset(policy_->datasets.size());
    g.regions = Bitset(kMaxRegions);
    if (const Attribute* a = attrs["who"]) {
      for (const Value* v : Items(a->value)) {
        if (!ExpectKind(*v, Value::Kind::kIdent, "a principal or group name")) continue;
        g.who.push_back(v->text);
        if (auto p = policy_->principal_index.find(v->text); p != policy_->principal_index.end()) {
          g.principals.Set(static_cast<size_t>(p->second));
        } else if (auto gr = policy_->group_index.find(v->text); gr != policy_->group_index.end()) {
          g.principals.Union(policy_->groups[static_cast<size_t>(gr->second)].members);
        } else {
          diags_.Warning(v->pos, "grant '" + d.name + "' names unknown principal or group '" + v->text + "'",
                         DidYouMean("", v->text, WhoNames()));
        }
      }
    }
    if (const Attribute* a = attrs["actions"]) {
      for (const Value* v : Items(a->value)) {
        Action act;
        if (v->kind == Value::Kind::kIdent && v->text == "any") {
          g.actions = 0xFE;
        } else if (v->kind == Value::Kind::kIdent && ParseAction(v->text, act)) {
          g.actions |= static_cast<uint8_t>(1u << static_cast<int>(act));
        } else {
          std::vector<std::string> names = {"read", "write", "create", "delete", "rename", "list", "any"};
          diags_.Error(v->pos, "unknown action '" + v->text + "'", DidYouMean("action", v->text, names));
        }
      }
    }
    if (const Attribute* a = attrs["datasets"]) {
      for (const Value* v : Items(a->value)) {
        g.dataset_terms.push_back(v->text);
        if (v->kind == Value::Kind::kString && v->text.find_first_of("*?") != std::string::npos) {
          g.dataset_wildcard = true;
          size_t matched = 0;
          for (size_t i = 0; i < policy_->datasets.size(); ++i) {
            if (GlobMatch(v->text, policy_->datasets[i].id)) {
              g.datasets.Set(i);
              ++matched;
            }
          }
          if (matched == 0) diags_.Warning(v->pos, "dataset pattern \"" + v->text + "\" matches no declared dataset");
          continue;
        }
        if (v->kind != Value::Kind::kIdent && v->kind != Value::Kind::kString) {
          diags_.Error(v->pos, "expected a dataset name or a quoted pattern such as \"ml-*\"");
          continue;
        }
        if (int ds = policy_->FindDataset(v->text); ds >= 0) {
          g.datasets.Set(static_cast<size_t>(ds));
        } else {
          std::vector<std::string> names;
          for (const auto& ds2 : policy_->datasets) names.push_back(ds2.id);
          diags_.Warning(v->pos, "grant '" + d.name + "' names unknown dataset '" + v->text + "'",
                         DidYouMean("dataset", v->text, names));
        }
      }
    }
    if (const Attribute* a = attrs["regions"]) {
      g.any_region = false;
      Regions(a->value, g.regions);
    }
    g.nodes = Strings(attrs["nodes"], "a quoted node name or glob such as \"gpu-*\"");
    if (const Attribute* a = attrs["until"]) {
      const Value& v = a->value;
      if (v.kind == Value::Kind::kDate) {
        g.until_unix = v.seconds + 86400;  // through the end of that day (UTC)
      } else if (v.kind == Value::Kind::kTime) {
        g.until_unix = v.seconds;
      } else {
        diags_.Error(v.pos, "'until' takes a date (2027-06-30) or a timestamp (2027-06-30T18:00:00Z)");
      }
      g.until_text = v.text;
      if (g.until_unix != 0 && g.until_unix <= options_.now_unix) {
        diags_.Warning(v.pos, "grant '" + d.name + "' expired on " + v.text + "; it covers nothing any more");
      }
    }
    policy_->grants.push_back(std::move(g));
  }

  // --- rules and tests -----------------------------------------------------------------------
  void CheckRule(const Decl& d) {
    EnsureClassifications();
    ResolveGroups();
    auto attrs = Attributes(d, {"on", "when", "severity", "message", "labels", "at_least", "within", "by"},
                            {"on", "when", "severity", "message"});
    Rule r;
    r.id = d.name;
    r.pos = d.name_pos;
    const RecordKind* kind = nullptr;
    if (const Attribute* a = attrs["on"]) {
      kind = Schema::Get().FindKind(a->value.text);
      if (kind == nullptr || a->value.kind != Value::Kind::kIdent) {
        diags_.Error(a->value.pos, "unknown record kind '" + a->value.text + "'",
                     DidYouMeanOr("", a->value.text, Schema::Get().KindNames(),
                                  "records are: log, metric, span, gpu_sample, gpu_event, access, gap"));
      } else {
        r.kind = kind->name;
        r.kind_number = kind->oneof_number;
      }
    }
    if (const Attribute* a = attrs["severity"]) {
      r.severity = a->value.text;
      if (std::find(kSeverities.begin(), kSeverities.end(), r.severity) == kSeverities.end()) {
        diags_.Error(a->value.pos, "unknown severity '" + r.severity + "'",
                     DidYouMeanOr("severity", r.severity, kSeverities, "one of: info, warning, error, critical"));
      }
    }
    if (const Attribute* a = attrs["at_least"]) {
      if (a->value.kind != Value::Kind::kNumber || a->value.number < 1 || a->value.number > 1e6 ||
          a->value.number != static_cast<double>(static_cast<int64_t>(a->value.number))) {
        diags_.Error(a->value.pos, "'at_least' is a whole number from 1 to 1000000");
      } else {
        r.at_least = static_cast<uint32_t>(a->value.number);
      }
    }
    if (const Attribute* a = attrs["within"]) {
      if (a->value.kind != Value::Kind::kDuration || a->value.seconds <= 0 || a->value.seconds > 7 * 86400) {
        diags_.Error(a->value.pos, "'within' is a duration up to 7d, e.g. 5m");
      } else {
        r.within_seconds = a->value.seconds;
      }
    }
    if ((attrs["at_least"] != nullptr) != (attrs["within"] != nullptr)) {
      diags_.Error(d.name_pos, "rule '" + d.name + "' needs both 'at_least' and 'within', or neither",
                   "e.g. at_least = 20 and within = 5m");
    }
    if (kind != nullptr) {
      if (const Attribute* a = attrs["when"]) {
        bool never = false;
        if (CompileCondition(*a->expr, *kind, *policy_, diags_, r.when, never) && never) {
          diags_.Warning(a->pos, "the condition of rule '" + d.name + "' can never hold; the rule never fires");
        }
      }
      if (const Attribute* a = attrs["message"]) {
        if (ExpectKind(a->value, Value::Kind::kString, "a quoted message")) {
          CompileTemplate(a->value.text, a->value.pos, *kind, diags_, r.message);
        }
      }
      if (const Attribute* a = attrs["by"]) {
        for (const Value* v : Items(a->value)) {
          if (!ExpectKind(*v, Value::Kind::kString, "a quoted field name such as \"principal.user\"")) continue;
          FieldRef f;
          if (ResolveFieldText(v->text, v->pos, *kind, diags_, f)) r.by.push_back(std::move(f));
        }
      }
    }
    if (const Attribute* a = attrs["labels"]) {
      if (a->value.kind != Value::Kind::kMap) {
        diags_.Error(a->value.pos, "labels are a map: { team = \"infra\", page = \"yes\" }");
      } else {
        for (size_t i = 0; i + 1 < a->value.items.size(); i += 2) {
          r.labels.emplace_back(a->value.items[i].text, a->value.items[i + 1].text);
        }
      }
    }
    policy_->rules.push_back(std::move(r));
  }

  void CheckTest(const Decl& d) {
    EnsureClassifications();
    auto attrs = Attributes(d, {"uid", "user", "unit", "service", "action", "object", "dataset", "region", "node",
                                "time", "expect", "violations", "rules"},
                            {"action", "expect"});
    TestCase t;
    t.name = d.name;
    t.pos = d.name_pos;
    if (const Attribute* a = attrs["uid"]) {
      if (a->value.kind == Value::Kind::kNumber && a->value.number >= 0) {
        t.uid = static_cast<int64_t>(a->value.number);
      } else {
        diags_.Error(a->value.pos, "a uid is a whole number >= 0");
      }
    }
    auto text = [&](const char* key, std::string& out) {
      if (const Attribute* a = attrs[key]) out = a->value.text;
    };
    text("user", t.user);
    text("unit", t.unit);
    text("service", t.service);
    text("object", t.object);
    text("dataset", t.dataset);
    text("region", t.region);
    text("node", t.node);
    if (const Attribute* a = attrs["region"]) Region(a->value);
    if (const Attribute* a = attrs["action"]) {
      if (!ParseAction(a->value.text, t.action)) diags_.Error(a->value.pos, "unknown action '" + a->value.text + "'");
    }
    if (const Attribute* a = attrs["time"]) {
      if (a->value.kind == Value::Kind::kDate || a->value.kind == Value::Kind::kTime) {
        t.time_unix = a->value.seconds;
      } else {
        diags_.Error(a->value.pos, "'time' takes a date or a timestamp");
      }
    }
    if (const Attribute* a = attrs["expect"]) {
      t.expect = a->value.text;
      if (t.expect != "allow" && t.expect != "deny" && t.expect != "error") {
        diags_.Error(a->value.pos, "'expect' is allow, deny or error");
      }
    }
    if (const Attribute* a = attrs["violations"]) {
      for (const Value* v : Items(a->value)) {
        if (v->text != "no-grant" && v->text != "no-dataset" && v->text != "residency") {
          diags_.Error(v->pos, "unknown violation '" + v->text + "'", "one of: no-grant, no-dataset, residency");
        }
        t.expect_violations.push_back(v->text);
      }
    }
    t.expect_rules = Strings(attrs["rules"], "a quoted rule such as \"grant:trainers-read\"");
    policy_->tests.push_back(std::move(t));
  }

  // --- whole-set checks ------------------------------------------------------------------------
  void Finish() {
    EnsureClassifications();
    ResolveGroups();
    // A grant that an earlier grant covers entirely never decides anything.
    auto& grants = policy_->grants;
    for (size_t b = 0; b < grants.size(); ++b) {
      for (size_t a = 0; a < b; ++a) {
        const Grant& first = grants[a];
        const Grant& later = grants[b];
        bool covers = first.principals.Contains(later.principals) && (first.actions & later.actions) == later.actions &&
                      first.datasets.Contains(later.datasets) &&
                      (first.any_region || (!later.any_region && first.regions.Contains(later.regions))) &&
                      first.nodes.empty() && (first.until_unix == 0 || (later.until_unix != 0 && first.until_unix >= later.until_unix));
        if (covers && !later.principals.Empty() && !later.datasets.Empty()) {
          diags_.Warning(later.pos, "grant '" + later.id + "' is shadowed by grant '" + first.id + "' (" +
                                        Where(files_, first.pos) + "), which covers everything it grants",
                         "remove it, or narrow '" + first.id + "'");
          break;
        }
      }
    }
    // A dataset kept in a region its classification may not be in.
    for (const auto& ds : policy_->datasets) {
      if (ds.classification_index < 0 || ds.home_region < 0) continue;
      int ri = policy_->residency_by_classification[static_cast<size_t>(ds.classification_index)];
      if (ri < 0) continue;
      const Residency& r = policy_->residencies[static_cast<size_t>(ri)];
      bool transfer = false;
      for (const auto& t : r.transfers) transfer |= t.region == ds.home_region;
      if (!r.regions.Has(static_cast<size_t>(ds.home_region)) && !transfer) {
        diags_.Warning(ds.pos, "dataset '" + ds.id + "' is homed in " + ds.home + ", where " + ds.classification +
                                   " data may not be held (residency at " + Where(files_, r.pos) + ")");
      }
    }
    // A rule that tests exactly what an earlier rule on the same kind tests
    // (same condition, same threshold) is shadowed: a copy-paste slip.
    std::map<std::string, const Rule*> seen_rules;
    for (const Rule& r : policy_->rules) {
      if (r.when.op == Condition::Op::kTrue && r.at_least == 1) {
        diags_.Warning(r.pos, "rule '" + r.id + "' fires on every " + r.kind + " record");
      }
      std::string key = r.kind + "|" + std::to_string(r.at_least) + "|" + std::to_string(r.within_seconds) + "|" +
                        ConditionKey(r.when);
      for (const FieldRef& f : r.by) key += "|" + f.text;
      auto [it, fresh] = seen_rules.emplace(key, &r);
      if (!fresh) {
        diags_.Warning(r.pos, "rule '" + r.id + "' tests exactly what rule '" + it->second->id + "' (" +
                                  Where(files_, it->second->pos) + ") tests; both fire on the same records",
                       "merge them, or change one condition");
      }
    }
  }

  static constexpr size_t kMaxRegions = 4096;

  std::vector<SourceFile>& files_;
  const CompileOptions& options_;
  Diagnostics& diags_;
  std::shared_ptr<Policy> policy_;
  std::vector<const Decl*> decls_;
  std::map<std::string, Pos> seen_;
  std::map<std::string, std::string> patterns_;
  std::map<std::string, const Decl*> group_decls_;
  std::vector<std::string> extra_classifications_;
  bool groups_resolved_ = false;
};

}  // namespace

CompileResult Compile(std::vector<SourceFile> files, const CompileOptions& options) {
  CompileResult out;
  out.files = std::move(files);
  std::shared_ptr<Policy> policy = Checker(out.files, options, out.diagnostics).Run();
  out.policy = std::move(policy);
  return out;
}

std::vector<std::string> PolicyFilePaths(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& path : paths) {
    auto listing = ListDir(path);
    if (!listing.ok()) {
      out.push_back(path);  // a file (or nothing: reading it says so)
      continue;
    }
    std::vector<std::string> names = *listing;
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      if (name.ends_with(".policy")) out.push_back(path + (path.ends_with("/") ? "" : "/") + name);
    }
  }
  return out;
}

Result<std::vector<SourceFile>> ReadPolicyFiles(const std::vector<std::string>& paths) {
  std::vector<SourceFile> out;
  for (const auto& path : PolicyFilePaths(paths)) {
    auto text = ReadFile(path);
    if (!text.ok()) return text.status().WithContext("reading policy " + path);
    out.push_back({path, std::move(*text)});
  }
  return out;
}

}  // namespace custos::policy
