// The audit log over a real SQLite file: append, checkpoints, reopen, export,
// and tampering done directly on the database, as an insider would.
#include "collector/audit/audit_log.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "collector/audit/export_format.h"
#include "collector/audit/note.h"
#include "collector/audit/receipt.h"
#include "collector/audit/witness.h"
#include "common/files.h"

namespace custos::audit {
namespace {

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/custos_audit_XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto db = store::Db::Open(dir_ + "/custos.db", /*create=*/true);
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    auto key = SignerKey::Generate("custos.audit/test", KeyType::kEd25519);
    ASSERT_TRUE(key.ok());
    key_ = std::make_unique<SignerKey>(*key);
    Reopen();
  }

  void Reopen() {
    log_.reset();
    auto log = AuditLog::Open(*db_, *key_, {.origin = "custos.audit/test", .heartbeat_nanos = 60 * kNanosPerSecond},
                              clock_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
  }

  // n access entries with personal payloads, then a checkpoint a second later.
  void AppendAccess(int n) {
    std::vector<AuditEntry> entries;
    for (int i = 0; i < n; ++i) {
      entries.push_back({.time_unix_nanos = clock_.NowUnixNanos(), .kind = "access", .actor = "node:n1",
                         .action = "read", .object = "dataset:imagenet", .outcome = "allow",
                         .details = {{"bytes", std::to_string(4096 * i)}}, .subject = "user:alice",
                         .personal = "{\"object\":\"/data/imagenet/" + std::to_string(i) + ".jpg\"}"});
    }
    ASSERT_TRUE(log_->Append(entries).ok());
    clock_.Advance(kNanosPerSecond);
    ASSERT_TRUE(log_->Tick().ok());
  }

  VerifyReport VerifyDb() {
    auto data = LoadAuditData(*db_);
    EXPECT_TRUE(data.ok()) << data.status().ToString();
    return VerifyAuditData(*data, {.log_keys = {key_->verifier()}});
  }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<store::Db> db_;
  std::unique_ptr<SignerKey> key_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditLogTest, AppendsCheckpointsAndVerifies) {
  ASSERT_TRUE(log_->Tick().ok());  // the first checkpoint: the empty log
  AppendAccess(10);
  AppendAccess(5);
  EXPECT_EQ(log_->size(), 15u);
  VerifyReport r = VerifyDb();
  EXPECT_TRUE(r.ok()) << r.first_error;
  EXPECT_EQ(r.records, 15u);
  EXPECT_EQ(r.checkpoints, 3u);
  EXPECT_EQ(r.payloads_checked, 15u);
}

TEST_F(AuditLogTest, ReopenContinuesTheChainAndTree) {
  AppendAccess(7);
  Reopen();
  EXPECT_EQ(log_->size(), 7u);
  AppendAccess(4);
  VerifyReport r = VerifyDb();
  EXPECT_TRUE(r.ok()) << r.first_error;
  EXPECT_EQ(r.records, 11u);
}

TEST_F(AuditLogTest, HeartbeatWhileIdle) {
  AppendAccess(2);
  clock_.Advance(30 * kNanosPerSecond);
  ASSERT_TRUE(log_->Tick().ok());  // nothing new, heartbeat not due: no checkpoint
  clock_.Advance(31 * kNanosPerSecond);
  ASSERT_TRUE(log_->Tick().ok());  // heartbeat due
  auto data = LoadAuditData(*db_);
  ASSERT_TRUE(data.ok());
  ASSERT_EQ(data->checkpoints.size(), 2u);
  EXPECT_EQ(data->checkpoints[1].size, 2u);
}

// Rewrites every stored chunk as an insider with write access and the codec
// would: `edit(first, lines)` changes a chunk's lines in place.
void EditRecords(store::Db& db, const std::function<void(uint64_t, std::vector<std::string>&)>& edit) {
  auto chunks = db.Prepare("SELECT first, lines FROM audit_chunks ORDER BY first");
  ASSERT_TRUE(chunks.ok());
  std::vector<std::pair<int64_t, std::vector<std::string>>> all;
  while (*(*chunks)->Step()) all.emplace_back((*chunks)->Int(0), *DecodeLines((*chunks)->Blob(1)));
  for (auto& [first, lines] : all) {
    edit(static_cast<uint64_t>(first), lines);
    auto update = db.Prepare("UPDATE audit_chunks SET lines = ?2, count = ?3 WHERE first = ?1");
    (*update)->Bind(1, first);
    const std::string blob = EncodeLines(lines);
    (*update)->BindBlob(2, blob);
    (*update)->Bind(3, static_cast<int64_t>(lines.size()));
    ASSERT_TRUE((*update)->Exec().ok());
  }
}

void EditPayloads(store::Db& db, const std::function<void(std::vector<StoredPayload>&)>& edit) {
  auto chunks = db.Prepare("SELECT first, entries FROM audit_payload_chunks ORDER BY first");
  ASSERT_TRUE(chunks.ok());
  std::vector<std::pair<int64_t, std::vector<StoredPayload>>> all;
  while (*(*chunks)->Step()) all.emplace_back((*chunks)->Int(0), *DecodePayloads((*chunks)->Blob(1)));
  for (auto& [first, payloads] : all) {
    edit(payloads);
    auto update = db.Prepare("UPDATE audit_payload_chunks SET entries = ?2 WHERE first = ?1");
    (*update)->Bind(1, first);
    const std::string blob = EncodePayloads(payloads);
    (*update)->BindBlob(2, blob);
    ASSERT_TRUE((*update)->Exec().ok());
  }
}

TEST_F(AuditLogTest, TamperingWithTheDatabaseIsDetected) {
  using Lines = std::vector<std::string>;
  using Payloads = std::vector<StoredPayload>;
  struct Case {
    const char* name;
    std::function<void(store::Db&)> tamper;
    const char* expect;  // a part of the first error
  } cases[] = {
      {"one byte of a record",
       [](store::Db& db) {
         EditRecords(db, [](uint64_t first, Lines& lines) {
           std::string& l = lines[3 - first];
           l.replace(l.find("\"allow\""), 7, "\"allew\"");
         });
       },
       "record 4"},
      {"record deleted in the middle",
       [](store::Db& db) { EditRecords(db, [](uint64_t first, Lines& lines) { lines.erase(lines.begin() + (5 - first)); }); },
       "index 6 where 5 was expected"},
      {"newest records deleted after a checkpoint",
       [](store::Db& db) { EditRecords(db, [](uint64_t first, Lines& lines) { lines.resize(9 - first); }); },
       "truncation"},
      {"two records swapped",
       [](store::Db& db) {
         EditRecords(db, [](uint64_t first, Lines& lines) { std::swap(lines[4 - first], lines[7 - first]); });
       },
       "index 7 where 4 was expected"},
      {"payload changed",
       [](store::Db& db) { EditPayloads(db, [](Payloads& p) { p[2].payload = "{\"object\":\"/data/other\"}"; }); },
       "record 2: payload does not match"},
      {"payload deleted without a tombstone",
       [](store::Db& db) { EditPayloads(db, [](Payloads& p) { p.erase(p.begin() + 6); }); },
       "record 6: payload missing and no erasure tombstone"},
      {"a chunk that is not zstd",
       [](store::Db& db) { ASSERT_TRUE(db.Exec("UPDATE audit_chunks SET lines = x'00112233'").ok()); },
       "audit chunk at record 0: not a zstd frame"},
  };
  for (const Case& c : cases) {
    SetUp();
    AppendAccess(12);
    ASSERT_TRUE(VerifyDb().ok()) << c.name;
    c.tamper(*db_);
    auto data = LoadAuditData(*db_);
    std::string error = data.ok() ? VerifyAuditData(*data, {.log_keys = {key_->verifier()}}).first_error
                                  : data.status().ToString();
    EXPECT_NE(error.find(c.expect), std::string::npos) << c.name << ": " << error;
  }
}

TEST_F(AuditLogTest, ExportVerifiesOfflineAndDetectsAnEditedFile) {
  AppendAccess(20);
  ASSERT_TRUE(log_->Append({{.kind = "gap", .actor = "node:n1", .action = "report_loss", .outcome = "SPOOL_FULL"}}).ok());
  clock_.Advance(kNanosPerSecond);
  ASSERT_TRUE(log_->Tick().ok());
  std::string out = dir_ + "/export";
  ASSERT_TRUE(ExportAudit(*db_, out, {.kind = "gap"}).ok());
  auto report = VerifyExport(out, {.log_keys = {key_->verifier()}});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok()) << report->first_error;
  EXPECT_EQ(report->records, 21u);
  EXPECT_EQ(report->selected_proofs, 1u);  // the one gap record
  auto csv = ReadFile(out + "/" + kCsvFile);
  ASSERT_TRUE(csv.ok());
  EXPECT_NE(csv->find(",gap,node:n1,report_loss,,SPOOL_FULL"), std::string::npos) << *csv;

