#include "agent/sources/access/access_socket_server.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/files.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace custos::agent::access {
namespace {

constexpr char kLog[] = "access";
constexpr size_t kReadChunk = 64 * 1024;
// Once a connection's replies shrink to this, its waiting lines are answered.
constexpr size_t kResumeReplies = AccessSocketServer::kMaxBufferedReplies / 2;
// What a valid line's reply is counted as before the batch is submitted
// ({"ok":true} or "busy"; an error names the line and a short cause).
constexpr size_t kValidReplyEstimate = 64;
constexpr int kTickMillis = 100;

std::string ErrorReply(const std::string& message) {
  std::string out = "{\"ok\":false,\"error\":";
  AppendJsonString(&out, message);
  out += "}\n";
  return out;
}

Result<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return InvalidArgument("socket path '" + path + "' must be 1 to " + std::to_string(sizeof(addr.sun_path) - 1) +
                           " bytes");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// Removes a socket file left by a killed agent; refuses a live one.
Status ClearStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return Status::Ok();  // nothing there
  if (!S_ISSOCK(st.st_mode)) return FailedPrecondition(path + " exists and is not a socket; not replacing it");
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return ErrnoStatus("socket", errno);
  int rc = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  close(probe);
  if (rc == 0) return FailedPrecondition("another process is serving " + path + " (is an agent already running?)");
  if (err != ECONNREFUSED && err != ENOENT) return ErrnoStatus("probing " + path, err);
  log::Info(kLog, "replacing a stale access socket", {{"path", path}});
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("unlink " + path, errno);
  return Status::Ok();
}

}  // namespace

struct AccessSocketServer::Connection {
  int fd = -1;
  Peer peer;
  std::string in;          // bytes of the unfinished line(s)
  std::string out;         // replies not yet written
  uint64_t line_no = 0;    // lines answered so far
  bool discarding = false; // skipping the rest of an over-long line
  bool eof = false;        // the client shut down its side
  bool blocked = false;    // lines wait in `in` until the client reads its replies
  int64_t partial_since = 0;
  int64_t last_activity = 0;
  ~Connection() {
    if (fd >= 0) close(fd);
  }
};

AccessSocketServer::AccessSocketServer(SocketOptions options, SubmitFn submit, MetricsRegistry& m, Clock& clock)
    : options_(std::move(options)),
      submit_(std::move(submit)),
      clock_(clock),
      lines_ok_(m.GetCounter("custos_access_socket_lines_total", "Access socket lines", {{"result", "ok"}})),
      lines_malformed_(m.GetCounter("custos_access_socket_lines_total", "Access socket lines", {{"result", "malformed"}})),
      lines_too_long_(m.GetCounter("custos_access_socket_lines_total", "Access socket lines", {{"result", "too_long"}})),
      lines_busy_(m.GetCounter("custos_access_socket_lines_total", "Access socket lines", {{"result", "busy"}})),
      lines_failed_(m.GetCounter("custos_access_socket_lines_total", "Access socket lines", {{"result", "failed"}})),
      refused_connections_(m.GetCounter("custos_access_socket_refused_connections_total",
                                        "Connections refused at max_connections")),
      timeouts_(m.GetCounter("custos_access_socket_timeouts_total", "Connections closed by a read or idle timeout")),
      connections_gauge_(m.GetGauge("custos_access_socket_connections", "Open access socket connections")),
      reply_bytes_gauge_(m.GetGauge("custos_access_socket_reply_bytes",
                                    "Reply bytes held by the agent, not yet taken by the clients")) {}

AccessSocketServer::~AccessSocketServer() {
  Stop();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

Result<std::unique_ptr<AccessSocketServer>> AccessSocketServer::Listen(SocketOptions options, SubmitFn submit,
                                                                       MetricsRegistry& metrics, Clock& clock) {
  CUSTOS_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(options.path));
  std::string dir = options.path.substr(0, options.path.rfind('/'));
  if (!dir.empty()) CUSTOS_RETURN_IF_ERROR(MakeDirs(dir, 0750));
  gid_t gid = static_cast<gid_t>(-1);
  if (!options.group.empty()) {
    struct group gr {};
    struct group* found = nullptr;
    std::vector<char> buf(16384);
    if (getgrnam_r(options.group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return InvalidArgument("socket_group '" + options.group + "' does not exist");
    }
    gid = gr.gr_gid;
  }
  CUSTOS_RETURN_IF_ERROR(ClearStaleSocket(options.path, addr));
  std::unique_ptr<AccessSocketServer> s(new AccessSocketServer(std::move(options), std::move(submit), metrics, clock));
  const std::string& path = s->options_.path;
  s->listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->listen_fd_ < 0) return ErrnoStatus("socket", errno);
  // The directory is 0750, so nobody else reaches the socket before chmod.
  if (bind(s->listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus("bind " + path, errno);
  }
  if (chmod(path.c_str(), s->options_.mode) != 0) return ErrnoStatus("chmod " + path, errno);
  if (gid != static_cast<gid_t>(-1) && chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0) {
    return ErrnoStatus("chgrp " + path, errno);
  }
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) s->socket_ino_ = st.st_ino;
  if (listen(s->listen_fd_, 64) != 0) return ErrnoStatus("listen " + path, errno);
  s->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->stop_fd_ < 0) return ErrnoStatus("eventfd", errno);
  return s;
}

