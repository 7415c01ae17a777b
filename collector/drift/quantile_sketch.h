// QuantileSketch: a mergeable, bounded-memory sketch of a stream of doubles
// with relative-accuracy quantiles (DDSketch, Masson et al., VLDB 2019).
//
//   QuantileSketch sketch;                       // alpha 0.01, 2048 bins per store
//   CUSTOS_RETURN_IF_ERROR(sketch.Add(latency_ms));
//   CUSTOS_RETURN_IF_ERROR(other.Merge(sketch));
//   CUSTOS_ASSIGN_OR_RETURN(double p99, sketch.Quantile(0.99));
//
// A positive value v goes to bucket i = ceil(log_gamma(v)), gamma =
// (1+alpha)/(1-alpha), which covers (gamma^(i-1), gamma^i]; negative values go
// to a mirrored store by |v|; |v| below DBL_MIN counts as zero. Every quantile
// is then within alpha * |exact| of the exact order statistic of rank
// floor(q * (count - 1)), for as long as no bins were collapsed.
//
// Memory: each store is a dense array spanning its lowest to highest index,
// capped at max_bins_per_store slots of 8 bytes. When a value would widen a
// store past the cap, the lowest-magnitude bins are folded into the lowest
// kept one (values nearest zero lose accuracy first); each fold is counted in
// collapses(). At alpha 0.01 the default 2048 bins cover a dynamic range of
// ~1e17 per sign, so collapses are rare for real data.
//
// Two sketches with the same mapping (same alpha) have identical bucket
// boundaries: Bins() lists them with a key that orders them by value, so the
// drift measures can compare sketches bucket by bucket.
//
// Not thread-safe: a value type with one owner at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"

namespace custos::drift {

inline constexpr double kDefaultRelativeAccuracy = 0.01;
inline constexpr size_t kDefaultMaxBinsPerStore = 2048;

// One non-empty bucket of a sketch.
struct SketchBin {
  int64_t key = 0;   // orders buckets by value; same key = same interval for the same alpha
  double lower = 0;  // the bucket covers (lower, upper] for positives,
  double upper = 0;  // [lower, upper) for negatives, {0} for the zero bucket
  double value = 0;  // representative value, within alpha of any value in the bucket
  double count = 0;  // total weight
};

namespace internal {

// A dense array of bucket counts indexed from offset_, never wider than
// max_bins; see the header comment for how it collapses.
class BinStore {
 public:
  explicit BinStore(size_t max_bins) : max_bins_(max_bins) {}

  void Add(int index, double count);
  bool empty() const { return counts_.empty(); }
  int lowest_index() const { return offset_; }
  int highest_index() const { return offset_ + static_cast<int>(counts_.size()) - 1; }
  // Precondition: lowest_index() <= index <= highest_index().
  double CountAt(int index) const { return counts_[static_cast<size_t>(index - offset_)]; }
  size_t slots() const { return counts_.size(); }
  uint64_t collapses() const { return collapses_; }

 private:
  size_t max_bins_;
  std::vector<double> counts_;
  int offset_ = 0;  // the index of counts_[0]
  uint64_t collapses_ = 0;
};

}  // namespace internal

class QuantileSketch {
 public:
  // alpha = kDefaultRelativeAccuracy, kDefaultMaxBinsPerStore bins per store.
  QuantileSketch();

  // INVALID_ARGUMENT unless 1e-4 <= relative_accuracy <= 0.5 and
  // max_bins_per_store >= 16.
  static Result<QuantileSketch> Create(double relative_accuracy, size_t max_bins_per_store = kDefaultMaxBinsPerStore);

  // Adds `value` with `weight` (default 1). INVALID_ARGUMENT, counted in
  // rejected() and nothing added, if value is NaN or infinite or weight is not
  // finite and > 0.
  Status Add(double value, double weight = 1.0);

  // Adds a pre-aggregated explicit-bounds histogram (OpenTelemetry,
  // Prometheus): bounds strictly ascending and finite, counts.size() ==
  // bounds.size() + 1, counts[i] the number in (bounds[i-1], bounds[i]].
  // Each bucket's count goes to one representative point: the midpoint of a
  // finite bucket, the finite bound of the two open-ended ones. All or
  // nothing: INVALID_ARGUMENT (counted in rejected()) adds nothing.
  Status AddHistogram(std::span<const double> bounds, std::span<const uint64_t> counts);

  // Adds every bucket of `other`. INVALID_ARGUMENT if the relative accuracies
  // differ (the buckets would not line up). The bin cap stays this sketch's.
  Status Merge(const QuantileSketch& other);

  // The value of rank floor(q * (Count() - 1)), within the relative accuracy
  // and clamped to [min(), max()]. INVALID_ARGUMENT unless 0 <= q <= 1;
  // FAILED_PRECONDITION if the sketch is empty.
  Result<double> Quantile(double q) const;

  // The non-empty buckets in ascending value order (negatives, zero, positives).
  std::vector<SketchBin> Bins() const;

  // True when both sketches bucket values identically (same alpha).
  bool SameMapping(const QuantileSketch& other) const { return relative_accuracy_ == other.relative_accuracy_; }

  double Count() const { return count_; }  // total weight added
  bool empty() const { return count_ == 0; }
  double min() const { return min_; }  // +inf while empty
  double max() const { return max_; }  // -inf while empty
  double relative_accuracy() const { return relative_accuracy_; }
  size_t max_bins_per_store() const { return max_bins_; }
  // Dense slots in use across both stores (the memory is 8 bytes each).
  size_t StorageSlots() const { return positive_.slots() + negative_.slots(); }
  // Buckets folded into a coarser one because of the bin cap.
  uint64_t collapses() const { return positive_.collapses() + negative_.collapses(); }
  // Add / AddHistogram calls refused as invalid.
  uint64_t rejected() const { return rejected_; }

 private:
  QuantileSketch(double relative_accuracy, size_t max_bins_per_store);

  // Bucket index of a value > 0 (|v| for negatives).
  int IndexOf(double magnitude) const;
  // Bucket bounds and representative value of index i, as magnitudes.
  double LowerBoundOf(int index) const;
  double ValueOf(int index) const;
  void AddUnchecked(double value, double weight);

  double relative_accuracy_;
  size_t max_bins_;
  double gamma_;
  double log_gamma_;
  internal::BinStore positive_;
  internal::BinStore negative_;  // indexed by |v|
  double zero_count_ = 0;
  double count_ = 0;
  double min_;
  double max_;
  uint64_t rejected_ = 0;
};

}  // namespace custos::drift
