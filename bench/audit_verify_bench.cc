// Offline verification speed of an audit export (collector/audit/verify.h):
// builds N realistic access records (about 330 bytes: the keys and the two
// 64-digit hashes alone take 230), each with a payload commitment and its
// payload, chained by prev, in a Merkle tree with a signed checkpoint every
// 10,000 records and consistency proofs between consecutive checkpoints,
// then times VerifyAuditData over it.
//
//   audit_verify_bench [records=1000000] [runs=3] [--phases]
//
// Prints one summary line (medians of the runs); --phases adds a second line
// with the cost of each step of the verifier measured on its own.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "collector/audit/checkpoint.h"
#include "collector/audit/hash.h"
#include "collector/audit/merkle_tree.h"
#include "collector/audit/node_store.h"
#include "collector/audit/note.h"
#include "collector/audit/note_key.h"
#include "collector/audit/record.h"
#include "collector/audit/verify.h"

namespace {

using namespace custos::audit;  // NOLINT(google-build-using-namespace)
using Clock = std::chrono::steady_clock;

constexpr char kOrigin[] = "audit.example/bench/v1";
constexpr uint64_t kCheckpointEvery = 10'000;
constexpr int64_t kT0 = 1'764'168'754'000'000'000;  // 2025-11-26T14:52:34Z

template <typename T>
T Must(custos::Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "audit_verify_bench: %s: %s\n", what, r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

void MustOk(const custos::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "audit_verify_bench: %s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

// Keeps the compiler from dropping the loops it times.
volatile size_t g_sink = 0;

double Seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// An export of n records as the collector's audit feed writes them
// (collector/audit_feed.cc): access events from a handful of nodes, the
// personal part in a salted payload.
AuditData BuildExport(uint64_t n, const SignerKey& key) {
  static const char* const kActions[] = {"read", "write", "open", "list"};
  static const char* const kOutcomes[] = {"allow", "allow", "allow", "deny"};
  static const char* const kDatasets[] = {"imagenet", "crawl-2025", "patients", "llm-eval"};
  static const char* const kSources[] = {"fan", "bpf", "nfs"};
  std::mt19937_64 rng(7);
  AuditData d;
  d.origin = kOrigin;
  d.heartbeat_seconds = 60;
  d.record_lines.reserve(n);
  d.payloads.reserve(n);
  MemoryNodeStore store;
  MerkleTree tree(store);
  std::string prev = GenesisPrev();
  uint64_t last_checkpoint = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t x = rng();
    AuditRecord r;
    r.index = i;
    r.time_unix_nanos = kT0 + static_cast<int64_t>(i) * 1'000'000 + static_cast<int64_t>(x % 1000);
    r.kind = "access";
    r.actor = "node:" + std::to_string(x % 16);
    r.action = kActions[(x >> 8) % 4];
    r.object = std::string("dataset:") + kDatasets[(x >> 12) % 4];
    r.outcome = kOutcomes[(x >> 16) % 4];
    r.details = {{"bytes", std::to_string((x >> 20) % 1'000'000)}, {"src", kSources[(x >> 44) % 3]}};
    Hash salt;
    for (uint8_t& b : salt) b = static_cast<uint8_t>(rng());
    std::string payload = R"({"object":"/data/)" + std::string(kDatasets[(x >> 12) % 4]) + "/shard-" +
                          std::to_string(x % 10'000) + R"(.tar","pid":)" + std::to_string(1000 + x % 60'000) +
                          R"(,"uid":)" + std::to_string(1000 + (x >> 48) % 50) + R"(,"user":"user)" +
                          std::to_string((x >> 48) % 50) + "\"}";
    r.payload_commitment = PayloadCommitment(salt, payload);
    r.prev = prev;
    d.record_lines.push_back(EncodeRecord(r));
    d.payloads.push_back({i, HexEncode(salt), std::move(payload)});
    Hash leaf = LeafHash(d.record_lines.back());
    prev = HexEncode(leaf);
    MustOk(tree.Append(leaf), "append");
    if (tree.size() % kCheckpointEvery == 0 || tree.size() == n) {
      uint64_t size = tree.size();
      std::string text = Must(FormatCheckpoint({kOrigin, size, tree.Root()}), "checkpoint");
      int64_t time = kT0 + static_cast<int64_t>(size) * 1'000'000 + 1;
      d.checkpoints.push_back({size, time, Must(SignNote(text, key), "sign")});
      if (last_checkpoint > 0) {
        d.consistency.push_back({last_checkpoint, size, Must(tree.ConsistencyProof(last_checkpoint, size), "proof")});
      }
      last_checkpoint = size;
    }
  }
  // Lay the lines and payloads out in memory as VerifyExport does when it
  // reads the files: one exactly-sized string per line, in file order.
  std::vector<std::string> lines(d.record_lines.begin(), d.record_lines.end());
  d.record_lines = std::move(lines);
  std::vector<AuditData::Payload> payloads(d.payloads.begin(), d.payloads.end());
  d.payloads = std::move(payloads);
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t n = 1'000'000;
  int runs = 3;
  bool phases = false;
  int positional = 0;
  for (int a = 1; a < argc; ++a) {
    if (std::strcmp(argv[a], "--phases") == 0) {
      phases = true;
    } else if (positional++ == 0) {
      n = std::strtoull(argv[a], nullptr, 10);
    } else {
      runs = std::max(1, std::atoi(argv[a]));
    }
  }
  if (n == 0) n = 1;

