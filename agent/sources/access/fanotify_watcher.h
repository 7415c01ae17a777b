// Kernel file-access events under the configured dataset roots, through two
// fanotify groups (FID and fd-carrying events cannot share one):
//
// - a classic group gives, with an open fd on the file, FAN_CLOSE_NOWRITE
//   (a file opened read-only was closed: one READ per open/close, however
//   many read() calls; a directory: LIST) and FAN_CLOSE_WRITE (WRITE). The
//   path is read back from /proc/self/fd. FAN_ACCESS/FAN_MODIFY (one event
//   per read()/write() call, each opening a file in the kernel) and FAN_OPEN
//   (which cannot tell a read from a write open) are not used.
// - a FID group (FAN_REPORT_DFID_NAME) gives FAN_CREATE, FAN_DELETE and
//   FAN_RENAME (FAN_MOVED_FROM/TO before 5.17): the directory comes as a file
//   handle, opened with open_by_handle_at on a mount fd of its filesystem.
//
// Marks: an inode mark on every directory under the roots (new directories
// are marked as they appear), not a filesystem mark: roots often share the
// root filesystem, where a filesystem mark would wake the agent for every
// open on the host. At most max_directories are marked (each costs kernel
// memory and a slot of fs.fanotify.max_user_marks); beyond that, directories
// go unwatched, counted and logged. A directory created and populated before
// its mark is added misses those first events.
//
//   CUSTOS_ASSIGN_OR_RETURN(auto w, FanotifyWatcher::Open(options, metrics));
//   for (;;) { poll(w->fds()...);  w->ReadEvents([](FileEvent&& e) { ... }); }
//
// The kernel opens each event's fd in the agent's read(), with
// O_NONBLOCK so that a named FIFO (or a terminal device) under a root cannot block
// the reading thread.
//
// Needs CAP_SYS_ADMIN (fanotify) and CAP_DAC_READ_SEARCH (open_by_handle_at).
// Thread-compatible: one thread calls ReadEvents.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "custos/v1/records.pb.h"

namespace custos::agent::access {

struct FanotifyOptions {
  std::vector<std::string> roots;  // absolute directory paths
  size_t max_directories = 16384;
};

struct FileEvent {
  int32_t pid = 0;
  v1::AccessEvent::Action action = v1::AccessEvent::ACTION_UNSPECIFIED;
  std::string path;  // valid UTF-8 (invalid bytes of a file name become U+FFFD)
};

class FanotifyWatcher {
 public:
  // Creates the groups and marks every directory under the roots.
  // PERMISSION_DENIED without CAP_SYS_ADMIN; a missing FID or FAN_RENAME
  // feature only narrows what is reported (see unavailable()).
  static Result<std::unique_ptr<FanotifyWatcher>> Open(FanotifyOptions options, MetricsRegistry& metrics);
  ~FanotifyWatcher();
  FanotifyWatcher(const FanotifyWatcher&) = delete;
  FanotifyWatcher& operator=(const FanotifyWatcher&) = delete;

  struct ReadResult {
    size_t events = 0;       // kernel events read (0: both queues were empty)
    uint64_t overflows = 0;  // queue overflows seen (lost events of unknown number)
  };

  // The fds to poll for POLLIN.
  std::vector<int> fds() const;
  // Reads without blocking at most one buffer from each group (at most
  // kMaxNotifyEvents fd-carrying events), so that a caller under an event
  // storm gets control back; calls `sink` for each access (the agent's own
  // are skipped). What is left stays queued: poll again and call again.
  ReadResult ReadEvents(const std::function<void(FileEvent&&)>& sink);

  // The kernel opens an fd for every fd-carrying event it copies into a
  // read() (the agent closes each at once): bounded well below the usual
  // soft RLIMIT_NOFILE of 1024, since an event whose fd cannot be opened
  // (EMFILE) is dropped by the kernel.
  static constexpr size_t kMaxNotifyEvents = 256;

  // Which events this kernel/filesystem cannot give; empty when all.
  const std::string& unavailable() const { return unavailable_; }
  size_t marked_directories() const { return marked_; }

 private:
  FanotifyWatcher(FanotifyOptions options, MetricsRegistry& metrics);
  // Marks `path` and every directory below it, up to the bound.
  void MarkTree(const std::string& path);
  bool MarkOne(int dirfd, const std::string& path);
  bool UnderRoots(const std::string& path) const;
  void ReadNotify(const std::function<void(FileEvent&&)>& sink, ReadResult* result);
  void ReadFid(const std::function<void(FileEvent&&)>& sink, ReadResult* result);
  // The path of the directory behind a fanotify file handle record.
  std::string ResolveDir(uint64_t fsid, const void* file_handle);

  // Constant after construction.
  const FanotifyOptions options_;
  const int32_t self_pid_;
  Counter& directory_limit_;
  Counter& mark_errors_;
  Counter& unresolved_;
  Gauge& marked_gauge_;

  int notify_fd_ = -1;
  int fid_fd_ = -1;
  uint64_t fid_mask_ = 0;
  std::string unavailable_;
  size_t marked_ = 0;
  bool limit_logged_ = false;
  std::map<uint64_t, int> mount_fds_;             // fsid → an fd on that filesystem
  std::map<std::string, std::string> dir_paths_;  // fsid+handle → last known path (bounded)
};

}  // namespace custos::agent::access
