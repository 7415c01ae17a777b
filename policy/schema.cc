#include "policy/schema.h"

#include <cctype>

#include "custos/v1/records.pb.h"

namespace custos::policy {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;

std::string_view FieldTypeName(FieldType t) {
  switch (t) {
    case FieldType::kString: return "string";
    case FieldType::kInt: return "integer";
    case FieldType::kDouble: return "number";
    case FieldType::kBool: return "boolean";
    case FieldType::kEnum: return "enum";
    case FieldType::kTimeNanos: return "time";
    case FieldType::kRegion: return "region";
    case FieldType::kClassification: return "classification";
    case FieldType::kWeekday: return "weekday";
    case FieldType::kVerdict: return "verdict";
    case FieldType::kStringMap: return "map";
  }
  return "?";
}

namespace {

std::string EnumPrefix(const EnumDescriptor* e) {
  if (e->value_count() == 0) return {};
  std::string prefix = e->value(0)->name();
  for (int i = 1; i < e->value_count(); ++i) {
    const std::string& n = e->value(i)->name();
    size_t k = 0;
    while (k < prefix.size() && k < n.size() && prefix[k] == n[k]) ++k;
    prefix.resize(k);
  }
  size_t underscore = prefix.rfind('_');
  return underscore == std::string::npos ? std::string() : prefix.substr(0, underscore + 1);
}

bool IsMap(const FieldDescriptor* f) { return f->is_map(); }

FieldType TypeOf(const FieldDescriptor* f) {
  if (IsMap(f)) return FieldType::kStringMap;
  const std::string& name = f->name();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      if (name == "region" || (name.size() > 7 && name.ends_with("_region"))) return FieldType::kRegion;
      if (name == "classification") return FieldType::kClassification;
      return FieldType::kString;
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return name.ends_with("time_unix_nano") ? FieldType::kTimeNanos : FieldType::kInt;
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return FieldType::kDouble;
    case FieldDescriptor::CPPTYPE_BOOL: return FieldType::kBool;
    case FieldDescriptor::CPPTYPE_ENUM: return FieldType::kEnum;
    case FieldDescriptor::CPPTYPE_MESSAGE: break;
  }
  return FieldType::kString;
}

// Fields a condition cannot use: the batch-internal resource index, raw bytes
// (trace ids) and repeated fields (a condition compares one value).
bool Usable(const FieldDescriptor* f) {
  if (f->name() == "resource_ref") return false;
  if (f->type() == FieldDescriptor::TYPE_BYTES) return false;
  if (f->is_repeated() && !IsMap(f)) return false;
  if (IsMap(f)) {
    return f->message_type()->map_value()->cpp_type() == FieldDescriptor::CPPTYPE_STRING;
  }
  return true;
}

std::vector<std::string> MessageFieldNames(const Descriptor* d) {
  std::vector<std::string> out;
  for (int i = 0; i < d->field_count(); ++i) {
    if (Usable(d->field(i))) out.push_back(d->field(i)->name());
  }
  return out;
}

// Walks `path` from `message`; fills out.path and out.type.
bool Walk(const Descriptor* message, const std::vector<std::string>& path, size_t from, const std::string& map_key,
          FieldRef& out, std::string& error, std::vector<std::string>& candidates) {
  const Descriptor* d = message;
  for (size_t i = from; i < path.size(); ++i) {
    const FieldDescriptor* f = d->FindFieldByName(path[i]);
    if (f == nullptr || !Usable(f)) {
      error = "unknown field '" + path[i] + "' of " + d->name();
      candidates = MessageFieldNames(d);
      return false;
    }
    out.path.push_back(f);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !IsMap(f)) {
      if (i + 1 == path.size()) {
        error = "'" + path[i] + "' is a message; name one of its fields, e.g. " + path[i] + "." +
                MessageFieldNames(f->message_type()).front();
        return false;
      }
      d = f->message_type();
      continue;
    }
    if (i + 1 != path.size()) {
      error = "'" + path[i] + "' has no fields";
      return false;
    }
    out.type = TypeOf(f);
    if (out.type == FieldType::kEnum) out.enum_type = f->enum_type();
  }
  if (out.type == FieldType::kStringMap) {
    if (map_key.empty()) {
      error = "'" + path.back() + "' is a map; name a key, e.g. " + path.back() + "[\"name\"]";
      return false;
    }
    out.map_key = map_key;
    out.type = FieldType::kString;
  } else if (!map_key.empty()) {
    error = "'" + path.back() + "' is not a map and takes no [\"key\"]";
    return false;
  }
  return true;
}

}  // namespace

