#include "collector/collector.h"

#include "common/curve_keys.h"
#include "common/files.h"
#include "common/log.h"

namespace custos::collector {

Result<CollectorConfig> ReadCollectorConfig(ConfigFile& file) {
  CollectorConfig c;
  c.state_dir = file.Section("state").String("dir", c.state_dir);

  ConfigSection ingest = file.Section("ingest");
  c.ingest.bind = ingest.String("listen", c.ingest.bind);
  c.secret_key_file = SecretPath(ingest.String("key", ""), "collector.key", c.secret_key_file);
  c.enrolled_dir = ingest.String("enrolled_dir", c.enrolled_dir);
  c.ingest.limits.max_batch_bytes = ingest.Bytes("max_batch_size", c.ingest.limits.max_batch_bytes);
  c.ingest.queue_batches = static_cast<size_t>(ingest.Int("queue_batches", 512, 1, 1'000'000));
  c.ingest.max_txn_records = static_cast<size_t>(ingest.Int("max_transaction_records", 50'000, 1, 10'000'000));

  ConfigSection store = file.Section("store");
  c.store.path = store.String("path", c.state_dir + "/custos.db");
  std::string sync = store.String("synchronous", "full");
  c.ingest.retention_nanos = store.Duration("retention", c.ingest.retention_nanos);

  ConfigSection api = file.Section("api");
  c.api_enabled = api.Bool("enabled", true);
  std::string listen = api.String("listen", "127.0.0.1:7080");
  CUSTOS_RETURN_IF_ERROR(file.Finish());

  if (sync != "full" && sync != "normal") {
    return InvalidArgument(file.path() + ": store.synchronous must be \"full\" or \"normal\", got \"" + sync + "\"");
  }
  c.store.synchronous_full = sync == "full";
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || listen.find_first_not_of("0123456789", colon + 1) != std::string::npos ||
      colon + 1 == listen.size()) {
    return InvalidArgument(file.path() + ": api.listen must be HOST:PORT, got \"" + listen + "\"");
  }
  c.api.host = listen.substr(0, colon);
  c.api.port = std::stoi(listen.substr(colon + 1));
  return c;
}

Result<std::unique_ptr<Collector>> Collector::Create(const CollectorConfig& config) {
  std::unique_ptr<Collector> c(new Collector(config));
  CUSTOS_ASSIGN_OR_RETURN(CurveKeyPair keys, ReadCurveSecretKey(config.secret_key_file));
  c->config_.ingest.secret_key = keys.secret_z85;
  CUSTOS_RETURN_IF_ERROR(MakeDirs(config.state_dir, 0750));
  CUSTOS_ASSIGN_OR_RETURN(c->store_, store::SqliteStore::Open(config.store));
  c->allow_list_ = std::make_unique<ingest::AllowList>(config.enrolled_dir);
  c->ingest_ = std::make_unique<ingest::IngestServer>(c->config_.ingest, *c->store_, *c->allow_list_, c->metrics_);
  if (config.api_enabled) c->api_ = std::make_unique<api::HttpApi>(config.api, *c->store_, c->metrics_);
  return c;
}

Collector::~Collector() { Stop(); }

Status Collector::Start() {
  CUSTOS_RETURN_IF_ERROR(ingest_->Start());
  if (api_) CUSTOS_RETURN_IF_ERROR(api_->Start());
  started_ = true;
  log::Info("collector", "started", {{"ingest", ingest_->endpoint()}, {"store", config_.store.path},
                                     {"api", api_ ? config_.api.host + ":" + std::to_string(api_->port()) : "off"}});
  return Status::Ok();
}

void Collector::Stop() {
  if (!started_) return;
  started_ = false;
  if (api_) api_->Stop();
  ingest_->Stop();
  log::Info("collector", "stopped");
}

void Collector::Reload() {
  Status s = allow_list_->Refresh(true);
  if (!s.ok()) log::Error("collector", "reload of enrolled agents failed", {{"error", s.ToString()}});
}

std::string Collector::StatusLine() const {
  auto v = [this](const char* n) { return std::to_string(static_cast<uint64_t>(metrics_.Value(n))); };
  return "enrolled " + std::to_string(allow_list_->size()) + " agents; stored " +
         v("custos_collector_records_stored_total") + " records in " + v("custos_collector_batches_stored_total") +
         " batches; duplicates " + v("custos_collector_batches_duplicate_total") + "; refused handshakes " +
         v("custos_collector_handshakes_refused_total");
}

}  // namespace custos::collector