void AccessSocketServer::Start() { thread_ = std::thread([this] {
    SetThreadName("access-socket");
    Run();
  }); }

void AccessSocketServer::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) < 0) log::Error(kLog, "cannot wake the socket thread");
  thread_.join();
  connections_.clear();
  connections_gauge_.Set(0);
  reply_bytes_gauge_.Set(0);
  // Remove the socket file, unless another process has bound a new one there.
  struct stat st {};
  if (stat(options_.path.c_str(), &st) == 0 && st.st_ino == socket_ino_) unlink(options_.path.c_str());
}

void AccessSocketServer::Run() {
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({stop_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& c : connections_) {
      short events = 0;
      if (!c->eof && !c->blocked) events |= POLLIN;
      if (!c->out.empty()) events |= POLLOUT;
      fds.push_back({c->fd, events, 0});
    }
    int n = poll(fds.data(), fds.size(), kTickMillis);
    if (n < 0 && errno != EINTR) {
      log::Error(kLog, "poll failed", {{"error", std::strerror(errno)}});
      return;
    }
    if (fds[0].revents & POLLIN) return;
    const int64_t now = clock_.MonotonicNanos();
    std::vector<bool> keep(connections_.size(), true);
    size_t reply_bytes = 0;
    for (size_t i = 0; i < connections_.size(); ++i) {
      Connection& c = *connections_[i];
      short re = fds[i + 2].revents;
      // A blocked connection is not read (a hung-up one fails in Flush).
      if ((re & (POLLIN | POLLHUP | POLLERR)) && !c.blocked) {
        if (!ReadFrom(c)) keep[i] = false;
      }
      if (keep[i] && !c.out.empty() && !Flush(c, now)) keep[i] = false;
      if (keep[i] && c.blocked && c.out.size() <= kResumeReplies) {
        Answer(c, false, now);  // the client read its replies: the lines that waited
        if (!c.out.empty() && !Flush(c, now)) keep[i] = false;
      }
      reply_bytes += c.out.size();
      if (!keep[i]) continue;
      if (c.eof && !c.blocked && c.out.empty()) {
        keep[i] = false;  // answered everything the client sent
      } else if (!c.in.empty() && !c.discarding && !c.blocked &&
                 now - c.partial_since > options_.read_timeout_nanos) {
        c.out += ErrorReply("line " + std::to_string(c.line_no + 1) + ": incomplete line timed out");
        Flush(c, now);
        timeouts_.Increment();
        keep[i] = false;
      } else if (now - c.last_activity > options_.idle_timeout_nanos) {
        timeouts_.Increment();
        keep[i] = false;
      }
    }
    for (size_t i = connections_.size(); i-- > 0;) {
      if (!keep[i]) connections_.erase(connections_.begin() + static_cast<ptrdiff_t>(i));
    }
    if (fds[1].revents & POLLIN) Accept();
    connections_gauge_.Set(static_cast<int64_t>(connections_.size()));
    reply_bytes_gauge_.Set(static_cast<int64_t>(reply_bytes));
  }
}

void AccessSocketServer::Accept() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;  // EAGAIN, or a client that went away
    if (connections_.size() >= options_.max_connections) {
      refused_connections_.Increment();
      std::string reply = ErrorReply("too many connections (max_connections " +
                                     std::to_string(options_.max_connections) + "); retry later");
      (void)!send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(fd);
      continue;
    }
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    struct ucred cred {};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      c->peer = Peer{static_cast<int32_t>(cred.pid), static_cast<int64_t>(cred.uid), static_cast<int64_t>(cred.gid)};
    }
    c->last_activity = clock_.MonotonicNanos();
    connections_.push_back(std::move(c));
  }
}

