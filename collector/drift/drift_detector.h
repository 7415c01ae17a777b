// DriftDetector: per named stream (a model feature, prediction or score, or a
// telemetry baseline), compares each closed time window with a reference and
// raises one alert per sustained, material shift.
//
//   CUSTOS_ASSIGN_OR_RETURN(DriftDetector detector,
//                           DriftDetector::Create({}, [&](const DriftEvent& e) { outbox.Send(e.message); }));
//   CUSTOS_RETURN_IF_ERROR(detector.Record("fraud.score", record_unix_nanos, score));
//   detector.Tick(clock.NowUnixNanos());   // closes windows of streams gone quiet
//
// Windows are [k * window, (k+1) * window) in unix nanos. A window closes when
// a record for a later window arrives or on Tick(now >= its end). The first
// reference_windows closed windows (with at least min_samples each) are merged
// into the stream's reference, unless SetReference gave one; each later
// window is compared with it (drift_measures.h). A window is material when
//   PSI >= psi_threshold && KS D >= ks_threshold && KS p-value < ks_max_p_value:
// PSI and D say the shift is large, the p-value that it is not sampling noise
// (a big D on 5 points is not significant; a tiny shift over 1e6 points is
// significant but fails the size thresholds). Windows under min_samples are
// skipped, counted, and neither extend nor break a run.
//
// sustain consecutive material windows raise ONE alert (DriftEvent kRaised);
// while drifted nothing more is raised; clear consecutive non-material windows
// resolve it (kResolved) and a later episode may alert again. The reference is
// not adapted: after a lasting change, SetReference or ResetReference.
//
// Bounds: at most max_streams streams; records of further new streams are
// refused (RESOURCE_EXHAUSTED) and counted. Each stream holds up to three
// sketches (reference, open window, current run), each at most
// 2 * max_bins_per_store * 8 bytes. Late records (before the open window,
// or before the end of the last closed one) are refused and counted.
//
// Not thread-safe: one owner (the collector's ingest thread) calls it. The
// callback runs on the caller's thread from Record or Tick, after the
// detector's state is updated; it must not call back into the detector.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collector/drift/drift_measures.h"
#include "collector/drift/quantile_sketch.h"
#include "common/status.h"

namespace custos::drift {

struct DetectorConfig {
  int64_t window_nanos = int64_t{300} * 1'000'000'000;  // 5 min
  int reference_windows = 6;
  double psi_threshold = 0.2;  // PSI < 0.1 is customarily "stable", > 0.25 "shifted"
  double ks_threshold = 0.1;
  double ks_max_p_value = 0.01;
  double min_samples = 200;  // total weight a window needs to be judged
  int sustain = 3;
  int clear = 3;
  size_t max_streams = 10'000;
  double relative_accuracy = kDefaultRelativeAccuracy;
  size_t max_bins_per_store = kDefaultMaxBinsPerStore;
  // A quantile is named in the message when it moved by at least this
  // fraction of the reference scale (its IQR).
  double quantile_move_fraction = 0.1;
  MeasureOptions measures;
};

enum class DriftEventKind { kRaised, kResolved };
std::string_view DriftEventKindName(DriftEventKind kind);  // "raised", "resolved"

struct DriftEvent {
  std::string stream;
  DriftEventKind kind = DriftEventKind::kRaised;
  int64_t window_start_unix_nanos = 0;  // the window that completed the run
  int64_t window_end_unix_nanos = 0;
  int64_t run_start_unix_nanos = 0;  // the run's first window
  int windows = 0;                   // windows in the run (sustain or clear)
  DriftMeasures measures;            // the reference vs the run's windows merged
  // e.g. "score drifted: PSI 0.41, KS 0.23 (p<1e-6), JS 0.12 bits, W1 0.35 IQR
  // over 3 windows; p50 0.31→0.52, p95 0.8→0.97"
  std::string message;
};

using DriftCallback = std::function<void(const DriftEvent&)>;

// Monotonic counters, except streams.
struct DetectorCounters {
  uint64_t streams = 0;           // tracked now
  uint64_t records = 0;           // accepted into a window
  uint64_t records_rejected = 0;  // NaN/inf values, bad weights or histograms
  uint64_t records_late = 0;
  uint64_t records_over_stream_bound = 0;  // for streams past max_streams
  uint64_t windows_reference = 0;          // merged into a reference
  uint64_t windows_evaluated = 0;
  uint64_t windows_material = 0;
  uint64_t windows_skipped_small = 0;  // under min_samples
  uint64_t bin_collapses = 0;          // in closed windows' sketches
  uint64_t alerts_raised = 0;
  uint64_t alerts_resolved = 0;
};

// One stream's state, for APIs and tests.
struct StreamStatus {
  bool reference_ready = false;
  int reference_windows = 0;  // merged so far
  double reference_count = 0;
  bool drifted = false;
  int run_windows = 0;                         // consecutive windows toward the next event
  std::optional<DriftMeasures> last_measures;  // of the last evaluated window
  bool last_material = false;
};

class DriftDetector {
 public:
  // INVALID_ARGUMENT naming the first bad field of `config`, or if on_event
  // is empty.
  static Result<DriftDetector> Create(const DetectorConfig& config, DriftCallback on_event);

