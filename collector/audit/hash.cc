#include "collector/audit/hash.h"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but
// they call the same (SHA-NI) block function without EVP's dispatch, which
// costs a third of hashing a 330-byte audit record (measured: 311 vs 459 ns).
// Every audit record is hashed on append and again on verification, so it counts.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace custos::audit {
namespace {

constexpr int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Hash Sha256(std::initializer_list<ByteView> parts) {
  SHA256_CTX ctx;
  Hash out;
  bool ok = SHA256_Init(&ctx) == 1;
  for (ByteView part : parts) ok = ok && SHA256_Update(&ctx, part.data(), part.size()) == 1;
  ok = ok && SHA256_Final(out.data(), &ctx) == 1;
  if (!ok) std::abort();  // SHA-256 over memory cannot fail short of a broken library
  return out;
}

Hash LeafHash(std::string_view entry) {
  static constexpr uint8_t kLeafPrefix[] = {0x00};
  return Sha256({kLeafPrefix, AsBytes(entry)});
}

static_assert(sizeof(SHA256_CTX) <= 112, "PartialLeafHash::state_ must hold a SHA256_CTX");

PartialLeafHash::PartialLeafHash(std::string_view start) {
  static const uint8_t kLeafPrefix = 0x00;
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, &kLeafPrefix, 1);
  SHA256_Update(&ctx, start.data(), start.size());
  std::memcpy(state_.data(), &ctx, sizeof ctx);
}

Hash PartialLeafHash::Finish(std::string_view end) const {
  SHA256_CTX ctx;
  std::memcpy(&ctx, state_.data(), sizeof ctx);
  SHA256_Update(&ctx, end.data(), end.size());
  Hash out;
  SHA256_Final(out.data(), &ctx);
  return out;
}

Hash NodeHash(const Hash& left, const Hash& right) {
  static constexpr uint8_t kNodePrefix[] = {0x01};
  return Sha256({kNodePrefix, left, right});
}

Hash EmptyRoot() { return Sha256({}); }

std::string HexEncode(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  char* p = out.data();
  for (uint8_t b : bytes) {
    *p++ = kDigits[b >> 4];
    *p++ = kDigits[b & 0xf];
  }
  return out;
}

Result<Hash> HashFromHex(std::string_view hex) {
  Hash out;
  if (hex.size() != 2 * out.size()) {
    return InvalidArgument("hash must be 64 hex digits, got " + std::to_string(hex.size()) + " characters");
  }
  // A table, and one check at the end: salts and hashes are decoded by the
  // million during verification.
  static constexpr std::array<uint8_t, 256> kValue = [] {
    std::array<uint8_t, 256> t{};
    t.fill(0xff);
    for (int c = 0; c < 256; ++c) {
      int v = HexDigit(static_cast<char>(c));
      if (v >= 0) t[c] = static_cast<uint8_t>(v);
    }
    return t;
  }();
  uint8_t bad = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    uint8_t hi = kValue[static_cast<uint8_t>(hex[2 * i])], lo = kValue[static_cast<uint8_t>(hex[2 * i + 1])];
    bad |= (hi | lo) & 0xf0;
    out[i] = static_cast<uint8_t>(hi << 4 | (lo & 0xf));
  }
  if (bad != 0) return InvalidArgument("hash is not hex: " + std::string(hex));
  return out;
}

std::string Base64Encode(ByteView bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), kVariant);
  out.pop_back();  // the terminating NUL that sodium_base64_ENCODED_LEN counts
  return out;
}

Result<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  // libsodium 1.0.18 maps some bytes >= 0x80 to base64 digits (its
  // constant-time lookup assumes ASCII), so check the alphabet first. The
  // decoder then enforces the rest: exact padding, zero trailing bits, and
  // (with no ignore set and no end pointer) that every character is consumed.
  for (char c : text) {
    bool in_alphabet =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
    if (!in_alphabet) return InvalidArgument("invalid base64: unexpected character");
  }
  std::vector<uint8_t> out(text.size() / 4 * 3 + 3);
  size_t len = 0;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return InvalidArgument("invalid base64");
  }
  out.resize(len);
  return out;
}

Result<Hash> HashFromBase64(std::string_view text) {
  CUSTOS_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, Base64Decode(text));
  Hash out;
  if (bytes.size() != out.size()) {
    return InvalidArgument("hash must be 32 bytes, base64 decodes to " + std::to_string(bytes.size()));
  }
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

}  // namespace custos::audit
