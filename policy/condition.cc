#include "policy/condition.h"

#include <cmath>
#include <limits>

#include "custos/v1/records.pb.h"
#include "policy/policy.h"

namespace custos::policy {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

namespace {

// A field's value as read from a record.
struct Read {
  bool present = true;
  std::string_view s;
  std::string owned;  // backs `s` where the value is computed
  int64_t i = 0;
  double d = 0;
};

const std::string kEmpty;

// The message that holds the last field of `path`, or null when a step is unset.
const Message* Holder(const FieldRef& f, const RecordView& v) {
  const Message* m = f.root == FieldRoot::kResource ? static_cast<const Message*>(v.resource) : v.record;
  if (m == nullptr) return nullptr;
  for (size_t k = 0; k + 1 < f.path.size(); ++k) {
    m = &m->GetReflection()->GetMessage(*m, f.path[k]);
  }
  return m;
}

std::string_view MapValue(const Message& m, const FieldDescriptor* map_field, const std::string& key) {
  const Reflection* r = m.GetReflection();
  int n = r->FieldSize(m, map_field);
  for (int k = 0; k < n; ++k) {
    const Message& entry = r->GetRepeatedMessage(m, map_field, k);
    const Reflection* er = entry.GetReflection();
    const FieldDescriptor* kf = entry.GetDescriptor()->map_key();
    std::string scratch;
    if (er->GetStringReference(entry, kf, &scratch) == key) {
      return er->GetStringReference(entry, entry.GetDescriptor()->map_value(), &scratch);
    }
  }
  return {};
}

int Weekday(int64_t unix_nano) {
  int64_t days = unix_nano / 1'000'000'000 / 86400;
  return static_cast<int>(((days % 7) + 7 + 3) % 7);  // 1970-01-01 was a Thursday; 0 = Monday
}

Read ReadField(const FieldRef& f, const RecordView& v) {
  Read out;
  if (f.root == FieldRoot::kDerived) {
    switch (f.derived) {
      case DerivedField::kHour: out.i = (v.time_unix_nano / 1'000'000'000 / 3600) % 24; break;
      case DerivedField::kWeekday: out.i = Weekday(v.time_unix_nano); break;
      case DerivedField::kDurationMs: {
        const auto* span = static_cast<const v1::Span*>(v.record);
        out.d = (static_cast<double>(span->end_time_unix_nano()) - static_cast<double>(span->start_time_unix_nano())) / 1e6;
        break;
      }
      case DerivedField::kDatasetId: out.s = v.dataset_id; break;
      case DerivedField::kDatasetClassification: out.s = v.dataset_classification; break;
      case DerivedField::kDatasetHome: out.s = v.dataset_home; break;
      case DerivedField::kDatasetOwner: out.s = v.dataset_owner; break;
      case DerivedField::kVerdict: out.i = v.verdict; break;
      case DerivedField::kNone: break;
    }
    return out;
  }
  const Message* m = Holder(f, v);
  if (m == nullptr) {
    out.present = false;
    return out;
  }
  const FieldDescriptor* fd = f.path.back();
  const Reflection* r = m->GetReflection();
  if (fd->is_map()) {
    out.s = MapValue(*m, fd, f.map_key);
    return out;
  }
  switch (fd->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      out.s = r->GetStringReference(*m, fd, &out.owned);
      break;
    case FieldDescriptor::CPPTYPE_INT32: out.i = r->GetInt32(*m, fd); break;
    case FieldDescriptor::CPPTYPE_INT64: out.i = r->GetInt64(*m, fd); break;
    case FieldDescriptor::CPPTYPE_UINT32: out.i = r->GetUInt32(*m, fd); break;
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t u = r->GetUInt64(*m, fd);
      out.i = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                              : static_cast<int64_t>(u);
      break;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: out.d = r->GetDouble(*m, fd); break;
    case FieldDescriptor::CPPTYPE_FLOAT: out.d = r->GetFloat(*m, fd); break;
    case FieldDescriptor::CPPTYPE_BOOL: out.i = r->GetBool(*m, fd) ? 1 : 0; break;
    case FieldDescriptor::CPPTYPE_ENUM: out.i = r->GetEnumValue(*m, fd); break;
    case FieldDescriptor::CPPTYPE_MESSAGE: out.present = false; break;
  }
  return out;
}

template <typename T>
bool Compare(Condition::Cmp cmp, const T& a, const T& b) {
  switch (cmp) {
    case Condition::Cmp::kEq: return a == b;
    case Condition::Cmp::kNe: return a != b;
    case Condition::Cmp::kLt: return a < b;
    case Condition::Cmp::kLe: return a <= b;
    case Condition::Cmp::kGt: return a > b;
    case Condition::Cmp::kGe: return a >= b;
  }
  return false;
}

bool Equal(const Read& r, const Scalar& s) {
  switch (s.type) {
    case Scalar::Type::kString: return r.s == s.s;
    case Scalar::Type::kDouble: return r.d == s.d;
    case Scalar::Type::kInt:
    case Scalar::Type::kBool: return r.i == s.i;
  }
  return false;
}

}  // namespace

bool Condition::Evaluate(const RecordView& view) const {
  switch (op) {
    case Op::kTrue: return true;
    case Op::kFalse: return false;
    case Op::kOr:
      for (const auto& c : children) {
        if (c.Evaluate(view)) return true;
      }
      return false;
    case Op::kAnd:
      for (const auto& c : children) {
        if (!c.Evaluate(view)) return false;
      }
      return true;
    case Op::kNot: return !children.front().Evaluate(view);
    case Op::kMember:
      for (size_t k = 0; k < view.principal_count; ++k) {
        if (group->Has(static_cast<size_t>(view.principals[k]))) return true;
      }
      return false;
    case Op::kField: return ReadField(field, view).i != 0;
    case Op::kMatches: return GlobMatch(glob, ReadField(field, view).s);
    case Op::kIn: {
      Read r = ReadField(field, view);
      bool found = false;
      for (const auto& s : set) {
        if (Equal(r, s)) {
          found = true;
          break;
        }
      }
      return found != negated;
    }
    case Op::kCompare: {
      Read r = ReadField(field, view);
      switch (value.type) {
        case Scalar::Type::kString: return Compare(cmp, r.s, std::string_view(value.s));
        case Scalar::Type::kDouble:
          // An integer field compared with a number with a fraction compares as a number.
          if (field.type == FieldType::kDouble) return Compare(cmp, r.d, value.d);
          return Compare(cmp, static_cast<double>(r.i), value.d);
        case Scalar::Type::kInt:
        case Scalar::Type::kBool:
          if (field.type == FieldType::kDouble) return Compare(cmp, r.d, static_cast<double>(value.i));
          return Compare(cmp, r.i, value.i);
      }
      return false;
    }
  }
  return false;
}

std::string FieldText(const FieldRef& field, const RecordView& view) {
  Read r = ReadField(field, view);
  switch (field.type) {
    case FieldType::kString:
    case FieldType::kRegion:
    case FieldType::kClassification:
    case FieldType::kStringMap:
      return std::string(r.s);
    case FieldType::kDouble: {
      if (std::floor(r.d) == r.d && std::fabs(r.d) < 1e15) return std::to_string(static_cast<int64_t>(r.d));
      char buf[32];
      snprintf(buf, sizeof buf, "%.3g", r.d);
      return buf;
    }
    case FieldType::kBool: return r.i ? "true" : "false";
    case FieldType::kEnum: {
      const auto* v = field.enum_type->FindValueByNumber(static_cast<int>(r.i));
      return v ? EnumValueName(v) : std::to_string(r.i);
    }
    case FieldType::kWeekday: {
      static const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
      return kDays[r.i % 7];
    }
    case FieldType::kVerdict: {
      static const char* kVerdicts[] = {"allow", "deny", "error"};
      return r.i >= 0 && r.i < 3 ? kVerdicts[r.i] : "none";
    }
    case FieldType::kInt:
    case FieldType::kTimeNanos:
      return std::to_string(r.i);
  }
  return {};
}

std::string Template::Render(const RecordView& view, uint64_t count) const {
  std::string out;
  for (const auto& p : parts) {
    if (p.is_count) {
      out += std::to_string(count);
    } else if (p.is_field) {
      out += FieldText(p.field, view);
    } else {
      out += p.text;
    }
  }
  return out;
}

}  // namespace custos::policy
