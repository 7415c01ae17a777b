// libFuzzer target: differential check of ParseRecord (record.cc's strict
// hand-written parser) against ParseRecordReference (the original: parse with
// nlohmann::json, re-encode, compare). Traps when they disagree on whether a
// line is canonical or on the record it holds, when an accepted line does not
// re-encode to itself, or when EncodeRecord writes a line ParseRecord refuses;
// and ScanRecord (the allocation-free form) against ParseRecord.
// Build with clang and -DCUSTOS_BUILD_FUZZERS=ON; run with a few valid lines
// as the seed corpus:
//   build/bin/audit_record_fuzzer -max_total_time=60 CORPUS_DIR
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <tuple>

#include "collector/audit/record.h"
#include "collector/audit/record_reference.h"

namespace {

using namespace custos::audit;

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

auto Fields(const AuditRecord& r) {
  return std::tie(r.index, r.time_unix_nanos, r.kind, r.actor, r.action, r.object, r.outcome, r.details,
                  r.payload_commitment, r.prev);
}

void CheckLine(std::string_view line) {
  custos::Result<AuditRecord> fast = ParseRecord(line);
  custos::Result<AuditRecord> ref = ParseRecordReference(line);
  Check(fast.ok() == ref.ok());
  RecordView view;
  Check(ScanRecord(line, &view) == fast.ok());
  if (fast.ok()) {
    Check(view.index == fast->index && view.time_unix_nanos == fast->time_unix_nanos &&
          view.payload_commitment == fast->payload_commitment && view.prev == fast->prev);
    Check(Fields(*fast) == Fields(*ref));
    Check(EncodeRecord(*fast) == line);
  } else {
    Check(fast.status().message().rfind("not in canonical form at byte ", 0) == 0);
  }
}

// A record made of the input's bytes: 16 bytes of numbers, then the strings
// separated by 0xFE. Whatever they hold, EncodeRecord's line must parse back
// (with invalid UTF-8 replaced) and both parsers must agree on it.
void CheckRoundTrip(std::string_view input) {
  if (input.size() < 16) return;
  AuditRecord r;
  std::memcpy(&r.index, input.data(), 8);
  std::memcpy(&r.time_unix_nanos, input.data() + 8, 8);
  input.remove_prefix(16);
  auto next = [&input]() {
    size_t cut = input.find('\xFE');
    std::string_view piece = input.substr(0, cut);
    input.remove_prefix(cut == std::string_view::npos ? input.size() : cut + 1);
    return std::string(piece);
  };
  r.kind = next();
  r.actor = next();
  r.action = next();
  r.object = next();
  r.outcome = next();
  while (!input.empty()) {
    std::string key = next();
    r.details[key] = next();
  }
  r.payload_commitment = (r.index & 1) ? std::string(64, 'f') : "";
  r.prev = GenesisPrev();
  std::string line = EncodeRecord(r);
  custos::Result<AuditRecord> fast = ParseRecord(line);
  Check(fast.ok());
  Check(fast->index == r.index && fast->time_unix_nanos == r.time_unix_nanos);
  CheckLine(line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckLine(input);
  CheckRoundTrip(input);
  return 0;
}
