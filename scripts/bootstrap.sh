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
  libtomlplusplus-dev nlohmann-json3-dev libcpp-httplib-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  systemd python3
  systemd-journal-remote
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
fi

# The otlp source's test against the real OpenTelemetry JS SDK needs Node.js
# (>= 14; Debian 12 ships 18) and the SDK packages pinned in its package-lock.json.
if ! command -v node >/dev/null; then
  echo "bootstrap: installing nodejs npm"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi
JS_DIR="$(dirname "$0")/../agent/sources/otlp/js"
if [[ -f $JS_DIR/node_modules/.package-lock.json && $JS_DIR/node_modules/.package-lock.json -nt $JS_DIR/package-lock.json ]]; then
  :  # installed from this lock file already
elif command -v npm >/dev/null; then
  (cd "$JS_DIR" && npm ci --no-audit --no-fund --silent) ||
    echo "bootstrap: npm ci failed (no registry?); otlp_js_sdk_test will fail until it succeeds" >&2
else
  echo "bootstrap: npm missing; otlp_js_sdk_test will fail until agent/sources/otlp/js has node_modules" >&2
fi
