#!/usr/bin/env bash
# Installs the Debian 12 packages custos needs to build, test and run.
# Idempotent: packages already present are left alone; safe to run again.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache
  libzmq3-dev cppzmq-dev
  libprotobuf-dev protobuf-compiler
  libsqlite3-dev sqlite3
  libssl-dev libsodium-dev libsystemd-dev
  libtomlplusplus-dev nlohmann-json3-dev libcpp-httplib-dev libmicrohttpd-dev libsimdjson-dev zlib1g-dev libzstd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  systemd python3
  systemd-journal-remote
  prometheus-alertmanager   # the alert delivery test drives a real Alertmanager
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
else
  echo "bootstrap: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Only the alertmanager binary is wanted (by a test); the package's own
  # service would listen on every interface (:9093, :9094), so keep it off.
  if [[ " ${missing[*]} " == *" prometheus-alertmanager "* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
    echo "bootstrap: installed prometheus-alertmanager for the tests; its service is disabled"
  fi
fi

# The otlp source's test against the real OpenTelemetry JS SDK needs Node.js
# (>= 14; Debian 12 ships 18) and the SDK packages pinned in its package-lock.json.
if ! command -v node >/dev/null; then
  echo "bootstrap: installing nodejs npm"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi
# npm_ci DIR WHAT: installs DIR's pinned npm packages unless its node_modules
# already came from this lock file; a failure only warns that WHAT will fail.
npm_ci() {
  local dir="$(dirname "$0")/../$1"
  if [[ -f $dir/node_modules/.package-lock.json && $dir/node_modules/.package-lock.json -nt $dir/package-lock.json ]]; then
    return 0  # installed from this lock file already
  fi
  if ! command -v npm >/dev/null; then
    echo "bootstrap: npm missing; $2 will fail until $1 has node_modules" >&2
  elif ! (cd "$dir" && npm ci --no-audit --no-fund --silent); then
    echo "bootstrap: npm ci failed in $1 (no registry?); $2 will fail until it succeeds" >&2
  fi
}
npm_ci agent/sources/otlp/js otlp_js_sdk_test
# The policy benchmark's Cedar side needs @cedar-policy/cedar-wasm.
npm_ci bench/policy/js "the Cedar side of policy_decide_bench"
