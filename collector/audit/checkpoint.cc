#include "collector/audit/checkpoint.h"

#include <charconv>

#include "collector/audit/note_text.h"

namespace custos::audit {
namespace {

constexpr char kOriginRule[] = "the origin must be non-empty UTF-8 without spaces, '+' or control characters";

// A decimal uint64 with no sign, no leading zeros (except "0" itself) and no
// other characters.
Result<uint64_t> ParseTreeSize(std::string_view s) {
  bool all_digits = !s.empty();
  for (char c : s) all_digits = all_digits && c >= '0' && c <= '9';
  if (!all_digits) return InvalidArgument("tree size \"" + std::string(s) + "\" is not a decimal number");
  if (s.size() > 1 && s[0] == '0') return InvalidArgument("tree size \"" + std::string(s) + "\" has a leading zero");
  uint64_t value = 0;
  auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (err != std::errc() || end != s.data() + s.size()) {
    return InvalidArgument("tree size \"" + std::string(s) + "\" does not fit in 64 bits");
  }
  return value;
}

}  // namespace

Result<std::string> FormatCheckpoint(const Checkpoint& checkpoint) {
  if (!IsValidKeyName(checkpoint.origin)) return InvalidArgument(std::string("invalid checkpoint: ") + kOriginRule);
  return checkpoint.origin + "\n" + std::to_string(checkpoint.size) + "\n" + Base64Encode(checkpoint.root) + "\n";
}

Result<Checkpoint> ParseCheckpoint(std::string_view text) {
  if (text.empty() || text.back() != '\n') return InvalidArgument("checkpoint text must end in a newline");
  std::string_view lines[3];
  size_t count = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    if (count == 3) {
      return InvalidArgument("checkpoint has lines after the root hash; extension lines are not accepted");
    }
    lines[count++] = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
  }
  if (count < 3) {
    return InvalidArgument("checkpoint has " + std::to_string(count) + " lines; want origin, tree size and root hash");
  }
  Checkpoint out;
  if (!IsValidKeyName(lines[0])) return InvalidArgument(std::string("invalid checkpoint: ") + kOriginRule);
  out.origin = std::string(lines[0]);
  CUSTOS_ASSIGN_OR_RETURN(out.size, ParseTreeSize(lines[1]));
  Result<Hash> root = HashFromBase64(lines[2]);
  if (!root.ok()) return root.status().WithContext("checkpoint root hash");
  out.root = *root;
  return out;
}

}  // namespace custos::audit
