#!/usr/bin/env bash
# Builds a release and runs every benchmark, printing our figures beside the references.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/install-deps.sh --bench
cmake --preset release >/dev/null
cmake --build --preset release --target bench_startup bench_control streamgate streamgated
./build/release/bin/bench_startup "${1:-30}"
./build/release/bin/bench_control
tests/bench/supervisor_bench.sh "$PWD/build/release/bin"
