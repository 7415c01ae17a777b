// The enrolled agents: a directory of NODE_ID.pub files, each holding one
// agent's CURVE public key (Z85). `custosctl enroll` writes them.
//
// The directory is re-read when its modification time changes (enrolment
// renames a file into it), so enrolling needs no restart. A file that does
// not hold a valid key is skipped with an error naming it.
//
// Thread-safe.
#pragma once

#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"

namespace custos::ingest {

class AllowList {
 public:
  explicit AllowList(std::string dir) : dir_(std::move(dir)) {}

  // Called (from the thread that refreshed) for each node whose key was added,
  // removed or replaced after the first load: (node, key, "enroll" | "unenroll").
  void SetOnChange(std::function<void(const std::string&, const std::string&, const std::string&)> fn) {
    std::lock_guard<std::mutex> lock(mu_);  // Refresh calls it under mu_
    on_change_ = std::move(fn);
  }

  // Re-reads the directory if it changed (or `force`).
  Status Refresh(bool force = false);
  // The node id enrolled with this Z85 public key, if any.
  std::optional<std::string> NodeForKey(const std::string& public_z85);
  size_t size();
  const std::string& dir() const { return dir_; }

 private:
  const std::string dir_;
  std::mutex mu_;
  std::function<void(const std::string&, const std::string&, const std::string&)> on_change_;  // guarded by mu_
  timespec mtime_{};                          // guarded by mu_
  bool loaded_ = false;                       // guarded by mu_
  std::map<std::string, std::string> nodes_;  // key -> node id, guarded by mu_
};

}  // namespace custos::ingest
