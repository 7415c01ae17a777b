#include "collector/audit/verify.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "collector/audit/checkpoint.h"
#include "collector/audit/export_format.h"
#include "collector/audit/hash.h"
#include "collector/audit/merkle.h"
#include "collector/audit/note.h"
#include "collector/audit/record.h"
#include "common/files.h"
#include "common/parallel.h"

namespace custos::audit {
namespace {

using Json = nlohmann::json;
using std::to_string;

// True iff `hex` is exactly the lower-case hex of `h` (what EncodeRecord
// writes), compared without building a string.
bool HexEquals(std::string_view hex, const Hash& h) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (hex.size() != 2 * h.size()) return false;
  char expected[64];
  for (size_t i = 0; i < h.size(); ++i) {
    expected[2 * i] = kHex[h[i] >> 4];
    expected[2 * i + 1] = kHex[h[i] & 15];
  }
  return std::memcmp(expected, hex.data(), sizeof expected) == 0;
}

bool SameKey(const VerifierKey& k, std::string_view name, uint32_t id) { return k.name() == name && k.id() == id; }

bool AnyKey(const std::vector<VerifierKey>& keys, std::string_view name, uint32_t id) {
  return std::any_of(keys.begin(), keys.end(), [&](const VerifierKey& k) { return SameKey(k, name, id); });
}

// Runs checks 1-8 in order; each Check* returns false after recording the
// first error in the report.
class Verifier {
 public:
  Verifier(const AuditData& data, const VerifyOptions& options, VerifyReport& report)
      : data_(data), options_(options), report_(report), n_(data.record_lines.size()) {}

  void Run() {
    (void)(CheckRecords() && CheckCheckpoints() && CheckHeartbeats() && CheckConsistency() && CheckWitnesses() &&
           CheckPayloads() && CheckSelected());
  }

 private:
  struct VerifiedCheckpoint {
    uint64_t size;
    int64_t time;
    Hash root;
  };

  bool Fail(std::string message) {
    report_.first_error = std::move(message);
    return false;
  }

  // How many threads share `items` of work: options_.threads, or one per
  // core for work large enough to be worth a thread; never more than items.
  uint64_t Threads(uint64_t items) const {
    constexpr uint64_t kMinPerThread = 20'000;
    if (options_.threads == 0) return ThreadsFor(items, kMinPerThread);
    return std::clamp<uint64_t>(options_.threads, 1, std::max<uint64_t>(items, 1));
  }

  // What one thread found in its share of the records (see CheckRecords).
  struct ChunkScan {
    uint64_t begin = 0, end = 0;
    uint64_t error_index = UINT64_MAX;  // the first bad record of the chunk
    std::string error;
    std::string first_prev;  // prev of record `begin`, checked once the chunk before is hashed
    std::vector<std::pair<uint64_t, std::string_view>> commitments;  // views into data_.record_lines
    std::vector<std::pair<uint64_t, std::string>> rotations;
    std::vector<std::pair<uint64_t, std::optional<std::string>>> erasures;
  };

  // Parses, checks the index and the chain of records [c.begin, c.end) and
  // fills leaves_ for them. Stops at the chunk's first bad record.
  void ScanChunk(ChunkScan& c) {
    for (uint64_t i = c.begin; i < c.end; ++i) {
      const std::string& line = data_.record_lines[i];
      auto fail = [&](std::string message) {
        c.error_index = i;
        c.error = std::move(message);
      };
      RecordView r;
      if (!ScanRecord(line, &r)) return fail("record " + to_string(i) + ": " + ParseRecord(line).status().message());
      if (r.index != i) {
        return fail("record at line " + to_string(i + 1) + " has index " + to_string(r.index) + " where " +
                    to_string(i) + " was expected (a record was deleted, inserted or reordered)");
      }
      if (i == 0 && r.prev != GenesisPrev()) {
        return fail("record 0: prev hash is not the genesis value of 64 zeros (broken chain)");
      }
      if (i == c.begin) {
        c.first_prev = std::string(r.prev);
      } else if (!HexEquals(r.prev, leaves_[i - 1])) {
        return fail("record " + to_string(i) + ": prev hash does not match record " + to_string(i - 1) +
                    " (broken chain)");
      }
      leaves_[i] = LeafHash(line);
      if (!r.payload_commitment.empty()) c.commitments.emplace_back(i, r.payload_commitment);
      // The rare records whose details matter are parsed in full.
      const bool rotation = r.kind == "key" && r.action == "rotate", erasure = r.kind == "erasure";
      if (rotation || erasure) {
        Result<AuditRecord> full = ParseRecord(line);
        if (!full.ok()) return fail("record " + to_string(i) + ": " + full.status().message());
        const char* field = rotation ? "new_vkey" : "indexes";
        auto it = full->details.find(field);
        if (rotation) c.rotations.emplace_back(i, it == full->details.end() ? std::string() : it->second);
        if (erasure) {
          c.erasures.emplace_back(i, it == full->details.end() ? std::nullopt : std::optional(it->second));
        }
      }
    }
  }

