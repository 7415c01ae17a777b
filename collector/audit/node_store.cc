#include "collector/audit/node_store.h"

#include <string>

namespace custos::audit {
namespace {

std::string NodeName(uint32_t level, uint64_t index) {
  return "node (level " + std::to_string(level) + ", index " + std::to_string(index) + ")";
}

}  // namespace

Result<Hash> MemoryNodeStore::Get(uint32_t level, uint64_t index) {
  if (level >= levels_.size() || index >= levels_[level].size()) return NotFound("no " + NodeName(level, index));
  return levels_[level][index];
}

Status MemoryNodeStore::Put(uint32_t level, uint64_t index, const Hash& hash) {
  if (level >= 64) return InvalidArgument(NodeName(level, index) + " is above any tree of 2^64 leaves");
  if (level >= levels_.size()) levels_.resize(level + 1);
  std::vector<Hash>& nodes = levels_[level];
  if (index < nodes.size()) {
    nodes[index] = hash;
  } else if (index == nodes.size()) {
    nodes.push_back(hash);
  } else {
    return FailedPrecondition("put of " + NodeName(level, index) + " leaves a gap after " +
                              std::to_string(nodes.size()) + " nodes");
  }
  return Status::Ok();
}

}  // namespace custos::audit
