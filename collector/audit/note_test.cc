#include "collector/audit/note.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "collector/audit/checkpoint.h"

namespace custos::audit {
namespace {

// The example of golang.org/x/mod/sumdb/note: Ed25519 is deterministic, so
// signing the text with the key must give exactly this note.
constexpr char kPeterVkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr char kPeterSkey[] = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr char kPeterText[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr char kPeterNote[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

// A checkpoint published by a real log (transparency.dev) with its Ed25519
// signature, cosignatures by public witnesses, and an RFC 6962 signature (type
// 0x05) that this code does not know.
constexpr char kLogVkey[] =
    "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f";
constexpr char kWitnessVkey[] = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";
constexpr char kCosignedCheckpoint[] =
    "arche2025h1.staging.ct.transparency.dev\n"
    "1432088532\n"
    "U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n"
    "\n"
    "\u2014 arche2025h1.staging.ct.transparency.dev "
    "zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt"
    "0=\n"
    "\u2014 arche2025h1.staging.ct.transparency.dev "
    "ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=\n"
    "\u2014 transparency.dev/DEV:witness-little-garden "
    "2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==\n"
    "\u2014 witness1.smartit.nu/witness1 "
    "pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==\n"
    "\u2014 remora.n621.de "
    "2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n"
    "\u2014 witness.stagemole.eu "
    "Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==\n";

VerifierKey MustVkey(const char* vkey) {
  Result<VerifierKey> key = VerifierKey::Parse(vkey);
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return *key;
}

SignerKey NewKey(const std::string& name, KeyType type = KeyType::kEd25519) {
  Result<SignerKey> key = SignerKey::Generate(name, type);
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return *key;
}

std::string CheckpointText(uint64_t size) {
  return *FormatCheckpoint({"audit.example/t1/v1", size, LeafHash(std::to_string(size))});
}

TEST(NoteTest, SignsTheGoExampleByteForByte) {
  Result<SignerKey> key = SignerKey::Parse(kPeterSkey);
  ASSERT_TRUE(key.ok());
  Result<std::string> note = SignNote(kPeterText, *key);
  ASSERT_TRUE(note.ok()) << note.status().ToString();
  EXPECT_EQ(*note, kPeterNote);

  const VerifierKey vkey = MustVkey(kPeterVkey);
  Result<VerifiedNote> verified = VerifyNote(kPeterNote, {&vkey, 1});
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->text, kPeterText);
  ASSERT_EQ(verified->signatures.size(), 1u);
  EXPECT_EQ(verified->signatures[0].name, "PeterNeumann");
  EXPECT_EQ(verified->signatures[0].key_id, 0xc74f20a3u);
  EXPECT_FALSE(verified->signatures[0].cosigned_at.has_value());
}

TEST(NoteTest, VerifiesARealCosignedCheckpoint) {
  const std::vector<VerifierKey> keys = {MustVkey(kLogVkey), MustVkey(kWitnessVkey)};
  Result<VerifiedNote> verified = VerifyNote(kCosignedCheckpoint, keys);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  ASSERT_EQ(verified->signatures.size(), 2u);
  EXPECT_EQ(verified->signatures[0].type, KeyType::kEd25519);
  EXPECT_EQ(verified->signatures[1].name, "remora.n621.de");
  EXPECT_EQ(verified->signatures[1].type, KeyType::kCosignatureV1);
  EXPECT_EQ(verified->signatures[1].cosigned_at, 0x6a122120u);
  Result<Checkpoint> cp = ParseCheckpoint(verified->text);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->size, 1432088532u);

  // A different size is signed by nobody.
  std::string forged = kCosignedCheckpoint;
  forged.replace(forged.find("1432088532"), 10, "1432088533");
  for (const VerifierKey& key : keys) {
    EXPECT_EQ(VerifyNote(forged, {&key, 1}).status().code(), StatusCode::kPermissionDenied);
  }
}

TEST(NoteTest, RoundTripWithGeneratedKeys) {
  const SignerKey key = NewKey("audit.example/t1/v1");
  // Note text may hold blank lines; only the last one separates signatures.
  for (const std::string& text :
       {CheckpointText(7), std::string("a\n\nb\n"), std::string("\n"), std::string("x\n\n")}) {
    SCOPED_TRACE(text);
    Result<std::string> note = SignNote(text, key);
    ASSERT_TRUE(note.ok()) << note.status().ToString();
    Result<VerifiedNote> verified = VerifyNote(*note, {&key.verifier(), 1});
    ASSERT_TRUE(verified.ok()) << verified.status().ToString();
    EXPECT_EQ(verified->text, text);
    Result<Note> parsed = ParseNote(*note);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(FormatNote(*parsed), *note);
  }
}

TEST(NoteTest, RejectsTamperedTextAndSignatures) {
  const SignerKey key = NewKey("audit.example/t1/v1");
  const std::string text = CheckpointText(42);
  const std::string note = *SignNote(text, key);
  // Every byte of the text but the newlines (which keep it a note) changed in turn.
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') continue;
    std::string bad = note;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_EQ(VerifyNote(bad, {&key.verifier(), 1}).status().code(), StatusCode::kPermissionDenied) << i;
  }
  // Every byte of the signature changed in turn; the key ID bytes make the
  // signer unknown, the others break the signature.
  Note parsed = *ParseNote(note);
  for (size_t i = 0; i < 4 + parsed.signatures[0].signature.size(); ++i) {
    Note bad = parsed;
    if (i < 4) {
      bad.signatures[0].key_id ^= uint32_t{1} << (8 * i);
    } else {
      bad.signatures[0].signature[i - 4] ^= 0x01;
    }
    EXPECT_EQ(VerifyNote(FormatNote(bad), {&key.verifier(), 1}).status().code(), StatusCode::kPermissionDenied) << i;
  }
}

TEST(NoteTest, UnknownKeysAreIgnoredButSomeKnownKeyMustSign) {
  const SignerKey known = NewKey("audit.example/t1/v1");
  const SignerKey stranger = NewKey("stranger.example");
  const SignerKey namesake = NewKey("audit.example/t1/v1");  // same name, other key ID
  const std::string text = CheckpointText(3);

  Note only_unknown{text, {*Sign(text, stranger), *Sign(text, namesake)}};
  Result<VerifiedNote> v = VerifyNote(FormatNote(only_unknown), {&known.verifier(), 1});
  EXPECT_EQ(v.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(v.status().message().find("no signature by a trusted key"), std::string::npos);

  Note mixed{text, {*Sign(text, stranger), *Sign(text, namesake), *Sign(text, known)}};
  v = VerifyNote(FormatNote(mixed), {&known.verifier(), 1});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->signatures.size(), 1u);
  EXPECT_EQ(v->signatures[0].key_id, known.verifier().id());

  // An unknown key's line may even hold a signature of any length.
  Note odd{text, {NoteSignature{"stranger.example", 1, {1, 2, 3}}, *Sign(text, known)}};
  EXPECT_TRUE(VerifyNote(FormatNote(odd), {&known.verifier(), 1}).ok());
}

TEST(NoteTest, ABadSignatureByAKnownKeyRejectsTheNote) {
  const SignerKey a = NewKey("a.example");
  const SignerKey b = NewKey("b.example");
  const std::string text = CheckpointText(9);
  NoteSignature bad_b = *Sign(text, b);
  bad_b.signature[10] ^= 0x80;
  Note note{text, {*Sign(text, a), bad_b}};
  const std::vector<VerifierKey> keys = {a.verifier(), b.verifier()};
  Result<VerifiedNote> v = VerifyNote(FormatNote(note), keys);
  EXPECT_EQ(v.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(v.status().message().find("b.example"), std::string::npos) << v.status().message();
  // Without b's key the same note is fine.
  EXPECT_TRUE(VerifyNote(FormatNote(note), {&a.verifier(), 1}).ok());
}

TEST(NoteTest, AcceptsManySignaturesUpToTheLimit) {
  const std::string text = CheckpointText(16);
  std::vector<VerifierKey> keys;
  Note note{text, {}};
  for (int i = 0; i < 16; ++i) {
    SignerKey key = NewKey("signer" + std::to_string(i) + ".example");
    keys.push_back(key.verifier());
    note.signatures.push_back(*Sign(text, key));
  }
  Result<VerifiedNote> v = VerifyNote(FormatNote(note), keys);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->signatures.size(), 16u);

  // Pad with unknown signers up to the limit, then one more.
  const SignerKey stranger = NewKey("stranger.example");
  while (note.signatures.size() < kMaxNoteSignatures) note.signatures.push_back(*Sign(text, stranger));
  EXPECT_TRUE(VerifyNote(FormatNote(note), keys).ok());
  note.signatures.push_back(*Sign(text, stranger));
  v = VerifyNote(FormatNote(note), keys);
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("more than 100 signatures"), std::string::npos);
}