  // 1 and 2: parse, index and chain every record while rebuilding the tree.
  // Parsing and leaf hashing (nearly all the cost) run on every core over
  // consecutive chunks; the chain across chunk boundaries and the tree are
  // then checked in order, so the first bad record reported is the same as a
  // single pass would report.
  bool CheckRecords() {
    const uint64_t threads = Threads(n_);
    leaves_.assign(n_, Hash{});
    std::vector<ChunkScan> chunks(threads);
    ParallelFor(n_, threads, [&](uint64_t begin, uint64_t end, uint64_t k) {
      ChunkScan& c = chunks[k];
      c.begin = begin;
      c.end = end;
      ScanChunk(c);
    });

    for (size_t k = 0; k < chunks.size(); ++k) {
      ChunkScan& c = chunks[k];
      bool boundary_ok = k == 0 || c.begin == c.end || c.error_index == c.begin || HexEquals(c.first_prev, leaves_[c.begin - 1]);
      if (!boundary_ok) {
        return Fail("record " + to_string(c.begin) + ": prev hash does not match record " + to_string(c.begin - 1) +
                    " (broken chain)");
      }
      if (c.error_index != UINT64_MAX) return Fail(std::move(c.error));
      for (auto& e : c.commitments) commitments_.push_back(std::move(e));
      for (auto& e : c.rotations) rotations_.push_back(std::move(e));
      for (auto& e : c.erasures) erasures_.push_back(std::move(e));
    }
    // The roots the later checks compare: every checkpoint's and consistency
    // proof's size, from streaming passes (the tree itself is not kept).
    std::set<uint64_t> sizes;
    for (const auto& c : data_.checkpoints) sizes.insert(c.size);
    for (const auto& c : data_.consistency) sizes.insert({c.from, c.to});
    // RFC 6962: the first k leaves (k the largest power of two below n) are
    // a perfect subtree, and the root of any larger prefix of size s is
    // NodeHash(that subtree's root, root of leaves [k, s)). So leaves [0, k)
    // and [k, n) stream on two threads, k being at least half of them.
    const uint64_t k = n_ >= 2 ? SplitPoint(n_) : n_;
    // Streams leaves [begin, end), putting the root of [begin, s) into
    // (*roots)[s] for each listed size s in (begin, end]; returns the root of
    // [begin, end).
    auto stream = [&](uint64_t begin, uint64_t end, std::map<uint64_t, Hash>* roots) {
      RootStream s;
      auto next = sizes.upper_bound(begin);
      for (uint64_t i = begin; i < end; ++i) {
        s.Push(leaves_[i]);
        for (; next != sizes.end() && *next == i + 1; ++next) (*roots)[i + 1] = s.Root();
      }
      return s.Root();
    };
    if (sizes.count(0)) prefix_roots_[0] = EmptyRoot();
    std::map<uint64_t, Hash> rest_roots;  // root of leaves [k, s), by s
    std::thread rest;
    if (k < n_ && Threads(n_) > 1) rest = std::thread([&] { stream(k, n_, &rest_roots); });
    const Hash left = stream(0, k, &prefix_roots_);
    if (rest.joinable()) {
      rest.join();
    } else if (k < n_) {
      stream(k, n_, &rest_roots);
    }
    for (const auto& [size, root] : rest_roots) prefix_roots_[size] = NodeHash(left, root);
    leaves_ = {};
    report_.records = n_;
    return true;
  }

