#include "collector/drift/drift_measures.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

namespace custos::drift {
namespace {

struct FineComparison {
  double ks_d = 0;
  double w1 = 0;  // in the stream's unit
};

// Walks both bucket lists in key order, keeping both CDFs.
FineComparison CompareFine(const std::vector<SketchBin>& ref, double n_ref, const std::vector<SketchBin>& cur,
                           double n_cur) {
  FineComparison out;
  size_t i = 0, j = 0;
  // Cumulative weights, divided at each step: integer counts then give CDFs
  // of exactly 0 and 1 at the ends.
  double cum_ref = 0, cum_cur = 0, prev_gap = 0, prev_x = 0;
  while (i < ref.size() || j < cur.size()) {
    const bool take_ref = i < ref.size() && (j == cur.size() || ref[i].key <= cur[j].key);
    const int64_t key = take_ref ? ref[i].key : cur[j].key;
    const double x = take_ref ? ref[i].value : cur[j].value;
    // Both CDFs are flat between consecutive support points.
    out.w1 += prev_gap * (x - prev_x);
    if (i < ref.size() && ref[i].key == key) cum_ref += ref[i++].count;
    if (j < cur.size() && cur[j].key == key) cum_cur += cur[j++].count;
    prev_gap = std::abs(cum_ref / n_ref - cum_cur / n_cur);
    out.ks_d = std::max(out.ks_d, prev_gap);
    prev_x = x;
  }
  return out;
}

double StddevOf(const std::vector<SketchBin>& bins, double n) {
  double mean = 0;
  for (const SketchBin& b : bins) mean += b.count * b.value / n;
  double var = 0;
  for (const SketchBin& b : bins) var += b.count * (b.value - mean) * (b.value - mean) / n;
  return std::sqrt(var);
}

// Upper keys of the coarse bins inside the reference's range: bin k holds the
// fine keys in (cuts[k-1], cuts[k]]; the last cut is the reference's top key.
std::vector<int64_t> ReferenceCuts(const std::vector<SketchBin>& ref, double n_ref, int bins) {
  std::vector<int64_t> cuts;
  double cumulative = 0;
  int next = 1;
  for (const SketchBin& b : ref) {
    cumulative += b.count;
    while (next < bins && cumulative >= next * n_ref / bins) {
      if (cuts.empty() || cuts.back() != b.key) cuts.push_back(b.key);
      ++next;
    }
  }
  if (cuts.empty() || cuts.back() != ref.back().key) cuts.push_back(ref.back().key);
  return cuts;
}

// Per coarse bin, the fraction of the sketch's weight: index 0 is below the
// reference's lowest bucket, index cuts.size() + 1 above its highest.
std::vector<double> CoarseFractions(const std::vector<SketchBin>& bins, double n, const std::vector<int64_t>& cuts,
                                    int64_t ref_low_key) {
  std::vector<double> fractions(cuts.size() + 2, 0.0);
  for (const SketchBin& b : bins) {
    size_t k;
    if (b.key < ref_low_key) {
      k = 0;
    } else if (b.key > cuts.back()) {
      k = cuts.size() + 1;
    } else {
      k = 1 + static_cast<size_t>(std::lower_bound(cuts.begin(), cuts.end(), b.key) - cuts.begin());
    }
    fractions[k] += b.count / n;
  }
  return fractions;
}

}  // namespace

std::string_view ReportedQuantileName(size_t i) {
  static constexpr std::array<std::string_view, kReportedQuantiles.size()> kNames = {"p5", "p25", "p50", "p75", "p95"};
  return i < kNames.size() ? kNames[i] : "p?";
}

std::string_view ScaleKindName(ScaleKind kind) {
  switch (kind) {
    case ScaleKind::kIqr:
      return "IQR";
    case ScaleKind::kStddev:
      return "sd";
    case ScaleKind::kNone:
      return "units";
  }
  return "?";
}

double KolmogorovSurvival(double lambda) {
  if (lambda <= 0) return 1;
  if (lambda < 1.18) {
    // The alternating series converges slowly here; use the Jacobi theta
    // form of the CDF instead: sqrt(2 pi)/lambda sum exp(-(2j-1)^2 pi^2 / (8 lambda^2)).
    const double y = std::exp(-std::numbers::pi * std::numbers::pi / (8 * lambda * lambda));
    const double cdf =
        std::sqrt(2 * std::numbers::pi) / lambda * (y + std::pow(y, 9) + std::pow(y, 25) + std::pow(y, 49));
    return std::clamp(1 - cdf, 0.0, 1.0);
  }
  double sum = 0;
  for (int j = 1; j <= 8; ++j) {
    const double term = std::exp(-2.0 * j * j * lambda * lambda);
    sum += (j % 2 == 1) ? term : -term;
  }
  return std::clamp(2 * sum, 0.0, 1.0);
}

double KsPValue(double d, double n1, double n2) {
  if (!(d > 0) || !(n1 > 0) || !(n2 > 0)) return 1;
  const double root = std::sqrt(n1 * n2 / (n1 + n2));
  return KolmogorovSurvival((root + 0.12 + 0.11 / root) * d);
}

Status ValidateMeasureOptions(const MeasureOptions& options) {
  if (options.reference_quantile_bins < 2 || options.reference_quantile_bins > 1000) {
    return InvalidArgument("drift: reference_quantile_bins must be in [2, 1000]");
  }
  if (!(options.psi_epsilon > 0 && options.psi_epsilon <= 0.01)) {
    return InvalidArgument("drift: psi_epsilon must be in (0, 0.01]");
  }
  return Status::Ok();
}

Result<DriftMeasures> ComputeDrift(const QuantileSketch& reference, const QuantileSketch& current,
                                   const MeasureOptions& options) {
  if (!reference.SameMapping(current)) {
    return InvalidArgument("drift: reference and current sketches have different relative accuracies");
  }
  CUSTOS_RETURN_IF_ERROR(ValidateMeasureOptions(options));
  if (reference.empty() || current.empty()) {
    return FailedPrecondition(std::string("drift: the ") + (reference.empty() ? "reference" : "current") +
                              " sketch is empty");
  }
  const std::vector<SketchBin> ref = reference.Bins();
  const std::vector<SketchBin> cur = current.Bins();
  const double n_ref = reference.Count();
  const double n_cur = current.Count();

  DriftMeasures m;
  m.reference_count = n_ref;
  m.current_count = n_cur;
  for (size_t i = 0; i < kReportedQuantiles.size(); ++i) {
    // Cannot fail: both sketches are non-empty and the levels are in [0, 1].
    m.reference_quantiles[i] = *reference.Quantile(kReportedQuantiles[i]);
    m.current_quantiles[i] = *current.Quantile(kReportedQuantiles[i]);
  }

  const FineComparison fine = CompareFine(ref, n_ref, cur, n_cur);
  m.ks_d = fine.ks_d;
  m.ks_p_value = KsPValue(fine.ks_d, n_ref, n_cur);

  const double iqr = m.reference_quantiles[3] - m.reference_quantiles[1];
  const double stddev = StddevOf(ref, n_ref);
  if (iqr > 0) {
    m.scale = iqr;
    m.scale_kind = ScaleKind::kIqr;
  } else if (stddev > 0) {
    m.scale = stddev;
    m.scale_kind = ScaleKind::kStddev;
  }
  m.wasserstein = fine.w1 / m.scale;

  const std::vector<int64_t> cuts = ReferenceCuts(ref, n_ref, options.reference_quantile_bins);
  const std::vector<double> r = CoarseFractions(ref, n_ref, cuts, ref.front().key);
  const std::vector<double> c = CoarseFractions(cur, n_cur, cuts, ref.front().key);
  m.coarse_bins = static_cast<int>(r.size());
  for (size_t k = 0; k < r.size(); ++k) {
    const double re = std::max(r[k], options.psi_epsilon);
    const double ce = std::max(c[k], options.psi_epsilon);
    m.psi += (ce - re) * std::log(ce / re);
    const double mid = (r[k] + c[k]) / 2;
    if (r[k] > 0) m.js_bits += 0.5 * r[k] * std::log2(r[k] / mid);
    if (c[k] > 0) m.js_bits += 0.5 * c[k] * std::log2(c[k] / mid);
  }
  m.js_bits = std::clamp(m.js_bits, 0.0, 1.0);
  return m;
}

}  // namespace custos::drift
