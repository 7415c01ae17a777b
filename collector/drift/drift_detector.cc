#include "collector/drift/drift_detector.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <tuple>
#include <utility>

#include "common/log.h"

namespace custos::drift {

struct DriftDetector::StreamState {
  explicit StreamState(const QuantileSketch& empty) : reference(empty), window(empty), run(empty) {}

  QuantileSketch reference;
  int reference_windows = 0;
  bool reference_ready = false;

  QuantileSketch window;
  bool window_open = false;
  int64_t window_start = 0;
  int64_t closed_until = std::numeric_limits<int64_t>::min();  // earlier records are late

  QuantileSketch run;  // the windows of the run toward the next event, merged
  int run_windows = 0;
  int64_t run_start = 0;
  bool drifted = false;

  std::optional<DriftMeasures> last_measures;
  bool last_material = false;
};

namespace {

// The detector's own sketches share one mapping, so merging and comparing
// them cannot fail; if it does, the detector is broken.
void CheckOk(const Status& status, const char* what) {
  if (status.ok()) return;
  log::Error("drift", std::string(what) + " failed", {{"status", status.ToString()}});
  std::abort();
}

__attribute__((format(printf, 2, 3))) void Appendf(std::string& out, const char* format, ...) {
  char buf[256];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buf, sizeof(buf), format, args);
  va_end(args);
  if (n > 0) out.append(buf, std::min(static_cast<size_t>(n), sizeof(buf) - 1));
}

std::string DescribeEvent(const std::string& stream, const DriftEvent& e, double move_fraction) {
  const DriftMeasures& m = e.measures;
  const bool raised = e.kind == DriftEventKind::kRaised;
  std::string out = stream + (raised ? " drifted: " : " back to reference: ");
  Appendf(out, "PSI %.2f, KS %.2f ", m.psi, m.ks_d);
  if (m.ks_p_value < 1e-6) {
    out += "(p<1e-6)";
  } else {
    Appendf(out, "(p=%.2g)", m.ks_p_value);
  }
  Appendf(out, ", JS %.2f bits, W1 %.2f %s over %d windows", m.js_bits, m.wasserstein,
          std::string(ScaleKindName(m.scale_kind)).c_str(), e.windows);
  if (!raised) return out;
  // Name the quantiles that moved by a material fraction of the reference
  // scale, in level order.
  const double threshold = move_fraction * m.scale;
  std::string movers;
  for (size_t i = 0; i < kReportedQuantiles.size(); ++i) {
    const double ref = m.reference_quantiles[i];
    const double cur = m.current_quantiles[i];
    if (std::abs(cur - ref) < threshold) continue;
    Appendf(movers, "%s%s %.3g\u2192%.3g", movers.empty() ? "" : ", ", std::string(ReportedQuantileName(i)).c_str(),
            ref, cur);
  }
  if (movers.empty()) {
    Appendf(out, "; no reported quantile moved by %.0f%% of the reference %s (a change of shape)", 100 * move_fraction,
            std::string(ScaleKindName(m.scale_kind)).c_str());
  } else {
    out += "; " + movers;
  }
  return out;
}

Status ValidateConfig(const DetectorConfig& c) {
  if (c.window_nanos <= 0) return InvalidArgument("drift: window_nanos must be > 0");
  if (c.reference_windows < 1) return InvalidArgument("drift: reference_windows must be >= 1");
  if (!(c.psi_threshold > 0) || !std::isfinite(c.psi_threshold)) {
    return InvalidArgument("drift: psi_threshold must be finite and > 0");
  }
  if (!(c.ks_threshold > 0 && c.ks_threshold <= 1)) return InvalidArgument("drift: ks_threshold must be in (0, 1]");
  if (!(c.ks_max_p_value > 0 && c.ks_max_p_value <= 1)) {
    return InvalidArgument("drift: ks_max_p_value must be in (0, 1]");
  }
  if (!(c.min_samples >= 1) || !std::isfinite(c.min_samples)) {
    return InvalidArgument("drift: min_samples must be finite and >= 1");
  }
  if (c.sustain < 1) return InvalidArgument("drift: sustain must be >= 1");
  if (c.clear < 1) return InvalidArgument("drift: clear must be >= 1");
  if (c.max_streams < 1) return InvalidArgument("drift: max_streams must be >= 1");
  if (!(c.quantile_move_fraction >= 0) || !std::isfinite(c.quantile_move_fraction)) {
    return InvalidArgument("drift: quantile_move_fraction must be finite and >= 0");
  }
  CUSTOS_RETURN_IF_ERROR(QuantileSketch::Create(c.relative_accuracy, c.max_bins_per_store).status());
  return ValidateMeasureOptions(c.measures);
}

}  // namespace