std::string EnumValueName(const EnumValueDescriptor* v) {
  std::string name = v->name().substr(EnumPrefix(v->type()).size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

const EnumValueDescriptor* FindEnumValue(const EnumDescriptor* e, std::string_view name) {
  for (int i = 0; i < e->value_count(); ++i) {
    if (EnumValueName(e->value(i)) == name) return e->value(i);
  }
  return nullptr;
}

std::vector<std::string> EnumValueNames(const EnumDescriptor* e) {
  std::vector<std::string> out;
  for (int i = 0; i < e->value_count(); ++i) out.push_back(EnumValueName(e->value(i)));
  return out;
}

Schema::Schema() {
  const Descriptor* record = v1::Record::descriptor();
  const google::protobuf::OneofDescriptor* oneof = record->FindOneofByName("kind");
  for (int i = 0; i < oneof->field_count(); ++i) {
    const FieldDescriptor* f = oneof->field(i);
    kinds_.push_back({f->name(), f->number(), f->message_type()});
  }
}

const Schema& Schema::Get() {
  static const Schema* schema = new Schema();
  return *schema;
}

const RecordKind* Schema::FindKind(std::string_view name) const {
  for (const auto& k : kinds_) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

std::vector<std::string> Schema::KindNames() const {
  std::vector<std::string> out;
  for (const auto& k : kinds_) out.push_back(k.name);
  return out;
}

bool Schema::Resolve(const RecordKind& kind, const std::vector<std::string>& path, const std::string& map_key,
                     FieldRef& out, std::string& error, std::vector<std::string>& candidates) const {
  out = FieldRef{};
  for (size_t i = 0; i < path.size(); ++i) out.text += (i ? "." : "") + path[i];
  if (!map_key.empty()) out.text += "[\"" + map_key + "\"]";
  const bool access = kind.name == "access";
  const std::string& head = path.front();
  auto derived = [&](DerivedField d, FieldType t) {
    if (path.size() != 1 || !map_key.empty()) {
      error = "'" + head + "' has no fields";
      return false;
    }
    out.root = FieldRoot::kDerived;
    out.derived = d;
    out.type = t;
    return true;
  };
  if (head == "resource") {
    if (path.size() == 1) {
      error = "name a field of the resource, e.g. resource.node_id";
      candidates = MessageFieldNames(v1::Resource::descriptor());
      return false;
    }
    out.root = FieldRoot::kResource;
    return Walk(v1::Resource::descriptor(), path, 1, map_key, out, error, candidates);
  }
  if (head == "hour") return derived(DerivedField::kHour, FieldType::kInt);
  if (head == "weekday") return derived(DerivedField::kWeekday, FieldType::kWeekday);
  if (head == "duration_ms" && kind.name == "span") return derived(DerivedField::kDurationMs, FieldType::kDouble);
  if (head == "verdict" && access) return derived(DerivedField::kVerdict, FieldType::kVerdict);
  if (head == "dataset" && access) {
    static const std::pair<const char*, std::pair<DerivedField, FieldType>> kDataset[] = {
        {"id", {DerivedField::kDatasetId, FieldType::kString}},
        {"classification", {DerivedField::kDatasetClassification, FieldType::kClassification}},
        {"home", {DerivedField::kDatasetHome, FieldType::kRegion}},
        {"owner", {DerivedField::kDatasetOwner, FieldType::kString}}};
    if (path.size() == 2 && map_key.empty()) {
      for (const auto& [name, dt] : kDataset) {
        if (path[1] == name) {
          out.root = FieldRoot::kDerived;
          out.derived = dt.first;
          out.type = dt.second;
          return true;
        }
      }
    }
    error = "the dataset has the fields id, classification, home and owner";
    candidates = {"id", "classification", "home", "owner"};
    return false;
  }
  out.root = FieldRoot::kRecord;
  if (!Walk(kind.message, path, 0, map_key, out, error, candidates)) {
    if (path.size() == 1 && error.starts_with("unknown field")) {
      error = "unknown field '" + head + "' of " + kind.name + " records";
      std::vector<std::string> more = {"resource", "hour", "weekday"};
      if (access) more.insert(more.end(), {"dataset", "verdict"});
      if (kind.name == "span") more.push_back("duration_ms");
      candidates.insert(candidates.end(), more.begin(), more.end());
    }
    return false;
  }
  return true;
}

std::vector<std::string> Schema::FieldNames(const RecordKind& kind) const {
  std::vector<std::string> out;
  auto add = [&](const Descriptor* d, const std::string& prefix, auto&& self) -> void {
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (!Usable(f)) continue;
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !IsMap(f)) {
        self(f->message_type(), prefix + f->name() + ".", self);
      } else {
        out.push_back(prefix + f->name() + (IsMap(f) ? "[\"KEY\"]" : ""));
      }
    }
  };
  add(kind.message, "", add);
  add(v1::Resource::descriptor(), "resource.", add);
  out.insert(out.end(), {"hour", "weekday"});
  if (kind.name == "span") out.push_back("duration_ms");
  if (kind.name == "access") {
    out.insert(out.end(), {"dataset.id", "dataset.classification", "dataset.home", "dataset.owner", "verdict"});
  }
  return out;
}

}  // namespace custos::policy
