#include "collector/rca/series_frame.h"

#include <algorithm>

namespace custos::rca {

std::string SeriesPart(std::string_view text) {
  std::string out(text);
  std::replace(out.begin(), out.end(), '|', '/');
  return out;
}

std::string MaskDigits(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') {
      out.push_back(text[i]);
      continue;
    }
    out += "<n>";
    while (i + 1 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '9') ++i;
  }
  return out;
}

Source SourceOf(std::string_view name) {
  switch (name.empty() ? 'M' : name[0]) {
    case 'T':
      return Source::kTrace;
    case 'L':
      return Source::kLog;
    case 'G':
    case 'A':
      return Source::kEvent;
    default:
      return Source::kMetric;
  }
}

int SeriesFrame::Bucket(int64_t unix_nanos) const {
  int64_t d = unix_nanos - anchor_;
  int64_t b = d / kBucketNanos;
  if (d < 0 && b * kBucketNanos != d) --b;  // floor, not truncation
  return static_cast<int>(b);
}

static std::string Key(std::string_view entity, std::string_view name) {
  std::string key;
  key.reserve(entity.size() + name.size() + 1);
  key.append(entity).push_back('\x1f');
  key.append(name);
  return key;
}

SeriesId SeriesFrame::Intern(std::string_view entity, std::string_view name) {
  auto [it, inserted] = index_.try_emplace(Key(entity, name), static_cast<SeriesId>(series_.size()));
  if (inserted) series_.push_back({std::string(entity), std::string(name)});
  return it->second;
}

bool SeriesFrame::Find(std::string_view entity, std::string_view name, SeriesId* id) const {
  auto it = index_.find(Key(entity, name));
  if (it == index_.end()) return false;
  *id = it->second;
  return true;
}

double& SeriesFrame::Slot(int bucket, SeriesId id) {
  std::vector<double>& values = buckets_[bucket];
  if (id >= values.size()) values.resize(std::max<size_t>(id + 1, series_.size()), std::nan(""));
  return values[id];
}

const double* SeriesFrame::Get(int bucket, SeriesId id) const {
  auto b = buckets_.find(bucket);
  if (b == buckets_.end() || id >= b->second.size() || std::isnan(b->second[id])) return nullptr;
  return &b->second[id];
}

std::vector<int> SeriesFrame::BucketsWithValues() const {
  std::vector<int> out;
  for (const auto& [b, values] : buckets_) out.push_back(b);
  return out;
}

static uint64_t ExampleKey(int bucket, SeriesId id) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(bucket)) << 32) | id;
}

void SeriesFrame::SetExample(int bucket, SeriesId id, std::string_view text, bool replace) {
  constexpr size_t kMaxExample = 300;
  std::string& slot = examples_[ExampleKey(bucket, id)];
  if (slot.empty() || replace) slot.assign(text.substr(0, kMaxExample));
}

const std::string* SeriesFrame::Example(int bucket, SeriesId id) const {
  auto it = examples_.find(ExampleKey(bucket, id));
  return it == examples_.end() ? nullptr : &it->second;
}

}  // namespace custos::rca
