#include "collector/drift/quantile_sketch.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <string>

namespace custos::drift {
namespace {

// Bins() keys: positives above, negatives below zero, apart by more than any
// index (|index| < 2^31), so that key order is value order.
constexpr int64_t kKeyOffset = int64_t{1} << 40;

// Magnitudes below this count as zero: log() of subnormals is still finite but
// they are noise for every use this sketch has.
constexpr double kMinIndexable = DBL_MIN;

}  // namespace

namespace internal {

void BinStore::Add(int index, double count) {
  if (counts_.empty()) {
    counts_.assign(1, count);
    offset_ = index;
    return;
  }
  const int64_t cap = static_cast<int64_t>(max_bins_);
  const int64_t lo = offset_;
  const int64_t hi = highest_index();
  if (index < lo) {
    // Below the store: widen downwards, or if that breaks the cap, put the
    // count into the lowest bucket the cap allows.
    const int64_t target = std::max<int64_t>(index, hi - cap + 1);
    if (target > index) ++collapses_;
    if (target < lo) {
      counts_.insert(counts_.begin(), static_cast<size_t>(lo - target), 0.0);
      offset_ = static_cast<int>(target);
    }
    counts_[static_cast<size_t>(target - offset_)] += count;
    return;
  }
  if (index > hi) {
    // Above the store: widen upwards, folding the lowest buckets into the
    // lowest kept one if the span would break the cap.
    const int64_t new_lo = std::max<int64_t>(lo, int64_t{index} - cap + 1);
    if (new_lo > lo) {
      const size_t n_fold = static_cast<size_t>(std::min<int64_t>(new_lo - lo, hi - lo + 1));
      double folded = 0;
      for (size_t k = 0; k < n_fold; ++k) {
        if (counts_[k] != 0) {
          folded += counts_[k];
          ++collapses_;
        }
      }
      counts_.erase(counts_.begin(), counts_.begin() + static_cast<ptrdiff_t>(n_fold));
      offset_ = static_cast<int>(new_lo);
      counts_.resize(static_cast<size_t>(index - new_lo + 1), 0.0);
      counts_[0] += folded;
    } else {
      counts_.resize(static_cast<size_t>(index - lo + 1), 0.0);
    }
  }
  counts_[static_cast<size_t>(index - offset_)] += count;
}

}  // namespace internal

QuantileSketch::QuantileSketch() : QuantileSketch(kDefaultRelativeAccuracy, kDefaultMaxBinsPerStore) {}

QuantileSketch::QuantileSketch(double relative_accuracy, size_t max_bins_per_store)
    : relative_accuracy_(relative_accuracy),
      max_bins_(max_bins_per_store),
      gamma_((1 + relative_accuracy) / (1 - relative_accuracy)),
      log_gamma_(std::log(gamma_)),
      positive_(max_bins_per_store),
      negative_(max_bins_per_store),
      min_(std::numeric_limits<double>::infinity()),
      max_(-std::numeric_limits<double>::infinity()) {}

Result<QuantileSketch> QuantileSketch::Create(double relative_accuracy, size_t max_bins_per_store) {
  // The lower limit keeps every index of a finite double within an int.
  if (!(relative_accuracy >= 1e-4 && relative_accuracy <= 0.5)) {
    return InvalidArgument("sketch relative accuracy must be in [1e-4, 0.5], got " + std::to_string(relative_accuracy));
  }
  if (max_bins_per_store < 16) {
    return InvalidArgument("sketch needs at least 16 bins per store, got " + std::to_string(max_bins_per_store));
  }
  return QuantileSketch(relative_accuracy, max_bins_per_store);
}

int QuantileSketch::IndexOf(double magnitude) const {
  return static_cast<int>(std::ceil(std::log(magnitude) / log_gamma_));
}

double QuantileSketch::LowerBoundOf(int index) const { return std::exp((index - 1) * log_gamma_); }

double QuantileSketch::ValueOf(int index) const {
  // 2 gamma^i / (gamma + 1): at most alpha away, relatively, from both ends.
  return LowerBoundOf(index) * (2 * gamma_ / (gamma_ + 1));
}

void QuantileSketch::AddUnchecked(double value, double weight) {
  if (value >= kMinIndexable) {
    positive_.Add(IndexOf(value), weight);
  } else if (value <= -kMinIndexable) {
    negative_.Add(IndexOf(-value), weight);
  } else {
    zero_count_ += weight;
  }
  count_ += weight;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

Status QuantileSketch::Add(double value, double weight) {
  if (!std::isfinite(value)) {
    ++rejected_;
    return InvalidArgument("sketch value is not finite");
  }
  if (!std::isfinite(weight) || weight <= 0) {
    ++rejected_;
    return InvalidArgument("sketch weight must be finite and > 0, got " + std::to_string(weight));
  }
  AddUnchecked(value, weight);
  return Status::Ok();
}

Status QuantileSketch::AddHistogram(std::span<const double> bounds, std::span<const uint64_t> counts) {
  auto refuse = [this](const std::string& why) {
    ++rejected_;
    return InvalidArgument("explicit-bounds histogram: " + why);
  };
  if (bounds.empty()) return refuse("no bounds");
  if (counts.size() != bounds.size() + 1) {
    return refuse(std::to_string(counts.size()) + " counts for " + std::to_string(bounds.size()) +
                  " bounds (want bounds + 1)");
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) return refuse("bound " + std::to_string(i) + " is not finite");
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      return refuse("bounds are not strictly ascending at " + std::to_string(i));
    }
  }
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    double point;
    if (i == 0) {
      point = bounds.front();
    } else if (i == bounds.size()) {
      point = bounds.back();
    } else {
      point = bounds[i - 1] + (bounds[i] - bounds[i - 1]) / 2;  // no overflow near DBL_MAX
    }
    AddUnchecked(point, static_cast<double>(counts[i]));
  }
  return Status::Ok();
}

