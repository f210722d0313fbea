#!/usr/bin/env bash
# Installs what is missing, builds a release, and runs streamgated in the foreground in monolith
# mode. With no configuration file anywhere, the built-in defaults apply. Extra arguments go to
# streamgated, for example: scripts/start.sh --log-format dev --set server.port=8081
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
cmake --preset release >/dev/null
cmake --build --preset release
exec ./build/release/daemon/streamgated --mode monolith "$@"