  // 3: signatures first, then what the signed checkpoints say among
  // themselves (fork, rollback: evidence against the log itself), then the
  // records against them.
  bool CheckCheckpoints() {
    // Signatures are checked in size order so that the key chain can be
    // followed: a "key rotate" record at index I, once a checkpoint of a
    // larger size signed by the current key covers it, makes the key it names
    // the only trusted log key for every later checkpoint.
    std::vector<size_t> by_size(data_.checkpoints.size());
    std::iota(by_size.begin(), by_size.end(), size_t{0});
    std::stable_sort(by_size.begin(), by_size.end(),
                     [&](size_t a, size_t b) { return data_.checkpoints[a].size < data_.checkpoints[b].size; });
    std::vector<std::optional<VerifiedCheckpoint>> verified_at(data_.checkpoints.size());
    log_keys_ = options_.log_keys;
    size_t next_rotation = 0;
    for (size_t k : by_size) {
      const AuditData::CheckpointNote& c = data_.checkpoints[k];
      std::string where = "checkpoint at size " + to_string(c.size);
      Result<Note> parsed = ParseNote(c.note);
      if (!parsed.ok()) return Fail(where + ": signature: " + parsed.status().message());
      bool known = std::any_of(parsed->signatures.begin(), parsed->signatures.end(),
                               [&](const NoteSignature& s) { return AnyKey(log_keys_, s.name, s.key_id); });
      if (!known) return Fail(where + ": signature: no known key signed it");
      Result<VerifiedNote> verified = VerifyNote(c.note, log_keys_);
      if (!verified.ok()) return Fail(where + ": signature: " + verified.status().message());
      Result<Checkpoint> cp = ParseCheckpoint(verified->text);
      if (!cp.ok()) return Fail(where + ": " + cp.status().message());
      if (cp->size != c.size) return Fail(where + ": the signed checkpoint says size " + to_string(cp->size));
      if (cp->origin != data_.origin) {
        return Fail(where + ": origin \"" + cp->origin + "\" is not the export's \"" + data_.origin + "\"");
      }
      verified_at[k] = VerifiedCheckpoint{c.size, c.time_unix_nanos, cp->root};
      for (; next_rotation < rotations_.size() && rotations_[next_rotation].first < c.size; ++next_rotation) {
        const auto& [index, vkey] = rotations_[next_rotation];
        Result<VerifierKey> next = VerifierKey::Parse(vkey);
        if (!next.ok()) return Fail("record " + to_string(index) + ": key rotation names no valid key: " +
                                    next.status().message());
        log_keys_ = {*next};
      }
    }
    for (const auto& v : verified_at) checkpoints_.push_back(*v);
    report_.checkpoints = checkpoints_.size();

    for (const VerifiedCheckpoint& c : checkpoints_) {
      auto [it, inserted] = roots_.emplace(c.size, c.root);
      if (!inserted && it->second != c.root) {
        return Fail("two checkpoints at size " + to_string(c.size) +
                    " have different roots (fork: the log signed two different histories)");
      }
    }

    by_time_.resize(checkpoints_.size());
    std::iota(by_time_.begin(), by_time_.end(), size_t{0});
    std::stable_sort(by_time_.begin(), by_time_.end(),
                     [&](size_t a, size_t b) { return checkpoints_[a].time < checkpoints_[b].time; });
    uint64_t largest = 0;
    for (size_t k : by_time_) {
      const VerifiedCheckpoint& c = checkpoints_[k];
      if (c.size < largest) {
        return Fail("checkpoint at time " + FormatRfc3339(c.time) + " has size " + to_string(c.size) +
                    ", smaller than an earlier checkpoint's " + to_string(largest) + " (rollback)");
      }
      largest = c.size;
    }

    // Smallest size first, so a root mismatch names the shortest changed prefix.
    for (const auto& [size, root] : roots_) {
      if (size > n_) {
        return Fail("checkpoint at size " + to_string(size) +
                    " covers records missing from the export (truncation: the export has " + to_string(n_) + ")");
      }
      if (prefix_roots_.at(size) != root) {
        return Fail("checkpoint at size " + to_string(size) + ": root mismatch: " +
                    (size == 0 ? std::string("not the empty tree's root")
                               : "records 0.." + to_string(size - 1) + " were changed after signing"));
      }
    }
    uint64_t newest = by_time_.empty() ? 0 : checkpoints_[by_time_.back()].size;
    if (newest < n_) {
      return Fail("records " + to_string(newest) + ".." + to_string(n_ - 1) + " are not covered by any checkpoint");
    }
    return true;
  }

