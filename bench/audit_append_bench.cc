// Audit log append rate: durable appends (hash chain + Merkle tree nodes +
// signed checkpoints, SQLite WAL synchronous=FULL, the WAL checkpointed from
// its own thread as the collector's store does) of realistic access-event
// records, verified afterwards. In the same run, the physical limits for the
// same record bytes: raw SHA-256 and raw batched SQLite inserts. Then
// inclusion proof size and time at 10^6 (and, with a second argument, 10^7)
// leaves.
//
//   audit_append_bench [records=500000] [proof_leaves=1000000]
//
// Prints one summary line; see bench/README.md.
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "collector/audit/audit_log.h"
#include "collector/audit/hash.h"
#include "collector/audit/merkle_tree.h"
#include "collector/audit/receipt.h"
#include "collector/audit/verify.h"
#include "collector/store/sqlite_db.h"
#include "collector/store/wal_checkpointer.h"

namespace {

using SteadyClock = std::chrono::steady_clock;
double Secs(SteadyClock::time_point a) { return std::chrono::duration<double>(SteadyClock::now() - a).count(); }
double CpuNow() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

custos::audit::AuditEntry Entry(int i) {
  return {.time_unix_nanos = 1'764'000'000'000'000'000 + i,
          .kind = "access",
          .actor = "node:3d1219c7c4c5404aaa1f6d2a48adfda4",
          .action = "ACTION_READ",
          .object = "dataset:imagenet-train",
          .outcome = "OUTCOME_SUCCESS",
          .details = {{"bytes", std::to_string(4096 * (i % 1000))}, {"classification", "internal"},
                      {"count", "1"}, {"home_region", "eu-central-1"}, {"source", "fanotify"}},
          .subject = "uid:" + std::to_string(1000 + i % 50),
          .personal = "{\"object\":\"/data/imagenet/train/n0144" + std::to_string(i % 9973) + ".JPEG\",\"uid\":" +
                      std::to_string(1000 + i % 50) + "}"};
}

}  // namespace