  DriftDetector(DriftDetector&&) noexcept;
  DriftDetector& operator=(DriftDetector&&) noexcept;
  ~DriftDetector();

  // Adds `value` (weight > 0) to `stream`'s window holding `unix_nanos`,
  // closing the open window first if this one is later. INVALID_ARGUMENT for
  // a non-finite value, a bad weight, a negative timestamp or a late record;
  // RESOURCE_EXHAUSTED for a new stream past max_streams. Each refusal is
  // counted; a refused record starts no stream.
  Status Record(std::string_view stream, int64_t unix_nanos, double value, double weight = 1.0);

  // As Record, for an explicit-bounds histogram (QuantileSketch::AddHistogram).
  Status RecordHistogram(std::string_view stream, int64_t unix_nanos, std::span<const double> bounds,
                         std::span<const uint64_t> counts);

  // Closes every open window that ends at or before now_unix_nanos.
  void Tick(int64_t now_unix_nanos);

  // Replaces `stream`'s reference (tracking the stream if new) and ends any
  // episode silently. INVALID_ARGUMENT if `reference` is empty or has another
  // relative accuracy; RESOURCE_EXHAUSTED past max_streams.
  Status SetReference(std::string_view stream, const QuantileSketch& reference);

  // Forgets `stream`'s reference and episode: the next reference_windows
  // windows build a new one. NOT_FOUND for an untracked stream.
  Status ResetReference(std::string_view stream);

  std::optional<StreamStatus> Stream(std::string_view stream) const;
  DetectorCounters counters() const { return counters_; }
  const DetectorConfig& config() const { return config_; }

 private:
  struct StreamState;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using StreamMap = std::unordered_map<std::string, std::unique_ptr<StreamState>, StringHash, std::equal_to<>>;

  DriftDetector(const DetectorConfig& config, DriftCallback on_event);

  // Finds or starts tracking `stream`; nullptr (and counted) past max_streams.
  StreamMap::value_type* FindOrAdd(std::string_view stream);
  // The stream a record goes to, its window open: closes an earlier window;
  // refuses (and counts) bad timestamps, late records, streams past the bound.
  Result<StreamState*> Admit(std::string_view stream, int64_t unix_nanos);
  void CloseWindow(const std::string& name, StreamState& s);
  void Evaluate(const std::string& name, StreamState& s, int64_t start, int64_t end);
  QuantileSketch NewSketch() const;
  void Deliver();

  // Constant after construction.
  DetectorConfig config_;
  DriftCallback on_event_;

  StreamMap streams_;
  DetectorCounters counters_;
  std::vector<DriftEvent> pending_;  // raised by the current call, delivered at its end
};

}  // namespace custos::drift
