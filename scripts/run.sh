#!/usr/bin/env bash
# Installs, builds and starts custos on this machine: a collector (embedded
# SQLite) and an agent enrolled with it, both in the background, with their
# state, keys, configs and logs under .state/ (CUSTOS_HOME to change).
# Then shows what flows. Stop both with: scripts/run.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
HOME_DIR=${CUSTOS_HOME:-$ROOT/.state}
BIN=$ROOT/${BUILD_DIR:-build}/bin
INGEST_PORT=${CUSTOS_INGEST_PORT:-7070}
API_PORT=${CUSTOS_API_PORT:-7080}
OTLP_PORT=${CUSTOS_OTLP_PORT:-4318}
export CUSTOS_API=http://127.0.0.1:$API_PORT

stop() {
  for d in agent collector; do
    if [[ -f $HOME_DIR/$d.pid ]] && kill "$(cat "$HOME_DIR/$d.pid")" 2>/dev/null; then
      echo "stopping custos-$d (pid $(cat "$HOME_DIR/$d.pid"))"
      for _ in $(seq 1 50); do kill -0 "$(cat "$HOME_DIR/$d.pid")" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$HOME_DIR/$d.pid"
  done
}
if [[ ${1:-} == stop ]]; then stop; exit 0; fi

./scripts/bootstrap.sh
echo "building (first build takes a few minutes on 2 cores)..."
./scripts/build.sh custos-collector custos-agent custosctl
stop

mkdir -p "$HOME_DIR"/{keys,agents,collector,agent,run}
chmod 700 "$HOME_DIR/keys"
[[ -f $HOME_DIR/keys/collector.key ]] || "$BIN/custosctl" keygen --out "$HOME_DIR/keys" --name collector >/dev/null
[[ -f $HOME_DIR/keys/agent.key ]] || "$BIN/custosctl" keygen --out "$HOME_DIR/keys" --name agent >/dev/null
NODE_ID=$(cat /etc/machine-id 2>/dev/null || hostname)
"$BIN/custosctl" enroll --node "$NODE_ID" --key "$HOME_DIR/keys/agent.pub" --dir "$HOME_DIR/agents"

# The site policy: the demo dataset, who may read it, and the shipped rules.
mkdir -p "$HOME_DIR/policy.d"
cat >"$HOME_DIR/policy.d/demo.policy" <<'POLICY'
# Written by scripts/run.sh; the language is described in policy/README.md.
regions here = [local]
dataset demo-images {
  uris = ["s3://demo/images/**"]
  classification = internal
  home = local
}
principal demo-trainer { services = ["svc:demo-trainer"] }
grant trainer-reads-images {
  who = demo-trainer
  actions = [read, list]
  datasets = [demo-images]
}
POLICY
cat >"$HOME_DIR/collector.toml" <<TOML
# Written by scripts/run.sh; see deploy/collector.toml for every key.
[state]
dir = "$HOME_DIR/collector"
[ingest]
listen = "tcp://127.0.0.1:$INGEST_PORT"
key = "$HOME_DIR/keys/collector.key"
enrolled_dir = "$HOME_DIR/agents"
[api]
listen = "127.0.0.1:$API_PORT"
[policy]
paths = ["$ROOT/rules", "$HOME_DIR/policy.d"]
TOML
cat >"$HOME_DIR/agent.toml" <<TOML
# Written by scripts/run.sh; see deploy/agent.toml for every key.
[node]
id = "$NODE_ID"
region = "local"
[collector]
endpoint = "tcp://127.0.0.1:$INGEST_PORT"
server_key = "$HOME_DIR/keys/collector.pub"
[identity]
key = "$HOME_DIR/keys/agent.key"
[state]
dir = "$HOME_DIR/agent"
[sources.host_metrics]
interval = "5s"
# The collector's own log, tailed like any application log.
[sources.files]
enabled = true
paths = ["$HOME_DIR/collector.log"]
start_at = "beginning"
# OTLP/HTTP traces and logs from applications, on loopback.
[sources.otlp]
enabled = true
listen = "127.0.0.1:$OTLP_PORT"
# The GPU source (which says once "unavailable" without one) and journald
# (once, when there is no journal) run by default.
# Data-access events from services, on a socket (fanotify needs root: see deploy/).
[sources.access]
enabled = true
fanotify = false
socket = "$HOME_DIR/run/access.sock"
[[sources.access.datasets]]
id = "demo-images"
classification = "internal"
home_region = "local"
uris = ["s3://demo/images/**"]
TOML

