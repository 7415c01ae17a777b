#include "agent/sources/access/fanotify_watcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "common/utf8.h"

namespace custos::agent::access {
namespace {

constexpr char kLog[] = "access";
constexpr uint64_t kNotifyMask = FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE | FAN_EVENT_ON_CHILD | FAN_ONDIR;

uint64_t FsidKey(const int val[2]) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(val[0])) << 32) | static_cast<uint32_t>(val[1]);
}

std::string FdPath(int fd) {
  char buf[4096];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
  if (n <= 0) return "";
  std::string path(buf, static_cast<size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.size() > kDeleted.size() && path.compare(path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0) {
    path.resize(path.size() - kDeleted.size());
  }
  return path;
}

std::string HandleKey(uint64_t fsid, const struct file_handle* fh) {
  std::string key(reinterpret_cast<const char*>(&fsid), sizeof(fsid));
  key.append(reinterpret_cast<const char*>(&fh->handle_type), sizeof(fh->handle_type));
  key.append(reinterpret_cast<const char*>(fh->f_handle), fh->handle_bytes);
  return key;
}

std::string Join(const std::string& dir, const char* name) {
  if (name == nullptr || *name == '\0' || std::strcmp(name, ".") == 0) return dir;
  return dir == "/" ? "/" + std::string(name) : dir + "/" + name;
}

}  // namespace

FanotifyWatcher::FanotifyWatcher(FanotifyOptions options, MetricsRegistry& metrics)
    : options_(std::move(options)),
      self_pid_(static_cast<int32_t>(getpid())),
      directory_limit_(metrics.GetCounter("custos_access_unwatched_directories_total",
                                          "Directories under the roots left unwatched (max_directories reached)")),
      mark_errors_(metrics.GetCounter("custos_access_mark_errors_total", "fanotify marks the kernel refused")),
      unresolved_(metrics.GetCounter("custos_access_unresolved_paths_total",
                                     "Kernel events whose directory could not be resolved to a path")),
      marked_gauge_(metrics.GetGauge("custos_access_watched_directories", "Directories with a fanotify mark")) {}

FanotifyWatcher::~FanotifyWatcher() {
  if (notify_fd_ >= 0) close(notify_fd_);
  if (fid_fd_ >= 0) close(fid_fd_);
  for (auto& [fsid, fd] : mount_fds_) close(fd);
}

