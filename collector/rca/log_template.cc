#include "collector/rca/log_template.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>
#include <vector>

namespace custos::rca {
namespace {

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string LevelOfSeverity(int severity) {
  if (severity <= 0) return "";
  if (severity == 1) return "DEBUG";
  if (severity <= 3) return "INFO";
  if (severity == 4) return "WARN";
  if (severity == 5) return "ERROR";
  return "FATAL";
}

std::string NormalLevel(std::string level) {
  std::transform(level.begin(), level.end(), level.begin(), [](unsigned char c) { return std::toupper(c); });
  if (level == "WARNING") return "WARN";
  if (level == "TRACE") return "DEBUG";
  if (level == "CRITICAL" || level == "EMERGENCY" || level == "ALERT") return "FATAL";
  if (level == "NOTICE") return "INFO";
  return level;
}

// Finds the first level word in the first 40 characters; sets `end` past it.
std::string FindLevelWord(std::string_view s, size_t* end) {
  static const std::array<std::string_view, 7> kWords = {"WARNING", "ERROR", "FATAL", "DEBUG", "TRACE", "INFO", "WARN"};
  std::string_view head = s.substr(0, 40);
  for (size_t i = 0; i < head.size(); ++i) {
    if (i > 0 && IsWordChar(head[i - 1])) continue;
    for (std::string_view w : kWords) {
      if (s.substr(i, w.size()) != w) continue;
      size_t after = i + w.size();
      if (after < s.size() && IsWordChar(s[after])) continue;
      *end = after;
      return std::string(w);
    }
  }
  return "";
}

// "16:42:22.382 " at the start.
std::string_view StripClock(std::string_view s) {
  size_t i = 0;
  auto digits = [&](size_t min, size_t max) {
    size_t n = 0;
    while (i < s.size() && IsDigit(s[i]) && n < max) ++i, ++n;
    return n >= min;
  };
  if (!digits(1, 2) || i >= s.size() || s[i++] != ':' || !digits(2, 2) || i >= s.size() || s[i++] != ':' ||
      !digits(2, 2) || i >= s.size() || s[i++] != '.' || !digits(1, 9) || i >= s.size() || !IsSpace(s[i]))
    return s;
  while (i < s.size() && IsSpace(s[i])) ++i;
  return s.substr(i);
}

// Removes "TraceID: X SpanID: Y " (the first occurrence).
std::string StripTraceIds(std::string_view s) {
  size_t t = s.find("TraceID:");
  if (t == std::string_view::npos) return std::string(s);
  size_t i = t + 8;
  auto skip_space = [&] {
    while (i < s.size() && IsSpace(s[i])) ++i;
  };
  auto skip_token = [&] {
    while (i < s.size() && !IsSpace(s[i])) ++i;
  };
  skip_space();
  skip_token();
  skip_space();
  if (s.substr(i, 7) != "SpanID:") return std::string(s);
  i += 7;
  skip_space();
  skip_token();
  skip_space();
  return std::string(s.substr(0, t)) + std::string(s.substr(i));
}

// "c.s.ContactsServiceImpl#37": [\w.$\[\]]+#\d+
bool IsLocation(std::string_view tok) {
  size_t hash = tok.rfind('#');
  if (hash == std::string_view::npos || hash == 0 || hash + 1 >= tok.size()) return false;
  for (size_t i = hash + 1; i < tok.size(); ++i)
    if (!IsDigit(tok[i])) return false;
  for (size_t i = 0; i < hash; ++i) {
    char c = tok[i];
    if (!IsWordChar(c) && c != '.' && c != '$' && c != '[' && c != ']') return false;
  }
  return true;
}

std::vector<std::string_view> Tokens(std::string_view s, size_t max) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size() && out.size() < max) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !IsSpace(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

}  // namespace

ParsedLog ParseLogLine(std::string_view line, int severity) {
  ParsedLog out;
  out.level = LevelOfSeverity(severity);
  std::string_view msg = Trim(line);
  std::string json_message;
  if (!msg.empty() && msg.front() == '{') {
    auto j = nlohmann::json::parse(msg, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      for (const char* key : {"severity", "level"}) {
        auto it = j.find(key);
        if (out.level.empty() && it != j.end() && it->is_string()) out.level = NormalLevel(it->get<std::string>());
      }
      auto m = j.find("message");
      if (m == j.end()) m = j.find("msg");
      if (m != j.end() && m->is_string()) {
        json_message = m->get<std::string>();
        msg = json_message;
      }
    }
  }
  if (out.level.empty()) {
    size_t end = 0;
    out.level = NormalLevel(FindLevelWord(msg, &end));
    if (out.level.empty()) {
      out.level = "INFO";
    } else {
      msg.remove_prefix(end);
    }
  }
  out.message = StripTraceIds(StripClock(Trim(msg)));
  return out;
}

std::string LocationTemplate(const ParsedLog& log) {
  for (std::string_view tok : Tokens(log.message, 3))
    if (IsLocation(tok)) return log.level + " " + std::string(tok);
  return "";
}

std::string LogTemplate(const ParsedLog& log) {
  constexpr size_t kTemplateTokens = 10, kScanTokens = 40, kMaxTokenChars = 40;
  if (std::string location = LocationTemplate(log); !location.empty()) return location;
  std::vector<std::string_view> toks = Tokens(log.message, kScanTokens);
  std::string out = log.level;
  size_t n = 0;
  for (std::string_view tok : toks) {
    out.push_back(' ');
    if (IsLocation(tok)) {
      out.append(tok);
    } else if (std::any_of(tok.begin(), tok.end(), IsDigit)) {
      out.append("<*>");
    } else {
      out.append(tok.substr(0, kMaxTokenChars));
    }
    if (++n >= kTemplateTokens) break;
  }
  return out;
}

}  // namespace custos::rca
