#include "collector/audit/verify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "collector/audit/checkpoint.h"
#include "collector/audit/export_format.h"
#include "collector/audit/merkle_tree.h"
#include "collector/audit/node_store.h"
#include "collector/audit/note.h"
#include "collector/audit/record.h"

namespace custos::audit {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

constexpr char kOrigin[] = "audit.example/t1/v1";
constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kT0 = 1'764'168'754 * kSecond;  // 2025-11-26T14:52:34Z
constexpr uint64_t kRecords = 40;
constexpr uint64_t kCheckpointSizes[] = {10, 25, 40};
constexpr uint64_t kTailStart = 30;  // the records a forger rewrites
constexpr uint64_t kErasure = 30;    // the tombstone, erasing record 3's payload

template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "unexpected error: %s\n", r.status().ToString().c_str());
    std::abort();
  }
  return std::move(r).value();
}

struct Keys {
  SignerKey log = Must(SignerKey::Generate(kOrigin, KeyType::kEd25519));
  SignerKey witness = Must(SignerKey::Generate("witness.example/w1", KeyType::kCosignatureV1));
  SignerKey witness2 = Must(SignerKey::Generate("witness.example/w2", KeyType::kCosignatureV1));
  SignerKey stranger = Must(SignerKey::Generate(kOrigin, KeyType::kEd25519));  // same name, other key
};

std::string SignCheckpoint(const SignerKey& key, uint64_t size, const Hash& root, const std::string& origin = kOrigin) {
  return Must(SignNote(Must(FormatCheckpoint({origin, size, root})), key));
}

// Builds an export by hand: 40 records chained by prev, a payload on every
// third record (record 3's erased by the tombstone at 30), checkpoints after
// 10, 25 and 40 records, the newest cosigned by `witness`. Salts come from a
// fixed seed, so a build that differs only in `tail_actor` is what a forger
// who rewrote records 30.. and re-signed with the log's key would produce.
AuditData Build(const Keys& keys, const std::string& tail_actor = "node:a", bool cosign = true,
                uint64_t stop_at = UINT64_MAX) {
  AuditData d;
  d.origin = kOrigin;
  d.heartbeat_seconds = 60;
  std::mt19937_64 rng(42);
  MemoryNodeStore store;
  MerkleTree tree(store);
  for (uint64_t i = 0; i < kRecords; ++i) {
    AuditRecord r;
    r.index = i;
    r.time_unix_nanos = kT0 + static_cast<int64_t>(i) * kSecond;
    r.kind = i == kErasure ? "erasure" : i == stop_at ? "lifecycle" : "access";
    r.actor = i >= kTailStart ? tail_actor : "node:a";
    r.action = i == stop_at ? "stop" : "read";
    r.object = "dataset:imagenet";
    r.outcome = "allow";
    if (i == kErasure) {
      r.details = {{"indexes", "3"}, {"subject", HexEncode(Sha256({AsBytes("user:alice")}))}};
    } else {
      r.details = {{"bytes", std::to_string(i * 100)}};
    }
    if (i % 3 == 0 && i != kErasure) {
      Hash salt;
      for (uint8_t& b : salt) b = static_cast<uint8_t>(rng());
      std::string payload = R"({"user":"alice","n":)" + std::to_string(i) + "}";
      r.payload_commitment = PayloadCommitment(salt, payload);
      if (i != 3) d.payloads.push_back({i, HexEncode(salt), payload});
    }
    r.prev = i == 0 ? GenesisPrev() : HexEncode(LeafHash(d.record_lines.back()));
    d.record_lines.push_back(EncodeRecord(r));
    EXPECT_TRUE(tree.Append(LeafHash(d.record_lines.back())).ok());
    for (uint64_t size : kCheckpointSizes) {
      if (size != i + 1) continue;
      std::string note = SignCheckpoint(keys.log, size, tree.Root());
      int64_t time = kT0 + static_cast<int64_t>(size) * kSecond;
      if (size == kRecords && cosign) {
        Note parsed = Must(ParseNote(note));
        parsed.signatures.push_back(Must(Cosign(parsed.text, keys.witness, static_cast<uint64_t>(time / kSecond))));
        note = FormatNote(parsed);
      }
      d.checkpoints.push_back({size, time, note});
    }
  }
  d.consistency.push_back({10, 25, Must(tree.ConsistencyProof(10, 25))});
  d.consistency.push_back({25, 40, Must(tree.ConsistencyProof(25, 40))});
  d.selected.push_back({5, 40, Must(tree.InclusionProof(5, 40))});
  d.selected.push_back({33, 40, Must(tree.InclusionProof(33, 40))});
  d.selected.push_back({7, 25, Must(tree.InclusionProof(7, 25))});
  return d;
}