  // An auditor's copy with one record edited (and the manifest left alone).
  auto records = ReadFile(out + "/" + kRecordsFile);
  std::string edited = *records;
  edited.replace(edited.find("\"allow\""), 7, "\"deny!\"");
  ASSERT_TRUE(WriteFileAtomic(out + "/" + kRecordsFile, edited).ok());
  report = VerifyExport(out, {.log_keys = {key_->verifier()}});
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok());

  // Signed by someone else: no known key.
  auto stranger = SignerKey::Generate("custos.audit/test", KeyType::kEd25519);
  ASSERT_TRUE(WriteFileAtomic(out + "/" + kRecordsFile, *records).ok());
  report = VerifyExport(out, {.log_keys = {stranger->verifier()}});
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok());
  EXPECT_NE(report->first_error.find("signature"), std::string::npos) << report->first_error;
}

TEST_F(AuditLogTest, ErasureKeepsTheLogVerifiableAndForgetsThePayload) {
  AppendAccess(6);
  ASSERT_TRUE(log_->Append({{.kind = "access", .actor = "node:n1", .action = "read", .object = "dataset:x",
                             .outcome = "allow", .subject = "user:bob", .personal = "{\"object\":\"/home/bob\"}"}})
                  .ok());
  auto erased = log_->Erase("user:alice", "operator:dpo");
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_EQ(*erased, 6u);
  clock_.Advance(kNanosPerSecond);
  ASSERT_TRUE(log_->Tick().ok());
  VerifyReport r = VerifyDb();
  EXPECT_TRUE(r.ok()) << r.first_error;
  EXPECT_EQ(r.payloads_erased, 6u);
  EXPECT_EQ(r.payloads_checked, 1u);  // bob's is still there
  auto data = LoadAuditData(*db_);
  for (const auto& p : data->payloads) EXPECT_EQ(p.payload.find("imagenet"), std::string::npos);
  // The tombstone names records, never the subject.
  const std::string& tombstone = data->record_lines.back();
  EXPECT_NE(tombstone.find("\"indexes\":\"0,1,2,3,4,5\""), std::string::npos) << tombstone;
  EXPECT_EQ(tombstone.find("alice"), std::string::npos) << tombstone;
  // A second request finds nothing, and is on record too.
  auto again = log_->Erase("user:alice", "operator:dpo");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);
  EXPECT_EQ(log_->size(), 9u);
}

