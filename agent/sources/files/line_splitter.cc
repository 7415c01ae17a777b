#include "agent/sources/files/line_splitter.h"

#include <cstring>

namespace custos::agent::files {

void LineSplitter::Reset(uint64_t offset, bool mid_line) {
  partial_.clear();
  partial_.shrink_to_fit();
  line_start_ = offset;
  next_offset_ = offset;
  continued_ = mid_line;
}

void LineSplitter::Emit(std::string&& text, uint64_t end, bool cut, std::vector<Line>* out) {
  Line& line = out->emplace_back();
  line.text = std::move(text);
  line.start = line_start_;
  line.end = end;
  line.cut = cut;
  line.continued = continued_;
  continued_ = cut;
  line_start_ = end;
}

void LineSplitter::Feed(std::string_view data, std::vector<Line>* out) {
  const char* p = data.data();
  size_t n = data.size();
  size_t i = 0;
  while (i < n) {
    const void* nl = std::memchr(p + i, '\n', n - i);
    size_t seg_end = nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - p) : n;
    size_t seg_len = seg_end - i;
    size_t room = max_line_bytes_ - partial_.size();
    if (seg_len > room) {
      // The line would pass the bound: hand out max_line_bytes now.
      partial_.append(p + i, room);
      i += room;
      uint64_t end = next_offset_ + i;
      Emit(std::move(partial_), end, /*cut=*/true, out);
      partial_.clear();
      continue;
    }
    if (nl == nullptr) {
      partial_.append(p + i, seg_len);
      i = n;
      break;
    }
    std::string text;
    if (partial_.empty()) {
      text.assign(p + i, seg_len);
    } else {
      partial_.append(p + i, seg_len);
      text = std::move(partial_);
      partial_.clear();
    }
    if (!text.empty() && text.back() == '\r') text.pop_back();
    i = seg_end + 1;
    Emit(std::move(text), next_offset_ + i, /*cut=*/false, out);
  }
  next_offset_ += n;
}

std::optional<Line> LineSplitter::TakePartial() {
  if (partial_.empty()) return std::nullopt;
  std::vector<Line> one;
  std::string text = std::move(partial_);
  partial_.clear();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  Emit(std::move(text), next_offset_, /*cut=*/false, &one);
  one.front().unterminated = true;
  return std::move(one.front());
}

}  // namespace custos::agent::files
