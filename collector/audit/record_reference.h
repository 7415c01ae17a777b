// For tests and fuzzers only: the original, obviously-correct ParseRecord
// (parse with nlohmann::json, re-encode with EncodeRecord, compare bytes).
// record.cc's hand-written parser must accept exactly the lines this accepts
// and return the same records; record_test.cc and record_fuzzer.cc check that.
// About 30x slower than ParseRecord: never use it on a hot path.
#pragma once

#include <string_view>

#include "collector/audit/record.h"
#include "common/status.h"

namespace custos::audit {

[[nodiscard]] Result<AuditRecord> ParseRecordReference(std::string_view line);

}  // namespace custos::audit
