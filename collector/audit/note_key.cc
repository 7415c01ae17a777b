#include "collector/audit/note_key.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "collector/audit/note_text.h"
#include "common/files.h"

namespace custos::audit {
namespace {

constexpr std::string_view kSecretPrefix = "PRIVATE+KEY+";

void EnsureSodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) std::abort();  // no usable randomness or CPU support: nothing can be signed
}

Result<uint32_t> ParseKeyId(std::string_view hex) {
  uint32_t id = 0;
  bool ok = hex.size() == 8;
  for (char c : hex) {
    if (c >= '0' && c <= '9') {
      id = id << 4 | static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      id = id << 4 | static_cast<uint32_t>(c - 'a' + 10);
    } else {
      ok = false;
    }
  }
  if (!ok) return InvalidArgument("key ID \"" + std::string(hex) + "\" is not 8 lower-case hex digits");
  return id;
}

// "<name>+<hex8 key ID>+<base64>", where only the base64 may contain '+'.
struct KeyFields {
  std::string_view name;
  std::string_view id_hex;
  std::string_view material;
};

Result<KeyFields> SplitKeyFields(std::string_view text) {
  size_t first = text.find('+');
  size_t second = first == std::string_view::npos ? first : text.find('+', first + 1);
  if (second == std::string_view::npos) return InvalidArgument("want <name>+<key ID>+<key>");
  KeyFields fields{text.substr(0, first), text.substr(first + 1, second - first - 1), text.substr(second + 1)};
  if (!IsValidKeyName(fields.name)) {
    return InvalidArgument("invalid key name: it must be non-empty UTF-8 without spaces, '+' or control characters");
  }
  return fields;
}

struct KeyMaterial {
  KeyType type;
  std::array<uint8_t, 32> bytes;
};

// base64(type || 32 bytes): a public key in a vkey, a seed in an skey.
Result<KeyMaterial> DecodeKeyMaterial(std::string_view base64) {
  Result<std::vector<uint8_t>> raw = Base64Decode(base64);
  if (!raw.ok()) return InvalidArgument("key is not valid base64");
  if (raw->empty()) return InvalidArgument("key is empty");
  uint8_t type = raw->front();
  if (type != static_cast<uint8_t>(KeyType::kEd25519) && type != static_cast<uint8_t>(KeyType::kCosignatureV1)) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", type);
    return InvalidArgument(std::string("unsupported key type ") + hex + " (want 0x01 Ed25519 or 0x04 cosignature/v1)");
  }
  KeyMaterial out{static_cast<KeyType>(type), {}};
  if (raw->size() != 1 + out.bytes.size()) {
    sodium_memzero(raw->data(), raw->size());
    return InvalidArgument("Ed25519 key must be 32 bytes, got " + std::to_string(raw->size() - 1));
  }
  std::copy(raw->begin() + 1, raw->end(), out.bytes.begin());
  sodium_memzero(raw->data(), raw->size());
  return out;
}

Status CheckKeyId(uint32_t stated, const VerifierKey& key) {
  if (stated == key.id()) return Status::Ok();
  return InvalidArgument("key ID " + FormatKeyId(stated) + " does not match the key, whose ID is " +
                         FormatKeyId(key.id()));
}

Result<VerifierKey> ParseVerifierKey(std::string_view vkey) {
  CUSTOS_ASSIGN_OR_RETURN(KeyFields fields, SplitKeyFields(vkey));
  CUSTOS_ASSIGN_OR_RETURN(uint32_t id, ParseKeyId(fields.id_hex));
  CUSTOS_ASSIGN_OR_RETURN(KeyMaterial material, DecodeKeyMaterial(fields.material));
  CUSTOS_ASSIGN_OR_RETURN(VerifierKey key,
                          VerifierKey::Create(std::string(fields.name), material.type, material.bytes));
  CUSTOS_RETURN_IF_ERROR(CheckKeyId(id, key));
  return key;
}

}  // namespace

uint32_t KeyId(std::string_view name, KeyType type, const PublicKey& public_key) {
  const uint8_t separator[2] = {'\n', static_cast<uint8_t>(type)};
  Hash h = Sha256({AsBytes(name), separator, public_key});
  return uint32_t{h[0]} << 24 | uint32_t{h[1]} << 16 | uint32_t{h[2]} << 8 | uint32_t{h[3]};
}