  // 4: a log checkpoints at least every H seconds even when idle, so a longer
  // silence means it stopped, or that checkpoints were removed. A silence
  // after a checkpoint whose last record is the collector's own signed stop
  // record is downtime on record, not a stall (it is counted in the report).
  bool CheckHeartbeats() {
    if (data_.heartbeat_seconds <= 0 || data_.heartbeat_seconds > INT64_MAX / 2'000'000'000) return true;
    uint64_t limit = static_cast<uint64_t>(data_.heartbeat_seconds) * 2'000'000'000u;
    for (size_t k = 1; k < by_time_.size(); ++k) {
      int64_t t1 = checkpoints_[by_time_[k - 1]].time, t2 = checkpoints_[by_time_[k]].time;
      // t2 >= t1, so the unsigned difference is exact.
      if (static_cast<uint64_t>(t2) - static_cast<uint64_t>(t1) > limit) {
        uint64_t size = checkpoints_[by_time_[k - 1]].size;
        if (size > 0 && size <= n_) {
          Result<AuditRecord> last = ParseRecord(data_.record_lines[size - 1]);
          if (last.ok() && last->kind == "lifecycle" && last->action == "stop") {
            ++report_.recorded_stops;
            continue;
          }
        }
        return Fail("heartbeat gap: no checkpoint between " + FormatRfc3339(t1) + " and " + FormatRfc3339(t2) +
                    " (more than 2 x " + to_string(data_.heartbeat_seconds) +
                    "s): the log may have stalled or been truncated");
      }
    }
    return true;
  }

  // The root of the tree of `size` records: signed when a checkpoint has that
  // size, else rebuilt (all checkpoint roots equal the rebuilt ones by now).
  std::optional<Hash> RootFor(uint64_t size) {
    if (auto it = roots_.find(size); it != roots_.end()) return it->second;
    if (auto it = prefix_roots_.find(size); it != prefix_roots_.end()) return it->second;
    return std::nullopt;  // beyond the records
  }

  bool CheckOneConsistency(const AuditData::Consistency& c) {
    std::string where = "consistency proof " + to_string(c.from) + " -> " + to_string(c.to);
    std::optional<Hash> r1 = RootFor(c.from), r2 = RootFor(c.to);
    if (!r1 || !r2) {
      return Fail(where + ": size " + to_string(std::max(c.from, c.to)) + " is beyond the export's " + to_string(n_) +
                  " records");
    }
    if (Status s = VerifyConsistency(c.from, c.to, c.proof, *r1, *r2); !s.ok()) return Fail(where + ": " + s.message());
    return true;
  }

  // 5: consecutive checkpoint sizes must be linked by a proof; every other
  // proof in the export must verify too.
  bool CheckConsistency() {
    std::map<std::pair<uint64_t, uint64_t>, std::vector<size_t>> by_pair;
    for (size_t k = 0; k < data_.consistency.size(); ++k) {
      by_pair[{data_.consistency[k].from, data_.consistency[k].to}].push_back(k);
    }
    std::vector<bool> used(data_.consistency.size());
    for (auto it = roots_.begin(); it != roots_.end() && std::next(it) != roots_.end(); ++it) {
      uint64_t from = it->first, to = std::next(it)->first;
      auto found = by_pair.find({from, to});
      if (found == by_pair.end()) {
        if (from == 0) continue;  // nothing to prove from the empty tree
        return Fail("consistency proof " + to_string(from) + " -> " + to_string(to) + ": missing from the export");
      }
      for (size_t k : found->second) {
        used[k] = true;
        if (!CheckOneConsistency(data_.consistency[k])) return false;
      }
    }
    for (size_t k = 0; k < data_.consistency.size(); ++k) {
      if (!used[k] && !CheckOneConsistency(data_.consistency[k])) return false;
    }
    return true;
  }

  // 6: witnesses cosign only what is consistent with what they saw before,
  // so a quorum on the newest checkpoint rules out a log that rewrote its
  // tail and re-signed it with its own key.
  bool CheckWitnesses() {
    if (options_.witness_quorum <= 0) return true;
    std::string want = to_string(options_.witness_quorum);
    if (by_time_.empty()) return Fail("newest checkpoint has 0 of " + want + " required witness cosignatures (none)");
    std::vector<VerifierKey> keys = log_keys_;
    keys.insert(keys.end(), options_.witness_keys.begin(), options_.witness_keys.end());
    Result<VerifiedNote> v = VerifyNote(data_.checkpoints[by_time_.back()].note, keys);
    if (!v.ok()) return Fail("newest checkpoint: witness cosignature: " + v.status().message());
    // VerifyNote lists each key once, so this counts distinct witnesses.
    long count = std::count_if(v->signatures.begin(), v->signatures.end(), [&](const VerifiedSignature& s) {
      return AnyKey(options_.witness_keys, s.name, s.key_id) && !AnyKey(log_keys_, s.name, s.key_id);
    });
    if (count < options_.witness_quorum) {
      return Fail("newest checkpoint has " + to_string(count) + " of " + want + " required witness cosignatures");
    }
    return true;
  }

  // Marks the records that erasure tombstones list; a tombstone may list
  // only records before it.
  bool CollectErasures(std::vector<bool>* erased) {
    for (const auto& [tombstone, indexes] : erasures_) {
      std::string where = "record " + to_string(tombstone) + ": erasure tombstone";
      if (!indexes) return Fail(where + " has no \"indexes\"");
      std::string_view rest = *indexes;
      while (!rest.empty()) {
        size_t comma = std::min(rest.find(','), rest.size());
        std::string_view item = rest.substr(0, comma);
        uint64_t index = 0;
        auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), index);
        if (ec != std::errc() || end != item.data() + item.size() || item.empty()) {
          return Fail(where + " has a malformed index list \"" + *indexes + "\"");
        }
        if (index >= tombstone) return Fail(where + " lists " + to_string(index) + ", which is not an earlier record");
        (*erased)[index] = true;
        rest.remove_prefix(comma == rest.size() ? comma : comma + 1);
      }
    }
    return true;
  }

