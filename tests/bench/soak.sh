#!/usr/bin/env bash
# The microservice soak, longer than CI's: uploads, transcodes and players through the gateway
# while a random service instance is killed (SIGKILL) and started again every few seconds, and
# nats-server is restarted once. It prints videos per minute, the kills, the longest error a
# player saw and every error seen, and fails when an upload is not ready with whole outputs, a
# transcode's effect shows twice, or a player saw errors for longer than the bound (5 s).
#
#   tests/bench/soak.sh [SECONDS] [KILL_EVERY_MS] [BUILD_DIR]     (defaults 300 3000 build/dev)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-300}"
kill_every="${2:-3000}"
build="${3:-build/dev}"
if [[ ! -x "$build/bin/pipeline_tests" ]]; then
  echo "soak: $build/bin/pipeline_tests is missing; build it first (cmake --preset dev &&" \
       "cmake --build build/dev --target pipeline_tests)" >&2
  exit 2
fi
SG_SOAK_SECONDS="$seconds" SG_SOAK_KILL_EVERY_MS="$kill_every" \
  "$build/bin/pipeline_tests" "[soak]"