TEST(NoteTest, RepeatedSignaturesByOneKeyCountOnce) {
  const SignerKey key = NewKey("audit.example/t1/v1");
  const std::string text = CheckpointText(5);
  NoteSignature sig = *Sign(text, key);
  Result<VerifiedNote> v = VerifyNote(FormatNote({text, {sig, sig, sig}}), {&key.verifier(), 1});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->signatures.size(), 1u);
}

TEST(NoteTest, MalformedNotesAreRejectedWithTheReason) {
  const SignerKey key = NewKey("audit.example/t1/v1");
  const std::string text = CheckpointText(1);
  const std::string good = *SignNote(text, key);
  const std::string sig_b64 = good.substr(good.rfind(' ') + 1);  // with its '\n'
  NoteSignature short_sig = *Sign(text, key);
  short_sig.signature.resize(63);
  const struct {
    const char* name;
    std::string note;
    const char* reason;
  } cases[] = {
      {"empty", "", "end in a newline"},
      {"no_final_newline", good.substr(0, good.size() - 1), "end in a newline"},
      {"no_blank_line", text + "\u2014 audit.example/t1/v1 " + sig_b64, "no blank line"},
      {"no_signature_lines", text + "\n", "no signature lines"},
      {"hyphen_instead_of_em_dash", text + "\n- audit.example/t1/v1 " + sig_b64, "em dash"},
      {"en_dash", text + "\n\u2013 audit.example/t1/v1 " + sig_b64, "em dash"},
      {"no_space_after_dash", text + "\n\u2014audit.example/t1/v1 " + sig_b64, "em dash"},
      {"no_signature", text + "\n\u2014 audit.example/t1/v1\n", "no space"},
      {"bad_base64", text + "\n\u2014 audit.example/t1/v1 !!!!\n", "not valid base64"},
      {"two_spaces", text + "\n\u2014 audit.example/t1/v1  " + sig_b64, "not valid base64"},
      {"short_signature", text + "\n\u2014 audit.example/t1/v1 AAAAAA==\n", "too short"},
      {"unicode_space_in_name", text + "\n\u2014 audit\u00a0example " + sig_b64, "invalid key name"},
      {"known_key_wrong_length", FormatNote({text, {short_sig}}), "want 64"},
      {"control_character", "a\tb\n\n\u2014 audit.example/t1/v1 " + sig_b64, "control characters"},
      {"carriage_return", text.substr(0, text.size() - 1) + "\r\n\n\u2014 audit.example/t1/v1 " + sig_b64,
       "control characters"},
      {"invalid_utf8", "\xff\n\n\u2014 audit.example/t1/v1 " + sig_b64, "UTF-8"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Result<VerifiedNote> v = VerifyNote(c.note, {&key.verifier(), 1});
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument) << v.status().ToString();
    EXPECT_NE(v.status().message().find(c.reason), std::string::npos) << v.status().message();
  }
}