  // 7: every commitment has its payload, or a tombstone for it.
  bool CheckPayloads() {
    std::vector<const AuditData::Payload*> payload_of(n_, nullptr);
    for (const AuditData::Payload& p : data_.payloads) {
      std::string where = "payload entry for record " + to_string(p.index);
      if (p.index >= n_) return Fail(where + ": no such record (the export has " + to_string(n_) + ")");
      if (payload_of[p.index]) return Fail(where + ": listed twice");
      payload_of[p.index] = &p;
    }
    std::vector<bool> erased(n_);
    if (!CollectErasures(&erased)) return false;
    // Hashing the payloads is the cost: done on every core first, then the
    // results are read in record order so the first problem is reported.
    enum : uint8_t { kNoPayload, kMatches, kBadSalt, kMismatch };
    std::vector<uint8_t> outcome(commitments_.size(), kNoPayload);
    ParallelFor(commitments_.size(), Threads(commitments_.size()), [&](size_t begin, size_t end, uint64_t) {
      for (size_t k = begin; k < end; ++k) {
        const auto& [index, commitment] = commitments_[k];
        const AuditData::Payload* p = payload_of[index];
        if (!p) continue;
        Result<Hash> salt = HashFromHex(p->salt_hex);  // a salt is 32 bytes, like a hash
        if (!salt.ok()) {
          outcome[k] = kBadSalt;
          continue;
        }
        // PayloadCommitment(salt, payload) == commitment, without building the
        // hex string: SHA-256(0x02 || salt || payload) as record.h defines it.
        static constexpr uint8_t kPayloadDomain[] = {0x02};
        outcome[k] = HexEquals(commitment, Sha256({kPayloadDomain, *salt, AsBytes(p->payload)})) ? kMatches : kMismatch;
      }
    });
    for (size_t k = 0; k < commitments_.size(); ++k) {
      const uint64_t index = commitments_[k].first;
      const AuditData::Payload* p = payload_of[index];
      payload_of[index] = nullptr;  // accounted for
      if (!p) {
        if (!erased[index])
          return Fail("record " + to_string(index) + ": payload missing and no erasure tombstone covers it");
        ++report_.payloads_erased;
        continue;
      }
      if (outcome[k] == kBadSalt) {
        return Fail("record " + to_string(index) + ": payload salt: " + HashFromHex(p->salt_hex).status().message());
      }
      if (outcome[k] == kMismatch) {
        return Fail("record " + to_string(index) + ": payload does not match its commitment (changed payload)");
      }
      ++report_.payloads_checked;
    }
    for (const AuditData::Payload* p : payload_of) {
      if (p) return Fail("payload entry for record " + to_string(p->index) + ": the record has no payload commitment");
    }
    return true;
  }

