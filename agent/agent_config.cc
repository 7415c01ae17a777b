#include "agent/agent_config.h"

#include <unistd.h>

#include <cstdlib>

#include "common/files.h"

namespace custos::agent {

Result<std::string> ReadMachineId() {
  const char* env = std::getenv("CUSTOS_MACHINE_ID_FILE");
  std::string path = env != nullptr ? env : "/etc/machine-id";
  CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::string id(Trim(text));
  if (id.empty()) return FailedPrecondition(path + " is empty; set node.id in the agent config");
  return id;
}

Result<AgentConfig> ReadAgentConfig(ConfigFile& file) {
  AgentConfig c;
  ConfigSection node = file.Section("node");
  c.node_id = node.String("id", "");
  c.hostname = node.String("hostname", "");
  c.region = node.String("region", "");
  c.zone = node.String("zone", "");
  c.labels = node.StringMap("labels");

  ConfigSection collector = file.Section("collector");
  c.endpoint = collector.String("endpoint", c.endpoint);
  c.server_key_file = collector.String("server_key", c.server_key_file);

  ConfigSection identity = file.Section("identity");
  c.secret_key_file = SecretPath(identity.String("key", ""), "agent.key", c.secret_key_file);

  ConfigSection state = file.Section("state");
  c.state_dir = state.String("dir", c.state_dir);

  ConfigSection spool = file.Section("spool");
  c.spool.dir = spool.String("dir", c.state_dir + "/spool");
  c.spool.quota_bytes = spool.Bytes("quota", c.spool.quota_bytes);
  c.spool.segment_bytes = spool.Bytes("segment_size", c.spool.segment_bytes);
  c.spool.fsync = spool.Bool("fsync", true);

  ConfigSection batch = file.Section("batch");
  c.batch.max_records = static_cast<size_t>(batch.Int("max_records", 2000, 1, 1'000'000));
  c.batch.max_bytes = batch.Bytes("max_bytes", c.batch.max_bytes);
  c.batch.flush_interval_nanos = batch.Duration("flush_interval", c.batch.flush_interval_nanos);
  c.batch.max_pending_records =
      static_cast<size_t>(batch.Int("max_pending_records", 100'000, 1, 100'000'000));
  c.batch.max_pending_bytes = static_cast<size_t>(batch.Bytes("max_pending_bytes", c.batch.max_pending_bytes));

  ConfigSection sender = file.Section("sender");
  c.sender.window = static_cast<size_t>(sender.Int("window", 16, 1, 1024));
  c.sender.ack_timeout_nanos = sender.Duration("ack_timeout", c.sender.ack_timeout_nanos);
  c.sender.max_backoff_nanos = sender.Duration("max_backoff", c.sender.max_backoff_nanos);
  c.sender.heartbeat_nanos = sender.Duration("heartbeat", c.sender.heartbeat_nanos);

  if (c.node_id.empty()) {
    auto id = ReadMachineId();
    if (!id.ok()) return id.status().WithContext(file.path() + ": node.id is not set");
    c.node_id = *id;
  }
  if (c.hostname.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    c.hostname = host;
  }
  if (c.batch.max_bytes < 1024) return InvalidArgument(file.path() + ": batch.max_bytes must be at least 1KiB");
  if (c.batch.max_pending_bytes < (1 << 20)) {
    return InvalidArgument(file.path() + ": batch.max_pending_bytes must be at least 1MiB");
  }
  c.spool.max_entry_bytes = std::max<uint64_t>(c.spool.max_entry_bytes, c.batch.max_bytes * 4);
  c.batch.agent_id = c.node_id;
  c.sender.agent_id = c.node_id;
  c.sender.endpoint = c.endpoint;
  c.sender.rejected_dir = c.state_dir + "/rejected";
  return c;
}

}  // namespace custos::agent
