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
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
  exit 0
fi
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
echo "bootstrap: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