TEST_F(AuditLogTest, AnErasureWhoseOtherCopiesFailIsUndoneWhole) {
  AppendAccess(3);
  const uint64_t size = log_->size();
  auto failed = log_->Erase("user:alice", "operator:dpo", [] {
    return Result<std::map<std::string, std::string>>(Internal("store copies: disk I/O error"));
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(log_->size(), size);  // no tombstone
  auto erased = log_->Erase("user:alice", "operator:dpo", [] {
    return Result<std::map<std::string, std::string>>(std::map<std::string, std::string>{{"store_alerts", "2"}});
  });
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_EQ(*erased, 3u);  // the payloads were still there
  auto data = LoadAuditData(*db_);
  const std::string& tombstone = data->record_lines.back();
  EXPECT_NE(tombstone.find("\"store_alerts\":\"2\""), std::string::npos) << tombstone;
  clock_.Advance(kNanosPerSecond);
  ASSERT_TRUE(log_->Tick().ok());
  VerifyReport r = VerifyDb();
  EXPECT_TRUE(r.ok()) << r.first_error;
}

// One append of 800 records (chunks at 0, 256, 512, 768): carol's payloads
// sit in the first and last chunk only, dave's in every one.
std::vector<AuditEntry> CarolAndDave(int64_t time) {
  std::vector<AuditEntry> entries;
  for (int i = 0; i < 800; ++i) {
    const bool carol = i < 10 || i >= 790;
    entries.push_back({.time_unix_nanos = time, .kind = "access", .actor = "node:n1", .action = "read",
                       .object = "dataset:x", .outcome = "allow", .subject = carol ? "user:carol" : "user:dave",
                       .personal = "{\"i\":" + std::to_string(i) + "}"});
  }
  return entries;
}

TEST_F(AuditLogTest, ErasureFindsASubjectsPayloadsAcrossTheChunksOfAnAppend) {
  ASSERT_TRUE(log_->Append(CarolAndDave(clock_.NowUnixNanos())).ok());
  auto rows = db_->Prepare("SELECT count(*) FROM audit_subjects");
  ASSERT_TRUE(*(*rows)->Step());
  EXPECT_EQ((*rows)->Int(0), 2);  // a row per subject of the append, not per chunk
  auto erased = log_->Erase("user:carol", "operator:dpo");
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_EQ(*erased, 20u);
  clock_.Advance(kNanosPerSecond);
  ASSERT_TRUE(log_->Tick().ok());
  VerifyReport r = VerifyDb();
  EXPECT_TRUE(r.ok()) << r.first_error;
  EXPECT_EQ(r.payloads_erased, 20u);
  EXPECT_EQ(r.payloads_checked, 780u);
}

TEST_F(AuditLogTest, AnOlderSubjectIndexWithARowPerChunkIsUpgradedAndStillErases) {
  ASSERT_TRUE(log_->Append(CarolAndDave(clock_.NowUnixNanos())).ok());
  // The index as collectors wrote it before ranges: a row per chunk and
  // subject, and no `last` column.
  log_.reset();
  ASSERT_TRUE(db_->Exec("DROP TABLE audit_subjects").ok());
  ASSERT_TRUE(db_->Exec("CREATE TABLE audit_subjects(subject BLOB NOT NULL, first INTEGER NOT NULL, "
                        "PRIMARY KEY(subject, first)) WITHOUT ROWID")
                  .ok());
  auto chunks = db_->Prepare("SELECT first, entries FROM audit_payload_chunks");
  auto insert = db_->Prepare("INSERT OR IGNORE INTO audit_subjects VALUES(?1, ?2)");
  ASSERT_TRUE(chunks.ok() && insert.ok());
  while (*(*chunks)->Step()) {
    const std::string blob = (*chunks)->Blob(1);
    auto payloads = DecodePayloads(blob);
    ASSERT_TRUE(payloads.ok());
    for (const StoredPayload& p : *payloads) {
      (*insert)->BindBlob(1, p.subject_hash);
      (*insert)->Bind(2, (*chunks)->Int(0));
      ASSERT_TRUE((*insert)->Exec().ok());
    }
  }
  // A read-only reader (a verifier) reads it as it is.
  auto reader = store::Db::Open(dir_ + "/custos.db", false, /*read_only=*/true);
  ASSERT_TRUE(reader.ok());
  auto data = LoadAuditData(**reader);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->payloads.size(), 800u);
  Reopen();  // adds `last`
  auto erased = log_->Erase("user:carol", "operator:dpo");
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_EQ(*erased, 20u);
  ASSERT_TRUE(log_->Append(CarolAndDave(clock_.NowUnixNanos())).ok());  // new rows beside the old
  auto again = log_->Erase("user:dave", "operator:dpo");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, 780u + 780u);
  clock_.Advance(kNanosPerSecond);
  ASSERT_TRUE(log_->Tick().ok());
  VerifyReport r = VerifyDb();
  EXPECT_TRUE(r.ok()) << r.first_error;
  EXPECT_EQ(r.payloads_checked, 20u);  // the second append's carol
}