std::string FormatKeyId(uint32_t id) {
  const uint8_t bytes[4] = {static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                            static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
  return HexEncode(bytes);
}

VerifierKey::VerifierKey(std::string name, KeyType type, const PublicKey& public_key)
    : name_(std::move(name)), type_(type), public_key_(public_key), id_(KeyId(name_, type, public_key)) {}

Result<VerifierKey> VerifierKey::Create(std::string name, KeyType type, const PublicKey& public_key) {
  if (!IsValidKeyName(name)) {
    return InvalidArgument("invalid key name \"" + name +
                           "\": it must be non-empty UTF-8 without spaces, '+' or control characters");
  }
  return VerifierKey(std::move(name), type, public_key);
}

Result<VerifierKey> VerifierKey::Parse(std::string_view vkey) {
  Result<VerifierKey> key = ParseVerifierKey(vkey);
  if (!key.ok()) return key.status().WithContext("verifier key \"" + std::string(vkey) + "\"");
  return key;
}

std::string VerifierKey::ToString() const {
  uint8_t material[33];
  material[0] = static_cast<uint8_t>(type_);
  std::copy(public_key_.begin(), public_key_.end(), material + 1);
  return name_ + "+" + FormatKeyId(id_) + "+" + Base64Encode(material);
}

bool VerifierKey::VerifyMessage(ByteView message, ByteView signature) const {
  EnsureSodium();
  return signature.size() == crypto_sign_BYTES &&
         crypto_sign_verify_detached(signature.data(), message.data(), message.size(), public_key_.data()) == 0;
}

SignerKey::SignerKey(VerifierKey verifier, const std::array<uint8_t, 64>& secret)
    : verifier_(std::move(verifier)), secret_(secret) {}

Result<SignerKey> SignerKey::Generate(std::string name, KeyType type) {
  EnsureSodium();
  PublicKey public_key;
  std::array<uint8_t, 64> secret;
  crypto_sign_keypair(public_key.data(), secret.data());
  Result<VerifierKey> verifier = VerifierKey::Create(std::move(name), type, public_key);
  Result<SignerKey> key = verifier.ok() ? Result<SignerKey>(SignerKey(*verifier, secret)) : verifier.status();
  sodium_memzero(secret.data(), secret.size());
  return key;
}

Result<SignerKey> SignerKey::Parse(std::string_view skey) {
  // Errors never quote `skey`: it is a secret.
  if (!skey.starts_with(kSecretPrefix)) return InvalidArgument("secret key does not start with PRIVATE+KEY+");
  Result<KeyFields> fields = SplitKeyFields(skey.substr(kSecretPrefix.size()));
  if (!fields.ok()) return fields.status().WithContext("secret key");
  CUSTOS_ASSIGN_OR_RETURN(uint32_t id, ParseKeyId(fields->id_hex));
  Result<KeyMaterial> seed = DecodeKeyMaterial(fields->material);
  if (!seed.ok()) return seed.status().WithContext("secret key");
  EnsureSodium();
  PublicKey public_key;
  std::array<uint8_t, 64> secret;
  crypto_sign_seed_keypair(public_key.data(), secret.data(), seed->bytes.data());
  sodium_memzero(seed->bytes.data(), seed->bytes.size());
  // The name was checked by SplitKeyFields, so Create cannot fail.
  VerifierKey verifier = *VerifierKey::Create(std::string(fields->name), seed->type, public_key);
  Status id_ok = CheckKeyId(id, verifier);
  Result<SignerKey> key =
      id_ok.ok() ? Result<SignerKey>(SignerKey(std::move(verifier), secret)) : id_ok.WithContext("secret key");
  sodium_memzero(secret.data(), secret.size());
  return key;
}

SignerKey::~SignerKey() { sodium_memzero(secret_.data(), secret_.size()); }

std::string SignerKey::ToString() const {
  uint8_t material[33];
  material[0] = static_cast<uint8_t>(verifier_.type());
  std::copy(secret_.begin(), secret_.begin() + 32, material + 1);  // the seed
  std::string out =
      std::string(kSecretPrefix) + verifier_.name() + "+" + FormatKeyId(verifier_.id()) + "+" + Base64Encode(material);
  sodium_memzero(material, sizeof material);
  return out;
}

Signature SignerKey::SignMessage(ByteView message) const {
  EnsureSodium();
  Signature signature;
  crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(), secret_.data());
  return signature;
}

Status WriteSignerKeyFile(const std::string& path, const SignerKey& key, bool force) {
  if (!force && ::access(path.c_str(), F_OK) == 0) {
    return AlreadyExists(path + " exists (use --force to replace it)");
  }
  std::string text = key.ToString() + "\n";
  Status status = WriteFileAtomic(path, text, 0600);
  sodium_memzero(text.data(), text.size());
  return status;
}

Status WriteVerifierKeyFile(const std::string& path, const VerifierKey& key) {
  return WriteFileAtomic(path, key.ToString() + "\n", 0644);
}

Result<SignerKey> ReadSignerKeyFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat " + path, errno);
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return PermissionDenied("secret key " + path + " is accessible by group or others (mode " + mode +
                            "); run: chmod 600 " + path);
  }
  CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Result<SignerKey> key = SignerKey::Parse(Trim(text));
  sodium_memzero(text.data(), text.size());
  if (!key.ok()) return key.status().WithContext(path);
  return key;
}

Result<VerifierKey> ReadVerifierKeyFile(const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Result<VerifierKey> key = VerifierKey::Parse(Trim(text));
  if (!key.ok()) return key.status().WithContext(path);
  return key;
}

}  // namespace custos::audit