Status QuantileSketch::Merge(const QuantileSketch& other) {
  if (!SameMapping(other)) {
    return InvalidArgument("cannot merge sketches of relative accuracy " + std::to_string(other.relative_accuracy_) +
                           " into " + std::to_string(relative_accuracy_));
  }
  if (&other == this) {
    const QuantileSketch copy = other;  // NOLINT(performance-unnecessary-copy-initialization): aliases *this
    return Merge(copy);
  }
  auto merge_store = [](const internal::BinStore& from, internal::BinStore& to) {
    if (from.empty()) return;
    for (int i = from.lowest_index(); i <= from.highest_index(); ++i) {
      const double c = from.CountAt(i);
      if (c != 0) to.Add(i, c);
    }
  };
  merge_store(other.positive_, positive_);
  merge_store(other.negative_, negative_);
  zero_count_ += other.zero_count_;
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  return Status::Ok();
}

Result<double> QuantileSketch::Quantile(double q) const {
  if (!(q >= 0 && q <= 1)) return InvalidArgument("quantile must be in [0, 1], got " + std::to_string(q));
  if (empty()) return FailedPrecondition("quantile of an empty sketch");
  const double rank = q * (count_ - 1);
  auto clamp = [this](double v) { return std::clamp(v, min_, max_); };
  double cumulative = 0;
  if (!negative_.empty()) {
    for (int i = negative_.highest_index(); i >= negative_.lowest_index(); --i) {
      cumulative += negative_.CountAt(i);
      if (cumulative > rank) return clamp(-ValueOf(i));
    }
  }
  cumulative += zero_count_;
  if (cumulative > rank) return clamp(0.0);
  if (!positive_.empty()) {
    for (int i = positive_.lowest_index(); i <= positive_.highest_index(); ++i) {
      cumulative += positive_.CountAt(i);
      if (cumulative > rank) return clamp(ValueOf(i));
    }
  }
  return max_;  // rounding left the rank just past the last bucket
}

std::vector<SketchBin> QuantileSketch::Bins() const {
  std::vector<SketchBin> bins;
  bins.reserve(StorageSlots() + 1);
  if (!negative_.empty()) {
    for (int i = negative_.highest_index(); i >= negative_.lowest_index(); --i) {
      const double c = negative_.CountAt(i);
      if (c == 0) continue;
      const double lower_magnitude = LowerBoundOf(i);
      bins.push_back({-kKeyOffset - i, -lower_magnitude * gamma_, -lower_magnitude, -ValueOf(i), c});
    }
  }
  if (zero_count_ != 0) bins.push_back({0, 0, 0, 0, zero_count_});
  if (!positive_.empty()) {
    for (int i = positive_.lowest_index(); i <= positive_.highest_index(); ++i) {
      const double c = positive_.CountAt(i);
      if (c == 0) continue;
      const double lower = LowerBoundOf(i);
      bins.push_back({kKeyOffset + i, lower, lower * gamma_, ValueOf(i), c});
    }
  }
  return bins;
}

}  // namespace custos::drift