Json ProofJson(const Proof& proof) {
  Json out = Json::array();
  for (const Hash& h : proof) out.push_back(HexEncode(h));
  return out;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// Writes `d` as export_format.h lays it out, with a manifest whose file
// hashes match (the manifest is unsigned: a forger recomputes it too).
void WriteExport(const std::string& dir, const AuditData& d, const Keys& keys) {
  std::map<std::string, std::string> files;
  std::string records, csv = "index,time,kind,actor,action,object,outcome\n";
  for (size_t i = 0; i < d.record_lines.size(); ++i) {
    records += d.record_lines[i] + "\n";
    csv += std::to_string(i) + ",...\n";  // the verifier only hashes it
  }
  files[kRecordsFile] = records;
  files[kCsvFile] = csv;
  files[kVkeyFile] = keys.log.verifier().ToString() + "\n";
  for (const auto& p : d.payloads) {
    files[kPayloadsFile] += Json{{"index", p.index}, {"salt", p.salt_hex}, {"payload", p.payload}}.dump() + "\n";
  }
  for (const auto& c : d.checkpoints) {
    files[kCheckpointsFile] += Json{{"size", c.size}, {"time", c.time_unix_nanos}, {"note", c.note}}.dump() + "\n";
  }
  for (const auto& c : d.consistency) {
    files[kConsistencyFile] += Json{{"from", c.from}, {"to", c.to}, {"proof", ProofJson(c.proof)}}.dump() + "\n";
  }
  for (const auto& s : d.selected) {
    files[kSelectedFile] += Json{{"index", s.index}, {"size", s.size}, {"proof", ProofJson(s.proof)}}.dump() + "\n";
  }
  Json manifest = {{"format", kExportFormat},
                   {"origin", d.origin},
                   {"records", d.record_lines.size()},
                   {"heartbeat_seconds", d.heartbeat_seconds},
                   {"exported_at", kT0 + 3600 * kSecond},
                   {"files", Json::object()}};
  for (const auto& [name, content] : files) {
    WriteText(dir + "/" + name, content);
    manifest["files"][name] = HexEncode(Sha256({AsBytes(content)}));
  }
  WriteText(dir + "/" + kManifestFile, manifest.dump());
}

// Keys and the two histories, built once.
struct World {
  Keys keys;
  AuditData pristine = Build(keys);
  AuditData forged = Build(keys, "node:mallory", /*cosign=*/false);  // tail rewritten, re-signed
};

const World& TheWorld() {
  static const World* world = new World;
  return *world;
}

VerifyOptions LogKeyOnly() {
  VerifyOptions options;
  options.log_keys.push_back(TheWorld().keys.log.verifier());
  return options;
}

class VerifyDirTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custos_audit_verify_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  VerifyReport WriteAndVerify(const AuditData& d, const VerifyOptions& options) {
    WriteExport(dir_, d, TheWorld().keys);
    Result<VerifyReport> report = VerifyExport(dir_, options);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : VerifyReport{};
  }

  std::string dir_;
};

TEST_F(VerifyDirTest, PristineExportVerifies) {
  VerifyReport report = WriteAndVerify(TheWorld().pristine, LogKeyOnly());
  EXPECT_TRUE(report.ok()) << report.first_error;
  EXPECT_EQ(report.records, kRecords);
  EXPECT_EQ(report.checkpoints, 3u);
  EXPECT_EQ(report.payloads_checked, 12u);  // 13 commitments, one erased
  EXPECT_EQ(report.payloads_erased, 1u);
  EXPECT_EQ(report.selected_proofs, 3u);
}

