// Online log template mining in the manner of Drain (He et al., ICWS 2017):
// lines are grouped by token count, then by their first tokens in a tree of
// fixed depth, and within a leaf joined to the most similar template when at
// least `similarity` of their tokens agree; the positions that differ become
// <*>. Tokens holding a digit are masked as <*> before anything else.
//
//   DrainParser drain;
//   auto m = drain.Add("user alice not found");   // new template
//   m = drain.Add("user bob not found");          // "user <*> not found", same id
//
// Bounded: at most max_clusters templates; a line that would need another is
// matched to nothing (id 0) and counted in overflowed().
// Not thread-safe; one owner.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace custos::rca {

class DrainParser {
 public:
  struct Options {
    size_t depth = 4;           // token count + (depth − 2) leading tokens
    double similarity = 0.5;    // share of equal tokens to join a template
    size_t max_children = 100;  // per tree node; more tokens share the <*> child
    size_t max_clusters = 10'000;
  };
  struct Match {
    uint64_t id = 0;       // stable for the template's life; 0 when not learned
    std::string text;      // the template after this line
    bool created = false;  // this line started a new template
  };

  DrainParser() : DrainParser(Options{}) {}
  explicit DrainParser(Options options);

  Match Add(std::string_view line);

  size_t clusters() const { return clusters_.size(); }
  uint64_t overflowed() const { return overflowed_; }

 private:
  struct Cluster {
    uint64_t id;
    std::vector<std::string> tokens;
  };
  struct Node {
    std::map<std::string, std::unique_ptr<Node>> children;
    std::vector<size_t> clusters;  // leaves: indexes into clusters_
  };

  const Options options_;
  Node root_;
  std::vector<Cluster> clusters_;
  uint64_t overflowed_ = 0;
};

}  // namespace custos::rca
