// Small, durable file helpers. All functions are thread-compatible (no shared
// state) and report failures as Status naming the path.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace custos {

Result<std::string> ReadFile(const std::string& path);

// Writes `data` to `path` atomically and durably: temp file, fsync, rename,
// fsync of the directory. The file gets `mode` (e.g. 0600 for secrets).
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644);

// fsync() the directory so that a create, rename or unlink inside it survives a crash.
Status FsyncDir(const std::string& dir);

// mkdir -p with `mode` for the directories it creates.
Status MakeDirs(const std::string& path, mode_t mode = 0755);

// Names (not paths) of the entries of `dir`, sorted; "." and ".." excluded.
Result<std::vector<std::string>> ListDir(const std::string& dir);

// Trims ASCII whitespace at both ends.
std::string_view Trim(std::string_view s);

}  // namespace custos