  // 8: the records the export was filtered for, proven against checkpoints.
  bool CheckSelected() {
    for (const AuditData::Selected& s : data_.selected) {
      std::string where = "selected record " + to_string(s.index) + ": inclusion proof";
      auto root = roots_.find(s.size);
      if (root == roots_.end()) return Fail(where + ": no checkpoint at size " + to_string(s.size));
      if (s.index >= n_) return Fail(where + ": no such record (the export has " + to_string(n_) + ")");
      Status st = VerifyInclusion(LeafHash(data_.record_lines[s.index]), s.index, s.size, s.proof, root->second);
      if (!st.ok()) return Fail(where + ": " + st.message());
      ++report_.selected_proofs;
    }
    return true;
  }

  const AuditData& data_;
  const VerifyOptions& options_;
  VerifyReport& report_;
  const uint64_t n_;
  std::vector<Hash> leaves_;  // during CheckRecords only
  std::map<uint64_t, Hash> prefix_roots_;  // rebuilt root by size, for the sizes checkpoints and proofs name
  std::vector<std::pair<uint64_t, std::string_view>> commitments_;  // (record, hex in its line), ascending
  std::vector<std::pair<uint64_t, std::optional<std::string>>> erasures_;  // (tombstone, details["indexes"])
  std::vector<VerifiedCheckpoint> checkpoints_;                            // in export order
  std::vector<VerifierKey> log_keys_;                     // the trusted log key(s), following rotations
  std::vector<std::pair<uint64_t, std::string>> rotations_;  // (index, new vkey) of "key rotate" records
  std::vector<size_t> by_time_;                                            // indexes into checkpoints_, oldest first
  std::map<uint64_t, Hash> roots_;                                         // signed root by size
};

// ---- Reading the export directory ----

// The lines of `text`; a last line without its "\n" still counts (and will
// then fail its checks if it was cut short).
std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) nl = text.size();
    lines.emplace_back(text.substr(0, nl));
    text.remove_prefix(std::min(nl + 1, text.size()));
  }
  return lines;
}

Status GetUint(const Json& j, const char* key, uint64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned())
    return InvalidArgument(std::string("\"") + key + "\" missing or not a non-negative integer");
  *out = it->get<uint64_t>();
  return Status::Ok();
}

Status GetInt(const Json& j, const char* key, int64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer())
    return InvalidArgument(std::string("\"") + key + "\" missing or not an integer");
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return InvalidArgument(std::string("\"") + key + "\" is out of range");
  }
  *out = it->get<int64_t>();
  return Status::Ok();
}

