#include "collector/store/sqlite_store.h"

#include <array>

#include "common/hex.h"
#include "common/json_text.h"
#include "common/log.h"
#include "schemas/record_refs.h"

namespace custos::store {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches(
  agent_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
  received INTEGER NOT NULL, records INTEGER NOT NULL,
  PRIMARY KEY(agent_id, epoch, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS batches_received ON batches(received);
CREATE TABLE IF NOT EXISTS resources(
  id INTEGER PRIMARY KEY, fingerprint BLOB UNIQUE NOT NULL, node_id TEXT, hostname TEXT,
  region TEXT, zone TEXT, systemd_unit TEXT, container_id TEXT, service_name TEXT, labels TEXT);
CREATE TABLE IF NOT EXISTS agents(
  agent_id TEXT PRIMARY KEY, hostname TEXT, region TEXT, first_seen INTEGER, last_seen INTEGER,
  epoch INTEGER, last_seq INTEGER, last_batch_created INTEGER, batches INTEGER DEFAULT 0,
  records INTEGER DEFAULT 0, duplicates INTEGER DEFAULT 0, lost_records INTEGER DEFAULT 0, stats BLOB);
CREATE TABLE IF NOT EXISTS logs(
  ts INTEGER NOT NULL, resource INTEGER NOT NULL, severity INTEGER, source TEXT, message TEXT,
  fields TEXT, trace_id BLOB, span_id BLOB, pid INTEGER, comm TEXT);
CREATE INDEX IF NOT EXISTS logs_ts ON logs(ts);
CREATE TABLE IF NOT EXISTS metrics(
  ts INTEGER NOT NULL, resource INTEGER NOT NULL, name TEXT NOT NULL, type INTEGER, unit TEXT,
  attributes TEXT, value REAL, start_ts INTEGER, histogram BLOB);
CREATE INDEX IF NOT EXISTS metrics_ts ON metrics(ts);
CREATE TABLE IF NOT EXISTS spans(
  ts INTEGER NOT NULL, resource INTEGER NOT NULL, trace_id BLOB, span_id BLOB, parent_span_id BLOB,
  name TEXT, kind INTEGER, end_ts INTEGER, status_code INTEGER, status_message TEXT, attributes TEXT);
CREATE INDEX IF NOT EXISTS spans_ts ON spans(ts);
CREATE TABLE IF NOT EXISTS gpu_samples(
  ts INTEGER NOT NULL, resource INTEGER NOT NULL, gpu_index INTEGER, gpu_uuid TEXT, gpu_name TEXT,
  sm_utilization_pct REAL, memory_utilization_pct REAL, memory_used_bytes INTEGER,
  memory_total_bytes INTEGER, power_watts REAL, energy_millijoules INTEGER, temperature_celsius REAL,
  sm_clock_mhz INTEGER, memory_clock_mhz INTEGER, clock_event_reasons INTEGER,
  ecc_corrected_total INTEGER, ecc_uncorrected_total INTEGER, pid INTEGER, executable TEXT);
CREATE INDEX IF NOT EXISTS gpu_samples_ts ON gpu_samples(ts);
CREATE TABLE IF NOT EXISTS gpu_events(
  ts INTEGER NOT NULL, resource INTEGER NOT NULL, gpu_index INTEGER, gpu_uuid TEXT, kind TEXT,
  code INTEGER, description TEXT);
CREATE INDEX IF NOT EXISTS gpu_events_ts ON gpu_events(ts);
CREATE TABLE IF NOT EXISTS access_events(
  ts INTEGER NOT NULL, resource INTEGER NOT NULL, uid INTEGER, user TEXT, principal_unit TEXT,
  service_identity TEXT, pid INTEGER, executable TEXT, action INTEGER, object TEXT, dataset_id TEXT,
  classification TEXT, dataset_home_region TEXT, outcome INTEGER, bytes INTEGER, count INTEGER,
  source TEXT, verdict TEXT, violations TEXT, policy_version TEXT);
CREATE INDEX IF NOT EXISTS access_events_ts ON access_events(ts);
CREATE TABLE IF NOT EXISTS gaps(
  ts INTEGER NOT NULL, resource INTEGER NOT NULL, agent_id TEXT, reason INTEGER, lost_records INTEGER,
  lost_batches INTEGER, first_lost_seq INTEGER, last_lost_seq INTEGER, source TEXT, detail TEXT,
  received INTEGER);
CREATE INDEX IF NOT EXISTS gaps_ts ON gaps(ts);
CREATE TABLE IF NOT EXISTS alerts(
  ts INTEGER NOT NULL, resource INTEGER NOT NULL, rule TEXT, severity TEXT, message TEXT, labels TEXT,
  record_kind TEXT, count INTEGER, policy_version TEXT, alert_node TEXT, suppressed_by TEXT, incident INTEGER,
  subject TEXT);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts(ts);
)sql";

// Record kind (as queried) -> table.
const std::map<std::string, std::string>& KindTables() {
  static const std::map<std::string, std::string> kTables = {
      {"logs", "logs"}, {"metrics", "metrics"}, {"spans", "spans"}, {"gpu_samples", "gpu_samples"},
      {"gpu_events", "gpu_events"}, {"access", "access_events"}, {"gaps", "gaps"}, {"alerts", "alerts"}};
  return kTables;
}

// A compact JSON object for a string map (attributes, labels, fields), keys
// sorted so that equal maps give equal text. Empty maps give "".
std::string MapJson(const google::protobuf::Map<std::string, std::string>& m) {
  if (m.empty()) return "";
  std::vector<const google::protobuf::MapPair<std::string, std::string>*> items;
  items.reserve(m.size());
  for (const auto& kv : m) items.push_back(&kv);
  std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::string out = "{";
  for (const auto* kv : items) {
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(&out, kv->first);
    out.push_back(':');
    AppendJsonString(&out, kv->second);
  }
  out.push_back('}');
  return out;
}

int64_t I(uint64_t v) { return static_cast<int64_t>(v); }

}  // namespace

const std::vector<std::string>& RecordKinds() {
  static const std::vector<std::string> kKinds = {"metrics", "logs", "spans", "gpu_samples",
                                                  "gpu_events", "access", "gaps", "alerts"};
  return kKinds;
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteOptions& options) {
  std::unique_ptr<SqliteStore> s(new SqliteStore(options));
  CUSTOS_RETURN_IF_ERROR(s->Init().WithContext("opening store " + options.path));
  return s;
}

Status SqliteStore::Init() {
  CUSTOS_ASSIGN_OR_RETURN(db_, Db::Open(options_.path, /*create=*/true));
  CUSTOS_RETURN_IF_ERROR(db_->Exec(options_.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  CUSTOS_RETURN_IF_ERROR(db_->Exec("PRAGMA foreign_keys=OFF"));
  CUSTOS_RETURN_IF_ERROR(db_->Exec(kSchema));
  // Columns added after a table first shipped: added in place to older files.
  static const std::array<std::array<const char*, 3>, 6> kAddedColumns = {{{"alerts", "suppressed_by", "TEXT"},
                                                                            {"alerts", "incident", "INTEGER"},
                                                                            {"alerts", "subject", "TEXT"},
                                                                            {"access_events", "verdict", "TEXT"},
                                                                            {"access_events", "violations", "TEXT"},
                                                                            {"access_events", "policy_version", "TEXT"}}};
  for (const auto& [table, column, type] : kAddedColumns)
    CUSTOS_RETURN_IF_ERROR(AddColumnIfMissing(*db_, table, column, type));
  {
    CUSTOS_ASSIGN_OR_RETURN(auto get, db_->Prepare("SELECT value FROM meta WHERE key='schema_version'"));
    CUSTOS_ASSIGN_OR_RETURN(bool row, get->Step());
    if (row && get->Text(0) != std::to_string(kSchemaVersion)) {
      return FailedPrecondition("store schema version " + get->Text(0) + " is not " + std::to_string(kSchemaVersion));
    }
  }
  CUSTOS_RETURN_IF_ERROR(db_->Exec("INSERT OR IGNORE INTO meta VALUES('schema_version','" +
                                   std::to_string(kSchemaVersion) + "')"));
  const std::array<std::pair<const char*, const char*>, 13> statements = {{
      {"begin", "BEGIN IMMEDIATE"},
      {"commit", "COMMIT"},
      {"rollback", "ROLLBACK"},
      {"batch", "INSERT OR IGNORE INTO batches(agent_id, epoch, seq, received, records) VALUES(?,?,?,?,?)"},
      {"resource_find", "SELECT id FROM resources WHERE fingerprint=?"},
      {"resource_add", "INSERT INTO resources(fingerprint, node_id, hostname, region, zone, systemd_unit, "
                       "container_id, service_name, labels) VALUES(?,?,?,?,?,?,?,?,?)"},
      {"log", "INSERT INTO logs VALUES(?,?,?,?,?,?,?,?,?,?)"},
      {"metric", "INSERT INTO metrics VALUES(?,?,?,?,?,?,?,?,?)"},
      {"span", "INSERT INTO spans VALUES(?,?,?,?,?,?,?,?,?,?,?)"},
      {"gpu_sample", "INSERT INTO gpu_samples VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
      {"gpu_event", "INSERT INTO gpu_events VALUES(?,?,?,?,?,?,?)"},
      {"access", "INSERT INTO access_events(ts, resource, uid, user, principal_unit, service_identity, pid, "
                 "executable, action, object, dataset_id, classification, dataset_home_region, outcome, bytes, count, "
                 "source) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
      {"gap", "INSERT INTO gaps VALUES(?,?,?,?,?,?,?,?,?,?,?)"},
  }};
  for (const auto& [name, sql] : statements) {
    CUSTOS_ASSIGN_OR_RETURN(stmts_[name], db_->Prepare(sql));
  }
  CUSTOS_ASSIGN_OR_RETURN(
      stmts_["agent"],
      db_->Prepare("INSERT INTO agents(agent_id, hostname, region, first_seen, last_seen, epoch, last_seq, "
                   "last_batch_created, batches, records, duplicates, lost_records, stats) "
                   "VALUES(?1,?2,?3,?4,?4,?5,?6,?7,?8,?9,?10,?11,?12) "
                   "ON CONFLICT(agent_id) DO UPDATE SET hostname=coalesce(nullif(?2,''),hostname), "
                   "region=coalesce(nullif(?3,''),region), last_seen=?4, epoch=?5, "
                   "last_seq=max(coalesce(last_seq,0),?6), "
                   "last_batch_created=max(coalesce(last_batch_created,0),?7), batches=batches+?8, "
                   "records=records+?9, duplicates=duplicates+?10, lost_records=lost_records+?11, stats=?12"));
  CUSTOS_ASSIGN_OR_RETURN(read_db_, Db::Open(options_.path, /*create=*/false));
  // Commits append to the WAL only; copying it into the file happens beside them.
  CUSTOS_ASSIGN_OR_RETURN(checkpointer_,
                          WalCheckpointer::Start(*db_, {.synchronous_full = options_.synchronous_full,
                                                        .metrics = options_.metrics}));
  return Status::Ok();
}

Result<int64_t> SqliteStore::ResourceId(const v1::Resource& r) {
  std::string fp = r.node_id() + '\x1f' + r.hostname() + '\x1f' + r.region() + '\x1f' + r.zone() + '\x1f' +
                   r.systemd_unit() + '\x1f' + r.container_id() + '\x1f' + r.service_name() + '\x1f' +
                   MapJson(r.labels());
  auto it = resource_ids_.find(fp);
  if (it != resource_ids_.end()) return it->second;
  Statement& find = *stmts_["resource_find"];
  find.BindBlob(1, fp);
  auto row = find.Step();
  int64_t id = row.ok() && *row ? find.Int(0) : -1;
  find.Reset();
  if (!row.ok()) return row.status();
  if (id < 0) {
    Statement& add = *stmts_["resource_add"];
    add.BindBlob(1, fp);
    add.Bind(2, r.node_id());
    add.Bind(3, r.hostname());
    add.Bind(4, r.region());
    add.Bind(5, r.zone());
    add.Bind(6, r.systemd_unit());
    add.Bind(7, r.container_id());
    add.Bind(8, r.service_name());
    const std::string labels = MapJson(r.labels());
    add.Bind(9, labels);
    CUSTOS_RETURN_IF_ERROR(add.Exec());
    id = sqlite3_last_insert_rowid(db_->raw());
  }
  resource_ids_.emplace(std::move(fp), id);
  return id;
}

Status SqliteStore::InsertRecord(const v1::Record& rec, int64_t res, const IngestedBatch& b) {
  switch (rec.kind_case()) {
    case v1::Record::kLog: {
      const v1::LogRecord& r = rec.log();
      const std::string fields = MapJson(r.fields());
      Statement& s = *stmts_["log"];
      s.Bind(1, I(r.time_unix_nano()));
      s.Bind(2, res);
      s.Bind(3, int64_t{r.severity()});
      s.Bind(4, r.source());
      s.Bind(5, r.message());
      s.Bind(6, fields);
      s.BindBlob(7, r.trace_id());
      s.BindBlob(8, r.span_id());
      s.Bind(9, int64_t{r.pid()});
      s.Bind(10, r.comm());
      return s.Exec();
    }
    case v1::Record::kMetric: {
      const v1::MetricPoint& r = rec.metric();
      const std::string attributes = MapJson(r.attributes());
      const std::string histogram = r.has_histogram() ? r.histogram().SerializeAsString() : std::string();
      Statement& s = *stmts_["metric"];
      s.Bind(1, I(r.time_unix_nano()));
      s.Bind(2, res);
      s.Bind(3, r.name());
      s.Bind(4, int64_t{r.type()});
      s.Bind(5, r.unit());
      s.Bind(6, attributes);
      s.Bind(7, r.value());
      s.Bind(8, I(r.start_time_unix_nano()));
      s.BindBlob(9, histogram);
      return s.Exec();
    }
    case v1::Record::kSpan: {
      const v1::Span& r = rec.span();
      const std::string attributes = MapJson(r.attributes());
      Statement& s = *stmts_["span"];
      s.Bind(1, I(r.start_time_unix_nano()));
      s.Bind(2, res);
      s.BindBlob(3, r.trace_id());
      s.BindBlob(4, r.span_id());
      s.BindBlob(5, r.parent_span_id());
      s.Bind(6, r.name());
      s.Bind(7, int64_t{r.kind()});
      s.Bind(8, I(r.end_time_unix_nano()));
      s.Bind(9, int64_t{r.status_code()});
      s.Bind(10, r.status_message());
      s.Bind(11, attributes);
      return s.Exec();
    }
    case v1::Record::kGpuSample: {
      const v1::GpuSample& r = rec.gpu_sample();
      Statement& s = *stmts_["gpu_sample"];
      s.Bind(1, I(r.time_unix_nano()));
      s.Bind(2, res);
      s.Bind(3, int64_t{r.gpu_index()});
      s.Bind(4, r.gpu_uuid());
      s.Bind(5, r.gpu_name());
      s.Bind(6, r.sm_utilization_pct());
      s.Bind(7, r.memory_utilization_pct());
      s.Bind(8, I(r.memory_used_bytes()));
      s.Bind(9, I(r.memory_total_bytes()));
      s.Bind(10, r.power_watts());
      s.Bind(11, I(r.energy_millijoules()));
      s.Bind(12, r.temperature_celsius());
      s.Bind(13, int64_t{r.sm_clock_mhz()});
      s.Bind(14, int64_t{r.memory_clock_mhz()});
      s.Bind(15, I(r.clock_event_reasons()));
      s.Bind(16, I(r.ecc_corrected_total()));
      s.Bind(17, I(r.ecc_uncorrected_total()));
      s.Bind(18, int64_t{r.pid()});
      s.Bind(19, r.executable());
      return s.Exec();
    }
    case v1::Record::kGpuEvent: {
      const v1::GpuEvent& r = rec.gpu_event();
      Statement& s = *stmts_["gpu_event"];
      s.Bind(1, I(r.time_unix_nano()));
      s.Bind(2, res);
      s.Bind(3, int64_t{r.gpu_index()});
      s.Bind(4, r.gpu_uuid());
      s.Bind(5, r.kind());
      s.Bind(6, I(r.code()));
      s.Bind(7, r.description());
      return s.Exec();
    }
    case v1::Record::kAccess: {
      const v1::AccessEvent& r = rec.access();
      Statement& s = *stmts_["access"];
      s.Bind(1, I(r.time_unix_nano()));
      s.Bind(2, res);
      s.Bind(3, r.principal().uid());
      s.Bind(4, r.principal().user());
      s.Bind(5, r.principal().systemd_unit());
      s.Bind(6, r.principal().service_identity());
      s.Bind(7, int64_t{r.principal().pid()});
      s.Bind(8, r.principal().executable());
      s.Bind(9, int64_t{r.action()});
      s.Bind(10, r.object());
      s.Bind(11, r.dataset_id());
      s.Bind(12, r.classification());
      s.Bind(13, r.dataset_home_region());
      s.Bind(14, int64_t{r.outcome()});
      s.Bind(15, I(r.bytes()));
      s.Bind(16, int64_t{r.count()});
      s.Bind(17, r.source());
      return s.Exec();
    }
    case v1::Record::kGap: {
      const v1::Gap& r = rec.gap();
      Statement& s = *stmts_["gap"];
      s.Bind(1, I(r.time_unix_nano()));
      s.Bind(2, res);
      s.Bind(3, b.agent_id);
      s.Bind(4, int64_t{r.reason()});
      s.Bind(5, I(r.lost_records()));
      s.Bind(6, I(r.lost_batches()));
      s.Bind(7, I(r.first_lost_seq()));
      s.Bind(8, I(r.last_lost_seq()));
      s.Bind(9, r.source());
      s.Bind(10, r.detail());
      s.Bind(11, b.received_unix_nanos);
      return s.Exec();
    }
    case v1::Record::KIND_NOT_SET:
      break;
  }
  return InvalidArgument("record without a kind");  // validation refuses these earlier
}

Status SqliteStore::UpsertAgent(const IngestedBatch& b, int64_t records, bool data) {
  const v1::Batch& batch = b.batch;
  Statement& s = *stmts_["agent"];
  const v1::Resource* node = batch.resources_size() > 0 ? &batch.resources(0) : nullptr;
  int64_t lost = 0;
  if (data) {
    for (const v1::Record& r : batch.records()) {
      if (r.has_gap()) lost += I(r.gap().lost_records());
    }
  }
  static const std::string kEmpty;
  s.Bind(1, b.agent_id);
  s.Bind(2, node ? node->hostname() : kEmpty);
  s.Bind(3, node ? node->region() : kEmpty);
  s.Bind(4, b.received_unix_nanos);
  s.Bind(5, I(batch.spool_epoch()));
  s.Bind(6, I(batch.seq()));
  s.Bind(7, data ? I(batch.created_unix_nano()) : int64_t{0});
  s.Bind(8, int64_t{data && records >= 0 ? 1 : 0});
  s.Bind(9, records > 0 ? records : 0);
  s.Bind(10, int64_t{data && records < 0 ? 1 : 0});
  s.Bind(11, lost);
  const std::string stats = batch.stats().SerializeAsString();
  s.BindBlob(12, stats);
  return s.Exec();
}

Status SqliteStore::CommitOne(const IngestedBatch& b, CommitOutcome* outcome) {
  const v1::Batch& batch = b.batch;
  if (batch.seq() == 0) {  // heartbeat
    *outcome = CommitOutcome::kStored;
    return UpsertAgent(b, 0, false);
  }
  Statement& dedup = *stmts_["batch"];
  dedup.Bind(1, b.agent_id);
  dedup.Bind(2, I(batch.spool_epoch()));
  dedup.Bind(3, I(batch.seq()));
  dedup.Bind(4, b.received_unix_nanos);
  dedup.Bind(5, int64_t{batch.records_size()});
  CUSTOS_RETURN_IF_ERROR(dedup.Exec());
  if (db_->Changes() == 0) {
    *outcome = CommitOutcome::kDuplicate;
    return UpsertAgent(b, -1, true);
  }
  std::vector<int64_t> resource_ids;
  resource_ids.reserve(static_cast<size_t>(batch.resources_size()));
  for (const v1::Resource& r : batch.resources()) {
    CUSTOS_ASSIGN_OR_RETURN(int64_t id, ResourceId(r));
    resource_ids.push_back(id);
  }
  for (const v1::Record& rec : batch.records()) {
    uint32_t ref = ResourceRefOf(rec);
    int64_t res = ref < resource_ids.size() ? resource_ids[ref] : 0;
    CUSTOS_RETURN_IF_ERROR(InsertRecord(rec, res, b));
    if (rec.has_access() && access_rowids_ != nullptr) access_rowids_->push_back(sqlite3_last_insert_rowid(db_->raw()));
  }
  *outcome = CommitOutcome::kStored;
  return UpsertAgent(b, batch.records_size(), true);
}

Result<std::vector<CommitOutcome>> SqliteStore::Commit(const std::vector<const IngestedBatch*>& batches) {
  std::vector<CommitOutcome> outcomes(batches.size(), CommitOutcome::kStored);
  CUSTOS_RETURN_IF_ERROR(stmts_["begin"]->Exec());
  Status s;
  access_rowids_by_batch_.assign(batches.size(), {});
  for (size_t i = 0; i < batches.size() && s.ok(); ++i) {
    access_rowids_ = &access_rowids_by_batch_[i];
    s = CommitOne(*batches[i], &outcomes[i]);
  }
  access_rowids_ = nullptr;
  const bool hook_runs = s.ok() && commit_hook_;
  if (hook_runs) s = commit_hook_(batches, outcomes);
  if (s.ok()) s = stmts_["commit"]->Exec();
  if (!s.ok()) {
    (void)stmts_["rollback"]->Exec();
    resource_ids_.clear();  // ids added in the rolled-back transaction are gone
    if (hook_runs && on_rollback_) on_rollback_();
    return s;
  }
  return outcomes;
}

Result<uint64_t> SqliteStore::DeleteOlderThan(int64_t cutoff) {
  uint64_t total = 0;
  for (const auto& [kind, table] : KindTables()) {
    CUSTOS_ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM " + table + " WHERE rowid IN (SELECT rowid FROM " +
                                                   table + " WHERE ts < ?1 LIMIT 50000)"));
    while (true) {
      del->Bind(1, cutoff);
      CUSTOS_RETURN_IF_ERROR(del->Exec());
      int64_t n = db_->Changes();
      total += static_cast<uint64_t>(n);
      if (n < 50000) break;
    }
  }
  // A batch older than the retention cannot be resent any more (agents resend
  // within minutes), so its dedup entry can go with its records.
  CUSTOS_ASSIGN_OR_RETURN(auto del_batches, db_->Prepare("DELETE FROM batches WHERE received < ?1"));
  del_batches->Bind(1, cutoff);
  CUSTOS_RETURN_IF_ERROR(del_batches->Exec());
  // The incident tracker's tables, absent where it does not run:
  //  - incidents resolved before the cutoff go, as their alerts have. The
  //    newest stays: ids come from the largest one, and one used again
  //    would name two incidents in the audit log;
  //  - error statements not seen since the cutoff are forgotten (their
  //    words may name a person).
  static const std::array<std::array<const char*, 2>, 2> kTrackerTables = {
      {{"incidents", "DELETE FROM incidents WHERE resolved IS NOT NULL AND resolved < ?1 "
                     "AND id < (SELECT max(id) FROM incidents)"},
       {"error_templates", "DELETE FROM error_templates WHERE last_seen < ?1"}}};
  for (const auto& [table, sql] : kTrackerTables) {
    CUSTOS_ASSIGN_OR_RETURN(auto exists, db_->Prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                                      "name = '" + std::string(table) + "'"));
    CUSTOS_ASSIGN_OR_RETURN(bool row, exists->Step());
    if (!row || exists->Int(0) != 1) continue;
    CUSTOS_ASSIGN_OR_RETURN(auto del, db_->Prepare(sql));
    del->Bind(1, cutoff);
    CUSTOS_RETURN_IF_ERROR(del->Exec());
  }
  return total;
}

namespace {

nlohmann::json RowToJson(Statement& s) {
  nlohmann::json row = nlohmann::json::object();
  for (int c = 0; c < s.Columns(); ++c) {
    std::string name = s.ColumnName(c);
    switch (s.ColumnType(c)) {
      case SQLITE_INTEGER: row[name] = s.Int(c); break;
      case SQLITE_FLOAT: row[name] = s.Double(c); break;
      case SQLITE_BLOB: row[name] = HexLower(s.Blob(c)); break;
      case SQLITE_NULL: break;
      default: {
        std::string text = s.Text(c);
        if (!text.empty() && (name == "attributes" || name == "fields" || name == "labels")) {
          row[name] = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        } else {
          row[name] = std::move(text);
        }
      }
    }
  }
  return row;
}

}  // namespace

Result<nlohmann::json> SqliteStore::Query(const RecordQuery& q) {
  auto it = KindTables().find(q.kind);
  if (it == KindTables().end()) {
    std::string kinds;
    for (const std::string& k : RecordKinds()) kinds += (kinds.empty() ? "" : ", ") + k;
    return InvalidArgument("unknown record kind '" + q.kind + "' (one of: " + kinds + ")");
  }
  const std::string& table = it->second;
  // What --name matches for each kind.
  static const std::map<std::string, std::string> kNameColumn = {
      {"metrics", "name"},         {"spans", "name"},         {"logs", "source"},
      {"access_events", "dataset_id"}, {"gpu_samples", "gpu_uuid"}, {"gpu_events", "gpu_uuid"},
      {"alerts", "rule"}};
  auto name_it = kNameColumn.find(table);
  std::string name_col = name_it == kNameColumn.end() ? "" : name_it->second;
  std::string sql = "SELECT t.*, r.node_id AS node, r.hostname AS hostname, r.systemd_unit AS unit FROM " + table +
                    " t LEFT JOIN resources r ON r.id = t.resource WHERE t.ts >= ?1 AND t.ts <= ?2";
  if (!q.node.empty()) sql += " AND (r.node_id = ?3 OR r.hostname = ?3)";
  if (!q.name.empty() && !name_col.empty()) sql += " AND t." + name_col + " = ?4";
  sql += " ORDER BY t.ts DESC LIMIT ?5";
  std::lock_guard<std::mutex> lock(read_mu_);
  CUSTOS_ASSIGN_OR_RETURN(auto stmt, read_db_->Prepare(sql));
  stmt->Bind(1, q.since_unix_nanos);
  stmt->Bind(2, q.until_unix_nanos);
  if (!q.node.empty()) stmt->Bind(3, q.node);
  if (!q.name.empty()) stmt->Bind(4, q.name);
  stmt->Bind(5, int64_t{q.limit});
  nlohmann::json rows = nlohmann::json::array();
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    nlohmann::json j = RowToJson(*stmt);
    j.erase("resource");
    // "kind" names the record kind; a table's own kind column moves aside.
    if (q.kind == "spans" && j.contains("kind")) {
      j["span_kind"] = v1::Span::Kind_Name(static_cast<v1::Span::Kind>(j.value("kind", 0)));
    } else if (q.kind == "gpu_events" && j.contains("kind")) {
      j["event_kind"] = j["kind"];
    }
    j["kind"] = q.kind;
    // Enums as their schema names, so people and scripts need no lookup table.
    if (q.kind == "gaps" && j.contains("reason")) {
      j["reason"] = v1::Gap::Reason_Name(static_cast<v1::Gap::Reason>(j["reason"].get<int>()));
    } else if (q.kind == "logs" && j.contains("severity")) {
      j["severity"] = v1::Severity_Name(static_cast<v1::Severity>(j["severity"].get<int>()));
    } else if (q.kind == "access") {
      j["action"] = v1::AccessEvent::Action_Name(static_cast<v1::AccessEvent::Action>(j.value("action", 0)));
      j["outcome"] = v1::AccessEvent::Outcome_Name(static_cast<v1::AccessEvent::Outcome>(j.value("outcome", 0)));
    } else if (q.kind == "spans") {
      j["status_code"] = v1::Span::StatusCode_Name(static_cast<v1::Span::StatusCode>(j.value("status_code", 0)));
    }
    rows.push_back(std::move(j));
  }
  return rows;
}

Result<nlohmann::json> SqliteStore::Agents() {
  std::lock_guard<std::mutex> lock(read_mu_);
  CUSTOS_ASSIGN_OR_RETURN(auto stmt, read_db_->Prepare(
      "SELECT agent_id, hostname, region, first_seen, last_seen, epoch, last_seq, last_batch_created, batches, "
      "records, duplicates, lost_records, stats FROM agents ORDER BY agent_id"));
  nlohmann::json out = nlohmann::json::array();
  while (true) {
    CUSTOS_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    nlohmann::json a = RowToJson(*stmt);
    a.erase("stats");
    v1::AgentStats stats;
    if (stats.ParseFromString(stmt->Blob(12))) {
      a["spool_bytes"] = stats.spool_bytes();
      a["spool_batches"] = stats.spool_batches();
      a["spool_quota_bytes"] = stats.spool_quota_bytes();
      a["agent_records_accepted"] = stats.records_accepted();
      a["agent_records_dropped"] = stats.records_dropped();
      a["agent_batches_sent"] = stats.batches_sent();
      a["agent_batches_resent"] = stats.batches_resent();
      a["agent_batches_acked"] = stats.batches_acked();
      a["agent_batches_refused"] = stats.batches_refused();
      a["agent_spool_corrupt_entries"] = stats.spool_corrupt_entries();
      a["agent_started"] = stats.started_unix_nano();
      a["agent_version"] = stats.version();
    }
    out.push_back(std::move(a));
  }
  return out;
}

Result<nlohmann::json> SqliteStore::Counts() {
  std::lock_guard<std::mutex> lock(read_mu_);
  nlohmann::json out = nlohmann::json::object();
  for (const std::string& kind : RecordKinds()) {
    CUSTOS_ASSIGN_OR_RETURN(auto stmt, read_db_->Prepare("SELECT count(*) FROM " + KindTables().at(kind)));
    CUSTOS_ASSIGN_OR_RETURN(bool row, stmt->Step());
    out[kind] = row ? stmt->Int(0) : 0;
  }
  return out;
}

}  // namespace custos::store
