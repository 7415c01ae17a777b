#include "agent/sources/files/multiline_joiner.h"

namespace custos::agent::files {

Result<std::shared_ptr<const StartPattern>> StartPattern::Compile(const std::string& regex) {
  std::shared_ptr<StartPattern> p(new StartPattern());
  if (regex.empty()) return std::shared_ptr<const StartPattern>(std::move(p));
  int rc = regcomp(&p->regex_, regex.c_str(), REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char buf[256];
    regerror(rc, &p->regex_, buf, sizeof buf);
    return InvalidArgument("multiline_start '" + regex + "' is not a valid extended regular expression: " + buf);
  }
  p->compiled_ = true;
  return std::shared_ptr<const StartPattern>(std::move(p));
}

StartPattern::~StartPattern() {
  if (compiled_) regfree(&regex_);
}

bool StartPattern::Matches(const std::string& text) const {
  // Text may hold NUL bytes; regexec sees the prefix before the first one.
  return compiled_ && regexec(&regex_, text.c_str(), 0, nullptr, 0) == 0;
}

void MultilineJoiner::Add(Line&& line, int64_t now, std::vector<Line>* out) {
  if (pattern_->empty()) {
    out->push_back(std::move(line));
    return;
  }
  last_add_nanos_ = now;
  bool starts = !line.continued && pattern_->Matches(line.text);
  if (!held_ || starts) {
    if (held_) out->push_back(std::move(*held_));
    held_ = std::move(line);
    return;
  }
  if (held_->lines + 1 > options_.max_lines || held_->text.size() + 1 + line.text.size() > options_.max_bytes) {
    held_->multiline_split = true;
    out->push_back(std::move(*held_));
    held_ = std::move(line);
    return;
  }
  // A cut piece joins without a separator: it is the same line.
  if (!line.continued) held_->text.push_back('\n');
  held_->text.append(line.text);
  held_->end = line.end;
  held_->cut = line.cut;
  held_->lines += line.continued ? 0 : 1;
}

void MultilineJoiner::FlushIfDue(int64_t now, std::vector<Line>* out) {
  if (held_ && now - last_add_nanos_ >= options_.flush_timeout_nanos) Flush(out);
}

void MultilineJoiner::Flush(std::vector<Line>* out) {
  if (!held_) return;
  out->push_back(std::move(*held_));
  held_.reset();
}

}  // namespace custos::agent::files