TEST_F(AuditLogTest, ReceiptsVerifyOnTheirOwnAndTamperingFails) {
  AppendAccess(30);
  auto receipt = MakeReceipt(*db_, 17);
  ASSERT_TRUE(receipt.ok()) << receipt.status().ToString();
  std::vector<VerifierKey> keys = {key_->verifier()};
  EXPECT_TRUE(VerifyReceipt(*receipt, keys).ok());

  nlohmann::json changed = *receipt;
  std::string line = changed["record"];
  line.replace(line.find("\"allow\""), 7, "\"deny!\"");
  changed["record"] = line;
  EXPECT_FALSE(VerifyReceipt(changed, keys).ok());

  nlohmann::json moved = *receipt;
  moved["index"] = 16;
  EXPECT_FALSE(VerifyReceipt(moved, keys).ok());

  auto stranger = SignerKey::Generate("custos.audit/test", KeyType::kEd25519);
  std::vector<VerifierKey> wrong = {stranger->verifier()};
  EXPECT_FALSE(VerifyReceipt(*receipt, wrong).ok());

  // Not yet covered by a checkpoint: a clear "try again".
  ASSERT_TRUE(log_->Append({{.kind = "lifecycle", .actor = "collector", .action = "stop", .outcome = "ok"}}).ok());
  EXPECT_EQ(MakeReceipt(*db_, 30).status().code(), StatusCode::kUnavailable);
}