Result<std::unique_ptr<FanotifyWatcher>> FanotifyWatcher::Open(FanotifyOptions options, MetricsRegistry& metrics) {
  std::unique_ptr<FanotifyWatcher> w(new FanotifyWatcher(std::move(options), metrics));
  const unsigned flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK;
  // O_NONBLOCK: for a close event on a named FIFO the kernel opens the FIFO
  // in our read(), which without it waits for a writer (forever).
  w->notify_fd_ = fanotify_init(flags, O_RDONLY | O_NONBLOCK | O_LARGEFILE | O_CLOEXEC);
  if (w->notify_fd_ < 0) {
    int err = errno;
    if (err == EPERM) return PermissionDenied("fanotify_init: needs CAP_SYS_ADMIN");
    return ErrnoStatus("fanotify_init", err);
  }
  w->fid_fd_ = fanotify_init(flags | FAN_REPORT_DFID_NAME, O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // no fds
  if (w->fid_fd_ < 0) {
    w->unavailable_ = std::string("create, delete and rename events (FAN_REPORT_DFID_NAME: ") + std::strerror(errno) +
                      "; needs Linux 5.9)";
  } else {
    w->fid_mask_ = FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_ONDIR;
  }
  for (const std::string& root : w->options_.roots) {
    struct stat st {};
    if (stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return ErrnoStatus("watch root " + root + " is not a directory", errno ? errno : ENOTDIR);
    }
    w->MarkTree(root);
  }
  return w;
}

bool FanotifyWatcher::MarkOne(int dirfd, const std::string& path) {
  if (marked_ >= options_.max_directories) {
    directory_limit_.Increment();
    if (!limit_logged_) {
      limit_logged_ = true;
      log::Warn(kLog, "max_directories reached: further directories are not watched",
                {{"max_directories", std::to_string(options_.max_directories)}, {"first_unwatched", path}});
    }
    return false;
  }
  if (fanotify_mark(notify_fd_, FAN_MARK_ADD, kNotifyMask, dirfd, nullptr) != 0) {
    mark_errors_.Increment();
    log::Warn(kLog, "cannot watch directory", {{"path", path}, {"error", std::strerror(errno)}});
    return false;
  }
  if (fid_fd_ >= 0) {
    int rc = fanotify_mark(fid_fd_, FAN_MARK_ADD, fid_mask_, dirfd, nullptr);
    if (rc != 0 && errno == EINVAL && (fid_mask_ & FAN_RENAME)) {
      // Before 5.17: no FAN_RENAME; a rename arrives as two events.
      fid_mask_ = (fid_mask_ & ~static_cast<uint64_t>(FAN_RENAME)) | FAN_MOVED_FROM | FAN_MOVED_TO;
      log::Warn(kLog, "FAN_RENAME unavailable: renames are seen as moved-from and moved-to events");
      rc = fanotify_mark(fid_fd_, FAN_MARK_ADD, fid_mask_, dirfd, nullptr);
    }
    if (rc != 0) {
      mark_errors_.Increment();
      log::Warn(kLog, "create/delete/rename events unavailable in directory",
                {{"path", path}, {"error", std::strerror(errno)}});
    }
    struct statfs sfs {};
    if (fstatfs(dirfd, &sfs) == 0) {
      int val[2];
      std::memcpy(val, &sfs.f_fsid, sizeof(val));
      uint64_t fsid = FsidKey(val);
      if (mount_fds_.count(fsid) == 0) {
        int mfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (mfd >= 0) mount_fds_[fsid] = mfd;
      }
      // Remember the path by handle: a directory deleted before its events
      // are read can no longer be opened by handle.
      alignas(struct file_handle) char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
      auto* fh = reinterpret_cast<struct file_handle*>(buf);
      fh->handle_bytes = MAX_HANDLE_SZ;
      int mount_id = 0;
      if (dir_paths_.size() < options_.max_directories &&
          name_to_handle_at(dirfd, "", fh, &mount_id, AT_EMPTY_PATH) == 0) {
        dir_paths_[HandleKey(fsid, fh)] = path;
      }
    }
  }
  ++marked_;
  marked_gauge_.Set(static_cast<int64_t>(marked_));
  return true;
}

void FanotifyWatcher::MarkTree(const std::string& top) {
  std::vector<std::string> stack{top};
  while (!stack.empty()) {
    std::string path = std::move(stack.back());
    stack.pop_back();
    int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;  // gone or not a directory (a race with the workload)
    if (!MarkOne(fd, path)) {
      close(fd);
      if (marked_ >= options_.max_directories) {
        directory_limit_.Increment(stack.size());  // the rest of the walk is unwatched too
        return;
      }
      continue;
    }
    DIR* d = fdopendir(fd);
    if (d == nullptr) {
      close(fd);
      continue;
    }
    while (struct dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      bool is_dir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) {
        struct stat st {};
        is_dir = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      }
      if (is_dir) stack.push_back(Join(path, e->d_name));
    }
    closedir(d);
  }
}

bool FanotifyWatcher::UnderRoots(const std::string& path) const {
  for (const std::string& root : options_.roots) {
    if (path.compare(0, root.size(), root) == 0 &&
        (path.size() == root.size() || path[root.size()] == '/' || root.back() == '/')) {
      return true;
    }
  }
  return false;
}

