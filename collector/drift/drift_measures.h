// Distribution-shift measures between a reference and a current window, each
// summarised by a QuantileSketch with the same mapping.
//
//   CUSTOS_ASSIGN_OR_RETURN(DriftMeasures m, ComputeDrift(reference, current));
//   if (m.psi >= 0.2 && m.ks_d >= 0.1 && m.ks_p_value < 0.01) { ... }
//
// What is computed, and on which bins:
//  * KS D and Wasserstein-1 use the fine sketch buckets (~2% wide at alpha
//    0.01): D is the largest CDF difference at bucket boundaries (a lower
//    bound of the exact D, since ties inside a bucket are invisible); W1 is
//    the integral of |F_ref - F_cur| with each bucket's mass at its
//    representative value, divided by a reference scale so it is unit-free.
//  * PSI and Jensen-Shannon use coarse bins: thousands of fine buckets with a
//    few thousand samples are mostly empty, and PSI over them measures noise.
//    The coarse bins are the reference's ventiles (20 bins of ~5% reference
//    mass, fewer if one fine bucket holds more than 5%), cut at fine bucket
//    boundaries, plus two open bins for values below the reference's minimum
//    and above its maximum: mass outside the reference's range is the
//    clearest shift there is and must not be hidden in the end bins.
//  * PSI = sum (c - r) ln(c / r) over the coarse bins, an empty bin counted as
//    psi_epsilon (1e-4). JS is in bits, so 0 <= JS <= 1 (1 for disjoint).
//  * The KS p-value is the asymptotic Kolmogorov one with the effective size
//    n1 n2 / (n1 + n2), counts being sketch weights.
//
// Thread-safe: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "collector/drift/quantile_sketch.h"
#include "common/status.h"

namespace custos::drift {

// The quantiles every DriftMeasures reports, and their names ("p5" ... "p95").
inline constexpr std::array<double, 5> kReportedQuantiles = {0.05, 0.25, 0.50, 0.75, 0.95};
std::string_view ReportedQuantileName(size_t i);

// What DriftMeasures::wasserstein is divided by.
enum class ScaleKind {
  kIqr,     // the reference's p75 - p25
  kStddev,  // the reference's standard deviation, when its IQR is 0
  kNone,    // a constant reference: W1 is left in the stream's own unit
};
std::string_view ScaleKindName(ScaleKind kind);  // "IQR", "sd", "units"

struct DriftMeasures {
  double psi = 0;          // population stability index, coarse bins
  double ks_d = 0;         // Kolmogorov-Smirnov statistic, 0..1
  double ks_p_value = 1;   // asymptotic two-sample p-value of ks_d
  double js_bits = 0;      // Jensen-Shannon divergence in bits, 0..1
  double wasserstein = 0;  // W1 / scale
  double scale = 1;        // the reference scale W1 was divided by
  ScaleKind scale_kind = ScaleKind::kNone;
  double reference_count = 0;  // sketch weights
  double current_count = 0;
  int coarse_bins = 0;  // bins PSI and JS used, the two outer ones included
  // At kReportedQuantiles.
  std::array<double, kReportedQuantiles.size()> reference_quantiles{};
  std::array<double, kReportedQuantiles.size()> current_quantiles{};
};

struct MeasureOptions {
  int reference_quantile_bins = 20;  // coarse bins inside the reference's range
  double psi_epsilon = 1e-4;         // stands for an empty coarse bin in PSI
};

// INVALID_ARGUMENT unless 2 <= reference_quantile_bins <= 1000 and
// 0 < psi_epsilon <= 0.01.
Status ValidateMeasureOptions(const MeasureOptions& options);

// INVALID_ARGUMENT if the sketches have different mappings or the options are
// invalid; FAILED_PRECONDITION if either sketch is empty.
Result<DriftMeasures> ComputeDrift(const QuantileSketch& reference, const QuantileSketch& current,
                                   const MeasureOptions& options = {});

// Q_KS(lambda) = 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 lambda^2): the probability
// that the scaled KS statistic exceeds lambda under the null.
double KolmogorovSurvival(double lambda);

// Two-sample asymptotic p-value of statistic d for sample sizes n1 and n2
// (Stephens' small-sample correction of lambda). 1 when d <= 0.
double KsPValue(double d, double n1, double n2);

}  // namespace custos::drift
