#include "common/metrics.h"

#include <cstdio>

namespace custos {
namespace {

std::string RenderLabels(const MetricLabels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first;
    out += "=\"";
    for (char c : labels[i].second) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = families_[name];
  f.help = help;
  f.is_counter = true;
  auto [it, inserted] = f.series.try_emplace(RenderLabels(labels), counters_.size());
  if (inserted) counters_.emplace_back();
  return counters_[it->second];
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = families_[name];
  f.help = help;
  f.is_counter = false;
  auto [it, inserted] = f.series.try_emplace(RenderLabels(labels), gauges_.size());
  if (inserted) gauges_.emplace_back();
  return gauges_[it->second];
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + (f.is_counter ? " counter\n" : " gauge\n");
    for (const auto& [labels, idx] : f.series) {
      out += name + labels + " ";
      out += f.is_counter ? std::to_string(counters_[idx].value()) : std::to_string(gauges_[idx].value());
      out += '\n';
    }
  }
  return out;
}

std::vector<std::pair<std::string, double>> MetricsRegistry::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [name, f] : families_) {
    for (const auto& [labels, idx] : f.series) {
      double v = f.is_counter ? static_cast<double>(counters_[idx].value())
                              : static_cast<double>(gauges_[idx].value());
      out.emplace_back(name + labels, v);
    }
  }
  return out;
}

double MetricsRegistry::Value(const std::string& name, const MetricLabels& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto fit = families_.find(name);
  if (fit == families_.end()) return 0;
  auto sit = fit->second.series.find(RenderLabels(labels));
  if (sit == fit->second.series.end()) return 0;
  return fit->second.is_counter ? static_cast<double>(counters_[sit->second].value())
                                : static_cast<double>(gauges_[sit->second].value());
}

}  // namespace custos
