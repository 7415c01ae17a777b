#!/usr/bin/env bash
# Configures and builds custos into build/ (BUILD_DIR to change). Extra
# arguments go to cmake, e.g. -DCUSTOS_BUILD_BENCH=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
