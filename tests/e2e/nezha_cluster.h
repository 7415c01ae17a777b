// Replays Nezha days through custos's real ingest path: the records are
// written into an agent's spool by the agent's own Batcher (as the agent's
// sources would), then the real custos-agent ships them over CURVE to a real
// custos-collector, which stores them in SQLite (retention off: the data is
// from 2022-2023).
#pragma once

#include <string>
#include <vector>

#include "tests/e2e/harness.h"
#include "tests/e2e/nezha_data.h"

namespace custos::nezha {

// A cluster for replays: all of the agent's own sources off.
std::unique_ptr<e2e::Cluster> ReplayCluster();

// Fills the cluster's agent spool with `days` (cases' onsets set), then
// starts the collector and the agent and waits until every record is
// stored. Returns what was sent.
Result<ReplayCounts> Replay(e2e::Cluster& cluster, const std::string& root, std::vector<Day>& days,
                            const Selection& selection, int timeout_seconds);

}  // namespace custos::nezha