std::vector<int> FanotifyWatcher::fds() const {
  std::vector<int> out{notify_fd_};
  if (fid_fd_ >= 0) out.push_back(fid_fd_);
  return out;
}

FanotifyWatcher::ReadResult FanotifyWatcher::ReadEvents(const std::function<void(FileEvent&&)>& sink) {
  ReadResult result;
  ReadNotify(sink, &result);
  if (fid_fd_ >= 0) ReadFid(sink, &result);
  return result;
}

void FanotifyWatcher::ReadNotify(const std::function<void(FileEvent&&)>& sink, ReadResult* result) {
  // Events of this group carry no info records: each is metadata-sized.
  alignas(struct fanotify_event_metadata) char buf[kMaxNotifyEvents * sizeof(struct fanotify_event_metadata)];
  ssize_t len = read(notify_fd_, buf, sizeof(buf));
  if (len <= 0) return;  // EAGAIN: empty
  auto* m = reinterpret_cast<struct fanotify_event_metadata*>(buf);
  for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
    ++result->events;
    if (m->vers != FANOTIFY_METADATA_VERSION) {
      log::Error(kLog, "fanotify metadata version mismatch", {{"version", std::to_string(m->vers)}});
      return;
    }
    if (m->mask & FAN_Q_OVERFLOW) ++result->overflows;
    if (m->fd < 0) continue;
    if (m->pid != self_pid_) {
      struct stat st {};
      bool is_dir = fstat(m->fd, &st) == 0 && S_ISDIR(st.st_mode);
      std::string path = FdPath(m->fd);
      if (path.empty()) {
        unresolved_.Increment();
      } else {
        path = custos::ToValidUtf8(path);
      }
      // A directory moved out of the roots keeps its mark: not ours any more.
      if (!path.empty() && UnderRoots(path)) {
        if (m->mask & FAN_CLOSE_NOWRITE) {
          sink(FileEvent{m->pid, is_dir ? v1::AccessEvent::ACTION_LIST : v1::AccessEvent::ACTION_READ, path});
        }
        if (m->mask & FAN_CLOSE_WRITE) sink(FileEvent{m->pid, v1::AccessEvent::ACTION_WRITE, path});
      }
    }
    close(m->fd);
  }
}

std::string FanotifyWatcher::ResolveDir(uint64_t fsid, const void* handle) {
  // The record's handle is not aligned for struct file_handle: copy it.
  struct file_handle hdr;
  std::memcpy(&hdr, handle, sizeof(hdr));
  if (hdr.handle_bytes > MAX_HANDLE_SZ) return "";
  alignas(struct file_handle) char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
  std::memcpy(buf, handle, sizeof(struct file_handle) + hdr.handle_bytes);
  auto* fh = reinterpret_cast<struct file_handle*>(buf);
  std::string key = HandleKey(fsid, fh);
  auto mount = mount_fds_.find(fsid);
  if (mount != mount_fds_.end()) {
    int fd = open_by_handle_at(mount->second, fh, O_PATH | O_CLOEXEC);
    if (fd >= 0) {
      std::string path = FdPath(fd);
      close(fd);
      if (!path.empty()) {
        auto it = dir_paths_.find(key);
        if (it != dir_paths_.end()) it->second = path;  // follows renames of the directory
        return path;
      }
    }
  }
  auto it = dir_paths_.find(key);
  return it == dir_paths_.end() ? "" : it->second;
}