  SignerKey key = Must(SignerKey::Generate(kOrigin, KeyType::kEd25519), "key");
  VerifyOptions options;
  options.log_keys.push_back(key.verifier());
  AuditData data = BuildExport(n, key);
  size_t bytes = 0;
  for (const std::string& line : data.record_lines) bytes += line.size();

  // Each run times ParseRecord and LeafHash over every line on their own,
  // then the whole verifier; the medians are reported (machines are noisy).
  std::vector<double> parse_s, scan_s, leaf_s, verify_s, verify1_s;
  for (int run = 0; run < runs; ++run) {
    auto t0 = Clock::now();
    size_t parsed = 0;
    for (const std::string& line : data.record_lines) parsed += ParseRecord(line).ok();
    parse_s.push_back(Seconds(t0));
    if (parsed != n) {
      std::fprintf(stderr, "audit_verify_bench: %zu of %llu records failed to parse\n", n - parsed,
                   static_cast<unsigned long long>(n));
      return 1;
    }
    t0 = Clock::now();
    RecordView view;
    for (const std::string& line : data.record_lines) g_sink = g_sink + ScanRecord(line, &view);
    scan_s.push_back(Seconds(t0));
    t0 = Clock::now();
    for (const std::string& line : data.record_lines) g_sink = g_sink + LeafHash(line)[0];
    leaf_s.push_back(Seconds(t0));
    t0 = Clock::now();
    VerifyReport report = VerifyAuditData(data, options);
    verify_s.push_back(Seconds(t0));
    VerifyOptions one_thread = options;
    one_thread.threads = 1;
    t0 = Clock::now();
    VerifyReport report1 = VerifyAuditData(data, one_thread);
    verify1_s.push_back(Seconds(t0));
    if (report1.first_error != report.first_error) {
      std::fprintf(stderr, "audit_verify_bench: one thread and all cores disagree\n");
      return 1;
    }
    if (!report.ok() || report.records != n) {
      std::fprintf(stderr, "audit_verify_bench: verification failed: %s\n", report.first_error.c_str());
      return 1;
    }
  }
  const double per = 1e9 / static_cast<double>(n);  // seconds -> ns per record
  std::printf(
      "audit_verify: %llu records, median %.0f records/s (verify, %u cores; %.0f on one thread), ParseRecord %.0f "
      "ns/record, ScanRecord (what the verifier runs) %.0f ns/record, LeafHash %.0f ns/record | target >= 1000000\n",
      static_cast<unsigned long long>(n), static_cast<double>(n) / Median(verify_s), std::thread::hardware_concurrency(),
      static_cast<double>(n) / Median(verify1_s), Median(parse_s) * per, Median(scan_s) * per, Median(leaf_s) * per);

  if (phases) {  // the verifier's other steps, once each
    std::vector<Hash> leaves;
    leaves.reserve(n);
    for (const std::string& line : data.record_lines) leaves.push_back(LeafHash(line));
    MemoryNodeStore store;
    MerkleTree tree(store);
    auto t0 = Clock::now();
    for (const Hash& leaf : leaves) MustOk(tree.Append(leaf), "append");
    double tree_s = Seconds(t0);
    t0 = Clock::now();
    static constexpr uint8_t kPayloadDomain[] = {0x02};  // PayloadCommitment's, without the hex
    for (const AuditData::Payload& p : data.payloads) {
      Hash salt = Must(HashFromHex(p.salt_hex), "salt");
      g_sink = g_sink + Sha256({kPayloadDomain, salt, AsBytes(p.payload)})[0];
    }
    double payload_s = Seconds(t0);
    t0 = Clock::now();
    VerifierKey vk = key.verifier();
    for (const AuditData::CheckpointNote& c : data.checkpoints) g_sink = g_sink + VerifyNote(c.note, {&vk, 1}).ok();
    double notes_s = Seconds(t0);
    std::printf(
        "phases (ns/record): ParseRecord %.0f, LeafHash %.0f, MerkleTree::Append %.0f, payload salt+SHA-256 %.0f, "
        "%zu checkpoint signatures %.0f; whole verify %.0f; avg line %.0f bytes\n",
        Median(parse_s) * per, Median(leaf_s) * per, tree_s * per, payload_s * per, data.checkpoints.size(),
        notes_s * per, Median(verify_s) * per, static_cast<double>(bytes) / static_cast<double>(n));
  }
  return 0;
}
