#include "collector/audit/note.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "collector/audit/note_text.h"

namespace custos::audit {
namespace {

constexpr std::string_view kSignaturePrefix = "\xE2\x80\x94 ";  // U+2014 em dash, space
constexpr uint64_t kMaxCosignatureTime = std::numeric_limits<int64_t>::max();
constexpr size_t kKeyIdBytes = 4;
constexpr size_t kTimeBytes = 8;
constexpr size_t kSignatureBytes = std::tuple_size_v<Signature>;

void AppendBigEndian(uint64_t value, size_t bytes, std::vector<uint8_t>& out) {
  for (size_t i = bytes; i-- > 0;) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

uint64_t ReadBigEndian(ByteView bytes) {
  uint64_t value = 0;
  for (uint8_t b : bytes) value = value << 8 | b;
  return value;
}

std::string KeyLabel(std::string_view name, uint32_t key_id) {
  return "key " + std::string(name) + " (ID " + FormatKeyId(key_id) + ")";
}

Status CheckText(std::string_view text) {
  if (text.empty() || text.back() != '\n') return InvalidArgument("note text must end in a newline");
  if (!IsValidNoteText(text)) {
    return InvalidArgument("note text must be UTF-8 without control characters other than newline");
  }
  return Status::Ok();
}

// "cosignature/v1\ntime <t>\n" + checkpoint text: what a cosigner signs.
std::string CosignedMessage(std::string_view checkpoint_text, uint64_t unix_time) {
  return "cosignature/v1\ntime " + std::to_string(unix_time) + "\n" + std::string(checkpoint_text);
}

Result<NoteSignature> ParseSignatureLine(std::string_view line) {
  if (!line.starts_with(kSignaturePrefix)) {
    return InvalidArgument("does not start with an em dash (U+2014) and a space");
  }
  line.remove_prefix(kSignaturePrefix.size());
  size_t space = line.find(' ');
  if (space == std::string_view::npos) return InvalidArgument("has no space between key name and signature");
  std::string_view name = line.substr(0, space);
  if (!IsValidKeyName(name)) return InvalidArgument("has an invalid key name \"" + std::string(name) + "\"");
  Result<std::vector<uint8_t>> bytes = Base64Decode(line.substr(space + 1));
  if (!bytes.ok()) return InvalidArgument("signature is not valid base64");
  if (bytes->size() <= kKeyIdBytes) {
    return InvalidArgument("signature is too short: " + std::to_string(bytes->size()) +
                           " bytes, want a 4-byte key ID and a signature");
  }
  NoteSignature sig;
  sig.name = std::string(name);
  sig.key_id = static_cast<uint32_t>(ReadBigEndian(ByteView(*bytes).first(kKeyIdBytes)));
  sig.signature.assign(bytes->begin() + kKeyIdBytes, bytes->end());
  return sig;
}

// Checks one signature by a known key: INVALID_ARGUMENT if malformed,
// PERMISSION_DENIED if it does not verify.
Result<VerifiedSignature> VerifySignature(std::string_view text, const NoteSignature& sig, const VerifierKey& key) {
  VerifiedSignature out{sig.name, sig.key_id, key.type(), std::nullopt};
  std::string label = KeyLabel(sig.name, sig.key_id);
  switch (key.type()) {
    case KeyType::kEd25519: {
      if (sig.signature.size() != kSignatureBytes) {
        return InvalidArgument("signature by " + label + " has " + std::to_string(sig.signature.size()) +
                               " bytes, want 64");
      }
      if (!key.VerifyMessage(AsBytes(text), sig.signature)) {
        return PermissionDenied("signature by " + label + " does not verify");
      }
      return out;
    }
    case KeyType::kCosignatureV1: {
      if (sig.signature.size() != kTimeBytes + kSignatureBytes) {
        return InvalidArgument("cosignature by " + label + " has " + std::to_string(sig.signature.size()) +
                               " bytes, want 72 (time and signature)");
      }
      ByteView payload(sig.signature);
      uint64_t time = ReadBigEndian(payload.first(kTimeBytes));
      if (time > kMaxCosignatureTime) return InvalidArgument("cosignature by " + label + " has a time above 2^63-1");
      if (!key.VerifyMessage(AsBytes(CosignedMessage(text, time)), payload.subspan(kTimeBytes))) {
        return PermissionDenied("cosignature by " + label + " does not verify");
      }
      out.cosigned_at = time;
      return out;
    }
  }
  return Internal("unknown key type");
}

}  // namespace

Result<Note> ParseNote(std::string_view note) {
  if (!IsValidNoteText(note)) {
    return InvalidArgument("note must be UTF-8 without control characters other than newline");
  }
  if (note.empty() || note.back() != '\n') return InvalidArgument("note must end in a newline");
  // The text may hold blank lines itself; the last one separates it from the
  // signatures.
  size_t blank = note.rfind("\n\n");
  if (blank == std::string_view::npos) return InvalidArgument("note has no blank line before its signatures");
  Note out;
  out.text = std::string(note.substr(0, blank + 1));
  std::string_view lines = note.substr(blank + 2);
  if (lines.empty()) return InvalidArgument("note has no signature lines");
  while (!lines.empty()) {
    if (out.signatures.size() == kMaxNoteSignatures) {
      return InvalidArgument("note has more than " + std::to_string(kMaxNoteSignatures) + " signatures");
    }
    size_t nl = lines.find('\n');  // found: the note ends in '\n'
    Result<NoteSignature> sig = ParseSignatureLine(lines.substr(0, nl));
    if (!sig.ok()) {
      return sig.status().WithContext("note signature line " + std::to_string(out.signatures.size() + 1));
    }
    out.signatures.push_back(std::move(*sig));
    lines.remove_prefix(nl + 1);
  }
  return out;
}

std::string FormatNote(const Note& note) {
  std::string out = note.text + "\n";
  for (const NoteSignature& sig : note.signatures) {
    std::vector<uint8_t> bytes;
    bytes.reserve(kKeyIdBytes + sig.signature.size());
    AppendBigEndian(sig.key_id, kKeyIdBytes, bytes);
    bytes.insert(bytes.end(), sig.signature.begin(), sig.signature.end());
    out += kSignaturePrefix;
    out += sig.name + " " + Base64Encode(bytes) + "\n";
  }
  return out;
}

Result<NoteSignature> Sign(std::string_view text, const SignerKey& key) {
  const VerifierKey& v = key.verifier();
  if (v.type() != KeyType::kEd25519) {
    return InvalidArgument(KeyLabel(v.name(), v.id()) + " is a cosignature key; use Cosign");
  }
  CUSTOS_RETURN_IF_ERROR(CheckText(text));
  Signature sig = key.SignMessage(AsBytes(text));
  return NoteSignature{v.name(), v.id(), {sig.begin(), sig.end()}};
}

Result<NoteSignature> Cosign(std::string_view checkpoint_text, const SignerKey& key, uint64_t unix_time) {
  const VerifierKey& v = key.verifier();
  if (v.type() != KeyType::kCosignatureV1) {
    return InvalidArgument(KeyLabel(v.name(), v.id()) + " is not a cosignature key; use Sign");
  }
  if (unix_time > kMaxCosignatureTime) return InvalidArgument("cosignature time above 2^63-1");
  CUSTOS_RETURN_IF_ERROR(CheckText(checkpoint_text));
  Signature sig = key.SignMessage(AsBytes(CosignedMessage(checkpoint_text, unix_time)));
  NoteSignature out{v.name(), v.id(), {}};
  AppendBigEndian(unix_time, kTimeBytes, out.signature);
  out.signature.insert(out.signature.end(), sig.begin(), sig.end());
  return out;
}

Result<std::string> SignNote(std::string_view text, const SignerKey& key) {
  CUSTOS_ASSIGN_OR_RETURN(NoteSignature sig, Sign(text, key));
  return FormatNote(Note{std::string(text), {std::move(sig)}});
}

Result<VerifiedNote> VerifyNote(std::string_view note, std::span<const VerifierKey> keys) {
  CUSTOS_ASSIGN_OR_RETURN(Note parsed, ParseNote(note));
  VerifiedNote out;
  for (const NoteSignature& sig : parsed.signatures) {
    auto key = std::find_if(keys.begin(), keys.end(),
                            [&](const VerifierKey& k) { return k.name() == sig.name && k.id() == sig.key_id; });
    if (key == keys.end()) continue;  // unknown keys are ignored, as the spec requires
    // Every signature by a known key must verify, even a repeated one.
    CUSTOS_ASSIGN_OR_RETURN(VerifiedSignature verified, VerifySignature(parsed.text, sig, *key));
    bool seen = std::any_of(out.signatures.begin(), out.signatures.end(),
                            [&](const VerifiedSignature& s) { return s.name == sig.name && s.key_id == sig.key_id; });
    if (!seen) out.signatures.push_back(std::move(verified));
  }
  if (out.signatures.empty()) {
    return PermissionDenied("no signature by a trusted key among the note's " +
                            std::to_string(parsed.signatures.size()) + " signatures");
  }
  out.text = std::move(parsed.text);
  return out;
}

}  // namespace custos::audit
