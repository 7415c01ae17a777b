// SHA-256 and the RFC 6962 Merkle tree hashes of the audit log, plus the hex
// and base64 encodings the log's text formats use.
//
//   Hash leaf = LeafHash(record_line);           // SHA-256(0x00 || record)
//   Hash node = NodeHash(left, right);           // SHA-256(0x01 || left || right)
//   std::string b64 = Base64Encode(node);        // standard alphabet, padded
//   CUSTOS_ASSIGN_OR_RETURN(Hash h, HashFromBase64(b64));
//
// Thread-safe: every function may be called from any thread (each thread
// reuses its own digest context).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace custos::audit {

using Hash = std::array<uint8_t, 32>;
using ByteView = std::span<const uint8_t>;

// The bytes of `s`, viewed without copying.
inline ByteView AsBytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// SHA-256 of the concatenation of `parts`.
Hash Sha256(std::initializer_list<ByteView> parts);

// RFC 6962 §2.1: the hash of one log entry, SHA-256(0x00 || entry).
Hash LeafHash(std::string_view entry);

// RFC 6962 §2.1: the hash of an interior node, SHA-256(0x01 || left || right).
Hash NodeHash(const Hash& left, const Hash& right);

// A leaf hash in two steps: the start of an entry first (on any thread), the
// end later. PartialLeafHash(a).Finish(b) == LeafHash(a + b). The audit log
// hashes everything of a record but its chain link in parallel this way.
class PartialLeafHash {
 public:
  PartialLeafHash() = default;
  explicit PartialLeafHash(std::string_view start);
  Hash Finish(std::string_view end) const;

 private:
  alignas(8) std::array<uint8_t, 112> state_{};  // an OpenSSL SHA256_CTX
};

// The root of the empty tree, SHA-256("") = e3b0c442...
Hash EmptyRoot();

// Lower-case hex, two digits a byte.
std::string HexEncode(ByteView bytes);

// Parses 64 hex digits (either case) into a hash.
[[nodiscard]] Result<Hash> HashFromHex(std::string_view hex);

// RFC 4648 §4 base64: standard alphabet, with '=' padding.
std::string Base64Encode(ByteView bytes);

// Strict inverse of Base64Encode: padding required, no whitespace, and the
// unused bits of the last character must be zero, so each byte string has
// exactly one accepted encoding.
[[nodiscard]] Result<std::vector<uint8_t>> Base64Decode(std::string_view text);

// Base64Decode that also requires exactly 32 bytes.
[[nodiscard]] Result<Hash> HashFromBase64(std::string_view text);

}  // namespace custos::audit