void FanotifyWatcher::ReadFid(const std::function<void(FileEvent&&)>& sink, ReadResult* result) {
  char buf[64 * 1024];
  ssize_t len = read(fid_fd_, buf, sizeof(buf));
  if (len <= 0) return;  // EAGAIN: empty
  // Events with FID info records need not be 8-byte aligned in the buffer
  // (UBSan caught it): copy each header out instead of casting in place.
  const size_t total = static_cast<size_t>(len);
  for (size_t off = 0; off + sizeof(struct fanotify_event_metadata) <= total;) {
    struct fanotify_event_metadata meta;
    std::memcpy(&meta, buf + off, sizeof(meta));
    if (meta.event_len < sizeof(meta) || off + meta.event_len > total) break;
    const char* event = buf + off;
    off += meta.event_len;
    ++result->events;
    if (meta.vers != FANOTIFY_METADATA_VERSION) return;
    if (meta.mask & FAN_Q_OVERFLOW) {
      ++result->overflows;
      continue;
    }
    if (meta.pid == self_pid_) continue;
    // Info records: (OLD_|NEW_)DFID_NAME = header, fsid, file_handle, name.
    std::string path, old_path, new_path;
    const char* p = event + meta.metadata_len;
    const char* end = event + meta.event_len;
    while (p + sizeof(struct fanotify_event_info_header) <= end) {
      struct fanotify_event_info_fid info;
      std::memcpy(&info, p, sizeof(info));
      if (info.hdr.len < sizeof(info) || p + info.hdr.len > end) break;
      const char* handle = p + sizeof(info);
      struct file_handle hdr;
      std::memcpy(&hdr, handle, sizeof(hdr));
      const char* name = handle + sizeof(struct file_handle) + hdr.handle_bytes;
      if (name >= p + info.hdr.len) name = nullptr;  // DFID without a name
      uint8_t type = info.hdr.info_type;
      if (type == FAN_EVENT_INFO_TYPE_DFID_NAME || type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
          type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
        std::string dir = ResolveDir(FsidKey(info.fsid.val), handle);
        std::string full;
        if (dir.empty()) {
          unresolved_.Increment();
          full = Join("(unresolved directory)", name);
        } else {
          full = Join(dir, name);
        }
        full = custos::ToValidUtf8(full);
        if (type == FAN_EVENT_INFO_TYPE_DFID_NAME) path = full;
        else if (type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME) old_path = full;
        else new_path = full;
      }
      p += info.hdr.len;
    }
    const bool is_dir = (meta.mask & FAN_ONDIR) != 0;
    const bool resolved_outside = !path.empty() && path[0] == '/' && !UnderRoots(path);
    if (resolved_outside && !(meta.mask & (FAN_MOVED_FROM | FAN_MOVED_TO))) continue;
    if (meta.mask & FAN_CREATE) {
      if (is_dir && path.rfind('/', 0) == 0) MarkTree(path);  // first, to miss as little as possible
      sink(FileEvent{meta.pid, v1::AccessEvent::ACTION_CREATE, path});
    }
    if (meta.mask & FAN_DELETE) {
      sink(FileEvent{meta.pid, v1::AccessEvent::ACTION_DELETE, path});
      if (is_dir && marked_ > 0) marked_gauge_.Set(static_cast<int64_t>(--marked_));  // its mark went with it
    }
    if (meta.mask & FAN_RENAME) {
      // No field for a second path: a rename is two records, old name then new.
      sink(FileEvent{meta.pid, v1::AccessEvent::ACTION_RENAME, old_path});
      sink(FileEvent{meta.pid, v1::AccessEvent::ACTION_RENAME, new_path});
    }
    if (meta.mask & FAN_MOVED_FROM) sink(FileEvent{meta.pid, v1::AccessEvent::ACTION_RENAME, path});
    if (meta.mask & FAN_MOVED_TO) sink(FileEvent{meta.pid, v1::AccessEvent::ACTION_RENAME, path});
    // A directory moved in from elsewhere brings its subtree: watch it.
    const std::string& arrived = (meta.mask & FAN_RENAME) ? new_path : path;
    const bool was_inside = (meta.mask & FAN_RENAME) && UnderRoots(old_path);
    if (is_dir && (meta.mask & (FAN_RENAME | FAN_MOVED_TO)) && !was_inside && UnderRoots(arrived)) MarkTree(arrived);
  }
}

}  // namespace custos::agent::access
