// custos-agent's assembly: sources → batcher → spool → sender.
//
//   CUSTOS_ASSIGN_OR_RETURN(ConfigFile file, ConfigFile::Load(path));
//   CUSTOS_ASSIGN_OR_RETURN(auto agent, Agent::Create(file));
//   CUSTOS_RETURN_IF_ERROR(agent->Start());
//   ...
//   agent->Stop();
//
// Start order is sender, batcher, sources; Stop is the reverse, so sources
// stop producing first and the batcher spools what they produced.
// Thread-safe: StatusLine() may be called while the agent runs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/agent_config.h"
#include "agent/core/batcher.h"
#include "agent/core/sender.h"
#include "agent/core/source.h"
#include "agent/core/spool.h"
#include "common/clock.h"
#include "common/metrics.h"

namespace custos::agent {

class Agent {
 public:
  // Reads the config (all of it: unknown keys fail here), loads keys, opens
  // the spool and builds the enabled sources.
  static Result<std::unique_ptr<Agent>> Create(ConfigFile& file, Clock& clock = Clock::Real());
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  Status Start();
  void Stop();

  // One line for systemd's STATUS= and logs.
  std::string StatusLine() const;
  const AgentConfig& config() const { return config_; }
  MetricsRegistry& metrics() { return metrics_; }

 private:
  Agent(AgentConfig config, Clock& clock);
  void FillStats(v1::AgentStats* stats) const;

  AgentConfig config_;
  int64_t started_unix_nanos_;
  MetricsRegistry metrics_;
  v1::Resource node_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<Sender> sender_;
  std::unique_ptr<SourceContext> source_context_;
  std::vector<std::unique_ptr<Source>> sources_;
  bool started_ = false;
};

}  // namespace custos::agent
