// libFuzzer target: the audit log's parsers of untrusted text (signed notes,
// checkpoints, verifier keys). Each accepted input must format back to the
// same bytes: there is exactly one encoding of each value, so a verifier and
// a signer can never disagree about what was signed. Build with clang and
// -DCUSTOS_BUILD_FUZZERS=ON; run: build/bin/audit_note_fuzzer -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "collector/audit/checkpoint.h"
#include "collector/audit/note.h"

namespace {

using namespace custos::audit;

// The checksum database key: a real key whose signatures inputs will lack.
const VerifierKey& TrustedKey() {
  static const VerifierKey key =
      *VerifierKey::Parse("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8");
  return key;
}

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  custos::Result<Note> note = ParseNote(input);
  if (note.ok()) Check(FormatNote(*note) == input);
  custos::Result<VerifiedNote> verified = VerifyNote(input, {&TrustedKey(), 1});
  Check(!verified.ok() && !verified.status().message().empty());  // nobody holds this key's secret

  custos::Result<Checkpoint> checkpoint = ParseCheckpoint(input);
  if (checkpoint.ok()) Check(*FormatCheckpoint(*checkpoint) == input);

  custos::Result<VerifierKey> vkey = VerifierKey::Parse(input);
  if (vkey.ok()) Check(vkey->ToString() == input);

  custos::Result<std::vector<uint8_t>> bytes = Base64Decode(input);
  if (bytes.ok()) Check(Base64Encode(*bytes) == input);
  return 0;
}
