// The fields a rule's condition may name, derived from the record schema
// (schemas/custos/v1/records.proto) by protobuf reflection, so the checker
// knows every field and enum value without a second list kept by hand.
//
// A rule is written 'on = KIND', where KIND is a field name of the
// custos.v1.Record oneof (log, metric, span, gpu_sample, gpu_event, access,
// gap). Its condition names that message's fields ("severity",
// "principal.user", "attributes[\"http.route\"]"), the record's resource
// ("resource.region", "resource.labels[\"team\"]") and a few derived fields:
//   hour, weekday            the record's time (UTC): 0-23, mon..sun
//   duration_ms              span: end - start
//   dataset.id / .classification / .home / .owner   access: the policy's dataset
//   verdict                  access: allow, deny or error
// Enum values are written in lower case without their prefix: ACTION_READ is
// 'read', SEVERITY_ERROR is 'error'. Fields named region or *_region hold
// regions and 'classification' fields hold classifications: the checker
// checks such names against the policy's declarations.
//
// Thread-safety: immutable after construction; the descriptors are static.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/descriptor.h>

namespace custos::policy {

enum class FieldType {
  kString,
  kInt,             // every integer type; uint64 values above INT64_MAX compare as INT64_MAX
  kDouble,
  kBool,
  kEnum,
  kTimeNanos,       // *_time_unix_nano: compared with dates and timestamps
  kRegion,          // a string holding a region
  kClassification,  // a string holding a classification
  kWeekday,
  kVerdict,
  kStringMap,       // only with a ["key"]: then a kString
};

std::string_view FieldTypeName(FieldType t);

enum class FieldRoot { kRecord, kResource, kDerived };

enum class DerivedField { kNone, kHour, kWeekday, kDurationMs, kDatasetId, kDatasetClassification,
                          kDatasetHome, kDatasetOwner, kVerdict };

// A resolved field reference.
struct FieldRef {
  FieldType type = FieldType::kString;
  FieldRoot root = FieldRoot::kRecord;
  DerivedField derived = DerivedField::kNone;
  std::vector<const google::protobuf::FieldDescriptor*> path;  // from the record or the resource
  std::string map_key;                                       // for map fields
  const google::protobuf::EnumDescriptor* enum_type = nullptr;
  std::string text;  // as written, for messages
};

// One record kind: a field of the custos.v1.Record oneof.
struct RecordKind {
  std::string name;  // "gpu_event"
  int oneof_number = 0;
  const google::protobuf::Descriptor* message = nullptr;
};

class Schema {
 public:
  // The schema of custos.v1.Record.
  static const Schema& Get();

  const std::vector<RecordKind>& kinds() const { return kinds_; }
  const RecordKind* FindKind(std::string_view name) const;
  std::vector<std::string> KindNames() const;

  // Resolves `path` (and `map_key`, "" when none) for records of `kind`.
  // On failure returns false and sets `error` and `candidates` (the names
  // that would have been valid at the failing step, for "did you mean").
  bool Resolve(const RecordKind& kind, const std::vector<std::string>& path, const std::string& map_key,
               FieldRef& out, std::string& error, std::vector<std::string>& candidates) const;

  // Every field path a condition on `kind` may name (for documentation and tests).
  std::vector<std::string> FieldNames(const RecordKind& kind) const;

 private:
  Schema();
  std::vector<RecordKind> kinds_;
};

// The lower-case name of an enum value without the enum's common prefix
// ("ACTION_READ" -> "read").
std::string EnumValueName(const google::protobuf::EnumValueDescriptor* v);
const google::protobuf::EnumValueDescriptor* FindEnumValue(const google::protobuf::EnumDescriptor* e,
                                                           std::string_view name);
std::vector<std::string> EnumValueNames(const google::protobuf::EnumDescriptor* e);

}  // namespace custos::policy
