// Receipts: one record with its inclusion proof and the signed checkpoint
// that covers it, verifiable on its own with the log's public key
// (custosctl audit prove / audit verify-receipt).
//
//   {"index":I,"record":"<canonical line>","size":S,"proof":["<hex>",...],
//    "checkpoint":"<signed note>"}
#pragma once

#include <nlohmann/json.hpp>

#include <span>
#include <string>

#include "collector/audit/note_key.h"
#include "collector/store/sqlite_db.h"
#include "common/status.h"

namespace custos::audit {

// The receipt of record `index` under the newest checkpoint that covers it.
Result<nlohmann::json> MakeReceipt(store::Db& db, uint64_t index);

// OK when the receipt's checkpoint is signed by one of `keys`, its record is
// canonical with that index, and the proof places it in the signed tree.
Status VerifyReceipt(const nlohmann::json& receipt, std::span<const VerifierKey> keys);

}  // namespace custos::audit
