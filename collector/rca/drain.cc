#include "collector/rca/drain.h"

#include <algorithm>
#include <cctype>

namespace custos::rca {
namespace {

constexpr const char* kWildcard = "<*>";

std::vector<std::string> Tokenize(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i == start) continue;
    std::string_view tok = line.substr(start, i - start);
    bool digit = std::any_of(tok.begin(), tok.end(), [](char c) { return c >= '0' && c <= '9'; });
    out.emplace_back(digit ? std::string_view(kWildcard) : tok);
  }
  return out;
}

std::string Join(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& t : tokens) out += (out.empty() ? "" : " ") + t;
  return out;
}

}  // namespace

DrainParser::DrainParser(Options options) : options_(options) {}

DrainParser::Match DrainParser::Add(std::string_view line) {
  std::vector<std::string> tokens = Tokenize(line);
  // Descend: token count, then the leading tokens.
  std::unique_ptr<Node>& by_length = root_.children[std::to_string(tokens.size())];
  if (!by_length) by_length = std::make_unique<Node>();
  Node* node = by_length.get();
  for (size_t level = 0; level + 2 < options_.depth && level < tokens.size(); ++level) {
    const std::string& tok = tokens[level];
    auto it = node->children.find(tok);
    if (it == node->children.end()) {
      const std::string& key = node->children.size() < options_.max_children ? tok : std::string(kWildcard);
      it = node->children.try_emplace(key).first;
      if (!it->second) it->second = std::make_unique<Node>();
    }
    node = it->second.get();
  }
  // The most similar template in the leaf (wildcards do not count as equal).
  size_t best = 0;
  double best_sim = -1;
  for (size_t c : node->clusters) {
    const Cluster& cl = clusters_[c];
    size_t equal = 0;
    for (size_t i = 0; i < tokens.size(); ++i) equal += cl.tokens[i] != kWildcard && cl.tokens[i] == tokens[i];
    double sim = tokens.empty() ? 1.0 : static_cast<double>(equal) / static_cast<double>(tokens.size());
    if (sim > best_sim) best = c, best_sim = sim;
  }
  if (best_sim >= options_.similarity) {
    Cluster& cl = clusters_[best];
    for (size_t i = 0; i < tokens.size(); ++i)
      if (cl.tokens[i] != tokens[i]) cl.tokens[i] = kWildcard;
    return {cl.id, Join(cl.tokens), false};
  }
  if (clusters_.size() >= options_.max_clusters) {
    ++overflowed_;
    return {0, Join(tokens), false};
  }
  clusters_.push_back({clusters_.size() + 1, tokens});
  node->clusters.push_back(clusters_.size() - 1);
  return {clusters_.back().id, Join(tokens), true};
}

}  // namespace custos::rca