bool AccessSocketServer::ReadFrom(Connection& c) {
  char buf[kReadChunk];
  ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  const int64_t now = clock_.MonotonicNanos();
  c.last_activity = now;
  const bool was_empty = c.in.empty();
  if (n == 0) {
    c.eof = true;
  } else {
    c.in.append(buf, static_cast<size_t>(n));
  }
  Answer(c, was_empty, now);
  return true;
}

void AccessSocketServer::Answer(Connection& c, bool line_began, int64_t now) {
  const bool consumed = HandleLines(c, c.eof);
  // What is left is the start of a line (or lines that wait for the client
  // to read): a line's read timeout runs from when it began.
  if (c.in.empty()) c.partial_since = 0;
  else if (line_began || consumed) c.partial_since = now;
}

bool AccessSocketServer::HandleLines(Connection& c, bool at_eof) {
  // Replies in request order; valid lines are answered once submitted together.
  std::vector<std::string> replies;
  std::vector<size_t> valid_index;
  std::vector<uint64_t> valid_line;
  std::vector<AccessRequest> valid;
  size_t start = 0;
  const size_t max = options_.max_line_bytes;
  size_t reply_bytes = c.out.size();
  auto reply = [&](std::string text) {
    reply_bytes += text.size();
    replies.push_back(std::move(text));
  };
  c.blocked = false;
  for (;;) {
    if (reply_bytes >= kMaxBufferedReplies) {
      c.blocked = start < c.in.size();  // the rest waits until the client reads
      break;
    }
    size_t nl = c.in.find('\n', start);
    if (c.discarding) {
      if (nl == std::string::npos) {
        start = c.in.size();
        break;
      }
      c.discarding = false;
      start = nl + 1;
      continue;
    }
    if (nl == std::string::npos) {
      size_t pending = c.in.size() - start;
      if (pending > max) {
        ++c.line_no;
        lines_too_long_.Increment();
        reply(ErrorReply("line " + std::to_string(c.line_no) + ": longer than " + std::to_string(max) +
                         " bytes (max_line_bytes); skipped up to the next newline"));
        c.discarding = true;
        start = c.in.size();
        continue;
      }
      if (!at_eof || pending == 0) break;
      nl = c.in.size();  // a last line without its newline
    }
    std::string_view line(c.in.data() + start, nl - start);
    start = std::min(nl + 1, c.in.size());
    ++c.line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max) {
      lines_too_long_.Increment();
      reply(ErrorReply("line " + std::to_string(c.line_no) + ": longer than " + std::to_string(max) +
                       " bytes (max_line_bytes)"));
      continue;
    }
    Result<AccessRequest> r = line.empty() ? Result<AccessRequest>(InvalidArgument("empty line"))
                                           : ParseAccessLine(line);
    if (!r.ok()) {
      lines_malformed_.Increment();
      reply(ErrorReply("line " + std::to_string(c.line_no) + ": " + r.status().message()));
      continue;
    }
    valid_index.push_back(replies.size());
    valid_line.push_back(c.line_no);
    valid.push_back(std::move(*r));
    replies.emplace_back();  // filled once the batch is submitted
    reply_bytes += kValidReplyEstimate;
    if (start >= c.in.size()) break;
  }
  c.in.erase(0, start);
  if (!valid.empty()) {
    size_t count = valid.size();
    Status s = submit_(c.peer, std::move(valid));
    for (size_t k = 0; k < count; ++k) {
      std::string& answer = replies[valid_index[k]];
      if (s.ok()) {
        lines_ok_.Increment();
        answer = "{\"ok\":true}\n";
      } else if (s.code() == StatusCode::kResourceExhausted) {
        lines_busy_.Increment();
        answer = "{\"ok\":false,\"error\":\"busy\",\"retry_after_ms\":" + std::to_string(options_.retry_after_ms) + "}\n";
      } else {
        lines_failed_.Increment();
        answer = ErrorReply("line " + std::to_string(valid_line[k]) + ": " + s.message());
      }
    }
  }
  for (std::string& r : replies) c.out += r;
  return start > 0;
}

bool AccessSocketServer::Flush(Connection& c, int64_t now) {
  while (!c.out.empty()) {
    ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EINTR;  // EPIPE etc.: the client is gone
    c.out.erase(0, static_cast<size_t>(n));
    c.last_activity = now;  // a client reading its replies is not idle
  }
  return true;
}

}  // namespace custos::agent::access
