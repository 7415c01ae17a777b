#include "agent/sources/access/coalescer.h"

#include <limits>

namespace custos::agent::access {

std::string Coalescer::KeyOf(const v1::AccessEvent& e) {
  std::string key = std::to_string(e.principal().pid());
  key += '\0';
  key += std::to_string(static_cast<int>(e.action()));
  key += '\0';
  key += std::to_string(static_cast<int>(e.outcome()));
  key += '\0';
  key += e.object();
  return key;
}

std::vector<v1::AccessEvent> Coalescer::Add(v1::AccessEvent&& event, int64_t now) {
  if (event.count() == 0) event.set_count(1);
  std::string key = KeyOf(event);
  auto it = index_.find(key);
  if (it != index_.end() && now - it->second->first_seen < options_.window_nanos) {
    v1::AccessEvent& open = it->second->event;
    uint64_t count = static_cast<uint64_t>(open.count()) + event.count();
    open.set_count(static_cast<uint32_t>(std::min<uint64_t>(count, std::numeric_limits<uint32_t>::max())));
    open.set_bytes(open.bytes() + event.bytes());
    ++merged_;
    return {};
  }
  if (it != index_.end()) {
    // The window ended but TakeDue has not run yet: close it now.
    early_.push_back(std::move(it->second->event));
    open_.erase(it->second);
    index_.erase(it);
  }
  if (index_.size() >= options_.max_entries && !open_.empty()) {
    Entry& oldest = open_.front();
    index_.erase(oldest.key);
    early_.push_back(std::move(oldest.event));
    open_.pop_front();
    ++evicted_early_;
  }
  open_.push_back(Entry{key, now, std::move(event)});
  index_[std::move(key)] = std::prev(open_.end());
  if (early_.size() < options_.max_entries) return {};
  std::vector<v1::AccessEvent> out = std::move(early_);
  early_.clear();
  return out;
}

std::vector<v1::AccessEvent> Coalescer::TakeDue(int64_t now) {
  std::vector<v1::AccessEvent> out = std::move(early_);
  early_.clear();
  while (!open_.empty() && now - open_.front().first_seen >= options_.window_nanos) {
    index_.erase(open_.front().key);
    out.push_back(std::move(open_.front().event));
    open_.pop_front();
  }
  return out;
}

std::vector<v1::AccessEvent> Coalescer::TakeAll() {
  std::vector<v1::AccessEvent> out = std::move(early_);
  early_.clear();
  for (Entry& e : open_) out.push_back(std::move(e.event));
  open_.clear();
  index_.clear();
  return out;
}

int64_t Coalescer::NextDue() const {
  if (!early_.empty()) return std::numeric_limits<int64_t>::min();
  if (open_.empty()) return std::numeric_limits<int64_t>::max();
  return open_.front().first_seen + options_.window_nanos;
}

}  // namespace custos::agent::access
