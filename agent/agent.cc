#include "agent/agent.h"

#include "common/curve_keys.h"
#include "common/log.h"

namespace custos::agent {

Agent::Agent(AgentConfig config, Clock& clock)
    : config_(std::move(config)), started_unix_nanos_(clock.NowUnixNanos()) {}

Agent::~Agent() { Stop(); }

Result<std::unique_ptr<Agent>> Agent::Create(ConfigFile& file, Clock& clock) {
  auto config = ReadAgentConfig(file);
  if (!config.ok()) {
    Status finish = file.Finish();  // report unknown keys together with the first error
    return finish.ok() ? config.status() : finish;
  }
  std::unique_ptr<Agent> agent(new Agent(std::move(*config), clock));
  AgentConfig& c = agent->config_;

  // Sources read their sections now, so that Finish() sees every key.
  ConfigSection sources = file.Section("sources");
  std::vector<std::pair<const SourceRegistration*, ConfigSection>> enabled;
  for (const SourceRegistration& reg : SourceRegistry()) {
    ConfigSection section = sources.Section(reg.name);
    if (section.Bool("enabled", reg.enabled_by_default)) enabled.emplace_back(&reg, section);
  }
  for (const std::string& name : sources.SubsectionNames()) {
    bool known = false;
    for (const SourceRegistration& reg : SourceRegistry()) known |= name == reg.name;
    if (!known) {
      std::string names;
      for (const SourceRegistration& reg : SourceRegistry()) names += std::string(names.empty() ? "" : ", ") + reg.name;
      return InvalidArgument(file.path() + ": unknown source [sources." + name + "] (known: " + names + ")");
    }
  }

  CUSTOS_ASSIGN_OR_RETURN(CurveKeyPair keys, ReadCurveSecretKey(c.secret_key_file));
  CUSTOS_ASSIGN_OR_RETURN(c.sender.server_public_key, ReadCurvePublicKey(c.server_key_file));
  c.sender.public_key = keys.public_z85;
  c.sender.secret_key = keys.secret_z85;

  agent->node_.set_node_id(c.node_id);
  agent->node_.set_hostname(c.hostname);
  agent->node_.set_region(c.region);
  agent->node_.set_zone(c.zone);
  for (const auto& [k, v] : c.labels) (*agent->node_.mutable_labels())[k] = v;

  CUSTOS_ASSIGN_OR_RETURN(agent->spool_, Spool::Open(c.spool, agent->metrics_));
  agent->batcher_ = std::make_unique<Batcher>(c.batch, *agent->spool_, agent->node_, agent->metrics_, clock);
  agent->sender_ = std::make_unique<Sender>(c.sender, *agent->spool_, agent->metrics_, clock);
  agent->source_context_ = std::make_unique<SourceContext>(
      SourceContext{*agent->batcher_, agent->metrics_, clock, agent->node_});
  for (auto& [reg, section] : enabled) {
    auto source = reg->create(section, *agent->source_context_);
    if (!source.ok()) return source.status().WithContext("source " + std::string(reg->name));
    agent->sources_.push_back(std::move(*source));
  }
  CUSTOS_RETURN_IF_ERROR(file.Finish());

  Agent* raw = agent.get();
  raw->batcher_->SetOnDurable([raw] { raw->sender_->Notify(); });
  raw->batcher_->SetStatsProvider([raw](v1::AgentStats* s) { raw->FillStats(s); });
  raw->sender_->SetStatsProvider([raw](v1::AgentStats* s) { raw->FillStats(s); });
  raw->sender_->SetOnRejected([raw](uint64_t seq, uint64_t records, const std::string& reason) {
    raw->batcher_->ReportLoss("sender", v1::Gap::REASON_REFUSED, records,
                              "batch " + std::to_string(seq) + " refused by the collector (kept in " +
                                  raw->config_.sender.rejected_dir + "): " + reason);
  });
  return agent;
}

Status Agent::Start() {
  CUSTOS_RETURN_IF_ERROR(sender_->Start());
  batcher_->Start();
  const Positions& positions = spool_->RecoveredPositions();
  for (auto& source : sources_) {
    auto it = positions.find(source->name());
    Status s = source->Start(it == positions.end() ? "" : it->second);
    if (!s.ok()) return s.WithContext("starting source " + source->name());
  }
  started_ = true;
  log::Info("agent", "started", {{"node_id", config_.node_id}, {"sources", std::to_string(sources_.size())},
                                 {"collector", config_.endpoint}});
  return Status::Ok();
}

void Agent::Stop() {
  if (!started_) return;
  started_ = false;
  for (auto& source : sources_) source->Stop();
  batcher_->Stop();
  sender_->Stop();
  spool_->FlushAcks();
  log::Info("agent", "stopped", {{"spool_batches", std::to_string(spool_->pending_batches())}});
}

void Agent::FillStats(v1::AgentStats* s) const {
  s->set_spool_bytes(spool_->bytes());
  s->set_spool_batches(spool_->pending_batches());
  s->set_spool_quota_bytes(spool_->quota_bytes());
  auto v = [this](const char* name) { return static_cast<uint64_t>(metrics_.Value(name)); };
  s->set_records_accepted(v("custos_agent_records_accepted_total"));
  s->set_records_dropped(v("custos_agent_records_dropped_total"));
  s->set_batches_sent(v("custos_agent_batches_sent_total"));
  s->set_batches_resent(v("custos_agent_batches_resent_total"));
  s->set_batches_acked(v("custos_agent_batches_acked_total"));
  s->set_batches_refused(v("custos_agent_batches_refused_total"));
  s->set_spool_corrupt_entries(v("custos_agent_spool_corrupt_entries_total"));
  s->set_started_unix_nano(static_cast<uint64_t>(started_unix_nanos_));
  s->set_version(CUSTOS_VERSION);
}

std::string Agent::StatusLine() const {
  return std::string(sender_->connected() ? "connected" : "connecting") + " to " + config_.endpoint +
         "; spool " + std::to_string(spool_->pending_batches()) + " batches / " +
         std::to_string(spool_->bytes() >> 10) + " KiB; accepted " +
         std::to_string(static_cast<uint64_t>(metrics_.Value("custos_agent_records_accepted_total"))) +
         " records, dropped " +
         std::to_string(static_cast<uint64_t>(metrics_.Value("custos_agent_records_dropped_total")));
}

}  // namespace custos::agent
