// Signed notes (c2sp.org/signed-note) and Ed25519 witness cosignatures
// (c2sp.org/tlog-cosignature, cosignature/v1): how audit checkpoints are
// signed by the log and cosigned by witnesses.
//
// A signed note is its text (ending in '\n'), a blank line, then one line per
// signature: "— <key name> base64(key ID (4 bytes, big-endian) || signature)\n"
// with an em dash (U+2014). A cosignature's signature is the u64 big-endian
// time it attests followed by an Ed25519 signature of
// "cosignature/v1\ntime <time>\n" + the checkpoint text.
//
//   CUSTOS_ASSIGN_OR_RETURN(std::string note, SignNote(checkpoint_text, log_key));
//   // A witness checks consistency, then adds its cosignature:
//   CUSTOS_ASSIGN_OR_RETURN(Note parsed, ParseNote(note));
//   CUSTOS_ASSIGN_OR_RETURN(NoteSignature cosig, Cosign(parsed.text, witness_key, now));
//   parsed.signatures.push_back(cosig);
//   std::string cosigned = FormatNote(parsed);
//   // Anyone holding the public keys:
//   CUSTOS_ASSIGN_OR_RETURN(VerifiedNote v, VerifyNote(cosigned, trusted_vkeys));
//
// Thread-safe: pure functions over immutable keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collector/audit/note_key.h"
#include "common/status.h"

namespace custos::audit {

// ParseNote refuses notes with more signature lines than this; the spec asks
// verifiers to accept at least 16.
inline constexpr size_t kMaxNoteSignatures = 100;

// One signature line.
struct NoteSignature {
  std::string name;
  uint32_t key_id = 0;
  std::vector<uint8_t> signature;  // the bytes after the key ID

  bool operator==(const NoteSignature&) const = default;
};

struct Note {
  std::string text;  // ends in '\n'
  std::vector<NoteSignature> signatures;
};

// Splits a signed note into text and signature lines, checking only syntax;
// INVALID_ARGUMENT naming the first malformed part. Verifies nothing.
[[nodiscard]] Result<Note> ParseNote(std::string_view note);

// The signed note text. Precondition: `note` came from ParseNote or holds a
// valid text and signatures made by Sign / Cosign.
std::string FormatNote(const Note& note);

// The Ed25519 note signature of `text` by `key` (a KeyType::kEd25519 key).
// INVALID_ARGUMENT if the text is not valid note text ending in '\n'.
[[nodiscard]] Result<NoteSignature> Sign(std::string_view text, const SignerKey& key);

// The cosignature/v1 of `checkpoint_text` at `unix_time` by `key` (a
// KeyType::kCosignatureV1 key). unix_time must not exceed 2^63 - 1.
[[nodiscard]] Result<NoteSignature> Cosign(std::string_view checkpoint_text, const SignerKey& key, uint64_t unix_time);

// `text` signed by `key`: FormatNote({text, {Sign(text, key)}}).
[[nodiscard]] Result<std::string> SignNote(std::string_view text, const SignerKey& key);

struct VerifiedSignature {
  std::string name;
  uint32_t key_id = 0;
  KeyType type = KeyType::kEd25519;
  std::optional<uint64_t> cosigned_at;  // the attested time, for cosignatures
};

struct VerifiedNote {
  std::string text;
  // One entry per known key that signed, in note order; a key that signed
  // more than once is listed once (so k-of-n witness counts are honest).
  std::vector<VerifiedSignature> signatures;
};

// Verifies a signed note against the keys the caller trusts. Signatures by
// other keys (name or key ID differ) are ignored. Fails with
// INVALID_ARGUMENT when the note is malformed or a known key's signature has
// the wrong length, and PERMISSION_DENIED when a known key's signature does
// not verify or no known key signed at all.
[[nodiscard]] Result<VerifiedNote> VerifyNote(std::string_view note, std::span<const VerifierKey> keys);

}  // namespace custos::audit