TEST_F(AuditLogTest, ManyChunksAndTreeLevelsGiveWorkingProofs) {
  AppendAccess(700);  // chunks of 256, 256 and 188 records
  Reopen();           // the frontier below level 8 is recomputed from records
  AppendAccess(300);
  ASSERT_TRUE(log_->Tick(true).ok());
  std::vector<VerifierKey> keys = {key_->verifier()};
  for (uint64_t i : {0u, 1u, 255u, 256u, 511u, 699u, 700u, 999u}) {
    auto receipt = MakeReceipt(*db_, i);
    ASSERT_TRUE(receipt.ok()) << i << ": " << receipt.status().ToString();
    EXPECT_TRUE(VerifyReceipt(*receipt, keys).ok()) << i;
  }
  VerifyReport r = VerifyDb();  // includes consistency proofs 700 -> 1000
  EXPECT_TRUE(r.ok()) << r.first_error;
  EXPECT_EQ(r.records, 1000u);
  EXPECT_EQ(r.payloads_checked, 1000u);
  auto chunks = db_->Prepare("SELECT count(*), sum(count) FROM audit_chunks");
  ASSERT_TRUE(*(*chunks)->Step());
  EXPECT_EQ((*chunks)->Int(0), 5);  // 256 + 256 + 188, then 256 + 44
  EXPECT_EQ((*chunks)->Int(1), 1000);
  auto low_nodes = db_->Prepare("SELECT count(*) FROM audit_nodes WHERE level < 8");
  ASSERT_TRUE(*(*low_nodes)->Step());
  EXPECT_EQ((*low_nodes)->Int(0), 0);
}

