// The text rules of C2SP signed notes (c2sp.org/signed-note), shared by
// checkpoints, note keys and notes.
//
// Thread-safe: pure functions.
#pragma once

#include <string_view>

namespace custos::audit {

// A key name or checkpoint origin: non-empty, valid UTF-8, no Unicode space
// (as Go's unicode.IsSpace), no '+' and no ASCII control character.
bool IsValidKeyName(std::string_view name);

// Note text (or a whole signed note): valid UTF-8 without ASCII control
// characters other than newline (U+000A).
bool IsValidNoteText(std::string_view text);

}  // namespace custos::audit