Status GetString(const Json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return InvalidArgument(std::string("\"") + key + "\" missing or not a string");
  *out = it->get<std::string>();
  return Status::Ok();
}

Status GetProof(const Json& j, Proof* out) {
  auto it = j.find("proof");
  if (it == j.end() || !it->is_array()) return InvalidArgument("\"proof\" missing or not an array");
  for (const Json& h : *it) {
    if (!h.is_string()) return InvalidArgument("\"proof\" holds a non-string");
    CUSTOS_ASSIGN_OR_RETURN(Hash hash, HashFromHex(h.get<std::string>()));
    out->push_back(hash);
  }
  return Status::Ok();
}

// Calls `fn` with each JSON object line of dir/name; an absent optional file
// has no lines. Malformed lines make the export unusable (a Status).
template <typename Fn>
Status ForEachJsonLine(const std::string& dir, const char* name, bool required, Fn fn) {
  Result<std::string> text = ReadFile(dir + "/" + name);
  if (!text.ok()) return !required && text.status().code() == StatusCode::kNotFound ? Status::Ok() : text.status();
  std::vector<std::string> lines = SplitLines(*text);
  for (size_t i = 0; i < lines.size(); ++i) {
    Json j = Json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
    Status s = j.is_object() ? fn(j) : InvalidArgument("not a JSON object");
    if (!s.ok()) return s.WithContext(std::string(name) + " line " + to_string(i + 1));
  }
  return Status::Ok();
}

struct Manifest {
  uint64_t records = 0;
  std::map<std::string, std::string> files;  // name -> hex SHA-256
};

Result<Manifest> ReadManifest(const std::string& dir, AuditData* data) {
  CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(dir + "/" + kManifestFile));
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgument("manifest.json is not a JSON object");
  std::string format;
  CUSTOS_RETURN_IF_ERROR(GetString(j, "format", &format).WithContext("manifest.json"));
  if (format != kExportFormat) {
    return InvalidArgument("manifest.json: unknown format \"" + format + "\" (this verifier reads " + kExportFormat +
                           ")");
  }
  Manifest m;
  CUSTOS_RETURN_IF_ERROR(GetString(j, "origin", &data->origin).WithContext("manifest.json"));
  CUSTOS_RETURN_IF_ERROR(GetInt(j, "heartbeat_seconds", &data->heartbeat_seconds).WithContext("manifest.json"));
  CUSTOS_RETURN_IF_ERROR(GetUint(j, "records", &m.records).WithContext("manifest.json"));
  auto files = j.find("files");
  if (files != j.end()) {
    if (!files->is_object()) return InvalidArgument("manifest.json: \"files\" is not an object");
    for (const auto& [name, hash] : files->items()) {
      // The manifest is untrusted: never let it name a file outside the export.
      if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
        return InvalidArgument("manifest.json: \"files\" names \"" + name + "\", not a file of the export");
      }
      if (!hash.is_string()) return InvalidArgument("manifest.json: the hash of " + name + " is not a string");
      m.files[name] = hash.get<std::string>();
    }
  }
  return m;
}

// 9: the manifest's own claims. It is unsigned, so these catch damage and
// careless edits rather than a forger, who can rewrite it.
std::string CheckManifest(const std::string& dir, const Manifest& m, uint64_t records, const Hash& records_sha256,
                          bool check_hashes) {
  if (m.records != records) {
    return "manifest says " + to_string(m.records) + " records, the export has " + to_string(records);
  }
  if (!check_hashes) return "";
  for (const auto& [name, hex] : m.files) {
    std::string where = "file " + name;
    Result<Hash> want = HashFromHex(hex);
    if (!want.ok()) return where + ": the manifest's SHA-256 is malformed: " + want.status().message();
    Hash got = records_sha256;
    if (name != kRecordsFile) {
      Result<std::string> content = ReadFile(dir + "/" + name);
      if (!content.ok()) return where + ": listed in the manifest but unreadable: " + content.status().message();
      got = Sha256({AsBytes(*content)});
    }
    if (got != *want) return where + ": SHA-256 does not match the manifest";
  }
  return "";
}

}  // namespace

