#include "tests/e2e/nezha_cluster.h"

#include <unistd.h>

#include "agent/core/batcher.h"
#include "agent/core/spool.h"
#include "common/clock.h"
#include "common/metrics.h"

namespace custos::nezha {

std::unique_ptr<e2e::Cluster> ReplayCluster() {
  auto c = std::make_unique<e2e::Cluster>(
      "[batch]\nmax_records = 2000\nflush_interval = \"100ms\"\nmax_pending_records = 200000\n"
      "[spool]\nquota = \"8GiB\"\n"
      "[sender]\nwindow = 32\n"
      "[sources.host_metrics]\nenabled = false\n");
  c->AppendCollectorConfig("[store]\nretention = \"0s\"\n");
  return c;
}

Result<ReplayCounts> Replay(e2e::Cluster& cluster, const std::string& root, std::vector<Day>& days,
                            const Selection& selection, int timeout_seconds) {
  ReplayCounts total;
  {
    MetricsRegistry metrics;
    agent::SpoolOptions spool_options;
    spool_options.dir = cluster.spool_dir();
    spool_options.quota_bytes = 8ULL << 30;
    spool_options.fsync = false;  // one sync at the end (FlushNow) is enough for a replay
    CUSTOS_ASSIGN_OR_RETURN(auto spool, agent::Spool::Open(spool_options, metrics));
    agent::BatcherOptions batch;
    batch.agent_id = cluster.node_id();
    batch.max_pending_records = 200'000;
    v1::Resource node;
    node.set_node_id(cluster.node_id());
    agent::Batcher batcher(batch, *spool, node, metrics, Clock::Real());
    batcher.Start();
    RecordSink sink;
    // One agent ships everything, and an agent speaks only for its own node
    // (the collector refuses other node ids): the data's node goes into a
    // label.
    sink.resource_ref = [&](const v1::Resource& r) {
      v1::Resource mine = r;
      if (!r.node_id().empty()) (*mine.mutable_labels())["nezha.node"] = r.node_id();
      mine.set_node_id(cluster.node_id());
      return batcher.InternResource(mine);
    };
    sink.add = [&](std::vector<v1::Record>&& records) {
      for (;;) {
        Status s = batcher.Add("nezha", std::move(records));
        if (s.code() != StatusCode::kResourceExhausted) return s;
        usleep(10'000);  // the batcher is writing the spool; wait for room
      }
    };
    for (Day& day : days) {
      CUSTOS_ASSIGN_OR_RETURN(ReplayCounts n, ReplayDay(root, day, selection, sink));
      total.spans += n.spans;
      total.logs += n.logs;
      total.metric_points += n.metric_points;
      total.bad_rows += n.bad_rows;
      total.retimed_rows += n.retimed_rows;
    }
    CUSTOS_RETURN_IF_ERROR(batcher.FlushNow());
    batcher.Stop();
    CUSTOS_RETURN_IF_ERROR(spool->Sync());
  }
  cluster.StartCollector();
  cluster.StartAgent();
  bool done =
      cluster.WaitFor("SELECT count(*) FROM spans", static_cast<int64_t>(total.spans), timeout_seconds) &&
      cluster.WaitFor("SELECT count(*) FROM logs", static_cast<int64_t>(total.logs), timeout_seconds) &&
      cluster.WaitFor("SELECT count(*) FROM metrics", static_cast<int64_t>(total.metric_points), timeout_seconds);
  if (!done) return Status(StatusCode::kUnavailable, "the replayed records did not all reach the store in time");
  return total;
}

}  // namespace custos::nezha