int main(int argc, char** argv) {
  using namespace custos;
  int records = argc > 1 ? std::atoi(argv[1]) : 500'000;
  uint64_t proof_leaves = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1'000'000;
  constexpr int kPerTxn = 5000;
  char tmpl[] = "/tmp/custos_auditbench_XXXXXX";
  std::string dir = mkdtemp(tmpl);

  // 1. custos: durable appends with checkpoints.
  auto db = store::Db::Open(dir + "/audit.db", true);
  (void)(*db)->Exec("PRAGMA synchronous=FULL");
  auto checkpointer = store::WalCheckpointer::Start(**db, {});
  if (!checkpointer.ok()) {
    std::fprintf(stderr, "%s\n", checkpointer.status().ToString().c_str());
    return 1;
  }
  auto key = audit::SignerKey::Generate("custos.audit/bench", audit::KeyType::kEd25519);
  auto log = audit::AuditLog::Open(**db, *key, {.origin = "custos.audit/bench"});
  if (!log.ok()) {
    std::fprintf(stderr, "%s\n", log.status().ToString().c_str());
    return 1;
  }
  std::vector<audit::AuditEntry> batch;
  size_t line_bytes = 0;
  // Only Append and Tick are timed, not building the caller's entries.
  double append_secs = 0, append_cpu = 0;
  for (int i = 0; i < records; i += kPerTxn) {
    batch.clear();
    for (int j = i; j < std::min(records, i + kPerTxn); ++j) batch.push_back(Entry(j));
    auto t0 = SteadyClock::now();
    double c0 = CpuNow();
    if (Status s = (*log)->Append(batch); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    (void)(*log)->Tick(i + kPerTxn >= records);
    append_secs += Secs(t0);
    append_cpu += CpuNow() - c0;
  }
  double append_rate = records / append_secs;
  checkpointer->reset();

  // The audit log's whole file once checkpointed (records, payloads, nodes, checkpoints).
  (void)(*db)->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  struct stat st_db {};
  stat((dir + "/audit.db").c_str(), &st_db);
  const double disk_bytes = static_cast<double>(st_db.st_size);

  // Receipts (record + inclusion proof + checkpoint) from the durable log, as
  // `custosctl audit prove` makes them: nodes below level 8 are recomputed
  // from the records of one chunk.
  std::vector<double> receipt_us;
  for (int i = 0; i < 200; ++i) {
    auto r0 = SteadyClock::now();
    auto receipt = audit::MakeReceipt(**db, static_cast<uint64_t>(i) * 7919 % static_cast<uint64_t>(records));
    receipt_us.push_back(Secs(r0) * 1e6);
    if (!receipt.ok()) {
      std::fprintf(stderr, "receipt: %s\n", receipt.status().ToString().c_str());
      return 1;
    }
  }
  std::sort(receipt_us.begin(), receipt_us.end());

  // The same record bytes, for the raw limits.
  std::vector<std::string> lines;
  {
    // The figure counts only if what was appended verifies.
    auto data = audit::LoadAuditData(**db);
    if (!data.ok()) {
      std::fprintf(stderr, "%s\n", data.status().ToString().c_str());
      return 1;
    }
    audit::VerifyReport report = audit::VerifyAuditData(*data, {.log_keys = {key->verifier()}});
    if (!report.ok() || report.records != static_cast<uint64_t>(records)) {
      std::fprintf(stderr, "the appended log does not verify: %s\n", report.first_error.c_str());
      return 1;
    }
    lines = std::move(data->record_lines);
    for (const auto& l : lines) line_bytes += l.size();
  }
  auto t0 = SteadyClock::now();
  audit::Hash h{};
  for (const std::string& l : lines) h = audit::LeafHash(l);
  double sha_rate = lines.size() / Secs(t0);
  (void)h;

  sqlite3* raw = nullptr;
  sqlite3_open((dir + "/raw.db").c_str(), &raw);
  sqlite3_exec(raw, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE r(idx INTEGER PRIMARY KEY, line TEXT)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(raw, "INSERT INTO r VALUES(?, ?)", -1, &st, nullptr);
  t0 = SteadyClock::now();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i % kPerTxn == 0) sqlite3_exec(raw, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(i));
    sqlite3_bind_text(st, 2, lines[i].data(), static_cast<int>(lines[i].size()), SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_reset(st);
    if (i % kPerTxn == kPerTxn - 1 || i + 1 == lines.size()) sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr);
  }
  double sqlite_rate = lines.size() / Secs(t0);
  sqlite3_finalize(st);
  sqlite3_close(raw);

  // Bytes on disk by append size: a chunk holds one append's records, so
  // small appends compress less (5,000 records each, their own log file).
  std::string by_size;
  for (int per : {1, 10, 100}) {
    const std::string path = dir + "/small" + std::to_string(per) + ".db";
    auto small_db = store::Db::Open(path, true);
    (void)(*small_db)->Exec("PRAGMA synchronous=FULL");
    auto small = audit::AuditLog::Open(**small_db, *key, {.origin = "custos.audit/bench"});
    if (!small.ok()) return 1;
    constexpr int kSmall = 5000;
    for (int i = 0; i < kSmall; i += per) {
      batch.clear();
      for (int j = i; j < i + per; ++j) batch.push_back(Entry(j));
      if (!(*small)->Append(batch).ok()) return 1;
    }
    (void)(*small)->Tick(true);
    (void)(*small_db)->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
    struct stat st_small {};
    stat(path.c_str(), &st_small);
    by_size += (by_size.empty() ? "" : ", ") + std::to_string(st_small.st_size / kSmall) + " B (" +
               std::to_string(per) + "/append)";
  }

  // 2. Inclusion proofs in a tree of proof_leaves leaves (in memory).
  audit::MemoryNodeStore store;
  audit::MerkleTree tree(store);
  for (uint64_t i = 0; i < proof_leaves; ++i) {
    audit::Hash leaf{};
    std::memcpy(leaf.data(), &i, sizeof i);
    (void)tree.Append(leaf);
  }
  std::vector<double> times;
  size_t proof_len = 0;
  for (uint64_t i = 0; i < 1000; ++i) {
    auto p0 = SteadyClock::now();
    auto p = tree.InclusionProof((i * 7919) % proof_leaves, proof_leaves);
    times.push_back(Secs(p0) * 1e6);
    proof_len = std::max(proof_len, p->size());
  }
  std::sort(times.begin(), times.end());
  std::printf(
      "audit_append: %d records (%.0f B avg), %.0f records/s durable (chain + tree + "
      "checkpoints, SQLite FULL, %d/txn; %.2f us CPU a record), %.0f B on disk a record (%s) | raw SHA-256 %.0f records/s | raw SQLite %.0f rows/s | inclusion proof at "
      "%llu leaves: %zu hashes (%zu B), median %.1f us | receipt from the durable log: median %.0f us | target >= 200000\n",
      records, static_cast<double>(line_bytes) / static_cast<double>(lines.size()), append_rate, kPerTxn,
      append_cpu / records * 1e6, disk_bytes / records, by_size.c_str(), sha_rate,
      sqlite_rate, static_cast<unsigned long long>(proof_leaves), proof_len, proof_len * 32, times[times.size() / 2],
      receipt_us[receipt_us.size() / 2]);
  std::string rm = "rm -rf " + dir;
  (void)std::system(rm.c_str());
  return 0;
}