TEST(NoteTest, SignRefusesBadTextAndTheWrongKeyType) {
  const SignerKey key = NewKey("audit.example/t1/v1");
  const SignerKey witness = NewKey("witness.example", KeyType::kCosignatureV1);
  EXPECT_EQ(Sign("no newline", key).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Sign("", key).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Sign("tab\there\n", key).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Sign("text\n", witness).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Cosign("text\n", key, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Cosign("no newline", witness, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Cosign("text\n", witness, uint64_t{1} << 63).status().code(), StatusCode::kInvalidArgument);
}

TEST(CosignatureTest, RoundTrip) {
  const SignerKey log = NewKey("audit.example/t1/v1");
  const SignerKey witness = NewKey("witness.example/w1", KeyType::kCosignatureV1);
  const std::string text = CheckpointText(1000);
  constexpr uint64_t kTime = 1'679'315'147;

  Note note = *ParseNote(*SignNote(text, log));
  Result<NoteSignature> cosig = Cosign(text, witness, kTime);
  ASSERT_TRUE(cosig.ok()) << cosig.status().ToString();
  ASSERT_EQ(cosig->signature.size(), 72u);
  note.signatures.push_back(*cosig);
  const std::string cosigned = FormatNote(note);

  const std::vector<VerifierKey> both = {log.verifier(), witness.verifier()};
  Result<VerifiedNote> v = VerifyNote(cosigned, both);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->signatures.size(), 2u);
  EXPECT_FALSE(v->signatures[0].cosigned_at.has_value());
  EXPECT_EQ(v->signatures[1].type, KeyType::kCosignatureV1);
  EXPECT_EQ(v->signatures[1].cosigned_at, kTime);
  // The witness alone is enough to open the note.
  EXPECT_TRUE(VerifyNote(cosigned, {&witness.verifier(), 1}).ok());
}

TEST(CosignatureTest, SignsTheSpecifiedMessage) {
  const SignerKey witness = NewKey("witness.example/w1", KeyType::kCosignatureV1);
  const std::string text = CheckpointText(20852163);
  NoteSignature cosig = *Cosign(text, witness, 1679315147);
  // u64 big-endian time, then the Ed25519 signature of the cosigned message.
  const std::vector<uint8_t> time(cosig.signature.begin(), cosig.signature.begin() + 8);
  EXPECT_EQ(time, (std::vector<uint8_t>{0, 0, 0, 0, 0x64, 0x18, 0x50, 0xcb}));
  const std::string message = "cosignature/v1\ntime 1679315147\n" + text;
  EXPECT_TRUE(witness.verifier().VerifyMessage(AsBytes(message), ByteView(cosig.signature).subspan(8)));
  EXPECT_EQ(cosig.key_id, KeyId("witness.example/w1", KeyType::kCosignatureV1, witness.verifier().public_key()));
}

TEST(CosignatureTest, RejectsTampering) {
  const SignerKey witness = NewKey("witness.example/w1", KeyType::kCosignatureV1);
  const std::string text = CheckpointText(77);
  const NoteSignature cosig = *Cosign(text, witness, 1'700'000'000);
  const std::vector<VerifierKey> keys = {witness.verifier()};

  NoteSignature later = cosig;  // a witness cannot be made to attest another time
  later.signature[7] ^= 0x01;
  EXPECT_EQ(VerifyNote(FormatNote({text, {later}}), keys).status().code(), StatusCode::kPermissionDenied);

  NoteSignature broken = cosig;
  broken.signature[40] ^= 0x01;
  EXPECT_EQ(VerifyNote(FormatNote({text, {broken}}), keys).status().code(), StatusCode::kPermissionDenied);

  EXPECT_EQ(VerifyNote(FormatNote({CheckpointText(78), {cosig}}), keys).status().code(), StatusCode::kPermissionDenied);

  NoteSignature no_time = cosig;  // a plain Ed25519 signature length
  no_time.signature.erase(no_time.signature.begin(), no_time.signature.begin() + 8);
  Result<VerifiedNote> v = VerifyNote(FormatNote({text, {no_time}}), keys);
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("want 72"), std::string::npos);

  NoteSignature far_future = cosig;
  far_future.signature[0] = 0x80;
  v = VerifyNote(FormatNote({text, {far_future}}), keys);
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("2^63-1"), std::string::npos);

  // The witness's key as a plain note signer is another key (other key ID).
  const VerifierKey as_note_key =
      *VerifierKey::Create("witness.example/w1", KeyType::kEd25519, witness.verifier().public_key());
  EXPECT_EQ(VerifyNote(FormatNote({text, {cosig}}), {&as_note_key, 1}).status().code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace custos::audit