nohup "$BIN/custos-collector" --config "$HOME_DIR/collector.toml" >>"$HOME_DIR/collector.log" 2>&1 &
echo $! >"$HOME_DIR/collector.pid"
for _ in $(seq 1 50); do "$BIN/custosctl" status >/dev/null 2>&1 && break; sleep 0.2; done
START=$(date +%s)  # show only what this run delivers
nohup "$BIN/custos-agent" --config "$HOME_DIR/agent.toml" >>"$HOME_DIR/agent.log" 2>&1 &
echo $! >"$HOME_DIR/agent.pid"

echo "waiting for the first metrics..."
for _ in $(seq 1 60); do
  if "$BIN/custosctl" query --kind metrics --since "$START" --limit 1 2>/dev/null | grep -q node_; then break; fi
  sleep 0.5
done
echo
"$BIN/custosctl" status
echo
"$BIN/custosctl" query --kind metrics --name node_load --since "$START" --limit 3
echo
"$BIN/custosctl" query --kind metrics --name node_memory_bytes --since "$START" --limit 7
echo
# A data service reporting an access on the agent's socket (one JSON line, one reply).
echo "reporting a dataset read and a write that no grant allows on $HOME_DIR/run/access.sock:"
python3 - "$HOME_DIR/run/access.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile()
s.sendall(b'{"action":"read","object":"s3://demo/images/cat-001.jpg","service_identity":"svc:demo-trainer","bytes":52133}\n')
print("  reply:", f.readline().strip())
s.sendall(b'{"action":"write","object":"s3://demo/images/cat-001.jpg","service_identity":"svc:demo-trainer","bytes":911}\n')
print("  reply:", f.readline().strip())
PY
for _ in $(seq 1 20); do
  "$BIN/custosctl" query --kind access --since "$START" --limit 1 2>/dev/null | grep -q demo-images && break
  sleep 0.25
done
"$BIN/custosctl" query --kind access --since "$START" --limit 3
echo
for _ in $(seq 1 20); do
  "$BIN/custosctl" alerts --since "$START" --limit 1 2>/dev/null | grep -q policy.violation && break
  sleep 0.25
done
"$BIN/custosctl" alerts --since "$START" --limit 3
echo
# The alert opened an incident; its root-cause analysis follows 5 minutes
# after the onset (custosctl rca ID), once the data after it has arrived.
"$BIN/custosctl" incidents --db "$HOME_DIR/collector/custos.db"
echo
"$BIN/custosctl" query --kind logs --since "$START" --limit 3
cat <<TXT

custos is running: collector pid $(cat "$HOME_DIR/collector.pid"), agent pid $(cat "$HOME_DIR/agent.pid").
  logs:     $HOME_DIR/collector.log, $HOME_DIR/agent.log
  explore:  export CUSTOS_API=$CUSTOS_API PATH=\$PATH:$BIN
            custosctl status; custosctl query --kind metrics --since 5m --limit 50; custosctl alerts
            custosctl incidents --db $HOME_DIR/collector/custos.db; custosctl rca ID --db $HOME_DIR/collector/custos.db
            custosctl policy check rules/ $HOME_DIR/policy.d; custosctl policy test rules/examples
            curl -s $CUSTOS_API/metrics
  stop:     scripts/run.sh stop
TXT