TEST_F(AuditLogTest, AnOlderRowPerRecordStoreIsConvertedOnOpen) {
  AppendAccess(300);
  // Rebuild the layout that collectors wrote before chunks: a row per record
  // and per payload (subject as hex), and tree nodes from level 1 up.
  auto data = LoadAuditData(*db_);
  ASSERT_TRUE(data.ok());
  ASSERT_TRUE(db_->Exec("CREATE TABLE audit_records(idx INTEGER PRIMARY KEY, time INTEGER NOT NULL, kind TEXT NOT NULL,"
                        " line TEXT NOT NULL);"
                        "CREATE TABLE audit_payloads(idx INTEGER PRIMARY KEY, subject TEXT NOT NULL, salt BLOB NOT NULL,"
                        " payload TEXT NOT NULL);"
                        "CREATE INDEX audit_payloads_subject ON audit_payloads(subject);"
                        "INSERT INTO audit_nodes VALUES(1, 0, zeroblob(32));")
                  .ok());
  auto insert = db_->Prepare("INSERT INTO audit_records VALUES(?1, 0, 'access', ?2)");
  for (size_t i = 0; i < data->record_lines.size(); ++i) {
    (*insert)->Bind(1, static_cast<int64_t>(i));
    (*insert)->Bind(2, data->record_lines[i]);
    ASSERT_TRUE((*insert)->Exec().ok());
  }
  const std::string alice = HexEncode(Sha256({AsBytes("user:alice")}));
  auto insert_payload = db_->Prepare("INSERT INTO audit_payloads VALUES(?1, ?2, ?3, ?4)");
  for (const auto& p : data->payloads) {
    (*insert_payload)->Bind(1, static_cast<int64_t>(p.index));
    (*insert_payload)->Bind(2, alice);
    const Hash salt = *HashFromHex(p.salt_hex);
    (*insert_payload)->BindBlob(3, std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()));
    (*insert_payload)->Bind(4, p.payload);
    ASSERT_TRUE((*insert_payload)->Exec().ok());
  }
  ASSERT_TRUE(db_->Exec("DROP TABLE audit_chunks; DROP TABLE audit_payload_chunks; DROP TABLE audit_subjects").ok());
  EXPECT_EQ(LoadAuditData(*db_).status().code(), StatusCode::kFailedPrecondition);  // "start the collector once"

  Reopen();
  EXPECT_EQ(log_->size(), 300u);
  AppendAccess(20);
  VerifyReport r = VerifyDb();
  EXPECT_TRUE(r.ok()) << r.first_error;
  EXPECT_EQ(r.records, 320u);
  EXPECT_EQ(r.payloads_checked, 320u);
  auto erased = log_->Erase("user:alice", "operator:dpo");  // the subject index was converted too
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(*erased, 320u);
  auto old = db_->Prepare("SELECT count(*) FROM sqlite_master WHERE name IN ('audit_records', 'audit_payloads')");
  ASSERT_TRUE(*(*old)->Step());
  EXPECT_EQ((*old)->Int(0), 0);
}

TEST_F(AuditLogTest, KeyRotationIsFollowedFromTheFirstKey) {
  AppendAccess(5);
  auto new_key = SignerKey::Generate("custos.audit/test", KeyType::kEd25519);
  ASSERT_TRUE(new_key.ok());
  // Without the old key, the log refuses to continue under a new one.
  auto refused = AuditLog::Open(*db_, *new_key, {.origin = "custos.audit/test"}, clock_);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("previous_key"), std::string::npos) << refused.status().ToString();

  log_.reset();
  auto rotated = AuditLog::Open(*db_, *new_key, {.origin = "custos.audit/test", .previous_key = *key_}, clock_);
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  log_ = std::move(*rotated);
  AppendAccess(5);

  auto data = LoadAuditData(*db_);
  ASSERT_TRUE(data.ok());
  // An auditor who holds only the first key follows the chain to the new one.
  VerifyReport r = VerifyAuditData(*data, {.log_keys = {key_->verifier()}});
  EXPECT_TRUE(r.ok()) << r.first_error;
  EXPECT_EQ(r.records, 11u);  // 5 + the rotation record + 5
  // The new key alone cannot vouch for the history before it.
  VerifyReport only_new = VerifyAuditData(*data, {.log_keys = {new_key->verifier()}});
  EXPECT_FALSE(only_new.ok());
  // Nor may the old key sign after the rotation (a stolen old key is useless).
  AuditData tampered = *data;
  std::string text = tampered.checkpoints.back().note.substr(0, tampered.checkpoints.back().note.find("\n\n") + 1);
  auto resigned = SignNote(text, *key_);
  ASSERT_TRUE(resigned.ok());
  tampered.checkpoints.back().note = *resigned;
  VerifyReport stale = VerifyAuditData(tampered, {.log_keys = {key_->verifier()}});
  EXPECT_FALSE(stale.ok());
  EXPECT_NE(stale.first_error.find("no known key"), std::string::npos) << stale.first_error;
}