std::string_view DriftEventKindName(DriftEventKind kind) {
  switch (kind) {
    case DriftEventKind::kRaised:
      return "raised";
    case DriftEventKind::kResolved:
      return "resolved";
  }
  return "?";
}

Result<DriftDetector> DriftDetector::Create(const DetectorConfig& config, DriftCallback on_event) {
  CUSTOS_RETURN_IF_ERROR(ValidateConfig(config));
  if (!on_event) return InvalidArgument("drift: the event callback is empty");
  return DriftDetector(config, std::move(on_event));
}

DriftDetector::DriftDetector(const DetectorConfig& config, DriftCallback on_event)
    : config_(config), on_event_(std::move(on_event)) {}
DriftDetector::DriftDetector(DriftDetector&&) noexcept = default;
DriftDetector& DriftDetector::operator=(DriftDetector&&) noexcept = default;
DriftDetector::~DriftDetector() = default;

QuantileSketch DriftDetector::NewSketch() const {
  Result<QuantileSketch> sketch = QuantileSketch::Create(config_.relative_accuracy, config_.max_bins_per_store);
  CheckOk(sketch.status(), "creating a sketch from a validated config");
  return std::move(sketch).value();
}

DriftDetector::StreamMap::value_type* DriftDetector::FindOrAdd(std::string_view stream) {
  if (auto it = streams_.find(stream); it != streams_.end()) return &*it;
  if (streams_.size() >= config_.max_streams) {
    ++counters_.records_over_stream_bound;
    return nullptr;
  }
  auto added = streams_.emplace(std::string(stream), std::make_unique<StreamState>(NewSketch())).first;
  counters_.streams = streams_.size();
  return &*added;
}

Status DriftDetector::Record(std::string_view stream, int64_t unix_nanos, double value, double weight) {
  if (!std::isfinite(value) || !std::isfinite(weight) || weight <= 0) {
    ++counters_.records_rejected;
    return InvalidArgument("drift: stream " + std::string(stream) + ": value must be finite, weight finite and > 0");
  }
  Result<StreamState*> s = Admit(stream, unix_nanos);
  if (s.ok()) {
    CheckOk((*s)->window.Add(value, weight), "adding a checked value");
    ++counters_.records;
  }
  Deliver();
  return s.status();
}

Status DriftDetector::RecordHistogram(std::string_view stream, int64_t unix_nanos, std::span<const double> bounds,
                                      std::span<const uint64_t> counts) {
  // Checked in a scratch sketch first so that a bad histogram changes nothing.
  QuantileSketch histogram = NewSketch();
  if (Status bad = histogram.AddHistogram(bounds, counts); !bad.ok()) {
    ++counters_.records_rejected;
    return bad.WithContext("drift: stream " + std::string(stream));
  }
  Result<StreamState*> s = Admit(stream, unix_nanos);
  if (s.ok()) {
    CheckOk((*s)->window.Merge(histogram), "merging a histogram into its window");
    ++counters_.records;
  }
  Deliver();
  return s.status();
}

Result<DriftDetector::StreamState*> DriftDetector::Admit(std::string_view stream, int64_t unix_nanos) {
  if (unix_nanos < 0 || unix_nanos > std::numeric_limits<int64_t>::max() - config_.window_nanos) {
    ++counters_.records_rejected;
    return InvalidArgument("drift: stream " + std::string(stream) + ": timestamp out of range");
  }
  StreamMap::value_type* entry = FindOrAdd(stream);
  if (entry == nullptr) {
    return ResourceExhausted("drift: already tracking max_streams (" + std::to_string(config_.max_streams) +
                             ") streams; stream " + std::string(stream) + " is not tracked");
  }
  StreamState& s = *entry->second;
  const int64_t start = unix_nanos - unix_nanos % config_.window_nanos;
  if (s.window_open && start > s.window_start) CloseWindow(entry->first, s);
  if (s.window_open ? start < s.window_start : unix_nanos < s.closed_until) {
    ++counters_.records_late;
    return InvalidArgument("drift: stream " + entry->first + ": late record, its window is closed");
  }
  if (!s.window_open) {
    s.window_open = true;
    s.window_start = start;
  }
  return &s;
}

void DriftDetector::Tick(int64_t now_unix_nanos) {
  for (auto& [name, s] : streams_) {
    if (s->window_open && now_unix_nanos >= s->window_start + config_.window_nanos) CloseWindow(name, *s);
  }
  // Map order is arbitrary; deliver in a stable one.
  std::sort(pending_.begin(), pending_.end(), [](const DriftEvent& a, const DriftEvent& b) {
    return std::tie(a.window_end_unix_nanos, a.stream) < std::tie(b.window_end_unix_nanos, b.stream);
  });
  Deliver();
}

