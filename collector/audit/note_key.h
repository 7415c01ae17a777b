// Ed25519 keys for signed notes (c2sp.org/signed-note) and witness
// cosignatures (c2sp.org/tlog-cosignature), in their text and file forms.
//
//   vkey (public):  <name>+<hex8 key ID>+<base64(type || 32-byte public key)>
//   skey (secret):  PRIVATE+KEY+<name>+<hex8 key ID>+<base64(type || 32-byte seed)>
//                   (the format of Go's golang.org/x/mod/sumdb/note)
//   key ID:         SHA-256(name || 0x0A || type || public key)[:4], big-endian
//
// The type byte is 0x01 for a log's note signatures and 0x04 for a witness's
// timestamped cosignatures; the same name and key pair get different key IDs.
//
//   CUSTOS_ASSIGN_OR_RETURN(SignerKey key, SignerKey::Generate("audit.example/t1/v1", KeyType::kEd25519));
//   CUSTOS_RETURN_IF_ERROR(WriteSignerKeyFile(dir + "/log.key", key));
//   CUSTOS_RETURN_IF_ERROR(WriteVerifierKeyFile(dir + "/log.vkey", key.verifier()));
//   CUSTOS_ASSIGN_OR_RETURN(SignerKey again, ReadSignerKeyFile(dir + "/log.key"));  // 0600 or refused
//
// Keys are immutable values: thread-safe to share once built.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "collector/audit/hash.h"
#include "common/status.h"

namespace custos::audit {

enum class KeyType : uint8_t {
  kEd25519 = 0x01,        // signs the note text itself
  kCosignatureV1 = 0x04,  // signs "cosignature/v1\ntime <t>\n" + checkpoint text
};

using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;

// SHA-256(name || 0x0A || type || public_key)[:4] as a big-endian integer.
uint32_t KeyId(std::string_view name, KeyType type, const PublicKey& public_key);

// A key ID as vkeys write it: 8 lower-case hex digits.
std::string FormatKeyId(uint32_t id);

// The public half: names a key in signature lines and checks its signatures.
class VerifierKey {
 public:
  // INVALID_ARGUMENT if `name` is not a valid key name (see note_text.h).
  [[nodiscard]] static Result<VerifierKey> Create(std::string name, KeyType type, const PublicKey& public_key);

  // Parses a vkey; the key ID must be lower-case hex and match the key.
  [[nodiscard]] static Result<VerifierKey> Parse(std::string_view vkey);

  // The vkey text.
  std::string ToString() const;

  const std::string& name() const { return name_; }
  KeyType type() const { return type_; }
  uint32_t id() const { return id_; }
  const PublicKey& public_key() const { return public_key_; }

  // True iff `signature` is this key's Ed25519 signature of `message`.
  bool VerifyMessage(ByteView message, ByteView signature) const;

 private:
  VerifierKey(std::string name, KeyType type, const PublicKey& public_key);

  std::string name_;
  KeyType type_;
  PublicKey public_key_;
  uint32_t id_;
};

// The secret half.
class SignerKey {
 public:
  // A fresh random key pair.
  [[nodiscard]] static Result<SignerKey> Generate(std::string name, KeyType type);

  // Parses an skey; the key ID must match the key the seed derives.
  [[nodiscard]] static Result<SignerKey> Parse(std::string_view skey);

  // The skey text. It holds the secret: write it only with WriteSignerKeyFile.
  std::string ToString() const;

  // The secret is wiped when a copy is destroyed.
  ~SignerKey();
  SignerKey(const SignerKey&) = default;
  SignerKey& operator=(const SignerKey&) = default;
  SignerKey(SignerKey&&) = default;
  SignerKey& operator=(SignerKey&&) = default;

  const VerifierKey& verifier() const { return verifier_; }

  // The Ed25519 signature of `message`.
  Signature SignMessage(ByteView message) const;

 private:
  SignerKey(VerifierKey verifier, const std::array<uint8_t, 64>& secret);

  VerifierKey verifier_;
  std::array<uint8_t, 64> secret_;  // libsodium's layout: seed || public key
};

// Writes key.ToString() + "\n" with mode 0600; ALREADY_EXISTS if `path`
// exists and `force` is false.
[[nodiscard]] Status WriteSignerKeyFile(const std::string& path, const SignerKey& key, bool force = false);

// Writes key.ToString() + "\n" with mode 0644.
[[nodiscard]] Status WriteVerifierKeyFile(const std::string& path, const VerifierKey& key);

// Reads an skey file; PERMISSION_DENIED if group or others may access it.
// Surrounding whitespace is ignored.
[[nodiscard]] Result<SignerKey> ReadSignerKeyFile(const std::string& path);

// Reads a vkey file; surrounding whitespace is ignored.
[[nodiscard]] Result<VerifierKey> ReadVerifierKeyFile(const std::string& path);

}  // namespace custos::audit
