// The access socket through the whole source: real unix socket, real
// batcher and spool.
#include <sys/stat.h>

#include <algorithm>
#include <iostream>

#include "agent/sources/access/access_socket_server.h"
#include "agent/sources/access/access_testing.h"

namespace custos::agent::access {
namespace {

constexpr char kDatasets[] = R"(
principal_names = { "user:alice" = "alice@ml" }
[[sources.access.datasets]]
id = "imagenet"
classification = "internal"
home_region = "eu-central-1"
paths = ["/data/imagenet/**"]
uris = ["s3://ml-datasets/imagenet/**"]
)";

std::string SocketConfig(const std::string& sock, const std::string& extra = "") {
  return "fanotify = false\nsocket = \"" + sock + "\"\n" + extra + kDatasets;
}

TEST(AccessSocketTest, RepliesToEveryLineAndSpoolsTheGoodOnes) {
  std::string dir = MakeTempDir("custos_access_sock");
  std::string sock = dir + "/run/access.sock";
  Harness h(dir + "/spool");
  auto src = h.Make(SocketConfig(sock, "max_line_bytes = 300\n"));
  ASSERT_TRUE(src->Start("").ok());
  struct stat st {};
  ASSERT_EQ(stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  ASSERT_EQ(stat((dir + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);

  Client c(sock);
  ASSERT_TRUE(c.connected());
  // 1: good; 2: malformed JSON; 3: wrong type; 4: unknown action.
  c.Write(R"({"action":"read","object":"s3://ml-datasets/imagenet/train/a.jpeg","user":"alice","uid":1001,"bytes":4096,"time":"2026-11-26T14:52:34Z"})"
          "\n{\"action\": \"read\", \"object\": \n"
          R"({"action":"read","object":"x","bytes":"lots"})" "\n"
          R"({"action":"raed","object":"x"})" "\n");
  EXPECT_EQ(c.ReadLine(), R"({"ok":true})");
  EXPECT_EQ(c.ReadLine(), R"({"ok":false,"error":"line 2: invalid JSON at end of line: expected a value"})");
  EXPECT_EQ(c.ReadLine(),
            R"({"ok":false,"error":"line 3: field 'bytes': expected a non-negative integer, got a string"})");
  EXPECT_EQ(c.ReadLine(), R"j({"ok":false,"error":"line 4: field 'action': unknown value 'raed' (expected read, write, create, delete, rename, list)"})j");
  // 5: over-long line, sent in pieces; 6: a good line right after it.
  c.Write(R"({"action":"read","object":")" + std::string(400, 'a'));
  EXPECT_EQ(c.ReadLine(), R"({"ok":false,"error":"line 5: longer than 300 bytes (max_line_bytes); skipped up to the next newline"})");
  c.Write(std::string(400, 'b') + "\"}\n" R"({"action":"delete","object":"/data/imagenet/x","service_identity":"svc"})" "\n");
  EXPECT_EQ(c.ReadLine(), R"({"ok":true})");
  // 7: a line split across writes (one byte at a time for its head).
  std::string split = R"({"action":"write","object":"/data/imagenet/y","outcome":"denied"})";
  for (size_t i = 0; i < 10; ++i) c.Write(split.substr(i, 1));
  c.Write(split.substr(10) + "\n");
  EXPECT_EQ(c.ReadLine(), R"({"ok":true})");
  // 8..107: many lines in one write, with a blank line (108) and CRLF ones.
  std::string many;
  for (int i = 0; i < 100; ++i) many += R"({"action":"list","object":"s3://b/k)" + std::to_string(i) + "\"}\r\n";
  many += "\n";
  c.Write(many);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(c.ReadLine(), R"({"ok":true})") << i;
  EXPECT_EQ(c.ReadLine(), R"({"ok":false,"error":"line 108: empty line"})");
  // The last line without a newline is answered once the client shuts down.
  c.Write(R"({"action":"create","object":"/tmp/last"})");
  c.ShutdownWrite();
  EXPECT_EQ(c.ReadLine(), R"({"ok":true})");
  EXPECT_TRUE(c.ClosedByServer());

  // The source keeps serving other clients.
  Client c2(sock);
  ASSERT_TRUE(c2.connected());
  c2.Write(R"({"action":"rename","object":"/data/imagenet/z"})" "\n");
  EXPECT_EQ(c2.ReadLine(), R"({"ok":true})");

  std::vector<SpooledAccess> got = h.WaitFor([](const auto& v) { return v.size() >= 105; });
  ASSERT_EQ(got.size(), 105u);
  const v1::AccessEvent& a = got[0].event;
  EXPECT_EQ(a.action(), v1::AccessEvent::ACTION_READ);
  EXPECT_EQ(a.object(), "s3://ml-datasets/imagenet/train/a.jpeg");
  EXPECT_EQ(a.dataset_id(), "imagenet");
  EXPECT_EQ(a.classification(), "internal");
  EXPECT_EQ(a.dataset_home_region(), "eu-central-1");
  EXPECT_EQ(a.principal().user(), "alice");
  EXPECT_EQ(a.principal().uid(), 1001);
  EXPECT_EQ(a.principal().service_identity(), "alice@ml");  // mapped from the user
  EXPECT_EQ(a.bytes(), 4096u);
  EXPECT_EQ(a.count(), 1u);
  EXPECT_EQ(a.outcome(), v1::AccessEvent::OUTCOME_SUCCESS);
  EXPECT_EQ(a.time_unix_nano(), 1795704754'000'000'000ULL);
  EXPECT_EQ(a.source(), "socket");
  // The reporter is this test process.
  EXPECT_EQ(got[0].resource.node_id(), "node-1");
  EXPECT_EQ(got[0].resource.labels().at("access.reporter_uid"), std::to_string(getuid()));
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe));
  ASSERT_GT(n, 0);
  EXPECT_EQ(got[0].resource.labels().at("access.reporter_exe"), std::string(exe, static_cast<size_t>(n)));
  EXPECT_EQ(got[1].event.action(), v1::AccessEvent::ACTION_DELETE);
  EXPECT_EQ(got[1].event.principal().service_identity(), "svc");
  EXPECT_EQ(got[1].event.time_unix_nano(), static_cast<uint64_t>(h.clock.NowUnixNanos()));
  EXPECT_EQ(got[2].event.outcome(), v1::AccessEvent::OUTCOME_DENIED);
  EXPECT_EQ(got[2].event.dataset_id(), "imagenet");
  EXPECT_EQ(got[3].event.object(), "s3://b/k0");
  EXPECT_EQ(got[3].event.dataset_id(), "");
  EXPECT_EQ(got[102].event.object(), "s3://b/k99");
  EXPECT_EQ(got[103].event.object(), "/tmp/last");
  EXPECT_EQ(got[104].event.action(), v1::AccessEvent::ACTION_RENAME);

  EXPECT_EQ(h.metrics.Value("custos_access_socket_lines_total", {{"result", "ok"}}), 105);
  EXPECT_EQ(h.metrics.Value("custos_access_socket_lines_total", {{"result", "malformed"}}), 4);
  EXPECT_EQ(h.metrics.Value("custos_access_socket_lines_total", {{"result", "too_long"}}), 1);
  src->Stop();
  EXPECT_NE(stat(sock.c_str(), &st), 0) << "the socket file is removed at stop";
}

TEST(AccessSocketTest, BusyWhenTheBatcherIsFullNeverSilent) {
  std::string dir = MakeTempDir("custos_access_busy");
  std::string sock = dir + "/access.sock";
  // The batcher is never started, so nothing leaves its pending buffer.
  Harness h(dir + "/spool", BatcherOptions{.agent_id = "node-1", .max_pending_records = 3});
  auto src = h.Make(SocketConfig(sock, "busy_retry_after = \"750ms\"\n"));
  ASSERT_TRUE(src->Start("").ok());
  Client c(sock);
  ASSERT_TRUE(c.connected());
  std::string line = R"({"action":"read","object":"/data/imagenet/a"})" "\n";
  for (int i = 0; i < 3; ++i) {
    c.Write(line);
    EXPECT_EQ(c.ReadLine(), R"({"ok":true})");
  }
  c.Write(line);
  EXPECT_EQ(c.ReadLine(), R"({"ok":false,"error":"busy","retry_after_ms":750})");
  EXPECT_EQ(h.metrics.Value("custos_access_socket_lines_total", {{"result", "busy"}}), 1);
  ASSERT_TRUE(h.batcher->FlushNow().ok());  // room again: the retry is accepted
  c.Write(line);
  EXPECT_EQ(c.ReadLine(), R"({"ok":true})");
  src->Stop();
}

// 200k empty lines (200 KB) make ~9.6 MB of error replies: a client that
// sends them without reading is answered only as fast as it reads, and the
// agent holds at most kMaxBufferedReplies (+ one reply) for it.
TEST(AccessSocketTest, AClientThatDoesNotReadItsRepliesIsThrottledNotBufferedFor) {
  std::string dir = MakeTempDir("custos_access_replies");
  std::string sock = dir + "/access.sock";
  Harness h(dir + "/spool");
  auto src = h.Make(SocketConfig(sock));
  ASSERT_TRUE(src->Start("").ok());
  Client c(sock);
  ASSERT_TRUE(c.connected());
  constexpr int kLines = 200'000;
  std::thread writer([&c] { c.Write(std::string(kLines, '\n')); });  // blocks once the agent stops reading
  auto held = [&h] { return h.metrics.Value("custos_access_socket_reply_bytes"); };
  const double bound = AccessSocketServer::kMaxBufferedReplies + 1024;
  // The replies pile up (nobody reads them) until the agent stops answering.
  double max_held = 0;
  for (int i = 0; i < 1000 && max_held < bound / 2; ++i) {
    max_held = std::max(max_held, held());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(max_held, bound / 2) << "the replies never piled up in the agent";
  for (int i = 0; i < 50; ++i) {
    max_held = std::max(max_held, held());
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_LE(max_held, bound);
  // Now the client reads: every line is answered, in order.
  for (int i = 1; i <= kLines; ++i) {
    std::string want = R"({"ok":false,"error":"line )" + std::to_string(i) + R"(: empty line"})";
    std::string got = c.ReadLine();
    if (got != want) {
      ADD_FAILURE() << "reply " << i << ": " << got;
      break;
    }
    if (i % 1000 == 0) max_held = std::max(max_held, held());
  }
  writer.join();
  EXPECT_LE(max_held, bound);
  EXPECT_EQ(h.metrics.Value("custos_access_socket_lines_total", {{"result", "malformed"}}), kLines);
  // The connection still works.
  c.Write(R"({"action":"read","object":"/data/imagenet/a"})" "\n");
  EXPECT_EQ(c.ReadLine(), R"({"ok":true})");
  std::cout << "most reply bytes held for one client: " << max_held << "\n";
  src->Stop();
}

TEST(AccessSocketTest, BoundsConnectionsAndTimesOutStalledLines) {
  std::string dir = MakeTempDir("custos_access_bounds");
  std::string sock = dir + "/access.sock";
  Harness h(dir + "/spool");
  auto src = h.Make(SocketConfig(sock, "max_connections = 2\nread_timeout = \"5s\"\nidle_timeout = \"1h\"\n"));
  ASSERT_TRUE(src->Start("").ok());
  Client a(sock), b(sock);
  ASSERT_TRUE(a.connected() && b.connected());
  // Both are accepted (a reply proves it) before the third arrives.
  a.Write(R"({"action":"read","object":"/x"})" "\n");
  b.Write(R"({"action":"read","object":"/x"})" "\n");
  EXPECT_EQ(a.ReadLine(), R"({"ok":true})");
  EXPECT_EQ(b.ReadLine(), R"({"ok":true})");
  Client third(sock);
  EXPECT_EQ(third.ReadLine(), R"({"ok":false,"error":"too many connections (max_connections 2); retry later"})");
  EXPECT_EQ(h.metrics.Value("custos_access_socket_refused_connections_total"), 1);
  // A started line that never ends: answered and closed after read_timeout.
  a.Write(R"({"action":"read",)");
  // The server may not have read it yet when time moves: move it until it has.
  std::string reply;
  for (int i = 0; i < 50 && reply.empty(); ++i) {
    h.clock.Advance(6 * kNanosPerSecond);
    reply = a.ReadLine(200);
  }
  EXPECT_EQ(reply, R"({"ok":false,"error":"line 2: incomplete line timed out"})");
  EXPECT_TRUE(a.ClosedByServer());
  // An idle connection is closed after idle_timeout.
  h.clock.Advance(3601 * kNanosPerSecond);
  EXPECT_TRUE(b.ClosedByServer());
  EXPECT_EQ(h.metrics.Value("custos_access_socket_timeouts_total"), 2);
  src->Stop();
}

TEST(AccessSocketTest, RebindsOverAStaleSocketButNotALiveOne) {
  std::string dir = MakeTempDir("custos_access_stale");
  std::string sock = dir + "/access.sock";
  // A killed agent leaves its socket file behind: bind one in a child and kill -9 it.
  pid_t child = fork();
  if (child == 0) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock.c_str(), sizeof(addr.sun_path) - 1);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 1) != 0) _exit(1);
    for (;;) pause();
  }
  struct stat st {};
  for (int i = 0; i < 1000 && stat(sock.c_str(), &st) != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(stat(sock.c_str(), &st), 0);
  {
    // While it lives, a second agent must not steal its socket.
    Harness h(dir + "/spool1");
    auto src = h.Make(SocketConfig(sock));
    Status s = src->Start("");
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find("another process is serving"), std::string::npos) << s.ToString();
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_EQ(stat(sock.c_str(), &st), 0) << "the stale file is still there";

  Harness h(dir + "/spool2");
  auto src = h.Make(SocketConfig(sock));
  ASSERT_TRUE(src->Start("").ok());
  Client c(sock);
  ASSERT_TRUE(c.connected());
  c.Write(R"({"action":"read","object":"/data/imagenet/a"})" "\n");
  EXPECT_EQ(c.ReadLine(), R"({"ok":true})");
  src->Stop();

  // Not a socket: never deleted.
  std::string plain = dir + "/plain";
  FILE* f = fopen(plain.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  Harness h3(dir + "/spool3");
  auto src3 = h3.Make(SocketConfig(plain));
  EXPECT_EQ(src3->Start("").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(stat(plain.c_str(), &st), 0);
}

TEST(AccessSourceConfigTest, BadValuesAreStartupErrors) {
  std::string dir = MakeTempDir("custos_access_cfg");
  Harness h(dir + "/spool");
  auto file = ConfigFile::Parse(R"([sources.access]
fanotify = true
socket = "relative.sock"
max_line_bytes = "10"
coalesce_window = "soon"
sokcet_mode = 0o600
)", "agent.toml");
  ASSERT_TRUE(file.ok());
  ConfigSection section = file->Section("sources").Section("access");
  auto src = CreateAccessSource(section, *h.context);
  Status s = file->Finish();
  ASSERT_FALSE(s.ok());
  for (const char* want : {"sources.access.roots: fanotify = true needs at least one root",
                           "agent.toml:3: sources.access.socket: 'relative.sock' is not an absolute path",
                           "agent.toml:4: sources.access.max_line_bytes: must be between 256 B and 16 MiB",
                           "agent.toml:5: sources.access.coalesce_window: 'soon' is not a duration",
                           "agent.toml:6: unknown key 'sources.access.sokcet_mode'"}) {
    EXPECT_NE(s.message().find(want), std::string::npos) << want << "\n" << s.message();
  }
}

}  // namespace
}  // namespace custos::agent::access