void DriftDetector::CloseWindow(const std::string& name, StreamState& s) {
  const int64_t start = s.window_start;
  const int64_t end = start + config_.window_nanos;
  counters_.bin_collapses += s.window.collapses();
  s.window_open = false;
  s.closed_until = end;
  if (s.window.Count() < config_.min_samples) {
    ++counters_.windows_skipped_small;
  } else if (!s.reference_ready) {
    CheckOk(s.reference.Merge(s.window), "merging a window into the reference");
    ++counters_.windows_reference;
    s.reference_ready = ++s.reference_windows >= config_.reference_windows;
  } else {
    Evaluate(name, s, start, end);
  }
  s.window = NewSketch();
}

void DriftDetector::Evaluate(const std::string& name, StreamState& s, int64_t start, int64_t end) {
  Result<DriftMeasures> m = ComputeDrift(s.reference, s.window, config_.measures);
  CheckOk(m.status(), "comparing a window with its reference");
  const bool material =
      m->psi >= config_.psi_threshold && m->ks_d >= config_.ks_threshold && m->ks_p_value < config_.ks_max_p_value;
  ++counters_.windows_evaluated;
  if (material) ++counters_.windows_material;
  s.last_measures = *m;
  s.last_material = material;

  // A run moves toward the next event: material windows while stable,
  // non-material ones while drifted. Anything else breaks it.
  const bool toward_event = s.drifted ? !material : material;
  if (!toward_event) {
    if (s.run_windows > 0) {
      s.run_windows = 0;
      s.run = NewSketch();
    }
    return;
  }
  if (s.run_windows == 0) s.run_start = start;
  CheckOk(s.run.Merge(s.window), "merging a window into its run");
  ++s.run_windows;
  if (s.run_windows < (s.drifted ? config_.clear : config_.sustain)) return;

  Result<DriftMeasures> run_measures = ComputeDrift(s.reference, s.run, config_.measures);
  CheckOk(run_measures.status(), "comparing a run with its reference");
  DriftEvent event;
  event.stream = name;
  event.kind = s.drifted ? DriftEventKind::kResolved : DriftEventKind::kRaised;
  event.window_start_unix_nanos = start;
  event.window_end_unix_nanos = end;
  event.run_start_unix_nanos = s.run_start;
  event.windows = s.run_windows;
  event.measures = *run_measures;
  event.message = DescribeEvent(name, event, config_.quantile_move_fraction);
  ++(s.drifted ? counters_.alerts_resolved : counters_.alerts_raised);
  pending_.push_back(std::move(event));
  s.drifted = !s.drifted;
  s.run_windows = 0;
  s.run = NewSketch();
}

void DriftDetector::Deliver() {
  if (pending_.empty()) return;
  std::vector<DriftEvent> events;
  events.swap(pending_);
  for (const DriftEvent& e : events) on_event_(e);
}

Status DriftDetector::SetReference(std::string_view stream, const QuantileSketch& reference) {
  if (reference.empty()) return InvalidArgument("drift: stream " + std::string(stream) + ": empty reference");
  QuantileSketch copy = NewSketch();  // keeps this detector's bin cap
  if (Status s = copy.Merge(reference); !s.ok()) return s.WithContext("drift: stream " + std::string(stream));
  StreamMap::value_type* entry = FindOrAdd(stream);
  if (entry == nullptr) {
    return ResourceExhausted("drift: already tracking max_streams (" + std::to_string(config_.max_streams) +
                             ") streams; stream " + std::string(stream) + " is not tracked");
  }
  StreamState& s = *entry->second;
  s.reference = std::move(copy);
  s.reference_windows = 0;
  s.reference_ready = true;
  s.drifted = false;
  s.run_windows = 0;
  s.run = NewSketch();
  return Status::Ok();
}

Status DriftDetector::ResetReference(std::string_view stream) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return NotFound("drift: stream " + std::string(stream) + " is not tracked");
  StreamState& s = *it->second;
  s.reference = NewSketch();
  s.reference_windows = 0;
  s.reference_ready = false;
  s.drifted = false;
  s.run_windows = 0;
  s.run = NewSketch();
  s.last_measures.reset();
  s.last_material = false;
  return Status::Ok();
}

std::optional<StreamStatus> DriftDetector::Stream(std::string_view stream) const {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return std::nullopt;
  const StreamState& s = *it->second;
  StreamStatus out;
  out.reference_ready = s.reference_ready;
  out.reference_windows = s.reference_windows;
  out.reference_count = s.reference.Count();
  out.drifted = s.drifted;
  out.run_windows = s.run_windows;
  out.last_measures = s.last_measures;
  out.last_material = s.last_material;
  return out;
}

}  // namespace custos::drift
