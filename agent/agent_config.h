// custos-agent's configuration (agent.toml). deploy/agent.toml documents
// every key with its default. Sources read their own [sources.<name>] tables.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "agent/core/batcher.h"
#include "agent/core/sender.h"
#include "agent/core/spool.h"
#include "common/config.h"

namespace custos::agent {

struct AgentConfig {
  // [node]
  std::string node_id;  // default: /etc/machine-id
  std::string hostname; // default: gethostname()
  std::string region;
  std::string zone;
  std::map<std::string, std::string> labels;
  // [collector]
  std::string endpoint = "tcp://127.0.0.1:7070";
  std::string server_key_file = "/etc/custos/agent/collector.pub";
  // [identity]
  std::string secret_key_file = "/etc/custos/agent/agent.key";
  // [state]
  std::string state_dir = "/var/lib/custos/agent";

  SpoolOptions spool;
  BatcherOptions batch;
  SenderOptions sender;
};

// Reads every agent-level key from `file`, filling defaults (machine id,
// hostname, spool dir under state_dir). Source sections are left for the
// sources; call file.Finish() once they have been created.
Result<AgentConfig> ReadAgentConfig(ConfigFile& file);

// The node id from /etc/machine-id (or the file named by CUSTOS_MACHINE_ID_FILE).
Result<std::string> ReadMachineId();

}  // namespace custos::agent
