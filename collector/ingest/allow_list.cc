#include "collector/ingest/allow_list.h"

#include <sys/stat.h>

#include <cerrno>

#include "common/curve_keys.h"
#include "common/files.h"
#include "common/log.h"

namespace custos::ingest {

Status AllowList::Refresh(bool force) {
  struct stat st{};
  if (::stat(dir_.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      std::lock_guard<std::mutex> lock(mu_);
      nodes_.clear();
      loaded_ = true;
      return Status::Ok();  // nobody enrolled yet
    }
    return ErrnoStatus("stat " + dir_, errno);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!force && loaded_ && st.st_mtim.tv_sec == mtime_.tv_sec && st.st_mtim.tv_nsec == mtime_.tv_nsec) {
      return Status::Ok();
    }
  }
  CUSTOS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir_));
  std::map<std::string, std::string> nodes;
  for (const std::string& name : names) {
    if (name.size() <= 4 || name.substr(name.size() - 4) != ".pub") continue;
    std::string node = name.substr(0, name.size() - 4);
    auto key = ReadCurvePublicKey(dir_ + "/" + name);
    if (!key.ok()) {
      log::Error("allow_list", "skipping enrolment file", {{"error", key.status().ToString()}});
      continue;
    }
    auto [it, inserted] = nodes.emplace(*key, node);
    if (!inserted) {
      log::Error("allow_list", "one key is enrolled for two nodes; keeping the first",
                 {{"node", it->second}, {"other_node", node}});
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (loaded_ && on_change_) {
    // Enrolment changes are audited: who was admitted or refused from now on.
    for (const auto& [key, node] : nodes) {
      if (nodes_.count(key) == 0) on_change_(node, key, "enroll");
    }
    for (const auto& [key, node] : nodes_) {
      if (nodes.count(key) == 0) on_change_(node, key, "unenroll");
    }
  }
  nodes_ = std::move(nodes);
  mtime_ = st.st_mtim;
  loaded_ = true;
  log::Info("allow_list", "enrolled agents loaded", {{"dir", dir_}, {"agents", std::to_string(nodes_.size())}});
  return Status::Ok();
}

std::optional<std::string> AllowList::NodeForKey(const std::string& public_z85) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(public_z85);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

size_t AllowList::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return nodes_.size();
}

}  // namespace custos::ingest