TEST_F(AuditLogTest, WitnessCosignsGrowthAndRefusesRollbackAndFork) {
  auto witness = SignerKey::Generate("witness.compliance", KeyType::kCosignatureV1);
  ASSERT_TRUE(witness.ok());
  std::string state = dir_ + "/witness.json";
  VerifyOptions with_quorum{.log_keys = {key_->verifier()}, .witness_keys = {witness->verifier()}, .witness_quorum = 1};

  AppendAccess(10);
  ASSERT_TRUE(ExportAudit(*db_, dir_ + "/e1", {}).ok());
  EXPECT_FALSE(VerifyExport(dir_ + "/e1", with_quorum)->ok());  // not cosigned yet
  auto w1 = WitnessExport(dir_ + "/e1", key_->verifier(), *witness, state, 1'764'000'000);
  ASSERT_TRUE(w1.ok()) << w1.status().ToString();
  EXPECT_TRUE(w1->cosigned);
  auto r1 = VerifyExport(dir_ + "/e1", with_quorum);
  EXPECT_TRUE(r1->ok()) << r1->first_error;

  AppendAccess(10);
  ASSERT_TRUE(ExportAudit(*db_, dir_ + "/e2", {}).ok());
  auto w2 = WitnessExport(dir_ + "/e2", key_->verifier(), *witness, state, 1'764'000'100);
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  EXPECT_EQ(w2->old_size, 10u);
  EXPECT_EQ(w2->new_size, 20u);
  EXPECT_TRUE(VerifyExport(dir_ + "/e2", with_quorum)->ok());

  // Rollback: the older export offered again.
  auto rollback = WitnessExport(dir_ + "/e1", key_->verifier(), *witness, state, 1'764'000'200);
  ASSERT_FALSE(rollback.ok());
  EXPECT_NE(rollback.status().message().find("rollback"), std::string::npos) << rollback.status().ToString();

  // Fork: the operator rewrites history (other records) and re-signs it with
  // the log's own key; the witness, which saw size 20, refuses.
  auto forked_db = store::Db::Open(dir_ + "/forked.db", true);
  ASSERT_TRUE(forked_db.ok());
  FakeClock fork_clock;
  auto forked = AuditLog::Open(**forked_db, *key_, {.origin = "custos.audit/test"}, fork_clock);
  ASSERT_TRUE(forked.ok());
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE((*forked)->Append({{.kind = "access", .actor = "node:n1", .action = "read", .object = "dataset:x",
                                    .outcome = i == 12 ? "deny" : "allow"}}).ok());
    if (i == 19) {
      fork_clock.Advance(kNanosPerSecond);
      ASSERT_TRUE((*forked)->Tick().ok());
    }
  }
  fork_clock.Advance(kNanosPerSecond);
  ASSERT_TRUE((*forked)->Tick().ok());
  ASSERT_TRUE(ExportAudit(**forked_db, dir_ + "/fork", {}).ok());
  ASSERT_TRUE(VerifyExport(dir_ + "/fork", {.log_keys = {key_->verifier()}})->ok());  // self-consistent...
  auto fork = WitnessExport(dir_ + "/fork", key_->verifier(), *witness, state, 1'764'000'300);
  ASSERT_FALSE(fork.ok());  // ...but not an extension of what the witness saw
  EXPECT_NE(fork.status().message().find("fork"), std::string::npos) << fork.status().ToString();
  EXPECT_FALSE(VerifyExport(dir_ + "/fork", with_quorum)->ok());
}

}  // namespace
}  // namespace custos::audit