TEST_F(VerifyDirTest, WitnessQuorum) {
  const struct {
    const char* name;
    int quorum;
    bool with_second_witness;
    const char* want;  // empty: verifies
  } cases[] = {
      {"one of one", 1, false, ""},
      {"one of two keys, quorum one", 1, true, ""},
      {"quorum two, one cosignature", 2, true, "newest checkpoint has 1 of 2 required witness cosignatures"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    VerifyOptions options = LogKeyOnly();
    options.witness_keys.push_back(TheWorld().keys.witness.verifier());
    if (c.with_second_witness) options.witness_keys.push_back(TheWorld().keys.witness2.verifier());
    options.witness_quorum = c.quorum;
    VerifyReport report = WriteAndVerify(TheWorld().pristine, options);
    if (*c.want == '\0') {
      EXPECT_TRUE(report.ok()) << report.first_error;
    } else {
      EXPECT_THAT(report.first_error, HasSubstr(c.want));
    }
  }
}

// Without witnesses, a log that rewrites its own tail and re-signs it cannot
// be told from an honest one: this is why the quorum exists.
TEST_F(VerifyDirTest, ForgedTailPassesWithoutAWitnessQuorum) {
  VerifyReport report = WriteAndVerify(TheWorld().forged, LogKeyOnly());
  EXPECT_TRUE(report.ok()) << report.first_error;
}

TEST_F(VerifyDirTest, UnusableDirectoryIsAStatus) {
  Result<VerifyReport> missing = VerifyExport(dir_, LogKeyOnly());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();

  WriteExport(dir_, TheWorld().pristine, TheWorld().keys);
  Result<VerifyReport> no_key = VerifyExport(dir_, VerifyOptions{});
  EXPECT_EQ(no_key.status().code(), StatusCode::kInvalidArgument);

  WriteText(dir_ + "/" + kManifestFile, R"({"format":"custos-audit-export/v9"})");
  Result<VerifyReport> unknown = VerifyExport(dir_, LogKeyOnly());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown format"));
}

// ---- Tampering: each must be caught, with the first error naming it ----

struct TamperCase {
  std::string name;
  std::function<void(AuditData&, VerifyOptions&)> tamper;
  std::string want;
  std::function<void(const std::string& dir)> after_write = nullptr;  // edits files behind the manifest
};

void Replace(std::string& s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << s;
  s.replace(at, from.size(), to);
}

// Recomputes the prev chain from record `from` on, as a careful forger would.
void Relink(std::vector<std::string>& lines, size_t from) {
  for (size_t i = from; i < lines.size(); ++i) {
    AuditRecord r = Must(ParseRecord(lines[i]));
    r.prev = HexEncode(LeafHash(lines[i - 1]));
    lines[i] = EncodeRecord(r);
  }
}

AuditData::CheckpointNote& CheckpointOfSize(AuditData& d, uint64_t size) {
  for (auto& c : d.checkpoints) {
    if (c.size == size) return c;
  }
  std::abort();
}

Hash RootOfSize(AuditData& d, uint64_t size) {
  return Must(ParseCheckpoint(Must(ParseNote(CheckpointOfSize(d, size).note)).text)).root;
}

std::vector<TamperCase> TamperCases() {
  const World& w = TheWorld();
  return {
      {"RecordByteChanged", [](AuditData& d, VerifyOptions&) { Replace(d.record_lines[12], "node:a", "node:b"); },
       "record 13: prev hash does not match record 12 (broken chain)"},
      {"LastRecordByteChanged", [](AuditData& d, VerifyOptions&) { Replace(d.record_lines[39], "read", "reae"); },
       "checkpoint at size 40: root mismatch: records 0..39 were changed after signing"},
      {"RecordChangedAndChainRelinked",
       [](AuditData& d, VerifyOptions&) {
         Replace(d.record_lines[12], "allow", "deny");
         Relink(d.record_lines, 13);
       },
       "checkpoint at size 25: root mismatch: records 0..24 were changed after signing"},
      {"NonCanonicalRecord", [](AuditData& d, VerifyOptions&) { Replace(d.record_lines[5], ",", ", "); },
       "record 5: not in canonical form"},
      {"RecordDeleted", [](AuditData& d, VerifyOptions&) { d.record_lines.erase(d.record_lines.begin() + 20); },
       "record at line 21 has index 21 where 20 was expected (a record was deleted, inserted or reordered)"},
      {"RecordsSwapped", [](AuditData& d, VerifyOptions&) { std::swap(d.record_lines[20], d.record_lines[21]); },
       "record at line 21 has index 21 where 20 was expected"},
      {"TailTruncated", [](AuditData& d, VerifyOptions&) { d.record_lines.resize(35); },
       "checkpoint at size 40 covers records missing from the export (truncation: the export has 35)"},
      {"TailTruncatedWithItsCheckpoint",
       [](AuditData& d, VerifyOptions&) {
         d.record_lines.resize(35);
         d.checkpoints.pop_back();
         d.consistency.pop_back();
       },
       "records 25..34 are not covered by any checkpoint"},
      {"ForkAtSameSize",
       [&w](AuditData& d, VerifyOptions&) {
         d = w.forged;
         d.checkpoints.push_back(w.pristine.checkpoints.back());
       },
       "two checkpoints at size 40 have different roots (fork: the log signed two different histories)"},
      {"ForgedTailLacksWitnessQuorum",
       [&w](AuditData& d, VerifyOptions& o) {
         d = w.forged;
         o.witness_keys.push_back(w.keys.witness.verifier());
         o.witness_quorum = 1;
       },
       "newest checkpoint has 0 of 1 required witness cosignatures"},
      {"OldCheckpointReplayedAsNewest",
       [](AuditData& d, VerifyOptions&) {
         AuditData::CheckpointNote replay = CheckpointOfSize(d, 25);
         replay.time_unix_nanos = d.checkpoints.back().time_unix_nanos + 5 * kSecond;
         d.checkpoints.push_back(replay);
       },
       "checkpoint at time 2025-11-26T14:53:19Z has size 25, smaller than an earlier checkpoint's 40 (rollback)"},
      {"CheckpointByUnknownKey",
       [&w](AuditData& d, VerifyOptions&) {
         CheckpointOfSize(d, 25).note = SignCheckpoint(w.keys.stranger, 25, RootOfSize(d, 25));
       },
       "checkpoint at size 25: signature: no known key signed it"},
      {"CheckpointTextChanged",
       [](AuditData& d, VerifyOptions&) { Replace(CheckpointOfSize(d, 25).note, "\n25\n", "\n26\n"); },
       "checkpoint at size 25: signature: signature by"},
      {"CheckpointOfAnotherOrigin",
       [&w](AuditData& d, VerifyOptions&) {
         CheckpointOfSize(d, 10).note = SignCheckpoint(w.keys.log, 10, RootOfSize(d, 10), "audit.example/t2/v1");
       },
       "checkpoint at size 10: origin \"audit.example/t2/v1\" is not the export's \"audit.example/t1/v1\""},
      {"HeartbeatGap",
       [](AuditData& d, VerifyOptions&) {
         for (size_t k = 0; k < d.checkpoints.size(); ++k) {
           d.checkpoints[k].time_unix_nanos = kT0 + static_cast<int64_t>(k) * 600 * kSecond;
         }
       },
       "heartbeat gap: no checkpoint between 2025-11-26T14:52:34Z and 2025-11-26T15:02:34Z (more than 2 x 60s): "
       "the log may have stalled or been truncated"},
      {"BadConsistencyProof", [](AuditData& d, VerifyOptions&) { d.consistency[0].proof[0][0] ^= 1; },
       "consistency proof 10 -> 25: root mismatch"},
      {"MissingConsistencyProof", [](AuditData& d, VerifyOptions&) { d.consistency.pop_back(); },
       "consistency proof 25 -> 40: missing from the export"},
      {"PayloadChanged", [](AuditData& d, VerifyOptions&) { Replace(d.payloads[2].payload, "alice", "bob"); },
       "record 9: payload does not match its commitment (changed payload)"},
      {"PayloadDeletedWithoutTombstone", [](AuditData& d, VerifyOptions&) { d.payloads.erase(d.payloads.begin() + 1); },
       "record 6: payload missing and no erasure tombstone covers it"},
      {"PayloadForRecordWithoutCommitment",
       [](AuditData& d, VerifyOptions&) {
         d.payloads.push_back({1, d.payloads[0].salt_hex, "x"});
       },
       "payload entry for record 1: the record has no payload commitment"},
      {"BadInclusionProof", [](AuditData& d, VerifyOptions&) { d.selected[1].proof[0][31] ^= 0x80; },
       "selected record 33: inclusion proof: root mismatch"},
      {"FileChangedBehindTheManifest", [](AuditData&, VerifyOptions&) {},
       "file records.csv: SHA-256 does not match the manifest",
       [](const std::string& dir) { std::ofstream(dir + "/" + kCsvFile, std::ios::app) << "40,forged\n"; }},
  };
}

class VerifyTamperTest : public VerifyDirTest, public testing::WithParamInterface<TamperCase> {};

TEST_P(VerifyTamperTest, IsDetected) {
  const TamperCase& c = GetParam();
  AuditData data = TheWorld().pristine;
  VerifyOptions options = LogKeyOnly();
  c.tamper(data, options);
  WriteExport(dir_, data, TheWorld().keys);
  if (c.after_write) c.after_write(dir_);
  Result<VerifyReport> report = VerifyExport(dir_, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_THAT(report->first_error, HasSubstr(c.want));
  // The in-memory check finds the same first error (bar the manifest's).
  if (!c.after_write) {
    EXPECT_EQ(VerifyAuditData(data, options).first_error, report->first_error);
  }
}

INSTANTIATE_TEST_SUITE_P(Verify, VerifyTamperTest, testing::ValuesIn(TamperCases()),
                         [](const testing::TestParamInfo<TamperCase>& p) { return p.param.name; });

// A long chain verified by several threads reports exactly the first bad
// record that one thread reports, wherever the chunk boundaries fall.
std::vector<std::string> LongChain(uint64_t n) {
  std::vector<std::string> lines;
  for (uint64_t i = 0; i < n; ++i) {
    AuditRecord r;
    r.index = i;
    r.time_unix_nanos = kT0 + static_cast<int64_t>(i);
    r.kind = "access";
    r.actor = "node:a";
    r.action = "read";
    r.object = "dataset:imagenet";
    r.outcome = "allow";
    r.prev = i == 0 ? GenesisPrev() : HexEncode(LeafHash(lines.back()));
    lines.push_back(EncodeRecord(r));
  }
  return lines;
}

TEST(VerifyThreadsTest, FirstErrorIsTheSameForAnyNumberOfThreads) {
  const std::vector<std::string> chain = LongChain(40'000);  // 4 threads: boundaries at 10000, 20000, 30000
  struct Case {
    const char* name;
    std::function<void(std::vector<std::string>&)> tamper;
    std::string want;
  } cases[] = {
      {"LastOfAChunk", [](auto& l) { Replace(l[9'999], "node:a", "node:b"); },
       "record 10000: prev hash does not match record 9999 (broken chain)"},
      {"FirstOfAChunk", [](auto& l) { Replace(l[10'000], "node:a", "node:b"); },
       "record 10001: prev hash does not match record 10000 (broken chain)"},
      {"DeletedAtABoundary", [](auto& l) { l.erase(l.begin() + 20'000); },
       "has index 20001 where 20000 was expected"},
      {"TwoChunksBad",
       [](auto& l) {
         Replace(l[35'000], "node:a", "node:b");
         Replace(l[15'000], "read", "reed");
       },
       "record 15001: prev hash does not match record 15000"},
      {"UnparseableFirstOfAChunk", [](auto& l) { l[30'000] = "{"; }, "record 30000: "},
  };
  for (const Case& c : cases) {
    AuditData d;
    d.origin = kOrigin;
    d.heartbeat_seconds = 60;
    d.record_lines = chain;
    c.tamper(d.record_lines);
    VerifyOptions one = LogKeyOnly(), four = LogKeyOnly();
    one.threads = 1;
    four.threads = 4;
    std::string single = VerifyAuditData(d, one).first_error;
    EXPECT_THAT(single, HasSubstr(c.want)) << c.name;
    EXPECT_EQ(VerifyAuditData(d, four).first_error, single) << c.name;
  }
  // Untampered, the records pass with any number of threads and the next
  // check (no checkpoint covers them) is what fails.
  AuditData d;
  d.origin = kOrigin;
  d.heartbeat_seconds = 60;
  d.record_lines = chain;
  for (unsigned t : {1u, 3u, 4u, 7u}) {
    VerifyOptions o = LogKeyOnly();
    o.threads = t;
    VerifyReport r = VerifyAuditData(d, o);
    EXPECT_EQ(r.records, chain.size()) << t;
    EXPECT_THAT(r.first_error, Not(HasSubstr("record "))) << t << ": " << r.first_error;
  }
}

// Roots are rebuilt on two threads split at the largest power of two below
// N (32768 here): checkpoints before, at and after it verify with any number
// of threads, and a record changed after the split fails the same way.
TEST(VerifyThreadsTest, CheckpointRootsAroundTheSplitPoint) {
  const std::vector<std::string> chain = LongChain(40'000);
  MemoryNodeStore store;
  MerkleTree tree(store);
  for (const std::string& line : chain) ASSERT_TRUE(tree.Append(LeafHash(line)).ok());
  AuditData d;
  d.origin = kOrigin;
  d.heartbeat_seconds = 0;
  d.record_lines = chain;
  int64_t t = kT0;
  uint64_t previous = 0;
  for (uint64_t size : {0ull, 1ull, 32'767ull, 32'768ull, 32'769ull, 39'999ull, 40'000ull}) {
    d.checkpoints.push_back({size, t++, SignCheckpoint(TheWorld().keys.log, size, Must(tree.RootAt(size)))});
    if (previous > 0) d.consistency.push_back({previous, size, Must(tree.ConsistencyProof(previous, size))});
    previous = size;
  }
  for (unsigned threads : {1u, 2u, 4u}) {
    VerifyOptions o = LogKeyOnly();
    o.threads = threads;
    VerifyReport r = VerifyAuditData(d, o);
    EXPECT_TRUE(r.ok()) << threads << ": " << r.first_error;
  }
  // Re-chained after a change at 35000, so only the roots can tell.
  AuditData changed = d;
  for (uint64_t i = 35'000; i < changed.record_lines.size(); ++i) {
    AuditRecord r = Must(ParseRecord(changed.record_lines[i]));
    if (i == 35'000) r.action = "write";
    r.prev = HexEncode(LeafHash(changed.record_lines[i - 1]));
    changed.record_lines[i] = EncodeRecord(r);
  }
  for (unsigned threads : {1u, 2u}) {
    VerifyOptions o = LogKeyOnly();
    o.threads = threads;
    EXPECT_THAT(VerifyAuditData(changed, o).first_error,
                HasSubstr("checkpoint at size 39999: root mismatch: records 0..39998 were changed after signing"))
        << threads;
  }
}

TEST(VerifyRfc3339Test, Formats) {
  EXPECT_EQ(FormatRfc3339(kT0), "2025-11-26T14:52:34Z");
  EXPECT_EQ(FormatRfc3339(kT0 + 500'000'000), "2025-11-26T14:52:34.5Z");
  EXPECT_EQ(FormatRfc3339(kT0 + 1), "2025-11-26T14:52:34.000000001Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999999999Z");
}

}  // namespace
}  // namespace custos::audit

namespace custos::audit {
namespace {

// Downtime after the collector's own signed stop record is not a stall; the
// same silence after any other record is.
TEST(VerifyHeartbeat, ASilenceAfterARecordedStopIsDowntimeNotAGap) {
  const Keys& keys = TheWorld().keys;
  AuditData stopped = Build(keys, "node:a", /*cosign=*/true, /*stop_at=*/24);
  for (auto& c : stopped.checkpoints) {
    if (c.size == 40) c.time_unix_nanos += 3 * 3600 * kSecond;  // restarted three hours later
  }
  VerifyReport r = VerifyAuditData(stopped, LogKeyOnly());
  EXPECT_TRUE(r.ok()) << r.first_error;
  EXPECT_EQ(r.recorded_stops, 1u);

  AuditData stalled = Build(keys);
  for (auto& c : stalled.checkpoints) {
    if (c.size == 40) c.time_unix_nanos += 3 * 3600 * kSecond;
  }
  EXPECT_THAT(VerifyAuditData(stalled, LogKeyOnly()).first_error, HasSubstr("heartbeat gap"));
}

}  // namespace
}  // namespace custos::audit
