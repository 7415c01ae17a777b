// Compiled conditions and message templates of rules, and how they read a
// record's fields (by protobuf reflection, through the FieldRefs that the
// schema resolved when the policy was checked).
//
// Thread-safety: immutable after compilation; Evaluate() and Render() are
// const and may run on many threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>

#include "policy/schema.h"

namespace custos::v1 {
class Resource;
}

namespace custos::policy {

class Bitset;

// What a condition sees of one record.
struct RecordView {
  const google::protobuf::Message* record = nullptr;  // the Record oneof's message
  const v1::Resource* resource = nullptr;             // may be null
  int64_t time_unix_nano = 0;
  // Access events only (from the policy's decision).
  std::string_view dataset_id, dataset_classification, dataset_home, dataset_owner;
  int verdict = -1;  // static_cast<int>(Decision)
  const int* principals = nullptr;  // matched principal indexes
  size_t principal_count = 0;
};

// A literal in a condition, already converted to the field's type.
struct Scalar {
  enum class Type { kString, kInt, kDouble, kBool };
  Type type = Type::kInt;
  std::string s;
  int64_t i = 0;
  double d = 0;
};

struct Condition {
  enum class Op { kTrue, kFalse, kOr, kAnd, kNot, kCompare, kIn, kMatches, kMember, kField };
  enum class Cmp { kEq, kNe, kLt, kLe, kGt, kGe };
  Op op = Op::kTrue;
  Cmp cmp = Cmp::kEq;
  FieldRef field;
  Scalar value;               // kCompare
  std::vector<Scalar> set;    // kIn
  bool negated = false;       // kIn
  std::string glob;           // kMatches
  const Bitset* group = nullptr;  // kMember: the group's members (owned by the Policy)
  std::string member_of;          // kMember: the group or principal as written
  std::vector<Condition> children;  // kOr, kAnd, kNot

  bool Evaluate(const RecordView& view) const;
};

// "GPU {gpu_uuid} raised XID {code}": literal text and field references.
struct Template {
  struct Part {
    std::string text;  // literal, when !is_field
    bool is_field = false;
    bool is_count = false;  // {count}: the number of records that fired a threshold rule
    FieldRef field;
  };
  std::vector<Part> parts;

  std::string Render(const RecordView& view, uint64_t count) const;
};

// Reads one field as text (for templates and 'by' keys).
std::string FieldText(const FieldRef& field, const RecordView& view);

}  // namespace custos::policy
