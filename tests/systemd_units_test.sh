#!/usr/bin/env bash
# The unit files in deploy/ must pass `systemd-analyze verify` with no warning
# at all (unknown keys are only warnings there, so any output fails the test).
set -euo pipefail
deploy=$1 bin=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in "$deploy"/*.service; do
  sed "s|/usr/local/bin/|$bin/|" "$unit" >"$tmp/$(basename "$unit")"
done
out=$(systemd-analyze verify "$tmp"/*.service 2>&1) || { echo "$out"; exit 1; }
if [[ -n $out ]]; then echo "systemd-analyze verify warned:"; echo "$out"; exit 1; fi
echo "verified: $(cd "$tmp" && ls)"
