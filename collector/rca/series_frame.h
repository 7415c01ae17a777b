// Per-minute series of every entity, the input of the root-cause analysis.
//
// Time is cut into buckets of one minute relative to an anchor (the incident's
// onset): bucket k holds [anchor + k·60 s, anchor + (k+1)·60 s). Each bucket
// maps series → value, where a series is (entity, name): entity is a service,
// a systemd unit or a node ("node:NAME"), name says what is measured, with a
// one-letter family prefix:
//
//   M|<metric name>            a metric sample (the bucket's last value)
//   T|...                      derived from the bucket's spans (trace_features.h)
//   L|...                      derived from the bucket's logs (log_features.h)
//   G|...                      GPU faults (XID, ECC) per GPU entity
//   A|denied                   access denials of a principal's service
//
// The frame also remembers which buckets had data of each source: a count
// that is absent in a bucket where its source had data is a zero, whereas a
// bucket without any data of that source says nothing.
//
// Not thread-safe; one frame per analysis.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace custos::rca {

using SeriesId = uint32_t;

enum class Source : uint8_t { kMetric = 0, kTrace = 1, kLog = 2, kEvent = 3 };
constexpr int kSourceCount = 4;
// '|' separates the parts of a series name; text taken from data (an
// operation, a template) has it replaced by '/'.
std::string SeriesPart(std::string_view text);
// Each run of digits as "<n>", so ids in names (a URL path) do not make a
// series per value.
std::string MaskDigits(std::string_view text);

// The source a series name belongs to (by its family prefix).
Source SourceOf(std::string_view name);

class SeriesFrame {
 public:
  static constexpr int64_t kBucketNanos = 60'000'000'000LL;

  explicit SeriesFrame(int64_t anchor_unix_nanos) : anchor_(anchor_unix_nanos) {}

  int64_t anchor() const { return anchor_; }
  int Bucket(int64_t unix_nanos) const;  // floor((t - anchor) / 60 s)

  SeriesId Intern(std::string_view entity, std::string_view name);
  const std::string& entity(SeriesId id) const { return series_[id].entity; }
  const std::string& name(SeriesId id) const { return series_[id].name; }
  size_t series_count() const { return series_.size(); }
  // Looks a series up without creating it.
  bool Find(std::string_view entity, std::string_view name, SeriesId* id) const;

  void Put(int bucket, SeriesId id, double value) { Slot(bucket, id) = value; }
  void Add(int bucket, SeriesId id, double value) {
    double& slot = Slot(bucket, id);
    slot = std::isnan(slot) ? value : slot + value;
  }
  void Put(int bucket, std::string_view entity, std::string_view name, double value) {
    Put(bucket, Intern(entity, name), value);
  }
  void Add(int bucket, std::string_view entity, std::string_view name, double value) {
    Add(bucket, Intern(entity, name), value);
  }
  // The value in `bucket`, or nullptr.
  const double* Get(int bucket, SeriesId id) const;

  void MarkSource(int bucket, Source source) { sources_[static_cast<int>(source)].insert(bucket); }
  const std::set<int>& Buckets(Source source) const { return sources_[static_cast<int>(source)]; }
  bool HasSource(int bucket, Source source) const { return Buckets(source).count(bucket) > 0; }

  // The buckets that hold any value, in order.
  std::vector<int> BucketsWithValues() const;
  // Calls fn(id, value) for every series with a value in `bucket`, by id.
  template <typename Fn>
  void ForEachValue(int bucket, Fn&& fn) const {
    auto it = buckets_.find(bucket);
    if (it == buckets_.end()) return;
    const std::vector<double>& values = it->second;
    for (size_t id = 0; id < values.size(); ++id)
      if (!std::isnan(values[id])) fn(static_cast<SeriesId>(id), values[id]);
  }

  // An example of what a series stands for in a bucket (a log line of a
  // template, the slowest span), kept for the evidence; the first one given
  // wins unless `replace`.
  void SetExample(int bucket, SeriesId id, std::string_view text, bool replace = false);
  const std::string* Example(int bucket, SeriesId id) const;

 private:
  struct Series {
    std::string entity, name;
  };
  int64_t anchor_;
  std::vector<Series> series_;
  std::unordered_map<std::string, SeriesId> index_;  // entity + '\x1f' + name
  double& Slot(int bucket, SeriesId id);
  // Dense per bucket, indexed by series id; NaN where a series has no value.
  // (Hash maps per bucket took ~6x the memory for a thousand services.)
  std::map<int, std::vector<double>> buckets_;
  std::set<int> sources_[kSourceCount];
  std::unordered_map<uint64_t, std::string> examples_;  // (bucket, id)
};

}  // namespace custos::rca