std::string FormatRfc3339(int64_t unix_nanos) {
  int64_t seconds = unix_nanos / 1'000'000'000;
  int64_t nanos = unix_nanos % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --seconds;
  }
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) return to_string(unix_nanos) + "ns";
  char buf[64];
  size_t len = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, len);
  if (nanos != 0) {
    std::string frac = to_string(nanos);
    frac.insert(0, 9 - frac.size(), '0');
    frac.erase(frac.find_last_not_of('0') + 1);
    out += "." + frac;
  }
  return out + "Z";
}

VerifyReport VerifyAuditData(const AuditData& data, const VerifyOptions& options) {
  VerifyReport report;
  Verifier(data, options, report).Run();
  return report;
}

Result<VerifyReport> VerifyExport(const std::string& dir, const VerifyOptions& options) {
  if (options.log_keys.empty()) return InvalidArgument("no log key given to verify the export with");
  AuditData data;
  CUSTOS_ASSIGN_OR_RETURN(Manifest manifest, ReadManifest(dir, &data));

  Hash records_sha256;
  {
    CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(dir + "/" + kRecordsFile));
    records_sha256 = Sha256({AsBytes(text)});
    data.record_lines = SplitLines(text);
  }
  auto checkpoint = [&](const Json& j) -> Status {
    AuditData::CheckpointNote c;
    CUSTOS_RETURN_IF_ERROR(GetUint(j, "size", &c.size));
    CUSTOS_RETURN_IF_ERROR(GetInt(j, "time", &c.time_unix_nanos));
    CUSTOS_RETURN_IF_ERROR(GetString(j, "note", &c.note));
    data.checkpoints.push_back(std::move(c));
    return Status::Ok();
  };
  auto payload = [&](const Json& j) -> Status {
    AuditData::Payload p;
    CUSTOS_RETURN_IF_ERROR(GetUint(j, "index", &p.index));
    CUSTOS_RETURN_IF_ERROR(GetString(j, "salt", &p.salt_hex));
    CUSTOS_RETURN_IF_ERROR(GetString(j, "payload", &p.payload));
    data.payloads.push_back(std::move(p));
    return Status::Ok();
  };
  auto consistency = [&](const Json& j) -> Status {
    AuditData::Consistency c;
    CUSTOS_RETURN_IF_ERROR(GetUint(j, "from", &c.from));
    CUSTOS_RETURN_IF_ERROR(GetUint(j, "to", &c.to));
    CUSTOS_RETURN_IF_ERROR(GetProof(j, &c.proof));
    data.consistency.push_back(std::move(c));
    return Status::Ok();
  };
  auto selected = [&](const Json& j) -> Status {
    AuditData::Selected sel;
    CUSTOS_RETURN_IF_ERROR(GetUint(j, "index", &sel.index));
    CUSTOS_RETURN_IF_ERROR(GetUint(j, "size", &sel.size));
    CUSTOS_RETURN_IF_ERROR(GetProof(j, &sel.proof));
    data.selected.push_back(std::move(sel));
    return Status::Ok();
  };
  CUSTOS_RETURN_IF_ERROR(ForEachJsonLine(dir, kCheckpointsFile, /*required=*/true, checkpoint));
  CUSTOS_RETURN_IF_ERROR(ForEachJsonLine(dir, kPayloadsFile, /*required=*/false, payload));
  CUSTOS_RETURN_IF_ERROR(ForEachJsonLine(dir, kConsistencyFile, /*required=*/false, consistency));
  CUSTOS_RETURN_IF_ERROR(ForEachJsonLine(dir, kSelectedFile, /*required=*/false, selected));

  VerifyReport report = VerifyAuditData(data, options);
  if (report.ok()) {
    report.first_error =
        CheckManifest(dir, manifest, data.record_lines.size(), records_sha256, options.check_files_hashes);
  }
  return report;
}

}  // namespace custos::audit
